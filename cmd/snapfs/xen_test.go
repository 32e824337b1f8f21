package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/xen"
)

// writeXL writes a stand-in for xl that runs script.
func writeXL(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "xl")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// Without Xen (no xl, or an xl that fails because no hypervisor runs),
// Xen features are off with one warning, and nothing else happens.
func TestOpenXenWithoutXen(t *testing.T) {
	tests := []struct {
		name string
		xl   string
		want string
	}{
		{"no xl", filepath.Join(t.TempDir(), "xl"), "Xen features off: no xl binary"},
		// What Debian's xl wrapper prints on a host that is not a Xen dom0.
		{"no hypervisor", writeXL(t, "echo 'ERROR:  Can'\"'\"'t find hypervisor information in sysfs!' >&2; exit 1"), "Xen features off: xl list fails"},
		{"garbage", writeXL(t, "echo garbage"), "Xen features off: xl list fails"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := defaultConfig()
			cfg.XL = tc.xl
			x := openXen(cfg, &xen.ExecRunner{}, slog.New(slog.NewTextHandler(&logs, nil)))
			if x != nil {
				t.Fatal("Xen features on")
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), tc.want) {
				t.Errorf("want one warning %q, got:\n%s", tc.want, logs.String())
			}
		})
	}
}

func TestOpenXen(t *testing.T) {
	list := "Name                                        ID   Mem VCPUs\tState\tTime(s)\n" +
		"Domain-0                                     0  1024     2     r-----      12.2\n" +
		"web                                          1    96     1     -b----       3.4\n"
	xl := writeXL(t, "case $1 in list) printf '"+strings.ReplaceAll(list, "\t", `\t`)+"' ;; pause|unpause) echo \"$*\" >>"+filepath.Join(t.TempDir(), "log")+" ;; esac")
	cfg := defaultConfig()
	cfg.XL = xl
	var logs bytes.Buffer
	x := openXen(cfg, &xen.ExecRunner{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if x == nil {
		t.Fatalf("Xen features off:\n%s", logs.String())
	}
	d, ok, err := x.Domain(context.Background(), "web")
	if err != nil || !ok || d.ID != 1 || d.State != "blocked" {
		t.Errorf("Domain(web) = %+v, %v, %v", d, ok, err)
	}
	if _, ok, _ := x.Domain(context.Background(), "nosuch"); ok {
		t.Error("Domain(nosuch) found one")
	}
	if err := x.Pause(context.Background(), "web"); err != nil {
		t.Error(err)
	}
}

func TestQuiesceConfigured(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want bool
	}{
		{"", false},
		{`quiesce = "pause"`, true},
		{"[origin.\"vg/a\"]\nquiesce = \"none\"\n", false},
		{"[origin.\"vg/a\"]\nquiesce = \"pause\"\n", true},
	} {
		cfg := defaultConfig()
		if err := parseConfig([]byte(tc.toml), &cfg); err != nil {
			t.Fatal(err)
		}
		if got := quiesceConfigured(cfg); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.toml, got, tc.want)
		}
	}
}
