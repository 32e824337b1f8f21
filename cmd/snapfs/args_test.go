package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// The command lines mount(8) and mount.fuse3 (fuse3 3.14, util-linux 2.38)
// were seen to run, with a stub snapfs that recorded its argv:
//
//	mount -t fuse.snapfs snapfs /srv/snapfs -o config=/etc/x.toml,allow_other
//	    -> snapfs snapfs /srv/snapfs -o rw,config=/etc/x.toml,allow_other,dev,suid
//	fstab "snapfs /srv/snapfs fuse.snapfs defaults,config=/etc/snapfs.toml 0 0", mount -a
//	    -> snapfs snapfs /srv/snapfs -o rw,config=/etc/snapfs.toml,dev,suid
//	mount -t fuse.snapfs snapfs /srv/snapfs -o defaults,ro,noexec,nodev,nosuid,noatime,
//	        nofail,_netdev,x-systemd.requires=foo.service,comment=hi,allow_other,config=/etc/x.toml
//	    -> snapfs snapfs /srv/snapfs -o ro,noexec,nodev,nosuid,noatime,allow_other,config=/etc/x.toml
func TestParseArgs(t *testing.T) {
	const base uintptr = syscall.MS_NOSUID | syscall.MS_NODEV
	tests := []struct {
		name string
		args []string
		want invocation
	}{
		{"SPEC foreground", []string{"/srv/snapfs"},
			invocation{source: "snapfs", mountpoint: "/srv/snapfs", level: slog.LevelInfo, mountFlags: base}},
		{"SPEC flags", []string{"-config", "/etc/x.toml", "-debug", "/srv/snapfs"},
			invocation{source: "snapfs", mountpoint: "/srv/snapfs", configPath: "/etc/x.toml", level: slog.LevelDebug, debugFUSE: true, mountFlags: base}},
		{"log level", []string{"-log-level", "warn", "/srv/snapfs"},
			invocation{source: "snapfs", mountpoint: "/srv/snapfs", level: slog.LevelWarn, mountFlags: base}},
		{"-debug wins over -log-level", []string{"-log-level", "error", "-debug", "/srv/snapfs"},
			invocation{source: "snapfs", mountpoint: "/srv/snapfs", level: slog.LevelDebug, debugFUSE: true, mountFlags: base}},
		{"-o before the mount point", []string{"-o", "allow_other,config=/etc/x.toml", "/srv/snapfs"},
			invocation{source: "snapfs", mountpoint: "/srv/snapfs", configPath: "/etc/x.toml", allowOther: true, level: slog.LevelInfo, mountFlags: base}},
		{"mount -t", []string{"snapfs", "/srv/snapfs", "-o", "rw,config=/etc/x.toml,allow_other,dev,suid"},
			invocation{helper: true, source: "snapfs", mountpoint: "/srv/snapfs", configPath: "/etc/x.toml", allowOther: true, level: slog.LevelInfo, mountFlags: base}},
		{"fstab defaults", []string{"snapfs", "/srv/snapfs", "-o", "rw,config=/etc/snapfs.toml,dev,suid"},
			invocation{helper: true, source: "snapfs", mountpoint: "/srv/snapfs", configPath: "/etc/snapfs.toml", level: slog.LevelInfo, mountFlags: base}},
		{"generic options", []string{"snapfs", "/srv/snapfs", "-o", "ro,noexec,nodev,nosuid,noatime,allow_other,config=/etc/x.toml"},
			invocation{helper: true, source: "snapfs", mountpoint: "/srv/snapfs", configPath: "/etc/x.toml", allowOther: true, level: slog.LevelInfo,
				mountFlags: base | syscall.MS_RDONLY | syscall.MS_NOEXEC | syscall.MS_NOATIME}},
		{"rw after ro", []string{"snapfs", "/m", "-o", "ro", "-o", "rw"},
			invocation{helper: true, source: "snapfs", mountpoint: "/m", level: slog.LevelInfo, mountFlags: base}},
		{"-oOPTIONS", []string{"lvm-tree", "/m", "-odebug,log_level=warn"},
			invocation{helper: true, source: "lvm-tree", mountpoint: "/m", level: slog.LevelWarn, debugFUSE: true, mountFlags: base}},
		{"mount.fuse3 called directly", []string{"snapfs", "/m", "-o", "defaults,noauto,nofail,_netdev,x-systemd.automount,comment=x,default_permissions"},
			invocation{helper: true, source: "snapfs", mountpoint: "/m", level: slog.LevelInfo, mountFlags: base,
				ignoredOptions: []string{"defaults", "noauto", "nofail", "_netdev", "x-systemd.automount", "comment=x"}}},
		{"same config twice", []string{"-config", "/etc/x.toml", "snapfs", "/m", "-o", "config=/etc/x.toml"},
			invocation{helper: true, source: "snapfs", mountpoint: "/m", configPath: "/etc/x.toml", level: slog.LevelInfo, mountFlags: base}},
		{"version", []string{"-version"}, invocation{version: true, source: "snapfs", level: slog.LevelInfo}},
		{"check-config", []string{"-check-config", "/etc/snapfs.toml"},
			invocation{checkConfig: "/etc/snapfs.toml", source: "snapfs", level: slog.LevelInfo}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseArgs(tc.args, &stderr)
			if err != nil {
				t.Fatalf("parseArgs(%q): %v\n%s", tc.args, err, stderr.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseArgs(%q)\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no mount point", nil, "0 operands"},
		{"three operands", []string{"a", "b", "c"}, "3 operands"},
		{"unknown option", []string{"snapfs", "/m", "-o", "rw,bogus"}, `unknown mount option "bogus"`},
		{"flag after operands", []string{"/m", "-debug"}, "-debug: flags go before the operands"},
		{"-o without value", []string{"/m", "-o"}, "-o needs a value"},
		{"empty config", []string{"/m", "-o", "config="}, "config= needs a file"},
		{"two configs", []string{"-config", "/a.toml", "/m", "-o", "config=/b.toml"}, "already /a.toml"},
		{"bad level", []string{"-log-level", "loud", "/m"}, `"loud": want debug, info, warn or error`},
		{"bad level option", []string{"/m", "-o", "log_level=trace"}, "log_level"},
		{"drop_privileges", []string{"snapfs", "/dev/fd/5", "-o", "rw"}, "drop_privileges is not supported"},
		{"check-config with operands", []string{"-check-config", "/etc/snapfs.toml", "/m"}, "only the file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseArgs(tc.args, &stderr)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseArgs(%q) = %v, want a usage error", tc.args, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseArgs(%q) = %q, want it to say %q", tc.args, err, tc.want)
			}
		})
	}
}

// A usage error exits 2 with the message and the synopsis; an unknown flag
// is reported once, by the flag package.
func TestRunUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"snapfs", "/m", "-o", "bogus"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown mount option: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `snapfs: -o bogus: unknown mount option "bogus"`) || !strings.Contains(stderr.String(), "usage: snapfs") {
		t.Errorf("stderr: %q", stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-bogus", "/m"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if n := strings.Count(stderr.String(), "-bogus"); n != 1 {
		t.Errorf("unknown flag reported %d times:\n%s", n, stderr.String())
	}
}

// From mount.fuse3's argv to the configuration: config= names the file, and
// allow_other turns on what the file leaves off.
func TestMountHelperConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapfs.toml")
	if err := os.WriteFile(path, []byte("vgs = [\"vg\"]\nallow_other = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts       string
		allowOther bool
	}{
		{"rw,config=" + path + ",dev,suid", false},
		{"rw,config=" + path + ",allow_other,dev,suid", true},
	} {
		inv, err := parseArgs([]string{"snapfs", "/srv/snapfs", "-o", tc.opts}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := inv.config()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.VGs, []string{"vg"}) || cfg.AllowOther != tc.allowOther {
			t.Errorf("-o %s: vgs %v, allow_other %v", tc.opts, cfg.VGs, cfg.AllowOther)
		}
	}
	inv, err := parseArgs([]string{"snapfs", "/srv/snapfs", "-o", "rw,config=/nonexistent.toml"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.config(); err == nil || !strings.Contains(err.Error(), "/nonexistent.toml") {
		t.Errorf("a missing config= file: %v", err)
	}
}
