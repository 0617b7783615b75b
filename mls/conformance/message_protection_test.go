package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

type messageProtectionVector struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	TreeHash                hexBytes `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	SignaturePriv           hexBytes `json:"signature_priv"`
	SignaturePub            hexBytes `json:"signature_pub"`
	EncryptionSecret        hexBytes `json:"encryption_secret"`
	SenderDataSecret        hexBytes `json:"sender_data_secret"`
	MembershipKey           hexBytes `json:"membership_key"`
	Proposal                hexBytes `json:"proposal"`
	ProposalPub             hexBytes `json:"proposal_pub"`
	ProposalPriv            hexBytes `json:"proposal_priv"`
	Commit                  hexBytes `json:"commit"`
	CommitPub               hexBytes `json:"commit_pub"`
	CommitPriv              hexBytes `json:"commit_priv"`
	Application             hexBytes `json:"application"`
	ApplicationPriv         hexBytes `json:"application_priv"`
}

// contentBytes returns the encoding of the content body of fc, comparable
// with the vector's raw proposal / commit / application data.
func contentBytes(fc *mls.FramedContent) []byte {
	switch fc.ContentType {
	case mls.ContentProposal:
		return codec.Marshal(fc.Proposal)
	case mls.ContentCommit:
		return codec.Marshal(fc.Commit)
	}
	return fc.ApplicationData
}

func TestMessageProtection(t *testing.T) {
	const file = "message-protection.json"
	var vs []messageProtectionVector
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		if err := checkMessageProtection(s, &v); err != nil {
			t.Errorf("suite %d: %v", v.CipherSuite, err)
			continue
		}
		verified(file)
	}
}

func checkMessageProtection(s *suite.Suite, v *messageProtectionVector) error {
	gc := (&mls.GroupContext{
		Version: tree.MLS10, CipherSuite: s.ID(), GroupID: v.GroupID, Epoch: v.Epoch,
		TreeHash: v.TreeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash,
	}).Encode()
	membership := suite.NewSecret(v.MembershipKey)
	senderData := suite.NewSecret(v.SenderDataSecret)
	sk, err := s.ParseSigningKey(v.SignaturePriv)
	if err != nil {
		return err
	}
	newTree := func() *schedule.SecretTree {
		return schedule.NewSecretTree(s, suite.NewSecret(v.EncryptionSecret), 2)
	}

	for _, c := range []struct {
		name      string
		ct        mls.ContentType
		raw       []byte
		pub, priv []byte
	}{
		{"proposal", mls.ContentProposal, v.Proposal, v.ProposalPub, v.ProposalPriv},
		{"commit", mls.ContentCommit, v.Commit, v.CommitPub, v.CommitPriv},
		{"application", mls.ContentApplication, v.Application, nil, v.ApplicationPriv},
	} {
		// The vector's PublicMessage verifies and yields the raw content.
		if c.pub != nil {
			m, err := mls.DecodeMLSMessage(c.pub)
			if err != nil || m.Public == nil {
				return fmt.Errorf("%s_pub: decode: %v", c.name, err)
			}
			ac, err := m.Public.Unprotect(s, membership, gc)
			if err != nil {
				return fmt.Errorf("%s_pub: %w", c.name, err)
			}
			if err := ac.VerifySignature(s, v.SignaturePub, gc); err != nil {
				return fmt.Errorf("%s_pub: %w", c.name, err)
			}
			if !bytes.Equal(contentBytes(&ac.Content), c.raw) {
				return fmt.Errorf("%s_pub: content differs", c.name)
			}
		}
		// The vector's PrivateMessage decrypts and verifies.
		m, err := mls.DecodeMLSMessage(c.priv)
		if err != nil || m.Private == nil {
			return fmt.Errorf("%s_priv: decode: %v", c.name, err)
		}
		ac, _, err := mls.DecryptPrivate(s, m.Private, newTree(), senderData)
		if err != nil {
			return fmt.Errorf("%s_priv: %w", c.name, err)
		}
		if err := ac.VerifySignature(s, v.SignaturePub, gc); err != nil {
			return fmt.Errorf("%s_priv: %w", c.name, err)
		}
		if !bytes.Equal(contentBytes(&ac.Content), c.raw) || ac.Content.Sender != mls.MemberSender(1) {
			return fmt.Errorf("%s_priv: content or sender differs", c.name)
		}

		// Protecting the raw content ourselves round-trips.
		fc := mls.FramedContent{GroupID: v.GroupID, Epoch: v.Epoch, Sender: mls.MemberSender(1), ContentType: c.ct}
		switch c.ct {
		case mls.ContentProposal:
			fc.Proposal = new(mls.Proposal)
			if err := codec.Unmarshal(c.raw, fc.Proposal); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		case mls.ContentCommit:
			fc.Commit = new(mls.Commit)
			if err := codec.Unmarshal(c.raw, fc.Commit); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		default:
			fc.ApplicationData = c.raw
		}
		for _, wf := range []mls.WireFormat{mls.WirePublicMessage, mls.WirePrivateMessage} {
			ac := &mls.AuthenticatedContent{WireFormat: wf, Content: fc}
			if err := ac.Sign(s, sk, gc); err != nil {
				return err
			}
			if c.ct == mls.ContentCommit {
				ac.Auth.ConfirmationTag = s.MAC(suite.NewSecret([]byte("confirmation key")), v.ConfirmedTranscriptHash)
			}
			var got *mls.AuthenticatedContent
			if wf == mls.WirePublicMessage {
				pm, err := mls.ProtectPublic(s, ac, membership, gc)
				if c.ct == mls.ContentApplication {
					if !errors.Is(err, mls.ErrWireFormat) {
						return fmt.Errorf("application protected as PublicMessage: %v", err)
					}
					continue
				}
				if err != nil {
					return fmt.Errorf("%s: protect public: %w", c.name, err)
				}
				m, err := mls.DecodeMLSMessage(mls.NewPublicMLSMessage(pm).Encode())
				if err != nil {
					return err
				}
				if got, err = m.Public.Unprotect(s, membership, gc); err != nil {
					return fmt.Errorf("%s: own public: %w", c.name, err)
				}
			} else {
				pm, err := mls.ProtectPrivate(s, ac, newTree(), senderData, 7)
				if err != nil {
					return fmt.Errorf("%s: protect private: %w", c.name, err)
				}
				m, err := mls.DecodeMLSMessage(mls.NewPrivateMLSMessage(pm).Encode())
				if err != nil {
					return err
				}
				if got, _, err = mls.DecryptPrivate(s, m.Private, newTree(), senderData); err != nil {
					return fmt.Errorf("%s: own private: %w", c.name, err)
				}
			}
			if err := got.VerifySignature(s, v.SignaturePub, gc); err != nil {
				return fmt.Errorf("%s: own %v: %w", c.name, wf, err)
			}
			if !bytes.Equal(codec.Marshal(got), codec.Marshal(ac)) {
				return fmt.Errorf("%s: own %v: content differs after round trip", c.name, wf)
			}
		}
	}
	return nil
}
