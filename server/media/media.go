// Package media keeps channel media: the files of posts, icons and
// stickers, and the thumbnails the server makes of images. Channel media
// is public by design (channels are not end-to-end encrypted), so the
// server may look at it; chat attachments never come here.
//
// Files are addressed by the lower-case hex SHA-256 of their bytes, so an
// upload is idempotent and two channels posting the same picture store
// it once. Store is the storage interface: Disk (the default, under the
// server's data directory) implements it, and an S3-compatible object
// store can, with the hash as the object key. The store records which
// channel uploaded what (store.Channels); this package holds only bytes.
package media

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound: no file with that hash.
var ErrNotFound = errors.New("media: not found")

// Store holds media files by hash.
type Store interface {
	// Put stores r's size bytes under hash, atomically: a reader sees the
	// whole file or none. Storing an existing hash again is not an error.
	Put(ctx context.Context, hash string, r io.Reader, size int64) error
	// Get opens a file (ErrNotFound if there is none). The reader is an
	// io.ReadSeeker when the store can seek (ranges are then served).
	Get(ctx context.Context, hash string) (io.ReadCloser, int64, error)
	// Delete removes a file; no error if it is not there.
	Delete(ctx context.Context, hash string) error
}
