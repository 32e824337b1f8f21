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
	"os/signal"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/fs"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/xen"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the VCS revision is used.
var version = ""

// defaultPath is the search path when snapfs gets none: mount(8) runs its
// helpers without PATH, and lvm and xl must still be found.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// memoryLimit is the Go runtime's soft memory limit for the daemon, unless
// GOMEMLIMIT sets another. snapfs holds little (the model of 1,000 LVs and
// the inodes of a walked tree are a few MB), but every report makes a few
// MB of garbage, which the default GC pacing would let pile up to several
// times that before collecting it.
const memoryLimit = 24 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
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

// serve mounts the tree and serves it until it is unmounted or a signal
// asks snapfs to stop. Once the mount serves it tells systemd (when
// NOTIFY_SOCKET is set) and calls ready, when not nil.
func serve(cfg Config, inv invocation, log *slog.Logger, ready func() error) error {
	runner := lvmRunner(cfg, log)
	defer runner.Close()
	client := lvm.NewClient(debugRunner{runner, log}, cfg.LVM)

	var dm model.DeviceMapper
	if d, err := lvm.OpenDeviceMapper(); err != nil {
		log.Warn("device-mapper status unavailable, reading allocation from lvs reports instead", "err", err)
	} else {
		dm = d
		defer d.Close()
	}

	gid, err := adminGID(cfg.AdminGroup)
	if err != nil {
		return fmt.Errorf("admin_group: %w", err)
	}

	origins := map[string]lvm.SizeSpec{}
	quiesce := map[string]bool{}
	for name, o := range cfg.Origin {
		if o.SnapshotSize != nil {
			origins[name] = o.SnapshotSize.SizeSpec
		}
		if o.Quiesce != nil {
			quiesce[name] = *o.Quiesce == "pause"
		}
	}
	// A stale mount is cleaned up first. Snapshots' files/ are mounted
	// inside the tree by path, from the root: the path is absolute.
	mountpoint, err := prepareMountpoint(inv.mountpoint, log)
	if err != nil {
		return err
	}
	opts := fs.Options{
		VGs:                cfg.VGs,
		SnapshotSize:       cfg.SnapshotSize.SizeSpec,
		OriginSnapshotSize: origins,
		Quiesce:            cfg.Quiesce == "pause",
		OriginQuiesce:      quiesce,
		AdminGID:           gid,
		Logger:             log,
		Mountpoint:         mountpoint,
		FilesIdle:          time.Duration(cfg.FilesIdle),
		// LVM's metadata backups and /dev/mapper tell, without running
		// LVM, that nothing changed since the last report.
		Stamp: func(vgs []string) (string, bool) { return lvm.ChangeStamp(lvm.DefaultBackupDir, vgs) },
	}
	mopts := fs.MountOptions(cfg.AllowOther, inv.debugFUSE)
	mopts.FsName = inv.source
	mopts.DirectMountFlags = inv.mountFlags
	fuseLevel := slog.LevelWarn
	if inv.debugFUSE {
		fuseLevel = slog.LevelDebug
	}
	mopts.Logger = slog.NewLogLogger(log.Handler(), fuseLevel)

	// Signals are caught before mounting. gofs.Mount returns once the
	// kernel's first request through the new mount has been answered.
	// Killed meanwhile by SIGTERM's default action, snapfs could never
	// exit: the kernel waits for that answer without end, and the process
	// cannot close /dev/fuse while it waits. A signal then waits here until
	// the mount serves, and unmounts it.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	// SIGUSR1 asks for the counters: how many LVM processes snapfs has
	// started so far (make bench reads them to count, not guess).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			log.Info("stats", "lvm_processes", runner.Spawned(), "lvm_shell_commands", runner.ShellCommands())
		}
	}()

	var domains fs.Domains
	if x := openXen(cfg, debugRunner{&xen.ExecRunner{Timeout: time.Duration(cfg.CommandTimeout)}, log}, log); x != nil {
		domains, opts.Quiescer = x, x
	} else if quiesceConfigured(cfg) {
		log.Warn("quiesce = \"pause\" has no effect: Xen features are off")
	}
	tree := fs.New(client, dm, domains, opts)
	// Domains a killed snapfs left paused run again before anything else.
	if err := tree.Recover(context.Background()); err != nil {
		log.Error("recovering paused domains", "err", err)
	}
	// Read LVM once before mounting: the first access is then answered at
	// once, and an LVM that does not work fails here, with its message.
	if err := tree.Refresh(); err != nil {
		return fmt.Errorf("reading LVM state: %w", err)
	}
	server, err := gofs.Mount(mountpoint, tree.Root(), mopts)
	if err != nil {
		// gofs.Mount also fails after mounting, when the kernel's first
		// request fails (LVM ran past command_timeout, say): the mount
		// must not stay behind, stale.
		if entries, _ := readMountinfo(); len(entries) > 0 {
			if m, ok := topMount(entries, mountpoint); ok && m.FSType == fsType {
				if uerr := unix.Unmount(mountpoint, unix.MNT_DETACH); uerr != nil {
					log.Error("unmounting after the failed start", "mountpoint", mountpoint, "err", uerr)
				}
			}
		}
		return fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	// Whatever ends snapfs, no mount of a snapshot's files/ outlives it.
	defer tree.Close()
	if err := fs.RaiseReadahead(mountpoint); err != nil {
		log.Warn("image reads keep the kernel's default readahead", "err", err)
	}
	passthrough := server.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0
	log.Info("serving", "mountpoint", mountpoint, "version", versionString(), "vgs", cfg.VGs,
		"files_idle", time.Duration(cfg.FilesIdle), "kernel_passthrough", passthrough)

	go func() {
		sig := <-signals
		log.Info("unmounting", "signal", sig.String())
		tree.Close()
		unmount(server, mountpoint, log)
	}()

	// The mount serves: gofs.Mount has waited for the kernel's first
	// request. The variable goes, so that LVM and xl do not inherit it.
	if sent, err := sddaemon.SdNotify(true, sddaemon.SdNotifyReady+"\nSTATUS=serving "+mountpoint); err != nil {
		log.Warn("telling systemd that snapfs is ready", "err", err)
	} else if sent {
		log.Debug("told systemd that snapfs is ready")
	}
	if ready != nil {
		if err := ready(); err != nil {
			log.Error("daemonizing", "err", err)
		}
	}

	server.Wait()
	log.Info("unmounted", "mountpoint", mountpoint, "lvm_processes", runner.Spawned(), "lvm_shell_commands", runner.ShellCommands())
	return nil
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
func unmount(server *fuse.Server, mountpoint string, log *slog.Logger) {
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
