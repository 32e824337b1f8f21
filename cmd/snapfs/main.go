// Command snapfs mounts LVM volume groups as a directory tree: mkdir takes a
// snapshot, rmdir removes it, mv renames it, and `echo merge > ctl` merges it
// back into its origin. See SPEC.md and the README.
//
//	snapfs [-config FILE] [-debug] MOUNTPOINT
//	snapfs -version
//
// It serves in the foreground until the mount point is unmounted or it gets
// SIGINT or SIGTERM, then unmounts and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/fs"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/xen"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the VCS revision is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("snapfs", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "configuration `file` (default "+DefaultConfigPath+" when it exists)")
	debugFlag := flags.Bool("debug", false, "log every FUSE request and LVM command")
	showVersion := flags.Bool("version", false, "print the version and exit")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: snapfs [-config FILE] [-debug] MOUNTPOINT\n       snapfs -version\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "snapfs", versionString())
		return 0
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}
	mountpoint := flags.Arg(0)

	level := slog.LevelInfo
	if *debugFlag {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	path, explicit := *configPath, *configPath != ""
	if !explicit {
		path = DefaultConfigPath
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		log.Error("configuration", "err", err)
		return 1
	}
	if err := serve(cfg, mountpoint, *debugFlag, log); err != nil {
		log.Error("snapfs", "err", err)
		return 1
	}
	return 0
}

// serve mounts the tree and serves it until it is unmounted or a signal
// asks snapfs to stop.
func serve(cfg Config, mountpoint string, debugFUSE bool, log *slog.Logger) error {
	runner := &lvm.ExecRunner{Timeout: time.Duration(cfg.CommandTimeout)}
	client := lvm.NewClient(debugRunner{runner, log}, cfg.LVM)

	var dm fs.DeviceMapper
	if d, err := lvm.OpenDeviceMapper(); err != nil {
		log.Warn("device-mapper status unavailable, reading allocation from lvs reports instead", "err", err)
	} else {
		dm = d
		defer d.Close()
	}

	adminGID := -1
	if cfg.AdminGroup != "" {
		g, err := user.LookupGroup(cfg.AdminGroup)
		if err != nil {
			return fmt.Errorf("admin_group: %w", err)
		}
		if adminGID, err = strconv.Atoi(g.Gid); err != nil {
			return fmt.Errorf("admin_group %s: gid %q: %w", cfg.AdminGroup, g.Gid, err)
		}
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
	// Snapshots' files/ are mounted inside the tree by path, from the root.
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", mountpoint, err)
	}
	mountpoint = abs
	opts := fs.Options{
		VGs:                cfg.VGs,
		SnapshotSize:       cfg.SnapshotSize.SizeSpec,
		OriginSnapshotSize: origins,
		Quiesce:            cfg.Quiesce == "pause",
		OriginQuiesce:      quiesce,
		AdminGID:           adminGID,
		Logger:             log,
		Mountpoint:         mountpoint,
		FilesIdle:          time.Duration(cfg.FilesIdle),
	}
	// Catch the signals before mounting: a SIGTERM that arrived while the
	// mount is being set up would otherwise kill snapfs mid-request, and a
	// process blocked on its own FUSE mount cannot finish exiting.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

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
	server, err := gofs.Mount(mountpoint, tree.Root(), fs.MountOptions(cfg.AllowOther, debugFUSE))
	if err != nil {
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
	server.Wait()
	log.Info("unmounted", "mountpoint", mountpoint, "lvm_processes", runner.Spawned())
	return nil
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
