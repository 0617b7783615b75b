package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDisk(t *testing.T) {
	ctx := context.Background()
	d, err := NewDisk(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("ab", 32)
	if err := d.Put(ctx, hash, strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, hash, strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	r, n, err := d.Get(ctx, hash)
	if err != nil || n != 5 {
		t.Fatalf("Get: %d %v", n, err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	// A short body leaves nothing under the hash.
	other := strings.Repeat("cd", 32)
	if err := d.Put(ctx, other, strings.NewReader("abc"), 5); err == nil {
		t.Fatal("short Put succeeded")
	}
	if _, _, err := d.Get(ctx, other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half-written file visible: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(d.dir, "cd"))
	if len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := d.Delete(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, hash); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if _, _, err := d.Get(ctx, hash); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := d.Put(ctx, "../../etc/passwd", strings.NewReader("x"), 1); err == nil {
		t.Fatal("a path as hash was accepted")
	}
}

func TestThumbnail(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1000, 250))
	for x := range 1000 {
		for y := range 250 {
			img.Set(x, y, color.RGBA{255, 0, 0, 255})
		}
	}
	enc := map[string]func(io.Writer, image.Image) error{
		"image/png":  png.Encode,
		"image/jpeg": func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) },
		"image/gif":  func(w io.Writer, m image.Image) error { return gif.Encode(w, m, nil) },
	}
	for mime, e := range enc {
		var b bytes.Buffer
		if err := e(&b, img); err != nil {
			t.Fatal(err)
		}
		w, h, err := ImageSize(b.Bytes())
		if err != nil || w != 1000 || h != 250 {
			t.Fatalf("%s size %d×%d %v", mime, w, h, err)
		}
		th, err := Thumbnail(b.Bytes(), mime)
		if err != nil {
			t.Fatal(err)
		}
		m, err := jpeg.Decode(bytes.NewReader(th))
		if err != nil {
			t.Fatalf("%s thumbnail is not JPEG: %v", mime, err)
		}
		if m.Bounds().Dx() != ThumbnailSide || m.Bounds().Dy() != 80 {
			t.Fatalf("%s thumbnail %v", mime, m.Bounds())
		}
		if r, g, _, _ := m.At(10, 10).RGBA(); r>>8 < 200 || g>>8 > 60 {
			t.Fatalf("%s thumbnail colour %d %d", mime, r>>8, g>>8)
		}
	}
	if th, err := Thumbnail([]byte("RIFF....WEBP"), "image/webp"); th != nil || err != nil {
		t.Fatalf("webp: %v %v", th, err)
	}
	if _, err := Thumbnail([]byte("\x89PNG garbage"), "image/png"); err == nil {
		t.Fatal("garbage decoded")
	}
}
