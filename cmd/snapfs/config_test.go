package main

import (
	"bytes"
	"fmt"
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
	every := duration(time.Hour)
	quarter := duration(15 * time.Minute)
	want := Config{
		VGs:              []string{"vg", "vg2"},
		SnapshotSize:     sizeSpec{lvm.SizeSpec{Extents: "20%ORIGIN"}},
		AllowOther:       true,
		AdminGroup:       "snapadm",
		LVM:              "/usr/sbin/lvm",
		XL:               "xl",
		CommandTimeout:   duration(90 * time.Second),
		Quiesce:          "none",
		FilesIdle:        duration(5 * time.Minute),
		Events:           false,
		CheckpointMemory: false,
		CheckpointDir:    "/srv/checkpoints",
		Schedule:         &every,
		Keep:             &Keep{Hourly: 24, Daily: 7},
		Guard: GuardConfig{
			ExtendAt:      90,
			ExtendBy:      "256M",
			ExtendMax:     "50%ORIGIN",
			WarnAt:        75,
			MinFree:       "5%",
			GuardInterval: duration(500 * time.Millisecond),
			PruneForSpace: true,
		},
		Origin: map[string]OriginConfig{
			"vg/buildsid-disk": {
				SnapshotSize: &sizeSpec{lvm.SizeSpec{Size: "2G"}},
				Quiesce:      &pause,
				Schedule:     &quarter,
				Keep:         &Keep{Last: 4, Hourly: 24, Daily: 7, Weekly: 4, Monthly: 6},
				ExtendAt:     ptr(95),
				ExtendBy:     ptr("10%"),
				ExtendMax:    ptr("16G"),
				WarnAt:       ptr(85),
				MinFree:      ptr("2G"),
			},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config:\n%+v\nwant\n%+v", cfg, want)
	}
}

func ptr[T any](v T) *T { return &v }

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
	if !cfg.Events || !cfg.CheckpointMemory || cfg.CheckpointDir != "/var/lib/snapfs/checkpoints" ||
		cfg.Schedule != nil || cfg.Keep != nil {
		t.Errorf("defaults differ from SPEC: %+v", cfg)
	}
	wantGuard := GuardConfig{ExtendAt: 80, ExtendBy: "20%", ExtendMax: "100%ORIGIN", WarnAt: 70, MinFree: "0",
		GuardInterval: duration(time.Second), PruneForSpace: false}
	if cfg.Guard != wantGuard {
		t.Errorf("[guard] defaults: %+v, SPEC: %+v", cfg.Guard, wantGuard)
	}
	// An empty [guard] or origin table changes no default.
	empty := defaultConfig()
	if err := parseConfig([]byte("[guard]\n[origin.\"vg/x\"]\n"), &empty); err != nil {
		t.Fatal(err)
	}
	if empty.Guard != wantGuard || empty.GuardFor("vg/x") != wantGuard {
		t.Errorf("empty tables: %+v, for vg/x %+v", empty.Guard, empty.GuardFor("vg/x"))
	}
	if _, _, ok := empty.ScheduleFor("vg/x"); ok {
		t.Error("an origin is scheduled by default")
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

// Each bad value of a new key is an error naming the key and the line it is
// set on. The lines before each case's TOML shift it, so that a line found
// by chance does not pass.
func TestBadNewKeys(t *testing.T) {
	const head = "vgs = [\"vg\"]\n\n# the keys under test\n" // 3 lines
	tests := []struct {
		name, toml string
		line       int    // of head+toml
		key        string // as the error names it
		want       string
	}{
		{"events type", `events = "yes"`, 4, "events", "boolean"},
		{"checkpoint_memory type", "checkpoint_memory = 1", 4, "checkpoint_memory", "boolean"},
		{"checkpoint_dir relative", `checkpoint_dir = "var/ckpt"`, 4, "checkpoint_dir", "absolute"},
		{"checkpoint_dir empty", "events = true\ncheckpoint_dir = ''", 5, "checkpoint_dir", "absolute"},

		{"extend_at above 100", "[guard]\nextend_at = 101", 5, "guard.extend_at", "0 to 100"},
		{"extend_at negative", "[guard]\nwarn_at = 0\nextend_at = -1", 6, "guard.extend_at", "0 to 100"},
		{"extend_at type", "[guard]\nextend_at = \"80\"", 5, "guard.extend_at", "integer"},
		{"warn_at above 100", "[guard]\nextend_at = 0\nwarn_at = 101", 6, "guard.warn_at", "0 to 100"},
		{"warn_at negative", "[guard]\nwarn_at = -5", 5, "guard.warn_at", "0 to 100"},
		{"extend_by zero percent", "[guard]\nextend_by = \"0%\"", 5, "guard.extend_by", "more than 0%"},
		{"extend_by negative", "[guard]\nextend_by = \"-5%\"", 5, "guard.extend_by", "want a number before the %"},
		{"extend_by words", "[guard]\nextend_by = \"lots\"", 5, "guard.extend_by", "lots"},
		{"extend_by unit", "[guard]\nextend_by = \"5X\"", 5, "guard.extend_by", "unknown unit"},
		{"extend_by bytes LVM refuses", "[guard]\nextend_by = \"1000b\"", 5, "guard.extend_by", "multiple of 512"},
		{"extend_by zero", "[guard]\nextend_by = \"0\"", 5, "guard.extend_by", "at least one sector"},
		{"extend_max of the VG", "[guard]\nextend_max = \"50%VG\"", 5, "guard.extend_max", "%ORIGIN"},
		{"extend_max bare percent", "[guard]\nextend_max = \"50%\"", 5, "guard.extend_max", "%ORIGIN"},
		{"extend_max zero", "[guard]\nextend_max = \"0%ORIGIN\"", 5, "guard.extend_max", "more than 0%"},
		{"extend_max words", "[guard]\nextend_max = \"big\"", 5, "guard.extend_max", "big"},
		{"min_free 100%", "[guard]\nmin_free = \"100%\"", 5, "guard.min_free", "below 100"},
		{"min_free negative", "[guard]\nmin_free = \"-1%\"", 5, "guard.min_free", "want a number before the %"},
		{"min_free words", "[guard]\nmin_free = \"some\"", 5, "guard.min_free", "some"},
		{"min_free bytes LVM refuses", "[guard]\nmin_free = \"100b\"", 5, "guard.min_free", "multiple of 512"},
		{"guard_interval zero", "[guard]\nguard_interval = \"0s\"", 5, "guard.guard_interval", "positive"},
		{"guard_interval negative", "[guard]\nguard_interval = \"-1s\"", 5, "guard.guard_interval", "positive"},
		{"guard_interval words", "[guard]\nguard_interval = \"often\"", 5, "guard.guard_interval", "often"},
		{"guard_interval number", "[guard]\nguard_interval = 5", 5, "guard.guard_interval", "not a duration"},
		{"prune_for_space type", "[guard]\nprune_for_space = \"yes\"", 5, "guard.prune_for_space", "boolean"},
		{"unknown key in guard", "[guard]\nextend_at = 80\nextend_every = 5", 6, "guard.extend_every", "unknown key"},
		{"guard dotted", "guard.extend_at = 200", 4, "guard.extend_at", "0 to 100"},

		{"warn_at above extend_at", "[guard]\nwarn_at = 90\nextend_at = 85", 5, "guard.warn_at", "above extend_at"},
		{"default warn_at above extend_at", "[guard]\n\nextend_at = 60", 6, "guard.extend_at", "set warn_at"},
		{"origin warn_at above extend_at", "[origin.'vg/x']\nwarn_at = 85", 5, `origin."vg/x".warn_at`, "above extend_at (80)"},
		{"origin extend_at below warn_at", "[origin.'vg/x']\nextend_at = 50", 5, `origin."vg/x".extend_at`, "warn_at (70, of [guard])"},
		{"origin extend_at below guard's warn_at", "[guard]\nextend_at = 90\nwarn_at = 85\n[origin.\"vg/x\"]\nquiesce = \"none\"\nextend_at = 80",
			9, `origin."vg/x".extend_at`, "warn_at (85, of [guard])"},

		{"origin extend_at", "[origin.\"vg/x\"]\nextend_at = 101", 5, `origin."vg/x".extend_at`, "0 to 100"},
		{"origin warn_at", "[origin.\"vg/x\"]\nwarn_at = -1", 5, `origin."vg/x".warn_at`, "0 to 100"},
		{"origin extend_by", "[origin.\"vg/x\"]\nextend_by = \"0%\"", 5, `origin."vg/x".extend_by`, "more than 0%"},
		{"origin extend_max", "[origin.\"vg/x\"]\nextend_max = \"5%\"", 5, `origin."vg/x".extend_max`, "%ORIGIN"},
		{"origin min_free", "[origin.\"vg/x\"]\nmin_free = \"100.5%\"", 5, `origin."vg/x".min_free`, "at most 100%"},
		{"origin guard_interval", "[origin.\"vg/x\"]\nguard_interval = \"1s\"", 5, `origin."vg/x".guard_interval`, "unknown key"},

		{"schedule zero", "schedule = \"0\"", 4, "schedule", "positive"},
		{"origin schedule zero", "[origin.\"vg/x\"]\nschedule = \"0s\"", 5, `origin."vg/x".schedule`, "positive"},
		{"origin schedule negative", "[origin.\"vg/x\"]\nschedule = \"-15m\"", 5, `origin."vg/x".schedule`, "positive"},
		{"origin schedule words", "[origin.\"vg/x\"]\nschedule = \"hourly\"", 5, `origin."vg/x".schedule`, "hourly"},
		{"origin schedule number", "[origin.\"vg/x\"]\nschedule = 15", 5, `origin."vg/x".schedule`, "not a duration"},

		{"keep negative", "[origin.\"vg/x\"]\nschedule = \"1h\"\nkeep = { last = 4, daily = -1 }", 6, `origin."vg/x".keep.daily`, "negative"},
		{"keep negative, a line of its own", "[origin.\"vg/x\"]\nschedule = \"1h\"\nkeep = {\n  last = 4,\n  weekly = -2,\n}", 8, `origin."vg/x".keep.weekly`, "negative"},
		{"keep negative, dotted", "[origin.\"vg/x\"]\nschedule = \"1h\"\nkeep.last = 4\nkeep.monthly = -3", 7, `origin."vg/x".keep.monthly`, "negative"},
		{"keep negative, table", "schedule = \"1h\"\n[origin.\"vg/x\".keep]\nlast = 4\nhourly = -3", 7, `origin."vg/x".keep.hourly`, "negative"},
		{"keep unknown key", "[origin.\"vg/x\"]\nschedule = \"1h\"\nkeep = {\n  last = 4,\n  yearly = 1 }", 8, `origin."vg/x".keep.yearly`, "unknown key"},
		{"keep type", "[origin.\"vg/x\"]\nschedule = \"1h\"\nkeep = { last = \"4\" }", 6, `origin."vg/x".keep.last`, "integer"},
		{"keep keeps nothing", "[origin.\"vg/x\"]\nschedule = \"1h\"\nkeep = { last = 0 }", 6, `origin."vg/x".keep`, "keeps nothing"},
		{"keep without schedule", "[origin.\"vg/x\"]\nkeep = { last = 4 }\n[origin.\"vg/y\"]\nschedule = \"1h\"", 5, `origin."vg/x".keep`, "needs a schedule"},
		{"global keep unknown key", "schedule = \"1h\"\nkeep = { last = 1, yearly = 1 }", 5, "keep.yearly", "unknown key"},
		{"global keep negative", "schedule = \"1h\"\nkeep = { hourly = -1 }", 5, "keep.hourly", "negative"},
		{"global keep without any schedule", "keep = { last = 4 }\n[origin.\"vg/x\"]\nquiesce = \"pause\"", 4, "keep", "needs a schedule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			err := parseConfig([]byte(head+tc.toml+"\n"), &cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			// The decoder's type errors name key and line in its own words.
			ours := fmt.Sprintf("line %d: key %s: ", tc.line, tc.key)
			decoders := fmt.Sprintf("line %d (last key %q): ", tc.line, tc.key)
			if !strings.HasPrefix(err.Error(), ours) && !strings.Contains(err.Error(), decoders) {
				t.Errorf("error %q does not name line %d and key %s", err, tc.line, tc.key)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// Good values of the new keys, as SPEC allows them.
func TestGoodNewKeys(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		check      func(Config) bool
	}{
		{"extend_by percent", "[guard]\nextend_by = \"1%\"", func(c Config) bool { return c.Guard.ExtendBy == "1%" }},
		{"extend_by big percent", "[guard]\nextend_by = \"300%\"", func(c Config) bool { return c.Guard.ExtendBy == "300%" }},
		{"extend_by size", "[guard]\nextend_by = \"1.5G\"", func(c Config) bool { return c.Guard.ExtendBy == "1.5G" }},
		{"extend_by MiB without unit", "[guard]\nextend_by = \"100\"", func(c Config) bool { return c.Guard.ExtendBy == "100" }},
		{"extend_by bytes", "[guard]\nextend_by = \"1024b\"", func(c Config) bool { return c.Guard.ExtendBy == "1024b" }},
		{"extend_max percent", "[guard]\nextend_max = \"250%ORIGIN\"", func(c Config) bool { return c.Guard.ExtendMax == "250%ORIGIN" }},
		{"extend_max lower case", "[guard]\nextend_max = \"50%origin\"", func(c Config) bool { return c.Guard.ExtendMax == "50%origin" }},
		{"extend_max size", "[guard]\nextend_max = \"8G\"", func(c Config) bool { return c.Guard.ExtendMax == "8G" }},
		{"min_free zero percent", "[guard]\nmin_free = \"0%\"", func(c Config) bool { return c.Guard.MinFree == "0%" }},
		{"min_free 99%", "[guard]\nmin_free = \"99%\"", func(c Config) bool { return c.Guard.MinFree == "99%" }},
		{"min_free size", "[guard]\nmin_free = \"2G\"", func(c Config) bool { return c.Guard.MinFree == "2G" }},
		{"extend_at off, warn_at high", "[guard]\nextend_at = 0\nwarn_at = 95", func(c Config) bool { return c.Guard.ExtendAt == 0 && c.Guard.WarnAt == 95 }},
		{"warn_at at extend_at", "[guard]\nextend_at = 70", func(c Config) bool { return c.Guard.ExtendAt == 70 && c.Guard.WarnAt == 70 }},
		{"warn_at off", "[guard]\nwarn_at = 0\nextend_at = 100", func(c Config) bool { return c.Guard.WarnAt == 0 && c.Guard.ExtendAt == 100 }},
		{"guard inline", "guard = { extend_at = 95, prune_for_space = true }", func(c Config) bool {
			return c.Guard.ExtendAt == 95 && c.Guard.PruneForSpace && c.Guard.WarnAt == 70
		}},
		{"origin turns extending off", "[origin.\"vg/x\"]\nextend_at = 0", func(c Config) bool { return c.GuardFor("vg/x").ExtendAt == 0 }},
		{"keep with a global schedule", "schedule = \"1h\"\n[origin.\"vg/x\"]\nkeep = { daily = 7 }", func(c Config) bool {
			every, keep, ok := c.ScheduleFor("vg/x")
			return ok && every == time.Hour && keep == Keep{Daily: 7}
		}},
		{"global keep with an origin's schedule", "keep = { daily = 7 }\n[origin.\"vg/x\"]\nschedule = \"30m\"", func(c Config) bool {
			every, keep, ok := c.ScheduleFor("vg/x")
			_, _, other := c.ScheduleFor("vg/y")
			return ok && every == 30*time.Minute && keep == Keep{Daily: 7} && !other
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			if err := parseConfig([]byte(tc.toml+"\n"), &cfg); err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("parsed as %+v", cfg)
			}
		})
	}
}

// GuardFor is [guard] with the origin's overrides; ScheduleFor the origin's
// schedule and keep, else the global ones, each whole.
func TestOriginOverrides(t *testing.T) {
	cfg := defaultConfig()
	err := parseConfig([]byte(`schedule = "1h"
keep = { hourly = 24, daily = 7 }
[guard]
extend_at = 90
extend_by = "512M"
warn_at = 60
min_free = "1G"
[origin."vg/a"]
extend_at = 95
min_free = "5%"
schedule = "15m"
keep = { last = 4 }
[origin."vg/b"]
extend_by = "10%"
extend_max = "2G"
warn_at = 80
[origin."vg/c"]
keep = { weekly = 4 }
[origin."vg/d"]
schedule = "5m"
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	global := GuardConfig{ExtendAt: 90, ExtendBy: "512M", ExtendMax: "100%ORIGIN", WarnAt: 60, MinFree: "1G", GuardInterval: duration(time.Second)}
	for _, tc := range []struct {
		origin string
		guard  GuardConfig
		every  time.Duration
		keep   Keep
	}{
		{"vg/a", GuardConfig{ExtendAt: 95, ExtendBy: "512M", ExtendMax: "100%ORIGIN", WarnAt: 60, MinFree: "5%", GuardInterval: duration(time.Second)},
			15 * time.Minute, Keep{Last: 4}},
		{"vg/b", GuardConfig{ExtendAt: 90, ExtendBy: "10%", ExtendMax: "2G", WarnAt: 80, MinFree: "1G", GuardInterval: duration(time.Second)},
			time.Hour, Keep{Hourly: 24, Daily: 7}},
		{"vg/c", global, time.Hour, Keep{Weekly: 4}},
		{"vg/d", global, 5 * time.Minute, Keep{Hourly: 24, Daily: 7}},
		{"vg/unlisted", global, time.Hour, Keep{Hourly: 24, Daily: 7}},
	} {
		if got := cfg.GuardFor(tc.origin); got != tc.guard {
			t.Errorf("GuardFor(%s) = %+v, want %+v", tc.origin, got, tc.guard)
		}
		every, keep, ok := cfg.ScheduleFor(tc.origin)
		if !ok || every != tc.every || keep != tc.keep {
			t.Errorf("ScheduleFor(%s) = %v, %+v, %v; want %v, %+v", tc.origin, every, keep, ok, tc.every, tc.keep)
		}
	}
	if cfg.Guard != global {
		t.Errorf("the overrides changed [guard]: %+v", cfg.Guard)
	}

	// Without a global schedule only origins with their own are scheduled,
	// and one without keep gets the zero Keep: nothing is pruned.
	cfg = defaultConfig()
	if err := parseConfig([]byte("[origin.\"vg/a\"]\nschedule = \"15m\"\n[origin.\"vg/b\"]\nquiesce = \"pause\"\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if every, keep, ok := cfg.ScheduleFor("vg/a"); !ok || every != 15*time.Minute || keep != (Keep{}) {
		t.Errorf("ScheduleFor(vg/a) = %v, %+v, %v", every, keep, ok)
	}
	for _, origin := range []string{"vg/b", "vg/unlisted"} {
		if every, keep, ok := cfg.ScheduleFor(origin); ok {
			t.Errorf("ScheduleFor(%s) = %v, %+v, %v; want none", origin, every, keep, ok)
		}
	}
}

// -check-config prints the loader's error, naming file, key and line.
func TestCheckConfigNewKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guard.toml")
	content := "lvm = \"true\"\n\n[guard]\nextend_at = 90\nextend_by = \"0%\"\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, loadErr := loadConfig(path, true)
	if loadErr == nil {
		t.Fatal("loadConfig accepted extend_by = \"0%\"")
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-check-config", path}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "snapfs: " + path + ": line 5: key guard.extend_by: "
	if got := stderr.String(); got != "snapfs: "+loadErr.Error()+"\n" || !strings.HasPrefix(got, want) {
		t.Errorf("-check-config printed %q, want the loader's error %q, starting %q", got, loadErr, want)
	}
	if stdout.Len() > 0 {
		t.Errorf("-check-config printed %q on stdout", stdout.String())
	}
}

func TestKeyLine(t *testing.T) {
	data := []byte(`a = 1
[origin."vg/x"]
snapshot_size = "1G"
[origin . 'vg/y']
  quiesce = 'pause'
  keep = { last = 4, "hourly" = 2 }  # daily = 3
  note = """ # not a comment, { "quoted",
daily = 9 is not a key
"""
  keep2 = {
    # comment, weekly = 1
    weekly = 1,
    sub = { monthly = 2 } }
  keep3.last = 5
  "q\"k" = "\"" # an escaped quote in a key and in a value
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
		{[]string{"origin", "vg/y", "daily"}, 0},
		{[]string{"origin", "vg/y", "keep2"}, 10},
		{[]string{"origin", "vg/y", "keep2", "weekly"}, 12},
		{[]string{"origin", "vg/y", "keep2", "sub", "monthly"}, 13},
		{[]string{"origin", "vg/y", "keep3", "last"}, 14},
		{[]string{"origin", "vg/y", "keep3"}, 14},
		{[]string{"origin", "vg/y", "after"}, 18},
		{[]string{"origin", "vg/y", `q"k`}, 15},
		{[]string{"origin", "vg/y", "list", "last"}, 0},
		{[]string{"guard"}, 19},
		{[]string{"guard", "extend_at"}, 20},
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
