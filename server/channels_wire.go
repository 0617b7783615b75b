package server

import (
	"context"
	"net/http"
	"path/filepath"

	"github.com/parleyhq/parley/server/channels"
	"github.com/parleyhq/parley/server/media"
)

// wireChannels makes the channel index (the gateway's bus), the media
// store and the channel service.
func (s *Server) wireChannels() error {
	dir := s.cfg.MediaDir
	if dir == "" {
		dir = filepath.Join(s.cfg.DataDir, "media")
	}
	var err error
	if s.media, err = media.NewDisk(dir); err != nil {
		return err
	}
	s.fan = channels.NewFanout(s.bus, s.st, s.log.With("pkg", "channels"))
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	s.ch, err = channels.New(ctx, channels.Config{
		Store: s.st, Bus: s.bus, Fanout: s.fan, Media: s.media, Clock: s.clock, Logger: s.log.With("pkg", "channels"),
	})
	return err
}

// mediaRoutes serves channel media on the main listener.
func (s *Server) mediaRoutes(mux *http.ServeMux) {
	h := media.Handler(media.Config{Files: s.media, Store: s.st, Tokens: s.ch.Tokens(), Clock: s.clock, Logger: s.log.With("pkg", "media")})
	mux.Handle(media.UploadPath, h)
	mux.Handle(media.DownloadPath, h)
}

// ChannelIndexMembers is how many accounts this node's channel index
// holds for a channel (tests wait on it).
func (s *Server) ChannelIndexMembers(channelID string) int { return s.fan.Members(channelID) }

// ChannelIndexed reports whether a device connected to this node is in
// its channel index (tests wait on it).
func (s *Server) ChannelIndexed(deviceID string) bool { return s.fan.Indexed(deviceID) }
