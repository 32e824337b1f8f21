// Command snapfs mounts LVM volume groups as a directory tree: mkdir takes a
// snapshot, rmdir removes it, mv renames it, and `echo merge > ctl` merges it
// back into its origin. See SPEC.md, the README and snapfs(8).
//
//	snapfs [-config FILE] [-debug] [-log-level LEVEL] [-o OPTIONS] MOUNTPOINT
//	snapfs [flags] SOURCE MOUNTPOINT [-o OPTIONS]
//	snapfs -check-config FILE
//	snapfs -version
//
// With one operand it serves in the foreground until the mount point is
// unmounted or it gets SIGINT or SIGTERM, then unmounts and exits 0; under
// systemd (Type=notify) it reports readiness once the mount serves. With two
// it is a mount helper, called by mount.fuse3 for "mount -t fuse.snapfs" and
// fstab lines: it daemonizes and returns once the mount serves.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/snapfs/snapfs/fs"
	"github.com/snapfs/snapfs/internal/memlimit"
	"github.com/snapfs/snapfs/lvm"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the VCS revision is used.
var version = ""

// defaultPath is the search path when snapfs gets none: mount(8) runs its
// helpers without PATH, and lvm and xl must still be found.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func main() {
	// Until the first model tells its size (see package memlimit).
	if memlimit.Own() {
		debug.SetMemoryLimit(memlimit.For(0))
	}
	memlimit.NoHugePages()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	inv, err := parseArgs(args, stderr)
	if err != nil {
		if ue, ok := err.(*usageError); !ok || !ue.printed {
			fmt.Fprintf(stderr, "snapfs: %v\n%s", err, usage)
		}
		return 2
	}
	if inv.version {
		fmt.Fprintln(stdout, "snapfs", versionString())
		return 0
	}
	if inv.checkConfig != "" {
		return checkConfigFile(inv.checkConfig, stdout, stderr)
	}

	pipe, err := daemonPipe()
	if err != nil {
		fmt.Fprintf(stderr, "snapfs: %v\n", err)
		return 1
	}
	if inv.helper && pipe == nil {
		return daemonize(args, stderr)
	}

	journal := false
	if f, ok := stderr.(*os.File); ok {
		journal = stderrIsJournal(f)
	}
	log, sink := newLogger(stderr, inv.level, journal)
	// What goes to the standard logger goes through the same handler, with
	// its time to the millisecond: go-fuse logs every FUSE request there
	// (-debug), which its Options.Logger does not catch.
	slog.SetDefault(log)
	if pipe != nil {
		daemonLog(sink, log)
	}
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", defaultPath)
		log.Debug("no PATH given, using the default", "path", defaultPath)
	}
	for _, o := range inv.ignoredOptions {
		log.Debug("mount option ignored: it is for mount(8), not for the file system", "option", o)
	}

	cfg, err := inv.config()
	if err != nil {
		log.Error("configuration", "err", err)
		return 1
	}

	var ready func() error
	if pipe != nil {
		ready = func() error { return detach(pipe, sink) }
	}
	if err := serve(cfg, inv, log, ready); err != nil {
		log.Error("snapfs", "err", err)
		return 1
	}
	return 0
}

// checkConfigFile is -check-config: it validates the file as snapfs would
// read it at start, and names the key and line of the first error.
func checkConfigFile(path string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(path, true)
	if err == nil {
		err = checkHost(path, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "snapfs: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	return 0
}

// checkHost checks what the config names on this machine: the admin group,
// which serve also looks up when it starts, and the lvm binary, without
// which every access fails.
func checkHost(path string, cfg Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if _, err := adminGID(cfg.AdminGroup); err != nil {
		return fmt.Errorf("%s: line %d: key admin_group: %w", path, keyLine(data, toml.Key{"admin_group"}), err)
	}
	if _, err := exec.LookPath(cfg.LVM); err != nil {
		return fmt.Errorf("%s: line %d: key lvm: %w", path, keyLine(data, toml.Key{"lvm"}), err)
	}
	return nil
}

// adminGID looks the admin group up; -1 when there is none.
func adminGID(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1, err
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("group %s: gid %q: %w", group, g.Gid, err)
	}
	return gid, nil
}

// lvmRunner returns the runner of LVM commands: one long-lived lvm shell
// when LVM has snapfs's command profile (make install puts it in
// /etc/lvm/profile) and the lvm binary is LVM's own, with a process per
// command as the fallback; else a process per command.
func lvmRunner(cfg Config, log *slog.Logger) *lvm.ShellRunner {
	timeout := time.Duration(cfg.CommandTimeout)
	r := &lvm.ShellRunner{Binary: cfg.LVM, Timeout: timeout, Fallback: &lvm.ExecRunner{Timeout: timeout}}
	if cfg.LVM != "" && cfg.LVM != lvm.DefaultBinary {
		// Another binary is a wrapper, which expects to see every
		// command: it gets a process for each.
		log.Info("lvm shell off, one process per LVM command: lvm is not \""+lvm.DefaultBinary+"\"", "lvm", cfg.LVM)
		r.Disable()
		return r
	}
	if _, err := os.Stat(lvm.ShellProfilePath); err != nil {
		log.Info("lvm shell off, one process per LVM command: no LVM profile "+lvm.ShellProfile, "err", err)
		r.Disable()
		return r
	}
	if err := r.Start(); err != nil {
		log.Warn("lvm shell off, one process per LVM command", "err", err)
		return r
	}
	log.Debug("lvm shell started", "profile", lvm.ShellProfilePath)
	return r
}

// unmount unmounts the tree, after tree.Close has unmounted the snapshots'
// files/ inside it. A mount still in use (a shell inside it) is detached
// lazily after a few tries, so a signal always ends snapfs.
func unmount(server *fs.Server, mountpoint string, log *slog.Logger) {
	var err error
	for i := 0; i < 5; i++ {
		if err = server.Unmount(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log.Warn("mount busy, detaching it lazily", "err", err)
	if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		log.Error("lazy unmount", "err", err)
	}
	os.Exit(0)
}

// debugRunner records every command line (LVM's and xl's) for the audit line
// of the change it belongs to, and logs it at debug level.
type debugRunner struct {
	lvm.Runner
	log *slog.Logger
}

func (r debugRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	lvm.Record(ctx, argv)
	start := time.Now()
	out, err := r.Runner.Run(ctx, argv...)
	r.log.Debug("command", "argv", strings.Join(argv, " "), "duration", time.Since(start).Round(time.Millisecond), "err", err)
	return out, err
}

func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
