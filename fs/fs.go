// Package fs shows LVM volume groups as a FUSE directory tree: volume groups,
// their origin LVs, and the snapshots of each origin, with files that render
// their state and a ctl file that merges or extends a snapshot, and in each
// snapshot its block device as a file (image) and its filesystem (files/),
// mounted read-only inside the tree (see mounts.go).
//
// The package holds a pure model of the tree (model.Tree, built from one LVM report)
// apart from the go-fuse node types that render it. Nodes only translate: they
// look their LV up in the current model by UUID, call the operations in ops.go,
// and map errors to errno in exactly one place (toErrno). LVM and device-mapper
// are reached through the small interfaces in backend.go.
package fs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// Options configure the tree.
type Options struct {
	// VGs limits the tree to these volume groups; empty means all.
	VGs []string
	// SnapshotSize is the COW size of a snapshot taken with mkdir.
	SnapshotSize lvm.SizeSpec
	// OriginSnapshotSize overrides SnapshotSize per origin, keyed "vg/lv".
	OriginSnapshotSize map[string]lvm.SizeSpec
	// AdminGID, when >= 0, is the group whose members may change snapshots:
	// directories and ctl are group-writable by it.
	AdminGID int
	// Quiesce, when set, pauses the Xen domains that use an origin while its
	// snapshot is taken (quiesce = "pause"); OriginQuiesce overrides it per
	// origin, keyed "vg/lv". Quiescer does the pausing; without one nothing
	// is paused.
	Quiesce       bool
	OriginQuiesce map[string]bool
	Quiescer      Quiescer
	// StateDir holds the records of the domains snapfs has paused, so that
	// a snapfs killed while they were paused unpauses them when it starts
	// again (Recover); DefaultStateDir when empty.
	StateDir string
	// MaxAge is how old the model may be before an access refreshes it.
	MaxAge time.Duration
	// StaleGrace is how much older than MaxAge the model may be and still
	// answer an access, while it is read again in the background; an access
	// to an older model waits for the new report. MaxAge when zero. A walk
	// of the tree is then answered from memory throughout, however long it
	// takes, and reads LVM at most once a MaxAge in the background.
	StaleGrace time.Duration
	// Mountpoint is the absolute path the tree is mounted on. Mounting a
	// snapshot's files/ walks to it; without it files/ stays empty.
	Mountpoint string
	// FilesIdle is how long a snapshot's files/ stays mounted unused.
	FilesIdle time.Duration
	// Stamp, when set, tells without running LVM whether LVM may have
	// changed anything since it returned the same stamp: a model older than
	// MaxAge whose stamp is unchanged stays current, up to TrustAge. ok is
	// false when it cannot tell. lvm.ChangeStamp is the real one.
	Stamp func(vgs []string) (stamp string, ok bool)
	// TrustAge bounds how long an unchanged stamp keeps a model current;
	// DefaultTrustAge when zero.
	TrustAge time.Duration
	// BackupDir is where LVM writes its metadata backups (lvm.conf
	// backup/backup_dir); lvm.DefaultBackupDir when empty. A snapshot made
	// by mkdir enters the model from there and from device-mapper, without
	// another report.
	BackupDir string
	// Logger receives the audit and warning lines.
	Logger *slog.Logger
}

// FS is the snapfs tree: the current model, the backends, and the root node.
type FS struct {
	opts    Options
	lvm     LVM
	dm      model.DeviceMapper
	sizeDM  model.DeviceMapper // dm behind a statusCache, for sizes only
	domains Domains
	log     *slog.Logger
	root    *rootNode

	refreshMu sync.Mutex  // one report at a time; waiters reuse its result
	refreshBG atomic.Bool // a background refresh runs
	base      *baseline   // what the model was read from; guarded by refreshMu
	mapperDir string      // /dev/mapper, or a test's stand-in
	toldSize  sync.Map    // status file inode → the size the kernel was told last

	mu     sync.Mutex // guards the fields below
	tree   *model.Tree
	taken  time.Time // when the model was last known current
	read   time.Time // when LVM was last read for it
	stamp  string    // the change stamp taken just before that read; "" when none
	warned map[string]bool
	vgLock map[string]*sync.Mutex
	files  map[string]*snapFiles // by snapshot UUID

	// imageReads counts the reads of image files that reached snapfs
	// (none where the kernel passes them through).
	imageReads  atomic.Int64
	janitorOnce sync.Once
	closeOnce   sync.Once
	stop        chan struct{} // closed by Close

	pauseMu sync.Mutex            // guards paused
	paused  map[string]*heldPause // domains snapfs holds paused, by name
}

// DefaultTrustAge is how long an unchanged change stamp keeps the model
// current at most: a change LVM made without touching what the stamp looks
// at (metadata backups turned off for one command) shows after this long.
const DefaultTrustAge = time.Minute

// DefaultFilesIdle is how long a snapshot's files/ stays mounted unused
// when Options.FilesIdle is not set.
const DefaultFilesIdle = 5 * time.Minute

// New builds the tree. dm and domains may be nil.
func New(l LVM, dm model.DeviceMapper, domains Domains, opts Options) *FS {
	if opts.MaxAge <= 0 {
		opts.MaxAge = time.Second
	}
	if opts.StaleGrace <= 0 {
		opts.StaleGrace = opts.MaxAge
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.FilesIdle <= 0 {
		opts.FilesIdle = DefaultFilesIdle
	}
	if opts.TrustAge <= 0 {
		opts.TrustAge = DefaultTrustAge
	}
	if opts.BackupDir == "" {
		opts.BackupDir = lvm.DefaultBackupDir
	}
	f := &FS{
		opts: opts, lvm: l, dm: dm, sizeDM: model.NewStatusCache(dm, model.SizeStatusAge), domains: domains, log: opts.Logger,
		warned: map[string]bool{}, vgLock: map[string]*sync.Mutex{},
		paused: map[string]*heldPause{},
		files:  map[string]*snapFiles{}, stop: make(chan struct{}),
	}
	f.root = &rootNode{fs: f}
	return f
}

// Root is the node to mount.
func (f *FS) Root() gofs.InodeEmbedder { return f.root }

// Refresh reads LVM now. The daemon calls it before mounting.
func (f *FS) Refresh() error {
	_, err := f.refresh(true)
	return err
}

// current returns the model, refreshed when it is older than MaxAge: in the
// background while it is younger than MaxAge+StaleGrace (the access gets the
// model as it is), else at once.
func (f *FS) current() (*model.Tree, error) {
	f.mu.Lock()
	t, taken := f.tree, f.taken
	f.mu.Unlock()
	age := time.Since(taken)
	if t != nil && age < f.opts.MaxAge {
		return t, nil
	}
	if t != nil && f.unchanged() {
		return t, nil
	}
	if t != nil && age < f.opts.MaxAge+f.opts.StaleGrace {
		f.refreshInBackground()
		return t, nil
	}
	return f.refresh(false)
}

// unchanged tells whether the change stamp says that LVM has changed
// nothing since the model was read, and then counts the model as current
// from now.
func (f *FS) unchanged() bool {
	if f.opts.Stamp == nil {
		return false
	}
	f.mu.Lock()
	t, stamp, read := f.tree, f.stamp, f.read
	f.mu.Unlock()
	if t == nil || stamp == "" || time.Since(read) >= f.opts.TrustAge {
		return false
	}
	now, ok := f.opts.Stamp(f.stampVGs(t))
	if !ok || now != stamp {
		return false
	}
	f.mu.Lock()
	if f.tree == t {
		f.taken = time.Now()
	}
	f.mu.Unlock()
	return true
}

// stampVGs are the VGs whose changes the stamp must see: those configured,
// else those in the model.
func (f *FS) stampVGs(t *model.Tree) []string {
	if len(f.opts.VGs) > 0 {
		return f.opts.VGs
	}
	if t == nil {
		return nil
	}
	names := make([]string, 0, len(t.VGs))
	for _, v := range t.VGs {
		names = append(names, v.VG.Name)
	}
	return names
}

// refreshInBackground starts a refresh unless one runs already.
func (f *FS) refreshInBackground() {
	if !f.refreshBG.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer f.refreshBG.Store(false)
		// refresh logs a failure, and keeps the old model.
		f.refresh(false)
	}()
}

// refresh reads LVM again. A caller that waited for a refresh that started
// after it asked reuses that one's result, so a burst of accesses costs one
// report. With force, the model is read anew even if it is young (after a
// change snapfs made).
func (f *FS) refresh(force bool) (*model.Tree, error) {
	asked := time.Now()
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()

	f.mu.Lock()
	old, taken, read := f.tree, f.taken, f.read
	f.mu.Unlock()
	if old != nil && (taken.After(asked) || (!force && time.Since(taken) < f.opts.MaxAge)) {
		return old, nil
	}

	// LVM commands never get the FUSE request's context: an interrupted ls
	// must not kill a report other callers wait for.
	ctx := context.Background()
	// The stamp is taken before the report: a change made while LVM
	// reports changes it again.
	stamp, stampOK, stamped := "", false, f.stampVGs(old)
	if f.opts.Stamp != nil {
		stamp, stampOK = f.opts.Stamp(stamped)
	}
	if !force && stampOK && time.Since(read) < f.opts.TrustAge && f.vgSetUnchanged() {
		if t := f.catchUp(old, stamp); t != nil {
			return t, nil
		}
	}
	r, err := f.lvm.Report(ctx, f.opts.VGs)
	if err != nil && r != nil && errors.Is(err, lvm.ErrNotFound) {
		// A configured VG is missing: LVM reports the others, and they are
		// shown rather than none.
		f.warnOnce("vgs:"+err.Error(), "a configured volume group is missing", "err", err)
		err = nil
	}
	if err != nil {
		f.log.Error("reading LVM state", "err", err)
		if old != nil {
			return old, nil
		}
		return nil, err
	}
	t := model.BuildTree(r, f.opts.VGs)
	if stampOK && strings.Join(f.stampVGs(t), "/") != strings.Join(stamped, "/") {
		stampOK = false // the VGs changed: the stamp looked at others
	}
	if !stampOK {
		stamp = ""
	}
	f.base = nil
	if stampOK {
		f.base = f.readBaseline(r)
	}
	f.mu.Lock()
	f.tree, f.taken, f.read, f.stamp = t, time.Now(), time.Now(), stamp
	f.mu.Unlock()
	for _, name := range t.Hidden {
		f.warnOnce("hidden:"+name, "LV left out: its name is a fixed file name of the directory it would appear in", "lv", name)
	}
	if old != nil {
		go f.invalidate(old, t)
	}
	return t, nil
}

// invalidate tells the kernel about entries that vanished or moved between
// two models, so cached dentries do not outlive the LV. It runs in its own
// goroutine, never inside a FUSE call.
func (f *FS) invalidate(old, cur *model.Tree) {
	rootInode := f.root.EmbeddedInode()
	for _, v := range old.VGs {
		vgInode := rootInode.GetChild(v.VG.Name)
		if cur.VG(v.VG.Name) == nil {
			if vgInode != nil {
				rootInode.NotifyEntry(v.VG.Name)
			}
			continue
		}
		if vgInode == nil {
			continue
		}
		for _, o := range v.Origins {
			invalidateLV(vgInode, o, cur)
		}
	}
}

// invalidateLV notifies the kernel for e and the snapshots below it when
// they are gone from cur or shown elsewhere now.
func invalidateLV(parent *gofs.Inode, e *model.LVEntry, cur *model.Tree) {
	now := cur.LV(e.LV.UUID)
	moved := now == nil || now.LV.Name != e.LV.Name ||
		(now.Parent == nil) != (e.Parent == nil) ||
		(now.Parent != nil && now.Parent.LV.UUID != e.Parent.LV.UUID)
	child := parent.GetChild(e.LV.Name)
	if moved {
		if child != nil {
			parent.NotifyEntry(e.LV.Name)
		}
		return
	}
	if child == nil {
		return
	}
	for _, s := range e.Snaps {
		invalidateLV(child, s, cur)
	}
}

func (f *FS) warnOnce(key, msg string, args ...any) {
	f.mu.Lock()
	seen := f.warned[key]
	f.warned[key] = true
	f.mu.Unlock()
	if !seen {
		f.log.Warn(msg, args...)
	}
}

// lockVG serializes changes to one volume group.
func (f *FS) lockVG(vg string) func() {
	f.mu.Lock()
	l := f.vgLock[vg]
	if l == nil {
		l = &sync.Mutex{}
		f.vgLock[vg] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
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
		f.warnOnce("domains:"+err.Error(), "reading Xen domains", "err", err)
		return nil
	}
	return doms
}

// domainsNow returns the Xen domains using e as Xen shows them now, for a
// decision about e. ctx records the xl command in the audit line.
func (f *FS) domainsNow(ctx context.Context, e *model.LVEntry) ([]model.Domain, error) {
	if f.domains == nil || !model.HasDevice(e) {
		return nil, nil
	}
	return f.domains.UsingNow(ctx, e.LV.KernelMajor, e.LV.KernelMinor)
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
		// AttrTimeout stays nil: each node sets its own (files/ none,
		// since chdir into it must reach snapfs).
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
