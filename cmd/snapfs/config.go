package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
)

// Config is /etc/snapfs.toml. Field tags are the SPEC's key names.
type Config struct {
	VGs              []string    `toml:"vgs"`
	SnapshotSize     sizeSpec    `toml:"snapshot_size"`
	AllowOther       bool        `toml:"allow_other"`
	AdminGroup       string      `toml:"admin_group"`
	LVM              string      `toml:"lvm"`
	XL               string      `toml:"xl"`
	CommandTimeout   duration    `toml:"command_timeout"`
	Quiesce          quiesceMode `toml:"quiesce"`
	FilesIdle        duration    `toml:"files_idle"`
	Events           bool        `toml:"events"`
	CheckpointMemory bool        `toml:"checkpoint_memory"`
	CheckpointDir    string      `toml:"checkpoint_dir"` // an absolute path
	Guard            GuardConfig `toml:"guard"`
	// Schedule and Keep are the defaults of every origin's; nil when unset.
	Schedule *duration               `toml:"schedule"`
	Keep     *Keep                   `toml:"keep"`
	Origin   map[string]OriginConfig `toml:"origin"`
}

// GuardConfig is the [guard] table: how the guard keeps COW stores and thin
// pools from filling up. The strings are checked as SPEC says (see
// checkExtendBy and its siblings) but left as written for package guard.
type GuardConfig struct {
	ExtendAt      int      `toml:"extend_at"`  // percent used; 0: never extend
	ExtendBy      string   `toml:"extend_by"`  // "N%" of the current size, or an LVM size
	ExtendMax     string   `toml:"extend_max"` // "N%ORIGIN", or an LVM size
	WarnAt        int      `toml:"warn_at"`    // percent used; 0: no filling events
	MinFree       string   `toml:"min_free"`   // "0", "N%" of the VG, or an LVM size
	GuardInterval duration `toml:"guard_interval"`
	PruneForSpace bool     `toml:"prune_for_space"`
}

// Keep is a retention policy: how many of the newest scheduled snapshots,
// and of the newest hours, days, ISO weeks and months, keep one each.
type Keep struct {
	Last    int `toml:"last"`
	Hourly  int `toml:"hourly"`
	Daily   int `toml:"daily"`
	Weekly  int `toml:"weekly"`
	Monthly int `toml:"monthly"`
}

// OriginConfig overrides settings for one origin, keyed "vg/lv". A nil
// field leaves the global value.
type OriginConfig struct {
	SnapshotSize *sizeSpec    `toml:"snapshot_size"`
	Quiesce      *quiesceMode `toml:"quiesce"`
	ExtendAt     *int         `toml:"extend_at"`
	ExtendBy     *string      `toml:"extend_by"`
	ExtendMax    *string      `toml:"extend_max"`
	WarnAt       *int         `toml:"warn_at"`
	MinFree      *string      `toml:"min_free"`
	Schedule     *duration    `toml:"schedule"`
	Keep         *Keep        `toml:"keep"` // replaces the global keep whole
}

// DefaultConfigPath is read when -config is not given and it exists.
const DefaultConfigPath = "/etc/snapfs.toml"

func defaultConfig() Config {
	return Config{
		SnapshotSize:     sizeSpec{lvm.SizeSpec{Extents: "20%ORIGIN"}},
		LVM:              "lvm",
		XL:               "xl",
		CommandTimeout:   duration(2 * time.Minute),
		Quiesce:          "none",
		FilesIdle:        duration(5 * time.Minute),
		Events:           true,
		CheckpointMemory: true,
		CheckpointDir:    "/var/lib/snapfs/checkpoints",
		Guard: GuardConfig{
			ExtendAt:      80,
			ExtendBy:      "20%",
			ExtendMax:     "100%ORIGIN",
			WarnAt:        70,
			MinFree:       "0",
			GuardInterval: duration(time.Second),
		},
	}
}

// GuardFor returns the guard's settings for origin "vg/lv": the [guard]
// table with that origin's overrides.
func (c Config) GuardFor(origin string) GuardConfig {
	g := c.Guard
	o, ok := c.Origin[origin]
	if !ok {
		return g
	}
	if o.ExtendAt != nil {
		g.ExtendAt = *o.ExtendAt
	}
	if o.ExtendBy != nil {
		g.ExtendBy = *o.ExtendBy
	}
	if o.ExtendMax != nil {
		g.ExtendMax = *o.ExtendMax
	}
	if o.WarnAt != nil {
		g.WarnAt = *o.WarnAt
	}
	if o.MinFree != nil {
		g.MinFree = *o.MinFree
	}
	return g
}

// ScheduleFor returns how often origin "vg/lv" is snapshotted and which of
// its scheduled snapshots are kept: its own schedule and keep, else the
// global ones. ok is false when the origin has no schedule. A zero keep
// means no keep is configured, and nothing is pruned: the loader refuses a
// keep that keeps nothing.
func (c Config) ScheduleFor(origin string) (every time.Duration, keep Keep, ok bool) {
	schedule, k := c.Schedule, c.Keep
	if o, found := c.Origin[origin]; found {
		if o.Schedule != nil {
			schedule = o.Schedule
		}
		if o.Keep != nil {
			k = o.Keep
		}
	}
	if schedule == nil {
		return 0, Keep{}, false
	}
	if k != nil {
		keep = *k
	}
	return time.Duration(*schedule), keep, true
}

// sizeSpec is a snapshot size: LVM size syntax (2G) or extents (20%ORIGIN).
type sizeSpec struct{ lvm.SizeSpec }

func (s *sizeSpec) UnmarshalText(b []byte) error {
	spec, err := lvm.ParseSizeSpec(string(b))
	if err != nil {
		return err
	}
	if spec == (lvm.SizeSpec{}) {
		return fmt.Errorf("%q: a snapshot size is needed", b)
	}
	s.SizeSpec = spec
	return nil
}

// duration is a Go duration string ("2m", "30s") that must be positive.
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"2m\" or \"30s\"", b)
	}
	if v <= 0 {
		return fmt.Errorf("%q: must be positive", b)
	}
	*d = duration(v)
	return nil
}

// quiesceMode is "none" or "pause".
type quiesceMode string

func (q *quiesceMode) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "none", "pause":
		*q = quiesceMode(s)
		return nil
	}
	return fmt.Errorf("%q: must be \"none\" or \"pause\"", b)
}

// loadConfig reads the config file. explicit says the path was named with
// -config: then it must exist; the default path may be missing.
func loadConfig(path string, explicit bool) (Config, error) {
	cfg := defaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return cfg, nil
		}
		return cfg, err
	}
	if err := parseConfig(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// parseConfig decodes TOML into cfg and checks it. Every error names the
// key and its line.
func parseConfig(data []byte, cfg *Config) error {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" {
				return fmt.Errorf("line %d: key %s: %s", perr.Position.Line, perr.LastKey, perr.Message)
			}
			return fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
		}
		return err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		k := undecoded[0]
		return fmt.Errorf("line %d: key %s: unknown key", keyLine(data, k), k)
	}
	return checkConfig(data, cfg)
}

// checkConfig checks what TOML types alone do not.
func checkConfig(data []byte, cfg *Config) error {
	for _, vg := range cfg.VGs {
		if !vgName.MatchString(vg) || vg == "." || vg == ".." {
			return keyError(data, toml.Key{"vgs"}, "%q is not a volume group name", vg)
		}
	}
	if cfg.LVM == "" {
		return keyError(data, toml.Key{"lvm"}, "must not be empty")
	}
	if cfg.XL == "" {
		return keyError(data, toml.Key{"xl"}, "must not be empty")
	}
	if !filepath.IsAbs(cfg.CheckpointDir) {
		return keyError(data, toml.Key{"checkpoint_dir"}, "%q: must be an absolute path", cfg.CheckpointDir)
	}
	g := &cfg.Guard
	if err := checkGuard(data, toml.Key{"guard"}, &g.ExtendAt, &g.WarnAt, &g.ExtendBy, &g.ExtendMax, &g.MinFree); err != nil {
		return err
	}
	if g.ExtendAt > 0 && g.WarnAt > g.ExtendAt {
		if key := (toml.Key{"guard", "warn_at"}); keyLine(data, key) > 0 {
			return keyError(data, key, "warn_at (%d) must not be above extend_at (%d)", g.WarnAt, g.ExtendAt)
		}
		return keyError(data, toml.Key{"guard", "extend_at"}, "the default warn_at (%d) is above extend_at (%d): set warn_at too", g.WarnAt, g.ExtendAt)
	}
	scheduled := cfg.Schedule != nil
	for _, o := range cfg.Origin {
		scheduled = scheduled || o.Schedule != nil
	}
	if cfg.Keep != nil {
		if err := checkKeep(data, toml.Key{"keep"}, *cfg.Keep); err != nil {
			return err
		}
		if !scheduled {
			return keyError(data, toml.Key{"keep"}, "keep needs a schedule, at the top level or for an origin")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Origin)) {
		if err := checkOrigin(data, cfg, name); err != nil {
			return err
		}
	}
	return nil
}

// checkOrigin checks the [origin."vg/lv"] table of origin name, and its
// guard settings merged with [guard].
func checkOrigin(data []byte, cfg *Config, name string) error {
	table := toml.Key{"origin", name}
	vg, lv, ok := strings.Cut(name, "/")
	if !ok || vg == "" || lv == "" || strings.Contains(lv, "/") {
		return keyError(data, table, "origins are named \"vg/lv\"")
	}
	o := cfg.Origin[name]
	if err := checkGuard(data, table, o.ExtendAt, o.WarnAt, o.ExtendBy, o.ExtendMax, o.MinFree); err != nil {
		return err
	}
	if g := cfg.GuardFor(name); g.ExtendAt > 0 && g.WarnAt > g.ExtendAt {
		if o.WarnAt != nil {
			return keyError(data, childKey(table, "warn_at"), "warn_at (%d) must not be above extend_at (%d)", g.WarnAt, g.ExtendAt)
		}
		return keyError(data, childKey(table, "extend_at"), "warn_at (%d, of [guard]) is above extend_at (%d): set warn_at for this origin too", g.WarnAt, g.ExtendAt)
	}
	if o.Keep != nil {
		if err := checkKeep(data, childKey(table, "keep"), *o.Keep); err != nil {
			return err
		}
		if o.Schedule == nil && cfg.Schedule == nil {
			return keyError(data, childKey(table, "keep"), "keep needs a schedule, for this origin or at the top level")
		}
	}
	return nil
}

// checkGuard checks the guard's keys of one table, [guard] or an origin's:
// those that are not nil.
func checkGuard(data []byte, table toml.Key, extendAt, warnAt *int, extendBy, extendMax, minFree *string) error {
	for _, p := range []struct {
		key   string
		value *int
		zero  string
	}{{"extend_at", extendAt, "0 turns extending off"}, {"warn_at", warnAt, "0 turns filling events off"}} {
		if p.value != nil && (*p.value < 0 || *p.value > 100) {
			return keyError(data, childKey(table, p.key), "%d: must be a percentage from 0 to 100 (%s)", *p.value, p.zero)
		}
	}
	for _, p := range []struct {
		key   string
		value *string
		check func(string) error
	}{{"extend_by", extendBy, checkExtendBy}, {"extend_max", extendMax, checkExtendMax}, {"min_free", minFree, checkMinFree}} {
		if p.value == nil {
			continue
		}
		if err := p.check(*p.value); err != nil {
			return keyError(data, childKey(table, p.key), "%v", err)
		}
	}
	return nil
}

// checkKeep checks a keep table at key.
func checkKeep(data []byte, key toml.Key, keep Keep) error {
	for _, f := range []struct {
		name string
		n    int
	}{{"last", keep.Last}, {"hourly", keep.Hourly}, {"daily", keep.Daily}, {"weekly", keep.Weekly}, {"monthly", keep.Monthly}} {
		if f.n < 0 {
			return keyError(data, childKey(key, f.name), "%d: must not be negative", f.n)
		}
	}
	if keep == (Keep{}) {
		return keyError(data, key, "keeps nothing: give at least one of last, hourly, daily, weekly and monthly a count above 0")
	}
	return nil
}

// childKey returns key name in table, in a slice of its own.
func childKey(table toml.Key, name string) toml.Key {
	return append(slices.Clone(table), name)
}

// keyError is an error about the value of key, naming the key and its line
// as the decoder's own errors do.
func keyError(data []byte, key toml.Key, format string, args ...any) error {
	return fmt.Errorf("line %d: key %s: %s", keyLine(data, key), key, fmt.Sprintf(format, args...))
}

// The sizes of [guard] are parsed by package guard, which the guard uses
// too: the configuration refuses what the guard could not take.

// checkExtendBy checks extend_by: "N%" of the current size or an LVM size.
func checkExtendBy(s string) error { _, err := guard.ParseExtendBy(s); return err }

// checkExtendMax checks extend_max: "N%ORIGIN" or an LVM size.
func checkExtendMax(s string) error { _, err := guard.ParseExtendMax(s); return err }

// checkMinFree checks min_free: "0", "N%" of the VG or an LVM size.
func checkMinFree(s string) error { _, err := guard.ParseMinFree(s); return err }

// vgName is what LVM accepts as a volume group name.
var vgName = regexp.MustCompile(`^[A-Za-z0-9._+][A-Za-z0-9._+-]*$`)
