package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The files "make install" installs: the example config and the man pages
// must document every key of Config.

func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configKeys lists the TOML keys of Config and, as "origin.KEY" and
// "guard.KEY", of OriginConfig and GuardConfig.
func configKeys() []string {
	var keys []string
	for _, table := range []struct {
		typ    reflect.Type
		prefix string
	}{{reflect.TypeOf(Config{}), ""}, {reflect.TypeOf(OriginConfig{}), "origin."}, {reflect.TypeOf(GuardConfig{}), "guard."}} {
		for i := range table.typ.NumField() {
			key, _, _ := strings.Cut(table.typ.Field(i).Tag.Get("toml"), ",")
			keys = append(keys, table.prefix+key)
		}
	}
	return keys
}

var commentedKey = regexp.MustCompile(`(?m)^#(\[origin\.|\[guard\]|[a-z_]+ = )`)

// The example config changes nothing as installed, and shows every key,
// with a valid value, once uncommented.
func TestExampleConfig(t *testing.T) {
	example := repoFile(t, "dist/snapfs.toml")
	cfg := defaultConfig()
	if err := parseConfig(example, &cfg); err != nil {
		t.Fatalf("dist/snapfs.toml: %v", err)
	}
	if !reflect.DeepEqual(cfg, defaultConfig()) {
		t.Errorf("dist/snapfs.toml changes the defaults: %+v", cfg)
	}

	uncommented := commentedKey.ReplaceAll(example, []byte("$1"))
	cfg = defaultConfig()
	if err := parseConfig(uncommented, &cfg); err != nil {
		t.Fatalf("dist/snapfs.toml uncommented: %v\n%s", err, uncommented)
	}
	table := ""
	set := map[string]bool{}
	for _, line := range strings.Split(string(uncommented), "\n") {
		if strings.HasPrefix(line, "[origin.") {
			table = "origin."
			set["origin"] = true
		}
		if strings.HasPrefix(line, "[guard]") {
			table = "guard."
			set["guard"] = true
		}
		if key, _, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(line, "#") {
			set[table+key] = true
		}
	}
	for _, key := range configKeys() {
		if !set[key] {
			t.Errorf("dist/snapfs.toml does not show key %s", key)
		}
	}
	// Commented out, the values shown are the defaults.
	shown := defaultConfig()
	if err := parseConfig(commentedKeyLinesOnly(uncommented), &shown); err != nil {
		t.Fatal(err)
	}
	shown.VGs, shown.Origin, shown.Schedule, shown.Keep = nil, nil, nil, nil // examples, not defaults
	if !reflect.DeepEqual(shown, defaultConfig()) {
		t.Errorf("the values shown are not the defaults: %+v", shown)
	}
}

// commentedKeyLinesOnly keeps the top-level key lines and those of
// [guard], before any origin's table.
func commentedKeyLinesOnly(data []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "[origin.") {
			break
		}
		if line == "[guard]" || strings.Contains(line, " = ") && !strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
		}
	}
	return out.Bytes()
}

func TestManPagesDocumentEveryKey(t *testing.T) {
	page := string(repoFile(t, "man/snapfs.toml.5.md"))
	for _, key := range configKeys() {
		key = strings.TrimPrefix(strings.TrimPrefix(key, "origin."), "guard.")
		if key == "origin" || key == "guard" {
			key = "[" + key
		}
		if !strings.Contains(page, "**"+key) {
			t.Errorf("snapfs.toml(5) does not document key %s", key)
		}
	}
	page = string(repoFile(t, "man/snapfs.8.md"))
	for _, file := range []string{"status", "status.json", "domu", "origin", "allocated", "state", "ctl", "image", "files/"} {
		if !strings.Contains(page, "\n*"+file+"*\n:   ") {
			t.Errorf("snapfs(8) does not document file %s", file)
		}
	}
	for _, errno := range []string{"EINVAL", "EEXIST", "ENOSPC", "EBUSY", "EPERM", "ETIMEDOUT", "EIO"} {
		if !strings.Contains(page, "\n**"+errno+"**\n:   ") {
			t.Errorf("snapfs(8) does not document %s", errno)
		}
	}
}

// -check-config exits 0 for a valid file, and 1 naming the key and line.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("vgs = [\"vg\"]\nlvm = \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-check-config", good}, &stdout, &stderr); code != 0 || stdout.String() != good+": valid\n" {
		t.Errorf("good file: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
	tests := []struct {
		name, content string
		want          []string
	}{
		{"unknown key", "vgs = [\"vg\"]\n\nsnapshot_sise = \"2G\"\n", []string{"line 3", "key snapshot_sise", "unknown key"}},
		{"bad value", "command_timeout = \"soon\"\n", []string{"line 1", "command_timeout", "soon"}},
		{"no such group", "lvm = \"true\"\nadmin_group = \"no-such-group-here\"\n", []string{"line 2", "key admin_group", "no-such-group-here"}},
		{"no lvm", "\nlvm = \"/nonexistent/lvm\"\n", []string{"line 2", "key lvm", "/nonexistent/lvm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout.Reset()
			stderr.Reset()
			if code := run([]string{"-check-config", path}, &stdout, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("error %q lacks %q", stderr.String(), w)
				}
			}
		})
	}
	stderr.Reset()
	if code := run([]string{"-check-config", filepath.Join(dir, "absent.toml")}, &stdout, &stderr); code != 1 {
		t.Errorf("missing file: exit %d, want 1 (%s)", code, stderr.String())
	}
}
