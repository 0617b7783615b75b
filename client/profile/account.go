package profile

import (
	"context"
	"errors"
	"fmt"
)

// Self is who this device is, once registered or linked.
type Self struct {
	AccountID string
	Handle    string
	DeviceID  string
	Primary   bool
}

// Self returns the device's account, or ErrNotRegistered.
func (p *Profile) Self(ctx context.Context) (Self, error) {
	var s Self
	for _, f := range []struct {
		k   string
		dst *string
	}{{metaAccountID, &s.AccountID}, {metaHandle, &s.Handle}, {metaDeviceID, &s.DeviceID}} {
		v, err := p.meta(ctx, f.k)
		if errors.Is(err, ErrNotFound) {
			return Self{}, ErrNotRegistered
		}
		if err != nil {
			return Self{}, err
		}
		*f.dst = string(v)
	}
	v, err := p.meta(ctx, metaPrimary)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Self{}, err
	}
	s.Primary = string(v) == "1"
	return s, nil
}

// SetSelf records the device's account after registration or linking.
func (t *Tx) SetSelf(s Self) error {
	if s.AccountID == "" || s.Handle == "" || s.DeviceID == "" {
		return fmt.Errorf("profile: incomplete account record %+v", s)
	}
	primary := "0"
	if s.Primary {
		primary = "1"
	}
	for _, kv := range [][2]string{{metaAccountID, s.AccountID}, {metaHandle, s.Handle}, {metaDeviceID, s.DeviceID}, {metaPrimary, primary}} {
		if err := t.setMeta(kv[0], []byte(kv[1])); err != nil {
			return fmt.Errorf("profile: save account: %w", err)
		}
	}
	return nil
}

// ServerURL is the server this profile registered with ("" if none yet).
func (p *Profile) ServerURL(ctx context.Context) (string, error) {
	v, err := p.meta(ctx, metaServerURL)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

// SetServerURL records the server the profile belongs to.
func (t *Tx) SetServerURL(url string) error { return t.setMeta(metaServerURL, []byte(url)) }

// AckedSeq is the highest mailbox sequence this device acknowledged.
func (p *Profile) AckedSeq(ctx context.Context) (uint64, error) {
	v, err := p.meta(ctx, metaAckedSeq)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	_, err = fmt.Sscan(string(v), &n)
	return n, err
}

// SetAckedSeq records the highest acknowledged mailbox sequence.
func (p *Profile) SetAckedSeq(ctx context.Context, seq uint64) error {
	_, err := p.db.ExecContext(ctx, `INSERT INTO meta(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`,
		metaAckedSeq, []byte(fmt.Sprint(seq)))
	return err
}
