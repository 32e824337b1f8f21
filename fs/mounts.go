package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/blockdev"
)

// A snapshot's files/ shows its filesystem through the kernel's own driver:
// snapfs mounts the filesystem read-only on the files directory inside its
// own FUSE mount, so that a path walk into files/ crosses into that mount
// and never reaches snapfs again. A whole-disk image (a partition table in
// the LV) gets a read-only loop device with partition scanning, and each
// partition holding a filesystem is mounted on files/pN.
//
// The kernel decides whether a walk crosses a mount when it steps onto the
// directory, right after its LOOKUP; snapfs cannot mount from inside that
// LOOKUP, because mount(2) would walk to the same directory and wait for the
// very lookup it is answering. So the first look inside (opening the
// directory, looking up a name in it, or chdir into it, which snapfs sees
// only as a getattr and tells from a stat by the caller's system call in
// /proc/PID/syscall) mounts from a goroutine and answers ESTALE. The
// kernel then repeats the system call once with a fresh path walk
// (LOOKUP_REVAL), which revalidates the files entry: snapfs holds that
// LOOKUP until the mount is made, and the repeated walk crosses into it. A
// stat of files/ (or ls -l of the snapshot) does not look inside and mounts
// nothing.
//
// The goroutine reaches the mount point by a path walk through the FUSE
// mount, which snapfs answers at once for its own threads, keeps it open
// (O_PATH) while it is mounted, and mounts and unmounts through
// /proc/self/fd, so neither needs another lookup: rmdir can unmount while
// the kernel holds the snapshot directory locked.
//
// Idle mounts are unmounted with the kernel's expiry (umount2 MNT_EXPIRE):
// a mount that nothing has used for files_idle since snapfs marked it goes.

// errFilesBusy is a snapshot whose files/ is in use (a shell inside it), so
// it cannot be unmounted for rmdir or merge.
var errFilesBusy = errors.New("the snapshot's files/ is in use")

// snapFiles is what snapfs holds for one snapshot's files/ directory.
type snapFiles struct {
	fs   *FS
	uuid string

	// prepareMu serializes preparing: activation and probing take seconds.
	prepareMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	prepared bool
	content  blockdev.Content
	source   string         // the device of a whole-device filesystem
	loop     *blockdev.Loop // for a partition table
	parts    []partition    // partitions that hold a filesystem, by number
	points   map[string]*mountPoint
	lastUse  time.Time
	holds    int // rmdir or merge in progress: no new mounts
}

// partition is a partition of a whole-disk image that holds a filesystem.
type partition struct {
	name   string // "p1"
	device string
	fstype string
}

// mountPoint is files/ itself (name "") or one files/pN.
type mountPoint struct {
	name    string
	job     *mountJob // the mount under way, or nil
	fd      int       // the mount point, open while mounted
	mounted bool
	failed  bool      // the last mount failed; retried once the files are idle
	marked  time.Time // when Expire last marked the mount
}

// mountJob is one mount under way. walked is closed once the mount point
// is open, done once the mount is made or has failed.
type mountJob struct {
	walked, done chan struct{}
	walkErr      error
}

// mountTarget is what to mount on a mount point.
type mountTarget struct {
	device, fstype string
}

// filesOf returns the files/ state of the snapshot with that UUID.
func (f *FS) filesOf(uuid string) *snapFiles {
	f.mu.Lock()
	defer f.mu.Unlock()
	sf := f.files[uuid]
	if sf == nil {
		sf = &snapFiles{fs: f, uuid: uuid, points: map[string]*mountPoint{}}
		f.files[uuid] = sf
	}
	return sf
}

// filesIfAny returns the files/ state of a snapshot, or nil when it has none.
func (f *FS) filesIfAny(uuid string) *snapFiles {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files[uuid]
}

func (sf *snapFiles) touch() {
	sf.mu.Lock()
	sf.lastUse = time.Now()
	sf.mu.Unlock()
}

// path returns the mount point's path inside the FUSE mount, for logs and
// for the walk that opens it.
func (sf *snapFiles) path(name string) (string, error) {
	e, err := sf.fs.lookupLV(sf.uuid)
	if err != nil {
		return "", err
	}
	p := e.String() + "/files"
	if name != "" {
		p += "/" + name
	}
	return p, nil
}

// prepare finds out, once, what the snapshot holds: it activates the
// snapshot when it is inactive, reads the start of its device, and for a
// partition table attaches a loop device and reads each partition. When
// there is nothing to show, the log says why.
func (sf *snapFiles) prepare(ctx context.Context) syscall.Errno {
	sf.prepareMu.Lock()
	defer sf.prepareMu.Unlock()
	f := sf.fs
	sf.mu.Lock()
	done := sf.prepared || sf.holds > 0 || f.isClosed()
	sf.mu.Unlock()
	if done {
		return 0
	}
	// The janitor forgets what was found once files/ is idle, so that a
	// filesystem made later is found.
	f.startJanitor()
	e, err := f.lookupLV(sf.uuid)
	if err != nil {
		return toErrno(err)
	}
	dev, errno := f.device(ctx, e)
	if errno != 0 {
		return errno
	}
	content, err := probeDevice(dev)
	var (
		loop  *blockdev.Loop
		parts []partition
	)
	switch {
	case err != nil:
		content = blockdev.Content{Reason: err.Error()}
	case content.Kind == blockdev.PartitionTable:
		loop, parts, content = attachPartitions(dev, content)
	}
	sf.mu.Lock()
	sf.prepared, sf.content, sf.source, sf.loop, sf.parts = true, content, dev, loop, parts
	// Preparing can take longer than files_idle: count from its end, or
	// the janitor forgets what it found before the caller reads it.
	sf.lastUse = time.Now()
	sf.mu.Unlock()

	switch content.Kind {
	case blockdev.Nothing:
		f.log.Warn("files/ is empty: the snapshot holds no filesystem snapfs can mount", "snapshot", e.String(), "device", dev, "reason", content.Reason)
	case blockdev.PartitionTable:
		names := make([]string, len(parts))
		for i, p := range parts {
			names[i] = p.name + "=" + p.fstype
		}
		f.log.Info("files/ shows the partitions of a whole-disk image that hold a filesystem", "snapshot", e.String(),
			"table", content.Type, "loop", loop.Device, "partitions", strings.Join(names, " "), "left_out", content.Reason)
	}
	return 0
}

func probeDevice(dev string) (blockdev.Content, error) {
	file, err := os.Open(dev)
	if err != nil {
		return blockdev.Content{}, err
	}
	defer file.Close()
	c, err := blockdev.Probe(file)
	if err != nil {
		return c, fmt.Errorf("%s: %w", dev, err)
	}
	return c, nil
}

// attachPartitions attaches a loop device to a whole-disk image and probes
// its partitions. Without a partition that holds a filesystem, the loop
// device is let go, and the content says why there is nothing.
func attachPartitions(dev string, table blockdev.Content) (*blockdev.Loop, []partition, blockdev.Content) {
	loop, err := blockdev.AttachLoop(dev)
	if err != nil {
		return nil, nil, blockdev.Content{Reason: fmt.Sprintf("a %s partition table, but: %v", table.Type, err)}
	}
	found, err := loop.Partitions()
	if err != nil || len(found) == 0 {
		loop.Close()
		why := fmt.Sprintf("a %s partition table in which the kernel found no partitions on %s", table.Type, loop.Device)
		if err != nil {
			why += ": " + err.Error()
		}
		return nil, nil, blockdev.Content{Reason: why}
	}
	var parts []partition
	var skipped []string
	for _, p := range found {
		name := "p" + strconv.Itoa(p.Number)
		c, err := probeDevice(p.Device)
		switch {
		case err != nil:
			skipped = append(skipped, name+": "+err.Error())
		case c.Kind != blockdev.Filesystem:
			skipped = append(skipped, name+": "+c.String())
		default:
			parts = append(parts, partition{name: name, device: p.Device, fstype: c.Type})
		}
	}
	if len(parts) == 0 {
		loop.Close()
		return nil, nil, blockdev.Content{Reason: fmt.Sprintf("a %s partition table whose partitions hold no filesystem (%s)", table.Type, strings.Join(skipped, "; "))}
	}
	// Reason says which partitions are left out, and why.
	table.Reason = strings.Join(skipped, "; ")
	return loop, parts, table
}

// kind returns what files/ shows, once prepared.
func (sf *snapFiles) kind() blockdev.Kind {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if !sf.prepared {
		return blockdev.Nothing
	}
	return sf.content.Kind
}

// partNames lists the partition directories of a whole-disk image.
func (sf *snapFiles) partNames() []string {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	names := make([]string, len(sf.parts))
	for i, p := range sf.parts {
		names[i] = p.name
	}
	sort.Strings(names)
	return names
}

// target returns what to mount on mount point name, if anything.
func (sf *snapFiles) target(name string) (mountTarget, bool) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if !sf.prepared {
		return mountTarget{}, false
	}
	if name == "" {
		if sf.content.Kind != blockdev.Filesystem {
			return mountTarget{}, false
		}
		return mountTarget{sf.source, sf.content.Type}, true
	}
	for _, p := range sf.parts {
		if p.name == name {
			return mountTarget{p.device, p.fstype}, true
		}
	}
	return mountTarget{}, false
}

func (sf *snapFiles) point(name string) *mountPoint {
	pt := sf.points[name]
	if pt == nil {
		pt = &mountPoint{name: name, fd: -1}
		sf.points[name] = pt
	}
	return pt
}

// startMount starts mounting on mount point name unless it is mounted
// already (mounted is then true) or the last try failed (job is nil).
func (sf *snapFiles) startMount(name string, t mountTarget) (job *mountJob, mounted bool) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	pt := sf.point(name)
	switch {
	case pt.mounted:
		return nil, true
	case pt.job != nil:
		return pt.job, false
	case pt.failed || sf.holds > 0 || sf.fs.isClosed():
		return nil, false
	}
	job = &mountJob{walked: make(chan struct{}), done: make(chan struct{})}
	pt.job = job
	go sf.mount(pt, job, t)
	return job, false
}

// mount runs in its own goroutine, never inside a FUSE request: it opens
// the mount point through snapfs's FUSE mount and mounts on it.
func (sf *snapFiles) mount(pt *mountPoint, job *mountJob, t mountTarget) {
	f := sf.fs
	defer close(job.done)
	rel, err := sf.path(pt.name)
	fd := -1
	if err == nil {
		fd, err = f.openMountPoint(rel)
	}
	job.walkErr = err
	close(job.walked)
	if err == nil {
		err = blockdev.MountReadOnly(t.device, t.fstype, fd)
	}
	sf.mu.Lock()
	pt.job = nil
	if err != nil {
		pt.failed = true
		if fd >= 0 {
			unix.Close(fd)
		}
	} else {
		pt.mounted, pt.fd, pt.marked = true, fd, time.Time{}
	}
	sf.mu.Unlock()
	if err != nil {
		f.log.Error("mounting files/ failed: it shows an empty directory", "path", rel, "device", t.device, "type", t.fstype, "err", err)
		return
	}
	f.log.Info("mounted files/", "path", rel, "device", t.device, "type", t.fstype, "options", "ro,"+blockdev.MountData(t.fstype))
	f.startJanitor()
}

// openMountPoint opens a directory of the tree (a path relative to the
// mount point) as O_PATH. The walk must not cross into another mount: a
// files/ that is a mount point already is not snapfs's to mount on.
func (f *FS) openMountPoint(rel string) (int, error) {
	if f.opts.Mountpoint == "" {
		return -1, errors.New("snapfs was not told its mount point")
	}
	root, err := unix.Open(f.opts.Mountpoint, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", f.opts.Mountpoint, err)
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return -1, fmt.Errorf("open %s/%s: %w", f.opts.Mountpoint, rel, err)
	}
	return fd, nil
}

// mountingJob returns the mount under way on mount point name once it has
// its mount point open, or nil.
func (sf *snapFiles) mountingJob(name string) *mountJob {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	pt := sf.points[name]
	if pt == nil || pt.job == nil {
		return nil
	}
	select {
	case <-pt.job.walked:
		return pt.job
	default:
		return nil
	}
}

func (sf *snapFiles) isMounted(name string) bool {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	pt := sf.points[name]
	return pt != nil && pt.mounted
}

// waitMounted holds a lookup of mount point name while it is being
// mounted, so the walk that looks it up crosses into the new mount. It
// waits only once the mounting goroutine has its mount point open: before
// that, the lookup might be the very one that goroutine's walk waits for.
func (f *FS) waitMounted(ctx context.Context, uuid, name string) syscall.Errno {
	sf := f.filesIfAny(uuid)
	if sf == nil {
		return 0
	}
	job := sf.mountingJob(name)
	if job == nil || ownRequest(ctx) {
		return 0
	}
	return wait(ctx, job.done)
}

func wait(ctx context.Context, c <-chan struct{}) syscall.Errno {
	select {
	case <-c:
		return 0
	case <-ctx.Done():
		return syscall.EINTR
	}
}

// enter is called when a process looks inside mount point name of a
// snapshot: it prepares the snapshot and mounts on the mount point. It
// returns ESTALE when the caller must walk its path again to get into the
// mount (made now, or before the caller got under it), and 0 when there is
// nothing to mount and the caller sees the directory itself. untilDone says
// the caller may wait for the mount itself; a lookup of a name inside the
// mount point holds the directory's lock, which mount(2) needs, so it waits
// only until the mount point is open.
func (f *FS) enter(ctx context.Context, uuid, name string, untilDone bool) syscall.Errno {
	sf := f.filesOf(uuid)
	sf.touch()
	if errno := sf.prepare(ctx); errno != 0 {
		return errno
	}
	t, ok := sf.target(name)
	if !ok {
		return 0
	}
	job, mounted := sf.startMount(name, t)
	if mounted {
		return syscall.ESTALE
	}
	if job == nil {
		return 0
	}
	if !untilDone {
		if errno := wait(ctx, job.walked); errno != 0 {
			return errno
		}
		if job.walkErr != nil {
			return 0
		}
		return syscall.ESTALE
	}
	if errno := wait(ctx, job.done); errno != 0 {
		return errno
	}
	if sf.isMounted(name) {
		return syscall.ESTALE
	}
	return 0
}

// holdFiles unmounts a snapshot's files/ before rmdir or merge and keeps it
// from being mounted again until release is called. A mount in use fails it
// with errFilesBusy, and then nothing was unmounted.
func (f *FS) holdFiles(uuid string) (release func(), err error) {
	sf := f.filesIfAny(uuid)
	if sf == nil {
		return func() {}, nil
	}
	sf.settle(func() { sf.holds++ })
	release = func() {
		sf.mu.Lock()
		sf.holds--
		sf.mu.Unlock()
	}
	if err := sf.unmountAll(false); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// dropFiles forgets the files/ state of a snapshot that is gone.
func (f *FS) dropFiles(uuid string) {
	f.mu.Lock()
	delete(f.files, uuid)
	f.mu.Unlock()
}

// unmountAll unmounts every mount of the snapshot's files/ and lets its
// loop device go. With detach, a mount in use is detached lazily; without,
// a mount in use fails it with errFilesBusy, having unmounted nothing.
func (sf *snapFiles) unmountAll(detach bool) error {
	f := sf.fs
	sf.mu.Lock()
	var busy []string
	for _, pt := range sf.points {
		if !pt.mounted {
			continue
		}
		// A mount with an open file or a shell inside has more users than
		// the mount tree: probe with MNT_EXPIRE, which refuses a busy mount
		// and only marks an idle one.
		if err := blockdev.Expire(pt.fd); errors.Is(err, syscall.EBUSY) {
			busy = append(busy, "files/"+pt.name)
		}
	}
	if len(busy) > 0 && !detach {
		sf.mu.Unlock()
		rel, _ := sf.path("")
		return fmt.Errorf("%s (%s): %w", rel, strings.Join(busy, ", "), errFilesBusy)
	}
	var unmounted []string
	for _, pt := range sf.points {
		if !pt.mounted {
			continue
		}
		err := blockdev.Unmount(pt.fd)
		if errors.Is(err, syscall.EBUSY) {
			if !detach {
				sf.mu.Unlock()
				rel, _ := sf.path(pt.name)
				return fmt.Errorf("%s: %w", rel, errFilesBusy)
			}
			f.log.Warn("files/ is in use: detaching it lazily", "snapshot", sf.uuid, "mount", "files/"+pt.name)
			err = blockdev.Detach(pt.fd)
		}
		if err != nil && !errors.Is(err, syscall.EINVAL) {
			f.log.Error("unmounting files/", "snapshot", sf.uuid, "mount", "files/"+pt.name, "err", err)
		}
		unix.Close(pt.fd)
		pt.fd, pt.mounted, pt.marked = -1, false, time.Time{}
		unmounted = append(unmounted, "files/"+pt.name)
	}
	loop := sf.forget()
	sf.mu.Unlock()
	if len(unmounted) > 0 {
		sort.Strings(unmounted)
		rel, _ := sf.path("")
		f.log.Info("unmounted", "snapshot", rel, "mounts", strings.Join(unmounted, " "))
	}
	releaseLoop(f, loop)
	return nil
}

// forget drops what prepare found, so the next look inside probes again,
// and returns the loop device to let go. It is called with sf.mu held and
// nothing mounted.
func (sf *snapFiles) forget() *blockdev.Loop {
	loop := sf.loop
	sf.prepared, sf.content, sf.source, sf.loop, sf.parts = false, blockdev.Content{}, "", nil, nil
	for _, pt := range sf.points {
		pt.failed = false
	}
	return loop
}

// releaseLoop lets a loop device go and waits until the kernel has
// detached it, so its backing LV is closed before lvremove.
func releaseLoop(f *FS, loop *blockdev.Loop) {
	if loop == nil {
		return
	}
	loop.Close()
	if !loop.WaitDetached(5 * time.Second) {
		f.log.Warn("loop device still attached: something else holds it", "loop", loop.Device)
	}
}

// expire unmounts the mounts of this snapshot that nobody used for idle,
// and forgets the probe of a files/ nobody looked at for that long.
func (sf *snapFiles) expire(now time.Time, idle time.Duration) {
	f := sf.fs
	sf.mu.Lock()
	var unmounted []string
	busy := false
	for _, pt := range sf.points {
		if pt.job != nil {
			busy = true
			continue
		}
		if !pt.mounted {
			continue
		}
		if !pt.marked.IsZero() && now.Sub(pt.marked) < idle {
			busy = true
			continue
		}
		err := blockdev.Expire(pt.fd)
		switch {
		case err == nil, errors.Is(err, syscall.EINVAL):
			// Expired; or no longer mounted here at all (detached by
			// hand, or with the whole FUSE mount by umount -l).
			unix.Close(pt.fd)
			pt.fd, pt.mounted, pt.marked = -1, false, time.Time{}
			unmounted = append(unmounted, "files/"+pt.name)
			continue
		case errors.Is(err, syscall.EAGAIN):
			pt.marked = now // marked now, or used since the last mark
		case errors.Is(err, syscall.EBUSY):
			pt.marked = time.Time{}
		default:
			f.log.Error("expiring files/", "snapshot", sf.uuid, "mount", "files/"+pt.name, "err", err)
		}
		busy = true
	}
	var loop *blockdev.Loop
	if !busy && sf.prepared && now.Sub(sf.lastUse) >= idle && sf.holds == 0 {
		loop = sf.forget()
	}
	sf.mu.Unlock()
	if len(unmounted) > 0 {
		sort.Strings(unmounted)
		rel, err := sf.path("")
		if err != nil {
			rel = sf.uuid
		}
		f.log.Info("unmounted idle files/", "snapshot", rel, "mounts", strings.Join(unmounted, " "), "idle", idle)
	}
	releaseLoop(f, loop)
}

// startJanitor starts the goroutine that unmounts idle files/, once.
func (f *FS) startJanitor() {
	f.janitorOnce.Do(func() {
		go f.janitor()
	})
}

func (f *FS) janitor() {
	idle := f.opts.FilesIdle
	tick := min(max(idle/4, 50*time.Millisecond), 30*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case now := <-t.C:
			all := f.allFiles()
			if len(all) > 0 && !f.treeMounted() {
				// umount -l of the tree detached the mounts inside it too;
				// let them go, or the FUSE mount they pin never ends.
				f.log.Warn("the tree was unmounted from outside: letting go of files/ mounts")
				for _, sf := range all {
					_ = sf.unmountAll(true)
				}
				continue
			}
			for _, sf := range all {
				sf.expire(now, idle)
			}
		}
	}
}

// treeMounted tells whether the tree is still mounted on its mount point.
// It says yes when it cannot tell.
func (f *FS) treeMounted() bool {
	if f.opts.Mountpoint == "" {
		return true
	}
	_, found, err := fuseMountDevice(f.opts.Mountpoint)
	return found || err != nil
}

// fuseMountDevice finds the snapfs FUSE mount on mountpoint in
// /proc/self/mountinfo (a stat would ask the tree itself) and returns its
// device number, "major:minor".
func fuseMountDevice(mountpoint string) (dev string, found bool, err error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, err
	}
	// Fields: id parent major:minor root mountpoint options... - fstype ...
	// with spaces in paths written as \040.
	want := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`).Replace(mountpoint)
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && fields[4] == want && strings.Contains(line, " - fuse.snapfs ") {
			dev, found = fields[2], true // the last one is on top
		}
	}
	return dev, found, nil
}

func (f *FS) allFiles() []*snapFiles {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*snapFiles, 0, len(f.files))
	for _, sf := range f.files {
		out = append(out, sf)
	}
	return out
}

func (f *FS) isClosed() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// settle waits for the mounts under way to finish, once no preparing runs.
// locked, when not nil, runs under sf.mu while the mounts under way are
// collected (holdFiles counts its hold there, so no new one starts).
func (sf *snapFiles) settle(locked func()) {
	sf.prepareMu.Lock()
	sf.mu.Lock()
	if locked != nil {
		locked()
	}
	var jobs []*mountJob
	for _, pt := range sf.points {
		if pt.job != nil {
			jobs = append(jobs, pt.job)
		}
	}
	sf.mu.Unlock()
	sf.prepareMu.Unlock()
	for _, j := range jobs {
		<-j.done
	}
}

// Close unmounts every snapshot's files/ (lazily when in use) and lets
// their loop devices go, so that no mount outlives snapfs. Call it before
// unmounting the tree, whose unmount fails while mounts are inside it.
func (f *FS) Close() {
	f.closeOnce.Do(func() { close(f.stop) })
	for _, sf := range f.allFiles() {
		sf.settle(nil)
		_ = sf.unmountAll(true)
	}
}
