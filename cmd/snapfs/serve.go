package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/fs"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/internal/memlimit"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/quiesce"
	"github.com/snapfs/snapfs/schedule"
	"github.com/snapfs/snapfs/snapmount"
	"github.com/snapfs/snapfs/state"
	"github.com/snapfs/snapfs/watch"
	"github.com/snapfs/snapfs/xen"
)

// serve mounts the tree and serves it until it is unmounted or a signal
// asks snapfs to stop. Once the mount serves it tells systemd (when
// NOTIFY_SOCKET is set) and calls ready, when not nil.
func serve(cfg Config, inv invocation, log *slog.Logger, ready func() error) error {
	gid, err := adminGID(cfg.AdminGroup)
	if err != nil {
		return fmt.Errorf("admin_group: %w", err)
	}
	// A stale mount is cleaned up first. Snapshots' files/ are mounted
	// inside the tree by path, from the root: the path is absolute.
	mountpoint, err := prepareMountpoint(inv.mountpoint, log)
	if err != nil {
		return err
	}
	b := openBackends(cfg, log)
	defer b.close()

	// Signals are caught before mounting. Mount returns once the
	// kernel's first request through the new mount has been answered.
	// Killed meanwhile by SIGTERM's default action, snapfs could never
	// exit: the kernel waits for that answer without end, and the process
	// cannot close /dev/fuse while it waits. A signal then waits here until
	// the mount serves, and unmounts it.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	stopStats := logStatsOnUSR1(b.runner, log)
	defer stopStats()

	p, err := buildTree(cfg, b, gid, mountpoint, log)
	if err != nil {
		return err
	}
	tree := p.tree
	server, err := tree.Mount(mountpoint, fs.MountConfig{
		AllowOther: cfg.AllowOther, Debug: inv.debugFUSE, Source: inv.source, Flags: inv.mountFlags, Logger: log,
	})
	if err != nil {
		return err
	}
	// Whatever ends snapfs, no mount of a snapshot's files/ outlives it.
	defer tree.Close()
	log.Info("serving", "mountpoint", mountpoint, "version", versionString(), "vgs", cfg.VGs,
		"files_idle", time.Duration(cfg.FilesIdle), "kernel_passthrough", server.Passthrough())

	go func() {
		sig := <-signals
		log.Info("unmounting", "signal", sig.String())
		tree.Close()
		unmount(server, mountpoint, log)
	}()
	stopIdle := unmountIdleOnUSR2(tree, log)
	defer stopIdle()
	// The guard watches, and the schedules run, from now on until snapfs
	// ends.
	watching, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	go p.watch.Run(watching)
	go p.schedule.Run(watching)
	// The kernel caches the tree for long and snapfs corrects it from each
	// new model: the change stamp is read every second, whatever
	// guard_interval is, so that a change made by hand shows within two.
	go p.store.KeepFresh(watching, time.Second)
	signalReady(mountpoint, ready, log)
	server.Wait()
	log.Info("unmounted", "mountpoint", mountpoint, "lvm_processes", b.runner.Spawned(), "lvm_shell_commands", b.runner.ShellCommands())
	return nil
}

// backends are what snapfs talks to: LVM (a long-lived lvm shell, or a
// process per command), device-mapper (nil where it cannot be opened) and
// Xen (nil when this host has none).
type backends struct {
	runner *lvm.ShellRunner
	client *lvm.Client
	dm     *lvm.DeviceMapper
	xen    *xenBackend
}

func openBackends(cfg Config, log *slog.Logger) *backends {
	b := &backends{runner: lvmRunner(cfg, log)}
	b.client = lvm.NewClient(debugRunner{b.runner, log}, cfg.LVM)
	if d, err := lvm.OpenDeviceMapper(); err != nil {
		log.Warn("device-mapper status unavailable, reading allocation from lvs reports instead", "err", err)
	} else {
		b.dm = d
		// The reports and every command that changes an LV tell LVM to
		// skip the devices of LVs (lvm.Client's scan filter). The
		// settings that depends on are read now (lvmconfig, a process),
		// not in the first report.
		b.client.LVDevices = d.List
		b.client.Process = debugRunner{b.runner.Fallback, log}
		if err := b.client.ReadScanSettings(context.Background()); err != nil {
			log.Warn("LVM commands will look at every device: LVM's settings for the scan filter are unknown", "err", err)
		}
	}
	b.xen = openXen(cfg, debugRunner{&xen.ExecRunner{Timeout: time.Duration(cfg.CommandTimeout)}, log}, log)
	if b.xen == nil && quiesceConfigured(cfg) {
		log.Warn("quiesce = \"pause\" has no effect: Xen features are off")
	}
	return b
}

func (b *backends) close() {
	if b.dm != nil {
		b.dm.Close()
	}
	b.runner.Close()
}

// deviceMapper is b.dm as the interface, nil when there is none (a nil
// *lvm.DeviceMapper in an interface would not be nil).
func (b *backends) deviceMapper() model.DeviceMapper {
	if b.dm == nil {
		return nil
	}
	return b.dm
}

// parts are what serve runs besides the mount: the tree and the guard's
// watch.
type parts struct {
	store    *state.Store
	tree     *fs.FS
	watch    *watch.Watcher
	schedule *schedule.Scheduler
}

// buildTree builds the parts of the tree from the config and wires them:
// the model's store, the Xen pause holder, the operations, the events, the
// guard's watch, and the FUSE tree with its files/ mounts. Domains a killed
// snapfs left paused run again first, and LVM is read once: the first
// access is then answered at once, and an LVM that does not work fails
// here, with its message.
func buildTree(cfg Config, b *backends, adminGID int, mountpoint string, log *slog.Logger) (*parts, error) {
	dm := b.deviceMapper()
	store := state.New(b.client, state.Options{
		VGs: cfg.VGs, DM: dm, Logger: log,
		// LVM's metadata backups and /dev/mapper tell, without running
		// LVM, that nothing changed since the last report.
		Stamp: func(vgs []string) (string, bool) { return lvm.ChangeStamp(lvm.DefaultBackupDir, vgs) },
	})
	// An lvcreate names the VG's PVs, as the model knows them, to LVM,
	// when it has no filter to give (see openBackends).
	b.client.Devices = store.PVs
	opsOpts := opsOptions(cfg, dm, log)
	var broker *events.Broker
	if cfg.Events {
		broker = events.NewBroker(0)
		opsOpts.Events = broker
	}
	// Without Xen (a nil interface, not a nil *xenBackend) the holder
	// pauses nothing, and Recover logs what records it finds.
	var (
		domains fs.Domains
		x       quiesce.Xen
	)
	var ckpts *checkpoint.Store
	if b.xen != nil {
		domains, opsOpts.Domains, x = b.xen, b.xen, b.xen
		ckpts = checkpoint.New(cfg.CheckpointDir)
		opsOpts.Xen, opsOpts.Checkpoints, opsOpts.CheckpointMemory = checkpointXen{b.xen.c}, ckpts, cfg.CheckpointMemory
	}
	holder := quiesce.New(x, quiesce.Options{Logger: log})
	if x != nil {
		opsOpts.Quiescer = holder
	}
	if err := holder.Recover(context.Background()); err != nil {
		log.Error("recovering paused domains", "err", err)
	}
	// The files/ mounts activate a snapshot through the operations, and
	// the operations unmount files/ before rmdir and merge: the mounts are
	// made with a reference to the variable the operations are put in next.
	var operations *ops.Ops
	mounts := snapmount.New(snapmount.Options{
		Mountpoint: mountpoint, Idle: time.Duration(cfg.FilesIdle), Logger: log, Path: store.Path,
		StagingDir: snapmount.DefaultStagingDir, AdminGID: adminGID,
		Device: func(ctx context.Context, uuid string) (string, error) { return operations.Device(ctx, uuid) },
	})
	opsOpts.Files = mounts
	operations = ops.New(b.client, store, opsOpts)
	if broker != nil {
		store.OnReplace(operations.Announce)
	}
	w := watch.New(store, dm, operations, watchOptions(cfg, opsOpts.Events, log))
	fsParts := fs.Parts{Store: store, Ops: operations, Mounts: mounts, DM: dm, Domains: domains,
		Extras: w.Extras(), Metrics: metricsFile(store, w, broker, b.runner)}
	if b.xen != nil {
		fsParts.Xen, fsParts.Checkpoints = checkpointXen{b.xen.c}, ckpts
	}
	if broker != nil {
		fsParts.Events = broker
	}
	tree := fs.New(fsParts, fs.Options{AdminGID: adminGID, Logger: log})
	// The memory limit follows the size of the model.
	store.OnReplace(func(_, cur *model.Tree) { memlimit.Fit(cur) })
	t, err := store.Refresh(true)
	if err != nil {
		return nil, fmt.Errorf("reading LVM state: %w", err)
	}
	memlimit.Fit(t)
	// Merges a killed snapfs left without LVM's poller finish.
	operations.ResumeMerges(context.Background())
	// Checkpoints and reverts a killed snapfs left half-done are undone or
	// carried on.
	operations.RecoverCheckpoints(context.Background())
	sched := schedule.New(store, operations, scheduleOptions(cfg, dm, log))
	return &parts{store: store, tree: tree, watch: w, schedule: sched}, nil
}

// opsOptions are the operations' settings from the config: snapshot sizes,
// quiesce, and the guard's min_free for mkdir.
func opsOptions(cfg Config, dm model.DeviceMapper, log *slog.Logger) ops.Options {
	o := ops.Options{
		SnapshotSize:       cfg.SnapshotSize.SizeSpec,
		OriginSnapshotSize: map[string]lvm.SizeSpec{},
		Quiesce:            cfg.Quiesce == "pause",
		OriginQuiesce:      map[string]bool{},
		MinFree:            func(origin string) guard.Size { return guardConfig(cfg, origin).MinFree },
		DM:                 dm,
		Logger:             log,
	}
	for name, oc := range cfg.Origin {
		if oc.SnapshotSize != nil {
			o.OriginSnapshotSize[name] = oc.SnapshotSize.SizeSpec
		}
		if oc.Quiesce != nil {
			o.OriginQuiesce[name] = *oc.Quiesce == "pause"
		}
	}
	return o
}

// signalReady tells systemd (Type=notify) that the mount serves, and the
// mount helper's parent (ready), when there is one. Mount has waited
// for the kernel's first request. sd_notify unsets NOTIFY_SOCKET, so that
// LVM and xl do not inherit it.
func signalReady(mountpoint string, ready func() error, log *slog.Logger) {
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
}

// logStatsOnUSR1 logs the counters when SIGUSR1 comes: how many LVM
// processes snapfs has started so far (make bench reads them to count, not
// guess). The returned function stops it.
func logStatsOnUSR1(runner *lvm.ShellRunner, log *slog.Logger) func() {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			log.Info("stats", "lvm_processes", runner.Spawned(), "lvm_shell_commands", runner.ShellCommands())
		}
	}()
	return func() { signal.Stop(usr1); close(usr1) }
}

// unmountIdleOnUSR2 unmounts every snapshot's files/ that nothing holds
// open when SIGUSR2 comes: umount of the tree fails while a files/ is
// mounted inside it, for files_idle after its last use. The returned
// function stops it.
func unmountIdleOnUSR2(tree *fs.FS, log *slog.Logger) func() {
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		for range usr2 {
			if busy := tree.UnmountIdle(); len(busy) > 0 {
				log.Warn("SIGUSR2: files/ left mounted, in use", "snapshots", strings.Join(busy, " "))
			} else {
				log.Info("SIGUSR2: no files/ mounted")
			}
		}
	}()
	return func() { signal.Stop(usr2); close(usr2) }
}
