// Package fs is the FUSE face of snapfs: the go-fuse nodes of volume groups,
// origins and snapshots, their status files, ctl, image and files/. The
// nodes only translate: each looks its VG or LV up in the current model
// (state), by name for a VG and by UUID for an LV, calls an operation (ops)
// or the files/ mounts (snapmount), and maps an error to errno in exactly
// one place (toErrno, which is ops.Errno). It runs no LVM command itself.
package fs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/moby/sys/mountinfo"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/internal/logonce"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/snapmount"
	"github.com/snapfs/snapfs/state"
)

// Domains tells which Xen domains use a block device, for the domu files.
// A nil Domains means the host has no Xen: every domu file is empty.
type Domains interface {
	// Using returns the domains with a disk on block device major:minor,
	// sorted by name. The answer may be about a second old: reading many
	// domu files costs one look at Xen.
	Using(ctx context.Context, major, minor int) ([]model.Domain, error)
}

// Options configure the tree's own presentation.
type Options struct {
	// AdminGID, when >= 0, is the group whose members may change snapshots:
	// directories and ctl are group-writable by it.
	AdminGID int
	// Logger receives the warnings of the nodes; the audit lines are ops'.
	Logger *slog.Logger
}

// Parts are what the nodes use: the model, the operations, the files/
// mounts, device-mapper (may be nil) and Xen (may be nil).
type Parts struct {
	Store   *state.Store
	Ops     *ops.Ops
	Mounts  *snapmount.Manager
	DM      model.DeviceMapper
	Domains Domains
	// Extras are the guard's numbers in the status files (zero: none).
	Extras model.Extras
	// Events, when set, is MOUNT/events; Metrics, when set, renders
	// MOUNT/metrics, reading the devices' live status from dm: DM when a
	// process opens the file, DM behind the short cache of sizes when
	// the kernel is told its size (a lookup), as for the status files.
	Events  *events.Broker
	Metrics func(dm model.DeviceMapper) ([]byte, error)
	// Xen and Checkpoints, when set, are MOUNT/xen.
	Xen         XenDomains
	Checkpoints *checkpoint.Store
}

// FS is the snapfs tree: the parts its nodes use, and the root node.
type FS struct {
	opts    Options
	store   *state.Store
	ops     *ops.Ops
	mounts  *snapmount.Manager
	dm      model.DeviceMapper // for what a process reads
	sizeDM  model.DeviceMapper // dm behind a short cache, for the sizes the kernel is told
	domains Domains
	extras  model.Extras
	events  *events.Broker
	metrics func(dm model.DeviceMapper) ([]byte, error)
	xen     XenDomains
	// checkpoints are the Xen checkpoints' records, for MOUNT/xen.
	checkpoints *checkpoint.Store
	warn        *logonce.Logger
	root        *rootNode

	// metricsSize is MOUNT/metrics' last rendered size (MetricsSizeAge).
	metricsSize renderedSize

	imageReads atomic.Int64 // image reads that reached snapfs (none with kernel passthrough)
}

// New builds the tree over its parts, and has the store tell it of every
// new model, to invalidate what the kernel caches.
func New(p Parts, opts Options) *FS {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &FS{
		opts: opts, store: p.Store, ops: p.Ops, mounts: p.Mounts, dm: p.DM,
		sizeDM: model.NewStatusCache(p.DM, model.SizeStatusAge), domains: p.Domains, extras: p.Extras,
		events: p.Events, metrics: p.Metrics, xen: p.Xen, checkpoints: p.Checkpoints,
		warn: logonce.New(opts.Logger),
	}
	f.root = &rootNode{fs: f}
	p.Store.OnReplace(f.invalidate)
	return f
}

// UnmountIdle unmounts every snapshot's files/ that nothing holds open,
// and names the snapshots whose files/ is in use (snapmount).
func (f *FS) UnmountIdle() []string { return f.mounts.UnmountIdle() }

// Close unmounts every snapshot's files/ (lazily when in use), so that no
// mount outlives snapfs. Call it before unmounting the tree, whose unmount
// fails while mounts are inside it.
func (f *FS) Close() { f.mounts.Close() }

// Root is the node to mount.
func (f *FS) Root() gofs.InodeEmbedder { return f.root }

func (f *FS) log() *slog.Logger { return f.opts.Logger }

// toErrno is the errno of err: ops.Errno, the one map of errors to errno.
func toErrno(err error) syscall.Errno { return ops.Errno(err) }

// change runs one change for the caller of a FUSE request, with its audit
// line (ops.Change), and answers its errno.
func (f *FS) change(ctx context.Context, op, path string, fn func(ctx context.Context) error) syscall.Errno {
	return toErrno(f.ops.Change(withCaller(ctx), op, path, fn))
}

// withCaller carries the uid of a FUSE request's caller in ctx, for the
// audit line of a change it leads to (a snapshot activated by a first look
// into its files/, say).
func withCaller(ctx context.Context) context.Context {
	if c, ok := fuse.FromContext(ctx); ok {
		return ops.WithCaller(ctx, int64(c.Uid))
	}
	return ctx
}

// invalidate keeps what the kernel caches of the tree (treeTimeout) true
// from one model to the next: it tells the kernel of every VG and LV
// directory that vanished or moved, so that no cached entry outlives it,
// and drops the cached attributes of every directory whose link count
// changed, the root's included. The store calls it in its own goroutine,
// never inside a FUSE call.
func (f *FS) invalidate(old, cur *model.Tree) {
	rootInode := f.root.EmbeddedInode()
	if len(old.VGs) != len(cur.VGs) {
		rootInode.NotifyContent(-1, 0)
	}
	for _, v := range old.VGs {
		vgInode := rootInode.GetChild(v.VG.Name)
		if vgInode == nil {
			continue
		}
		// Gone, or another VG of that name (another UUID).
		now := cur.VG(v.VG.Name)
		if now == nil || vgInode.StableAttr().Ino != vgIno(now) {
			rootInode.NotifyEntry(v.VG.Name)
			continue
		}
		if len(now.Origins) != len(v.Origins) {
			vgInode.NotifyContent(-1, 0)
		}
		for _, o := range v.Origins {
			invalidateLV(vgInode, o, cur)
		}
	}
}

// invalidateLV notifies the kernel for e and the snapshots below it when
// they are gone from cur or shown elsewhere now, or when their link count
// (lvAttr) changed.
func invalidateLV(parent *gofs.Inode, e *model.LVEntry, cur *model.Tree) {
	now := cur.LV(e.LV.UUID)
	moved := now == nil || now.LV.Name != e.LV.Name ||
		(now.Parent == nil) != (e.Parent == nil) ||
		(now.Parent != nil && now.Parent.LV.UUID != e.Parent.LV.UUID)
	child := parent.GetChild(e.LV.Name)
	if child == nil {
		return
	}
	// A child of that name that is not e is not left cached either: the
	// kernel then looks the name up again.
	if moved || child.StableAttr().Ino != lvIno(e) {
		parent.NotifyEntry(e.LV.Name)
		return
	}
	if len(now.Snaps) != len(e.Snaps) {
		child.NotifyContent(-1, 0)
	}
	for _, s := range e.Snaps {
		invalidateLV(child, s, cur)
	}
}

// ino derives a stable inode number from identifying strings (an LV UUID and
// a file name), so inode numbers survive remounts. 0 and 1 are reserved.
func ino(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	n := h.Sum64()
	if n <= 1 {
		n += 2
	}
	return n
}

// domainsOf returns the Xen domains using e, or none when Xen is off or e is
// not active.
func (f *FS) domainsOf(e *model.LVEntry) []model.Domain {
	if f.domains == nil || !model.HasDevice(e) {
		return nil
	}
	doms, err := f.domains.Using(context.Background(), e.LV.KernelMajor, e.LV.KernelMinor)
	if err != nil {
		f.warn.Warn("domains:"+err.Error(), "reading Xen domains", "err", err)
		return nil
	}
	return doms
}

// maxRead is the largest read request the kernel sends (max_read, and
// max_pages): close to the kernel's limit of 1 MiB, for image reads, but
// small enough that go-fuse can splice a reply of that size, with its header
// and a spare page, through a pipe of the default maximum pipe size (1 MiB).
const maxRead = fuse.MAX_KERNEL_WRITE - 8<<10

// MountOptions are the go-fuse options snapfs mounts with. The kernel checks
// permissions (default_permissions) against the modes the nodes report.
// Reads may be almost 1 MiB (maxRead) for image reads; see also
// RaiseReadahead.
func MountOptions(allowOther, debug bool) *gofs.Options {
	entry := dirTimeout
	return &gofs.Options{
		EntryTimeout: &entry,
		// AttrTimeout stays nil: each node sets its own (files/ none
		// while chdir into it must reach snapfs).
		MountOptions: fuse.MountOptions{
			AllowOther:  allowOther,
			FsName:      "snapfs",
			Name:        "snapfs",
			Options:     []string{"default_permissions"},
			DirectMount: true,
			Debug:       debug,
			MaxWrite:    maxRead,
			// snapfs has no extended attributes: ENOSYS to the first
			// getxattr tells the kernel not to ask again, where ENODATA
			// would cost ls -l one round trip more for every entry.
			DisableXAttrs: true,
		},
	}
}

// ReadaheadKB is the readahead snapfs sets on its mount. The kernel starts a
// FUSE mount with 128 KiB and lets the daemon only lower it at mount time;
// image reads of sequential backup tools go at device speed only with a
// window of several 1 MiB requests, which the kernel then sends in parallel.
const ReadaheadKB = 4096

// fuseMountDevice finds the snapfs FUSE mount on mountpoint in
// /proc/self/mountinfo (a stat would ask the tree itself) and returns its
// device number, "major:minor".
func fuseMountDevice(mountpoint string) (dev string, found bool, err error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != mountpoint || m.FSType != "fuse.snapfs", false
	})
	if err != nil || len(mounts) == 0 {
		return "", false, err
	}
	top := mounts[len(mounts)-1] // the last one is on top
	return fmt.Sprintf("%d:%d", top.Major, top.Minor), true, nil
}

// RaiseReadahead sets the readahead of the snapfs mount on mountpoint to
// ReadaheadKB, through the mount's backing device in sysfs
// (/sys/class/bdi/0:N/read_ahead_kb).
func RaiseReadahead(mountpoint string) error {
	dev, found, err := fuseMountDevice(mountpoint)
	if err == nil && !found {
		err = errors.New("not mounted")
	}
	if err == nil {
		err = os.WriteFile("/sys/class/bdi/"+dev+"/read_ahead_kb", []byte(strconv.Itoa(ReadaheadKB)), 0o644)
	}
	if err != nil {
		return fmt.Errorf("readahead of %s: %w", mountpoint, err)
	}
	return nil
}
