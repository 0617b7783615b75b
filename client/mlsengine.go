package client

import (
	"fmt"
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
)

// parleySuite is MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: its
// signature scheme is Ed25519, so a device's MLS signing key is its device
// key, and a member's MLS signature key can be checked against the key the
// account's signed device list gives for its device id.
const parleySuite suite.ID = 1

// mlsEngine adapts package mls to the client's seam.
type mlsEngine struct {
	id       mls.Identity
	now      mls.Clock     // the client's clock: key package lifetimes follow it
	lifetime time.Duration // of our key packages; 0: the mls default
}

// newEngine returns the MLS engine of a device; now is the client's clock.
func newEngine(key profile.DeviceKey, deviceID string, now func() time.Time, lifetime time.Duration) groupEngine {
	cs, err := suite.Get(parleySuite)
	if err != nil {
		panic(fmt.Sprintf("client: MLS suite %v unavailable: %v", parleySuite, err))
	}
	sk, err := key.MLSSigningKey(cs)
	if err != nil {
		panic(fmt.Sprintf("client: device key unusable for MLS: %v", err))
	}
	return &mlsEngine{id: mls.Identity{Suite: parleySuite, SigningKey: sk, Credential: []byte(deviceID)}, now: now, lifetime: lifetime}
}

// wrap adapts g, judging key package lifetimes by the client's clock.
func (e *mlsEngine) wrap(g *mls.Group) mlsGroup {
	g.SetClock(e.now)
	return group{g}
}

func (e *mlsEngine) NewKeyPackage(lastResort bool, now time.Time) (keyPackage, error) {
	b, err := mls.NewKeyPackage(e.id, mls.KeyPackageOptions{LastResort: lastResort, Now: now, Lifetime: e.lifetime})
	if err != nil {
		return keyPackage{}, err
	}
	return keyPackage{Message: b.Message(), Ref: b.Ref(), Bundle: b.Marshal()}, nil
}

func (e *mlsEngine) ParseKeyPackage(msg []byte, now time.Time) (string, []byte, error) {
	kp, err := mls.ParseKeyPackage(msg, now)
	if err != nil {
		return "", nil, err
	}
	return string(kp.Credential()), kp.SignatureKey(), nil
}

func (e *mlsEngine) CreateGroup(groupID []byte) (mlsGroup, error) {
	g, err := mls.CreateGroup(groupID, e.id)
	if err != nil {
		return nil, err
	}
	return e.wrap(g), nil
}

func (e *mlsEngine) JoinFromWelcome(welcome, bundle []byte) (mlsGroup, error) {
	b, err := mls.UnmarshalKeyPackageBundle(bundle)
	if err != nil {
		return nil, err
	}
	g, err := mls.JoinFromWelcomeWith(welcome, []*mls.KeyPackageBundle{b}, e.id, mls.JoinOptions{Clock: e.now})
	if err != nil {
		return nil, err
	}
	return e.wrap(g), nil
}

func (e *mlsEngine) JoinExternal(groupInfo []byte) (mlsGroup, []byte, uint64, error) {
	m, err := mls.DecodeMLSMessage(groupInfo)
	if err != nil {
		return nil, nil, 0, err
	}
	if m.WireFormat != mls.WireGroupInfo {
		return nil, nil, 0, fmt.Errorf("%w: %v where a GroupInfo was expected", mls.ErrWireFormat, m.WireFormat)
	}
	g, commit, err := mls.JoinExternal(groupInfo, e.id)
	if err != nil {
		return nil, nil, 0, err
	}
	return e.wrap(g), commit, m.GroupInfo.GroupContext.Epoch, nil
}

func (e *mlsEngine) Import(state []byte) (mlsGroup, error) {
	g, err := mls.Import(state)
	if err != nil {
		return nil, err
	}
	return e.wrap(g), nil
}

// group adapts *mls.Group.
type group struct{ g *mls.Group }

func toMember(m mls.Member) member {
	return member{Leaf: m.Leaf, DeviceID: string(m.Credential), SignatureKey: m.SignatureKey}
}

func toMembers(ms []mls.Member) []member {
	out := make([]member, len(ms))
	for i, m := range ms {
		out[i] = toMember(m)
	}
	return out
}

func (g group) GroupID() []byte            { return g.g.GroupID() }
func (g group) Epoch() uint64              { return g.g.Epoch() }
func (g group) Members() []member          { return toMembers(g.g.Members()) }
func (g group) Active() bool               { return g.g.Active() }
func (g group) DiscardPendingCommit()      { g.g.DiscardPendingCommit() }
func (g group) MergePendingCommit() error  { return g.g.MergePendingCommit() }
func (g group) GroupInfo() ([]byte, error) { return g.g.GroupInfo() }
func (g group) PendingCommit() ([]byte, []byte, bool) {
	return g.g.PendingCommit()
}
func (g group) Export() ([]byte, error) { return g.g.Export() }

func (g group) Commit(adds [][]byte, removes []uint32) ([]byte, []byte, error) {
	return g.g.Commit(adds, removes)
}

func (g group) Encrypt(plaintext, aad []byte) ([]byte, error) { return g.g.Encrypt(plaintext, aad) }

func (g group) Process(msg []byte) (*processed, error) {
	p, err := g.g.Process(msg)
	if err != nil {
		return nil, err
	}
	out := &processed{Data: p.Data, Sender: toMember(p.Sender), Added: toMembers(p.Added), Removed: toMembers(p.Removed),
		Updated: toMembers(p.Updated)}
	switch p.Kind {
	case mls.KindApplication:
		out.Kind = processedApplication
	case mls.KindCommit:
		out.Kind = processedCommit
	default:
		out.Kind = processedProposal
	}
	return out, nil
}
