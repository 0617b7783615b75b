package tree

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
)

// Seeds from the official vectors live in testdata/fuzz; these targets
// add a tree and path built here. Every target checks that what decodes
// re-encodes to the same bytes, which strict decoding guarantees.

func FuzzDecodeTree(f *testing.F) {
	g := newTestGroup(f, testSuite(f))
	g.commit(f, 0, 3)
	f.Add(g.tree.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := Decode(g.cs, data)
		if err != nil {
			return
		}
		if !bytes.Equal(tr.Encode(), data) {
			t.Fatal("decoded tree does not re-encode")
		}
		// Nothing a well-formed encoding holds may crash the tree's
		// operations, valid or not.
		tr.TreeHash()
		for x := range tr.Width() {
			tr.Resolution(NodeIndex(x))
		}
		_ = tr.VerifyParentHashes()
		_ = tr.Validate(&ValidateOptions{GroupID: g.groupID})
		for i := range tr.Members() {
			tr.FilteredDirectPath(i)
		}
		if tr.MemberCount() > 0 {
			i, _ := tr.FindBySignatureKey(nil)
			_ = tr.Clone().MergeUpdatePath(i, &UpdatePath{}, []LeafIndex{0, 1, 1 << 20})
			_ = tr.Clone().RemoveLeaf(i)
		}
	})
}

func FuzzLeafNode(f *testing.F) {
	cs := testSuite(f)
	f.Add(codec.Marshal(newMember(f, cs, "seed").leaf))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l LeafNode
		if codec.Unmarshal(data, &l) != nil {
			return
		}
		if !bytes.Equal(codec.Marshal(&l), data) {
			t.Fatal("leaf node does not re-encode")
		}
		_ = l.Check(cs, &LeafCheck{Now: 1})
	})
}

func FuzzUpdatePath(f *testing.F) {
	g := newTestGroup(f, testSuite(f))
	g.commit(f, 0, 3)
	pp, err := g.tree.Clone().GeneratePath(1, g.tree.Leaf(1), g.sigs[1], g.groupID)
	if err != nil {
		f.Fatal(err)
	}
	up, err := pp.Encrypt([]byte("ctx"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(codec.Marshal(up))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p UpdatePath
		if codec.Unmarshal(data, &p) != nil {
			return
		}
		if !bytes.Equal(codec.Marshal(&p), data) {
			t.Fatal("update path does not re-encode")
		}
		tr := g.tree.Clone()
		if tr.MergeUpdatePath(1, &p, nil) == nil {
			_, _ = tr.DecryptPath(g.privs[0], 1, &p, []byte("ctx"), nil)
		}
	})
}

func FuzzExtensions(f *testing.F) {
	rc := &RequiredCapabilities{Extensions: []ExtensionType{7}, Credentials: []CredentialType{CredentialBasic}}
	f.Add(codec.Marshal(Extensions{
		ApplicationIDExtension([]byte("id")), rc.Extension(), ExternalPubExtension([]byte{1}),
		ExternalSendersExtension([]ExternalSender{{SignatureKey: []byte{2}, Credential: BasicCredential([]byte("a"))}}),
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Extensions
		if codec.Unmarshal(data, &e) != nil {
			return
		}
		if !bytes.Equal(codec.Marshal(e), data) {
			t.Fatal("extensions do not re-encode")
		}
		e.ApplicationID()
		e.RequiredCapabilities()
		e.ExternalPub()
		if s, ok, err := e.ExternalSenders(); ok && err == nil {
			if !bytes.Equal(ExternalSendersExtension(s).Data, must(e.Find(ExtExternalSenders))) {
				t.Fatal("external senders do not re-encode")
			}
		}
		e.RatchetTree(testSuite(t))
	})
}

func must(b []byte, _ bool) []byte { return b }
