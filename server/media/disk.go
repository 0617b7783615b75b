package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parleyhq/parley/channel"
)

// Disk is a Store in a local directory: <dir>/<first two hex digits>/<hash>.
// Files are written to a temporary name, synced and renamed, so a crash
// never leaves half a file under a hash.
type Disk struct{ dir string }

// NewDisk uses dir, creating it (mode 0700) if needed.
func NewDisk(dir string) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return &Disk{dir: dir}, nil
}

func (d *Disk) path(hash string) (string, error) {
	if !channel.ValidMediaHash(hash) {
		return "", fmt.Errorf("media: %q is not a media hash", hash)
	}
	return filepath.Join(d.dir, hash[:2], hash), nil
}

// Put implements Store.
func (d *Disk) Put(ctx context.Context, hash string, r io.Reader, size int64) error {
	p, err := d.path(hash)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil // content-addressed: the same bytes are there
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("media: write %s: %w", hash, err)
	}
	if n != size {
		return fmt.Errorf("media: %s: got %d bytes, want %d", hash, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("media: sync %s: %w", hash, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	ok = true
	if dir, err := os.Open(filepath.Dir(p)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// Get implements Store; the reader is an *os.File (seekable).
func (d *Disk) Get(ctx context.Context, hash string) (io.ReadCloser, int64, error) {
	p, err := d.path(hash)
	if err != nil {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("media: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("media: %w", err)
	}
	return f, st.Size(), nil
}

// Delete implements Store.
func (d *Disk) Delete(ctx context.Context, hash string) error {
	p, err := d.path(hash)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("media: %w", err)
	}
	return nil
}
