package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/snapfs/snapfs/lvm"
)

func fixture(name string) string { return filepath.Join("..", "..", "testdata", "config", name) }

func TestGoodConfig(t *testing.T) {
	cfg, err := loadConfig(fixture("good.toml"), true)
	if err != nil {
		t.Fatal(err)
	}
	pause := quiesceMode("pause")
	want := Config{
		VGs:            []string{"vg", "vg2"},
		SnapshotSize:   sizeSpec{lvm.SizeSpec{Extents: "20%ORIGIN"}},
		AllowOther:     true,
		AdminGroup:     "snapadm",
		LVM:            "/usr/sbin/lvm",
		XL:             "xl",
		CommandTimeout: duration(90 * time.Second),
		Quiesce:        "none",
		FilesIdle:      duration(5 * time.Minute),
		Origin: map[string]OriginConfig{
			"vg/buildsid-disk": {SnapshotSize: &sizeSpec{lvm.SizeSpec{Size: "2G"}}, Quiesce: &pause},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config:\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := loadConfig(filepath.Join(t.TempDir(), "absent.toml"), false)
	if err != nil {
		t.Fatalf("a missing default config must mean defaults: %v", err)
	}
	if !reflect.DeepEqual(cfg, defaultConfig()) {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.SnapshotSize.Extents != "20%ORIGIN" || cfg.LVM != "lvm" || cfg.XL != "xl" ||
		time.Duration(cfg.CommandTimeout) != 2*time.Minute || cfg.Quiesce != "none" || time.Duration(cfg.FilesIdle) != 5*time.Minute {
		t.Errorf("defaults differ from SPEC: %+v", cfg)
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "absent.toml"), true); err == nil {
		t.Error("a missing -config file was accepted")
	}
}

// Every bad config is an error naming the key and its line.
func TestBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"unknown-key.toml", []string{"line 2", "snapshot_sise", "unknown key"}},
		{"bad-duration.toml", []string{"line 3", "command_timeout", "soon"}},
		{"negative-duration.toml", []string{"line 1", "files_idle", "positive"}},
		{"bad-quiesce.toml", []string{"line 1", "quiesce", "freeze"}},
		{"bad-size.toml", []string{"line 2", "snapshot_size", "lots"}},
		{"bad-origin-name.toml", []string{"line 2", "webdisk", "vg/lv"}},
		{"unknown-origin-key.toml", []string{"line 3", "size", "unknown key"}},
		{"wrong-type.toml", []string{"line 1", "vgs"}},
		{"bad-vg.toml", []string{"line 2", "vgs", "-bad"}},
		{"syntax.toml", []string{"line 2", "vgs"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := loadConfig(fixture(tc.file), true)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestKeyLine(t *testing.T) {
	data := []byte(`a = 1
[origin."vg/x"]
snapshot_size = "1G"
[origin . 'vg/y']
  quiesce = 'pause'
  keep = { last = 4, "hourly" = 2 }  # daily = 3
  note = """ # not a comment, {
daily = 9 is not a key
"""
  keep2 = {
    # comment, weekly = 1
    weekly = 1,
    sub = { monthly = 2 } }
  keep3.last = 5
b = "x # y = { z = 1 }"
list = [{ last = 1 }, "]"]
after = 1
[guard]
extend_at = 80
`)
	if err := toml.Unmarshal(data, new(map[string]any)); err != nil {
		t.Fatalf("the test's TOML: %v", err)
	}
	for _, tc := range []struct {
		key  []string
		line int
	}{
		{[]string{"a"}, 1},
		{[]string{"origin", "vg/x", "snapshot_size"}, 3},
		{[]string{"origin", "vg/y", "quiesce"}, 5},
		{[]string{"origin", "vg/y"}, 4},
		{[]string{"origin", "vg/y", "keep", "last"}, 6},
		{[]string{"origin", "vg/y", "keep", "hourly"}, 6},
		{[]string{"origin", "vg/y", "keep", "daily"}, 0},
		{[]string{"origin", "vg/y", "keep2"}, 10},
		{[]string{"origin", "vg/y", "keep2", "weekly"}, 12},
		{[]string{"origin", "vg/y", "keep2", "sub", "monthly"}, 13},
		{[]string{"origin", "vg/y", "keep3", "last"}, 14},
		{[]string{"origin", "vg/y", "keep3"}, 14},
		{[]string{"origin", "vg/y", "after"}, 17},
		{[]string{"origin", "vg/y", "list", "last"}, 0},
		{[]string{"guard"}, 18},
		{[]string{"guard", "extend_at"}, 19},
		{[]string{"extend_at"}, 0},
		{[]string{"absent"}, 0},
	} {
		if got := keyLine(data, tc.key); got != tc.line {
			t.Errorf("keyLine(%v) = %d, want %d", tc.key, got, tc.line)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "snapfs ") {
		t.Errorf("-version: exit %d, %q %q", code, out.String(), errOut.String())
	}
	if code := run(nil, &out, &errOut); code != 2 {
		t.Errorf("no mount point: exit %d, want 2", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("quiesce = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run([]string{"-config", bad, t.TempDir()}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "quiesce") {
		t.Errorf("bad config: exit %d, %q", code, errOut.String())
	}
}
