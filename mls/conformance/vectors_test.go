package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// vectorFiles is every file of the official suite. Each must verify at least
// one vector, unless it is listed in pending with the reason it cannot yet.
var vectorFiles = []string{
	"crypto-basics.json",
	"deserialization.json",
	"key-schedule.json",
	"message-protection.json",
	"messages.json",
	"passive-client-handling-commit.json",
	"passive-client-random.json",
	"passive-client-welcome.json",
	"psk_secret.json",
	"secret-tree.json",
	"transcript-hashes.json",
	"tree-math.json",
	"tree-operations.json",
	"tree-validation.json",
	"treekem.json",
	"welcome.json",
}

// pending names the vector files whose verifier is not written yet and why.
// The summary prints them loudly; an entry must be removed as soon as the
// file's test lands, after which verifying zero vectors fails the run.
var pending = map[string]string{}

// tally counts, per file, the vectors verified and those skipped because
// their ciphersuite is not supported. Tests record into it; TestMain judges.
var tally = struct {
	sync.Mutex
	verified    map[string]int
	unsupported map[string]map[uint16]int
}{verified: map[string]int{}, unsupported: map[string]map[uint16]int{}}

// verified records that one vector of file passed.
func verified(file string) {
	tally.Lock()
	tally.verified[file]++
	tally.Unlock()
}

// unsupported records that a vector of file was skipped because the package
// does not implement ciphersuite cs. Skipping a vector of a supported suite
// is never allowed: such a vector must fail its test instead.
func unsupported(file string, cs uint16) {
	tally.Lock()
	if tally.unsupported[file] == nil {
		tally.unsupported[file] = map[uint16]int{}
	}
	tally.unsupported[file][cs]++
	tally.Unlock()
}

// vectorsDir finds the shared vectors: $PARLEY_MLS_VECTORS, else
// ../shared/mls relative to the repository root (this package is two levels
// down). It returns every place it looked so a failure can say where.
func vectorsDir() (string, []string) {
	var tried []string
	if env := os.Getenv("PARLEY_MLS_VECTORS"); env != "" {
		tried = append(tried, env)
		if st, err := os.Stat(filepath.Join(env, "VECTORS.sha256")); err == nil && !st.IsDir() {
			return env, tried
		}
		return "", tried
	}
	for _, rel := range []string{"../../../shared/mls", "../../shared/mls"} {
		abs, _ := filepath.Abs(rel)
		tried = append(tried, abs)
		if _, err := os.Stat(filepath.Join(abs, "VECTORS.sha256")); err == nil {
			return abs, tried
		}
	}
	return "", tried
}

var dir string

// checkManifest verifies every vector file against VECTORS.sha256.
func checkManifest(d string) error {
	manifest, err := os.ReadFile(filepath.Join(d, "VECTORS.sha256"))
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			return fmt.Errorf("malformed manifest line %q", line)
		}
		want[f[1]] = f[0]
	}
	for _, name := range vectorFiles {
		sum, ok := want[name]
		if !ok {
			return fmt.Errorf("%s is not in the manifest", name)
		}
		data, err := os.ReadFile(filepath.Join(d, "test-vectors", name))
		if err != nil {
			return err
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != sum {
			return fmt.Errorf("%s: sha256 %x does not match the manifest", name, got)
		}
	}
	return nil
}

// load decodes one vector file into v.
func load(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "test-vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// hexBytes is a hex string in the vectors, decoded on unmarshal.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

func TestMain(m *testing.M) {
	d, tried := vectorsDir()
	if d == "" {
		fmt.Fprintf(os.Stderr, "MLS test vectors not found; looked in %s. Put the shared folder beside the repository or set PARLEY_MLS_VECTORS.\n", strings.Join(tried, ", "))
		os.Exit(1)
	}
	if err := checkManifest(d); err != nil {
		fmt.Fprintf(os.Stderr, "MLS test vectors in %s fail their manifest: %v\n", d, err)
		os.Exit(1)
	}
	dir = d
	code := m.Run()
	if !summarise() && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// summarise prints per file how many vectors were verified and reports
// whether the run meets the rules: every file verified at least one vector
// (unless pending) and no vector of a supported suite was skipped.
func summarise() bool {
	if flagRunFiltered() {
		return true // a -run filter selected a subset; counts are partial.
	}
	ok := true
	fmt.Println("MLS conformance vectors verified per file:")
	for _, name := range vectorFiles {
		n := tally.verified[name]
		line := fmt.Sprintf("  %-38s %6d verified", name, n)
		if u := tally.unsupported[name]; len(u) > 0 {
			var cs []int
			for id := range u {
				cs = append(cs, int(id))
			}
			sort.Ints(cs)
			line += fmt.Sprintf(", skipped for unsupported suites %v", cs)
		}
		if why, isPending := pending[name]; isPending && n == 0 {
			line += "  PENDING: " + why
		} else if n == 0 {
			line += "  FAIL: no vector verified"
			ok = false
		}
		fmt.Println(line)
	}
	return ok
}

// flagRunFiltered reports whether go test was given -run, in which case not
// every file's test ran and the zero-count rule does not apply.
func flagRunFiltered() bool {
	for i, a := range os.Args {
		v, found := strings.CutPrefix(a, "-test.run=")
		if !found && a == "-test.run" && i+1 < len(os.Args) {
			v, found = os.Args[i+1], true
		}
		if found && v != "" && v != "." {
			return true
		}
	}
	return false
}
