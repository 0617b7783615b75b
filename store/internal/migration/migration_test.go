package migration

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0002_more.sql": {Data: []byte("two")},
		"migrations/0001_init.sql": {Data: []byte("one")},
		"migrations/README":        {Data: []byte("not a migration")},
	}
	ms, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].SQL != "one" || ms[1].Name != "0002_more.sql" {
		t.Errorf("Load = %+v, want 0001 then 0002", ms)
	}
}

func TestLoadRefusesBadSets(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"repeat":    {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"no number": {"migrations/init.sql": {}},
		"zero":      {"migrations/0000_a.sql": {}},
	} {
		if _, err := Load(fsys); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: Load = %v, want an error naming the file", name, err)
		}
	}
}
