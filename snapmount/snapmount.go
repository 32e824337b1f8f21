// Package snapmount mounts the filesystem of an LVM snapshot read-only on
// the snapshot's files/ directory inside snapfs's own FUSE mount when a
// process first looks inside, unmounts it once it has been idle for a
// while, before the snapshot is removed or merged, and when snapfs exits.
// It knows nothing of FUSE or LVM: the caller names snapshots by UUID and
// hands it callbacks that find a snapshot's directory and its block device.
//
// A snapshot's files/ shows its filesystem through the kernel's own driver:
// snapfs mounts the filesystem read-only on a staging directory only root
// may enter, and on the files directory inside its own FUSE mount a
// read-only overlay of it under a gate that lets only root and the admin
// group in (see staging.go), so that a path walk into files/ crosses into
// that mount and never reaches snapfs again. A whole-disk image (a
// partition table in the LV) gets a read-only loop device with partition
// scanning, and each partition holding a filesystem is mounted on files/pN.
//
// The kernel decides whether a walk crosses a mount when it steps onto the
// directory, right after its LOOKUP; snapfs cannot mount from inside that
// LOOKUP, because mount(2) would walk to the same directory and wait for the
// very lookup it is answering. So the first look inside (opening the
// directory, looking up a name in it, or chdir into it, which snapfs sees
// only as a getattr and tells from a stat by the caller's system call in
// /proc/PID/syscall) calls Enter, which mounts from a goroutine and returns
// ErrWalkAgain; the FUSE layer answers ESTALE. The kernel then repeats the
// system call once with a fresh path walk (LOOKUP_REVAL), which revalidates
// the files entry: the FUSE layer holds that LOOKUP in WaitMounted until the
// mount is made, and the repeated walk crosses into it. A stat of files/ (or
// ls -l of the snapshot) does not look inside and mounts nothing.
//
// The goroutine reaches the mount point by a path walk through the FUSE
// mount, which snapfs answers at once for its own threads, keeps it open
// (O_PATH) while it is mounted, and mounts and unmounts through
// /proc/self/fd, so neither needs another lookup: rmdir can unmount while
// the kernel holds the snapshot directory locked.
//
// Idle mounts are unmounted with the kernel's expiry (umount2 MNT_EXPIRE):
// a mount that nothing has used for Options.Idle since snapmount marked it
// goes.
package snapmount

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/snapfs/snapfs/blockdev"
)

// DefaultIdle is how long a snapshot's files/ stays mounted unused when
// Options.Idle is not set.
const DefaultIdle = 5 * time.Minute

// ErrBusy is a snapshot whose files/ is in use (a shell inside it), so it
// cannot be unmounted for rmdir or merge.
var ErrBusy = errors.New("the snapshot's files/ is in use")

// ErrWalkAgain tells the caller to walk its path again to cross into the
// mount: the FUSE layer answers ESTALE, and the kernel then repeats the walk
// with LOOKUP_REVAL.
var ErrWalkAgain = errors.New("walk the path again to cross into the mount")

// Options configure a Manager.
type Options struct {
	// Mountpoint is the absolute path of the tree's FUSE mount; with ""
	// nothing is ever mounted (files/ stays empty).
	Mountpoint string
	// Idle is how long a files/ stays mounted unused; DefaultIdle when zero.
	Idle   time.Duration
	Logger *slog.Logger
	// Path returns the snapshot's directory relative to Mountpoint
	// ("vg/origin/snap"); an error when it is gone. Required.
	Path func(uuid string) (string, error)
	// Device returns the snapshot's block device, activating the snapshot
	// first when it is inactive. Required.
	Device func(ctx context.Context, uuid string) (string, error)
	// StagingDir holds, in a directory only root may enter, the gate and
	// the snapshots' filesystems mounted before the overlay on files/
	// shows them: DefaultStagingDir when empty. It must be an absolute
	// path; snapmount makes it at the first mount, and refuses to use it
	// when it is a symbolic link, not a directory or not owned by root
	// (it sets its mode to 0700 when it is another).
	StagingDir string
	// AdminGID is the group that may read files/ besides root
	// (admin_group); -1 for none. The zero value is group root.
	AdminGID int
}

// Manager holds the mounts of every snapshot's files/.
type Manager struct {
	opts Options
	log  *slog.Logger
	// treeMounted tells whether the tree is still mounted on
	// opts.Mountpoint. The tests, which have no FUSE mount, replace it
	// before the janitor starts.
	treeMounted func() bool

	snapshotsMu sync.Mutex                 // guards snapshots
	snapshots   map[string]*snapshotMounts // by snapshot UUID

	// stagingMu serializes the checks of the staging directory and its
	// gate, and guards leftoversCleaned.
	stagingMu        sync.Mutex
	leftoversCleaned bool

	// janitorMu guards janitorStarted and the closing of stop, so that no
	// janitor starts once Close has waited for it to end.
	janitorMu      sync.Mutex
	janitorStarted bool
	stop           chan struct{} // closed by Close
	janitorDone    sync.WaitGroup
}

// New returns a Manager that mounts nothing until Enter, and touches
// nothing on disk before.
func New(opts Options) *Manager {
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if opts.StagingDir == "" {
		opts.StagingDir = DefaultStagingDir
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, log: log, snapshots: map[string]*snapshotMounts{}, stop: make(chan struct{})}
	m.treeMounted = func() bool { return treeMountedAt(opts.Mountpoint) }
	return m
}

// Enter is called when a process looks inside mount point part ("" is
// files/ itself, "p1" a partition) of snapshot uuid: it marks the snapshot
// used, prepares it and mounts on the mount point. It returns ErrWalkAgain
// when the caller must walk its path again to get into the mount (made now,
// or before the caller got under it), and nil when there is nothing to
// mount and the caller sees the directory itself; the ctx error when
// interrupted while waiting, and the errors of Path and Device as they came.
//
// untilDone says the caller may wait for the mount itself; a lookup of a
// name inside the mount point holds the directory's lock, which mount(2)
// needs, so it waits only until the mount point is open.
func (m *Manager) Enter(ctx context.Context, uuid, part string, untilDone bool) error {
	if m.opts.Mountpoint == "" {
		return nil
	}
	s := m.stateOf(uuid)
	s.touch()
	if err := m.prepare(ctx, s); err != nil {
		return err
	}
	target, ok := s.target(part)
	if !ok {
		return nil
	}
	job, mounted := m.startMount(s, part, target)
	if mounted {
		return ErrWalkAgain
	}
	if job == nil {
		return nil
	}
	if !untilDone {
		if err := wait(ctx, job.walked); err != nil {
			return err
		}
		if job.walkErr != nil {
			return nil
		}
		return ErrWalkAgain
	}
	if err := wait(ctx, job.done); err != nil {
		return err
	}
	if s.isMounted(part) {
		return ErrWalkAgain
	}
	return nil
}

// WaitMounted holds a lookup of mount point part while it is being mounted,
// so the walk that looks it up crosses into the new mount. It waits only
// once the mounting goroutine has its mount point open: before that, the
// lookup might be the very one that goroutine's walk waits for. The caller
// has already let snapfs's own requests through without calling it.
func (m *Manager) WaitMounted(ctx context.Context, uuid, part string) error {
	s := m.stateIfAny(uuid)
	if s == nil {
		return nil
	}
	job := s.walkedJob(part)
	if job == nil {
		return nil
	}
	return wait(ctx, job.done)
}

// Mounting tells whether WaitMounted would wait: a mount on mount point
// part is under way and has its mount point open. It waits for nothing, so
// a caller can skip what it would do before WaitMounted (tell snapfs's own
// requests apart) when nothing is being mounted.
func (m *Manager) Mounting(uuid, part string) bool {
	s := m.stateIfAny(uuid)
	return s != nil && s.walkedJob(part) != nil
}

// NothingToMount tells whether Enter would mount nothing on mount point
// part of snapshot uuid, whoever looks inside: the snapshot has been
// prepared and holds nothing there to mount (no filesystem, a partition
// table for files/ itself), or nothing is ever mounted. A caller can then
// skip finding out whether a request looks inside at all.
func (m *Manager) NothingToMount(uuid, part string) bool {
	if m.opts.Mountpoint == "" {
		return true
	}
	s := m.stateIfAny(uuid)
	if s == nil {
		return false
	}
	s.mu.Lock()
	prepared := s.prepared
	s.mu.Unlock()
	if !prepared {
		return false
	}
	_, ok := s.target(part)
	return !ok
}

// Prepare finds out, once, what the snapshot holds, and marks it used.
func (m *Manager) Prepare(ctx context.Context, uuid string) error {
	if m.opts.Mountpoint == "" {
		return nil
	}
	s := m.stateOf(uuid)
	s.touch()
	return m.prepare(ctx, s)
}

// Touch marks the snapshot's files/ as used now: the janitor forgets what
// Prepare found only once files/ has been unused for Options.Idle.
func (m *Manager) Touch(uuid string) { m.stateOf(uuid).touch() }

// Partitions returns the sorted names of the partition directories (p1,
// p2, ...) of a snapshot that was prepared and holds a partition table with
// partitions snapmount can mount; nil otherwise.
func (m *Manager) Partitions(uuid string) []string {
	s := m.stateIfAny(uuid)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.prepared || s.content.Kind != blockdev.PartitionTable || len(s.partitions) == 0 {
		return nil
	}
	names := make([]string, len(s.partitions))
	for i, p := range s.partitions {
		names[i] = p.name
	}
	sort.Strings(names)
	return names
}

// Hold unmounts a snapshot's files/ before rmdir or merge and keeps it from
// being mounted again until release is called. A mount in use fails it
// with ErrBusy, and then nothing was unmounted.
func (m *Manager) Hold(uuid string) (release func(), err error) {
	if m.opts.Mountpoint != "" {
		// A mount a killed snapfs left would keep the LV open.
		m.cleanLeftovers()
	}
	// The state is made even for a snapshot nobody looked at, so that its
	// hold keeps a first look during the rmdir from mounting.
	s := m.stateOf(uuid)
	s.settle(func() { s.holds++ })
	release = sync.OnceFunc(func() {
		s.mu.Lock()
		s.holds--
		s.mu.Unlock()
	})
	if err := m.unmountAll(s, false); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// UnmountIdle unmounts, at once and whatever Idle says, the files/ of
// every snapshot that nothing holds open (no open file, no working
// directory inside), and returns the snapshots whose files/ is in use,
// which stay mounted. The tree itself cannot be unmounted while a files/
// is mounted inside it: an administrator asks for this first (snapfs does
// it on SIGUSR2).
func (m *Manager) UnmountIdle() (busy []string) {
	for _, s := range m.allSnapshots() {
		s.settle(nil)
		if err := m.unmountAll(s, false); err != nil {
			busy = append(busy, m.name(s.uuid))
		}
	}
	sort.Strings(busy)
	return busy
}

// Drop forgets a snapshot that is gone. Hold has unmounted its files/ before
// the snapshot went; should anything still be mounted, it is detached, since
// Close no longer finds it.
func (m *Manager) Drop(uuid string) {
	m.snapshotsMu.Lock()
	s := m.snapshots[uuid]
	delete(m.snapshots, uuid)
	m.snapshotsMu.Unlock()
	if s != nil {
		s.settle(nil)
		_ = m.unmountAll(s, true)
	}
}

// Close unmounts every snapshot's files/ (lazily when in use), lets their
// loop devices go and stops the janitor, so that no mount outlives snapfs.
// Call it before unmounting the tree, whose unmount fails while mounts are
// inside it. Enter mounts nothing once Close has begun.
func (m *Manager) Close() {
	m.janitorMu.Lock()
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.janitorMu.Unlock()
	m.janitorDone.Wait()
	for _, s := range m.allSnapshots() {
		s.settle(nil)
		_ = m.unmountAll(s, true)
	}
}

func (m *Manager) isClosed() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// stateOf returns the state of the snapshot with that UUID, made on first use.
func (m *Manager) stateOf(uuid string) *snapshotMounts {
	m.snapshotsMu.Lock()
	defer m.snapshotsMu.Unlock()
	s := m.snapshots[uuid]
	if s == nil {
		s = &snapshotMounts{uuid: uuid, mountPoints: map[string]*mountPoint{}}
		m.snapshots[uuid] = s
	}
	return s
}

// stateIfAny returns the state of a snapshot, or nil when it has none.
func (m *Manager) stateIfAny(uuid string) *snapshotMounts {
	m.snapshotsMu.Lock()
	defer m.snapshotsMu.Unlock()
	return m.snapshots[uuid]
}

func (m *Manager) allSnapshots() []*snapshotMounts {
	m.snapshotsMu.Lock()
	defer m.snapshotsMu.Unlock()
	out := make([]*snapshotMounts, 0, len(m.snapshots))
	for _, s := range m.snapshots {
		out = append(out, s)
	}
	return out
}

// name returns the snapshot's path for logs and errors, or its UUID once
// it is gone.
func (m *Manager) name(uuid string) string {
	if p, err := m.opts.Path(uuid); err == nil {
		return p
	}
	return uuid
}

func wait(ctx context.Context, c <-chan struct{}) error {
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
