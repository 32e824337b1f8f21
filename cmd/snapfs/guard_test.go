package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keys of features not carried out yet are accepted, and said so at start.
func TestWarnNotYet(t *testing.T) {
	for _, tc := range []struct {
		toml, want string
	}{
		{"", ""},
		{"schedule = \"15m\"\n", "keys=schedule/keep"},
		{"[origin.\"vg/web\"]\nschedule = \"1h\"\nkeep = { last = 2 }\n", `keys="origin.vg/web schedule/keep"`},
		{"[guard]\nprune_for_space = true\n", "keys=guard.prune_for_space"},
	} {
		path := filepath.Join(t.TempDir(), "snapfs.toml")
		if err := os.WriteFile(path, []byte(tc.toml), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path, true)
		if err != nil {
			t.Fatalf("%q: %v", tc.toml, err)
		}
		var logs bytes.Buffer
		warnNotYet(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		got := logs.String()
		if tc.want == "" && got != "" || tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, "level=WARN")) {
			t.Errorf("%q: logged %q, want %q", tc.toml, got, tc.want)
		}
	}
}
