package parleytest

import (
	"bytes"
	"image"
	_ "image/jpeg" // decodes thumbnails
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// Media: an image is uploaded (type sniffed), gets a server-made
// thumbnail, is attached to a signed post and downloaded by a follower,
// who checks the bytes against the hash; a video is stored as uploaded
// (no thumbnail, no transcoding); an icon and a sticker work the same way.
func TestChannelMedia(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@museum")
	reader := NewClient(t, srv, "@visitor")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Museum")
	follow(t, reader, owner, ch.ID)

	img := pngBytes(t, 640, 480)
	m, err := owner.UploadMedia(ctx, ch.ID, img, "", "The new wing")
	if err != nil {
		t.Fatal(err)
	}
	if m.Mime != "image/png" || m.Size != uint64(len(img)) || m.Width != 640 || m.Height != 480 || m.Thumbnail == "" || m.Caption != "The new wing" {
		t.Fatalf("uploaded media %+v", m)
	}
	// An mp4 header is enough for the sniffer; video is never transcoded.
	video := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 4096)...)
	v, err := owner.UploadMedia(ctx, ch.ID, video, "video/mp4", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Mime != "video/mp4" || v.Thumbnail != "" {
		t.Fatalf("uploaded video %+v", v)
	}
	sticker, err := owner.UploadMedia(ctx, ch.ID, pngBytes(t, 64, 64), "image/png", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Publish(ctx, ch.ID, client.PostContent{Text: "Opening day", Media: []*proto.Media{m, v}}, client.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Publish(ctx, ch.ID, client.PostContent{Sticker: &proto.Sticker{Hash: sticker.Hash, Emoji: "🎉"}}, client.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.EditChannel(ctx, ch.ID, func(s *client.ChannelSettings) { s.Icon = sticker.Hash }); err != nil {
		t.Fatal(err)
	}

	got := waitPost(t, reader, "Opening day").Post
	if len(got.Media) != 2 || got.Media[0].Hash != m.Hash || got.Media[1].Hash != v.Hash {
		t.Fatalf("the follower's post carries %+v", got.Media)
	}
	b, mime, err := reader.DownloadMedia(ctx, m.Hash)
	if err != nil || !bytes.Equal(b, img) || mime != "image/png" {
		t.Fatalf("download: %d bytes of %q, %v", len(b), mime, err)
	}
	thumb, _, err := reader.DownloadMedia(ctx, m.Thumbnail)
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(thumb))
	if err != nil || format != "jpeg" || max(cfg.Width, cfg.Height) > 320 || cfg.Width*480 != cfg.Height*640 {
		t.Fatalf("thumbnail %dx%d %s, %v", cfg.Width, cfg.Height, format, err)
	}
	if vb, _, err := reader.DownloadMedia(ctx, v.Hash); err != nil || !bytes.Equal(vb, video) {
		t.Fatalf("video download: %v", err)
	}
	waitUntil(t, "the sticker post", func() bool {
		ps, _ := reader.ChannelPosts(ctx, ch.ID, 10)
		return len(ps) == 2 && ps[1].Sticker != nil && ps[1].Sticker.Hash == sticker.Hash
	})
	if icon, err := reader.GetChannel(ctx, ch.ID); err != nil || icon.Icon != sticker.Hash {
		t.Fatalf("icon %q, %v", icon.Icon, err)
	}
}
