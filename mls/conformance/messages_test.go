package conformance

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/tree"
)

// roundTrip decodes b into v strictly and checks that it re-encodes
// byte-exact.
func roundTrip(t *testing.T, name string, b []byte, v interface {
	codec.Marshaler
	codec.Unmarshaler
}) bool {
	t.Helper()
	if err := codec.Unmarshal(b, v); err != nil {
		t.Errorf("%s: decode: %v", name, err)
		return false
	}
	if got := codec.Marshal(v); !bytes.Equal(got, b) {
		t.Errorf("%s: re-encoding differs\n got %x\nwant %x", name, got, b)
		return false
	}
	return true
}

func TestMessages(t *testing.T) {
	const file = "messages.json"
	var vs []map[string]hexBytes
	load(t, file, &vs)
	for i, v := range vs {
		ok := true
		check := func(field string, val interface {
			codec.Marshaler
			codec.Unmarshaler
		}) {
			t.Helper()
			if !roundTrip(t, field, v[field], val) {
				t.Logf("vector %d", i)
				ok = false
			}
		}
		wantWF := map[string]mls.WireFormat{
			"mls_welcome": mls.WireWelcome, "mls_group_info": mls.WireGroupInfo, "mls_key_package": mls.WireKeyPackage,
			"public_message_application": mls.WirePublicMessage, "public_message_proposal": mls.WirePublicMessage,
			"public_message_commit": mls.WirePublicMessage, "private_message": mls.WirePrivateMessage,
		}
		for field, wf := range wantWF {
			var m mls.MLSMessage
			check(field, &m)
			if m.WireFormat != wf {
				t.Errorf("vector %d %s: wire format %v", i, field, m.WireFormat)
				ok = false
			}
		}
		check("group_secrets", &mls.GroupSecrets{})
		check("add_proposal", &mls.AddProposal{})
		check("update_proposal", &mls.UpdateProposal{})
		check("remove_proposal", &mls.RemoveProposal{})
		check("pre_shared_key_proposal", &mls.PreSharedKeyProposal{})
		check("re_init_proposal", &mls.ReInitProposal{})
		check("external_init_proposal", &mls.ExternalInitProposal{})
		check("group_context_extensions_proposal", &mls.GroupContextExtensionsProposal{})
		check("commit", &mls.Commit{})
		check("ratchet_tree", &tree.Tree{})
		if ok {
			verified(file)
		}
	}
}
