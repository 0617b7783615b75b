package media

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// Thumbnails: the longest side is at most ThumbnailSide pixels, JPEG.
const (
	ThumbnailSide    = 320
	thumbnailQuality = 80
	// MaxImagePixels bounds what the server decodes: a small file can
	// declare a huge image (a decompression bomb); the header is read
	// first and such an image refused.
	MaxImagePixels = 40_000_000
)

// decoders are the formats the server can read (the standard library's).
// WebP is accepted for upload but stored without a thumbnail.
var decoders = map[string]func([]byte) (image.Image, error){
	"image/jpeg": func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) },
	"image/png":  func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) },
	"image/gif":  func(b []byte) (image.Image, error) { return gif.Decode(bytes.NewReader(b)) },
}

// ImageSize reads an image's dimensions from its header.
func ImageSize(b []byte) (w, h int, err error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0, err
	}
	return cfg.Width, cfg.Height, nil
}

// Thumbnail decodes an image of the given type and returns a JPEG no
// larger than ThumbnailSide on its longest side (nil when the type has no
// decoder here). The image must have passed ImageSize's bound.
func Thumbnail(b []byte, mime string) ([]byte, error) {
	dec := decoders[mime]
	if dec == nil {
		return nil, nil
	}
	src, err := dec(b)
	if err != nil {
		return nil, fmt.Errorf("media: decode %s: %w", mime, err)
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, scale(src, ThumbnailSide), &jpeg.Options{Quality: thumbnailQuality}); err != nil {
		return nil, fmt.Errorf("media: encode thumbnail: %w", err)
	}
	return out.Bytes(), nil
}

// scale fits src in a side×side box by averaging up to 4×4 samples of
// the source pixels each destination pixel covers (a sampled box filter:
// smoother than nearest-neighbour for photos, bounded work for large
// images, and the standard library has no resampler).
func scale(src image.Image, side int) image.Image {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := sw, sh
	if sw > side || sh > side {
		if sw >= sh {
			dw, dh = side, max(1, sh*side/sw)
		} else {
			dw, dh = max(1, sw*side/sh), side
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		y0, y1 := b.Min.Y+y*sh/dh, b.Min.Y+max((y+1)*sh/dh, y*sh/dh+1)
		for x := 0; x < dw; x++ {
			x0, x1 := b.Min.X+x*sw/dw, b.Min.X+max((x+1)*sw/dw, x*sw/dw+1)
			var r, g, bl, a, n uint64
			ystep, xstep := max(1, (y1-y0)/4), max(1, (x1-x0)/4)
			for sy := y0; sy < y1; sy += ystep {
				for sx := x0; sx < x1; sx += xstep {
					cr, cg, cb, ca := src.At(sx, sy).RGBA()
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			i := dst.PixOffset(x, y)
			dst.Pix[i+0] = uint8(r / n >> 8)
			dst.Pix[i+1] = uint8(g / n >> 8)
			dst.Pix[i+2] = uint8(bl / n >> 8)
			dst.Pix[i+3] = uint8(a / n >> 8)
		}
	}
	return dst
}
