package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/snapfs/snapfs/lvm"
)

// Config is /etc/snapfs.toml. Field tags are the SPEC's key names.
type Config struct {
	VGs            []string                `toml:"vgs"`
	SnapshotSize   sizeSpec                `toml:"snapshot_size"`
	AllowOther     bool                    `toml:"allow_other"`
	AdminGroup     string                  `toml:"admin_group"`
	LVM            string                  `toml:"lvm"`
	XL             string                  `toml:"xl"`
	CommandTimeout duration                `toml:"command_timeout"`
	Quiesce        quiesceMode             `toml:"quiesce"`
	FilesIdle      duration                `toml:"files_idle"`
	Origin         map[string]OriginConfig `toml:"origin"`
}

// OriginConfig overrides settings for one origin, keyed "vg/lv".
type OriginConfig struct {
	SnapshotSize *sizeSpec    `toml:"snapshot_size"`
	Quiesce      *quiesceMode `toml:"quiesce"`
}

// DefaultConfigPath is read when -config is not given and it exists.
const DefaultConfigPath = "/etc/snapfs.toml"

func defaultConfig() Config {
	return Config{
		SnapshotSize:   sizeSpec{lvm.SizeSpec{Extents: "20%ORIGIN"}},
		LVM:            "lvm",
		XL:             "xl",
		CommandTimeout: duration(2 * time.Minute),
		Quiesce:        "none",
		FilesIdle:      duration(5 * time.Minute),
	}
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
			return fmt.Errorf("line %d: key vgs: %q is not a volume group name", keyLine(data, toml.Key{"vgs"}), vg)
		}
	}
	if cfg.LVM == "" {
		return fmt.Errorf("line %d: key lvm: must not be empty", keyLine(data, toml.Key{"lvm"}))
	}
	if cfg.XL == "" {
		return fmt.Errorf("line %d: key xl: must not be empty", keyLine(data, toml.Key{"xl"}))
	}
	for name := range cfg.Origin {
		vg, lv, ok := strings.Cut(name, "/")
		if !ok || vg == "" || lv == "" || strings.Contains(lv, "/") {
			return fmt.Errorf("line %d: key origin.%q: origins are named \"vg/lv\"", keyLine(data, toml.Key{"origin", name}), name)
		}
	}
	return nil
}

// vgName is what LVM accepts as a volume group name.
var vgName = regexp.MustCompile(`^[A-Za-z0-9._+][A-Za-z0-9._+-]*$`)

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

var tableHeader = regexp.MustCompile(`^\s*\[\s*([^\]]*?)\s*\]\s*(#.*)?$`)

// keyLine finds the line where key k is set, for error messages about keys
// the TOML decoder accepted (unknown keys, bad names). It follows table
// headers, and returns 0 when the line cannot be found.
func keyLine(data []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	table := strings.Join(quoteKey(k[:len(k)-1]), ".")
	last := k[len(k)-1]
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	headerLine := 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if m := tableHeader.FindStringSubmatch(text); m != nil {
			current = normalizeKey(m[1])
			if current == strings.Join(quoteKey(k), ".") {
				headerLine = line
			}
			continue
		}
		if current != table {
			continue
		}
		name, _, ok := strings.Cut(text, "=")
		if !ok {
			continue
		}
		if normalizeKey(name) == strings.Join(quoteKey(toml.Key{last}), ".") {
			return line
		}
	}
	return headerLine
}

// quoteKey renders key parts as TOML writes them: bare when possible.
func quoteKey(parts []string) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if bareKey.MatchString(p) {
			out[i] = p
		} else {
			out[i] = fmt.Sprintf("%q", p)
		}
	}
	return out
}

// normalizeKey turns a dotted key as written ("origin . 'vg/x'") into the
// form quoteKey produces.
func normalizeKey(s string) string {
	var parts []string
	s = strings.TrimSpace(s)
	for s != "" {
		switch s[0] {
		case '"', '\'':
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				return s
			}
			parts = append(parts, s[1:end+1])
			s = s[end+2:]
		default:
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			parts = append(parts, strings.TrimSpace(s[:end]))
			s = s[end:]
		}
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, ".")
		s = strings.TrimSpace(s)
	}
	return strings.Join(quoteKey(parts), ".")
}
