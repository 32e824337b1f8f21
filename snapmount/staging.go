package snapmount

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/blockdev"
)

// A snapshot's filesystem carries the guest's user IDs, which mean nothing
// on this host, or worse, the wrong thing: a host user whose uid equals a
// guest's would own that guest user's files. So files/ is no mount of the
// filesystem itself, but a read-only overlay whose top layer is the gate,
// an empty directory of mode 0750 owned by root and the admin group (0700
// root:root without one), over the filesystem mounted on a staging
// directory. The overlay's root directory takes the gate's owner and mode,
// so only root and the group get into files/; below it, everything comes
// from the snapshot. The staging directories and the gate lie in
// Options.StagingDir, which only root may enter.
//
// The staging mount stays mounted while the overlay is: overlayfs before
// Linux 6.5 takes its layers by path only, and so the device's own mount,
// with the options that keep the filesystem from writing to it, shows in
// /proc/self/mountinfo (findmnt).

// DefaultStagingDir is where the staging directories and the gate lie when
// Options.StagingDir is not set.
const DefaultStagingDir = "/run/snapfs/files"

const (
	gateName      = "gate"
	stagingPrefix = "mnt-"
)

// staging is a filesystem mounted on its staging directory, open (O_PATH)
// as fd.
type staging struct {
	dir string
	fd  int
}

// ownerless are the filesystems without owners or modes of their own (FAT,
// exFAT): overlayfs refuses them as a layer (their names are
// case-insensitive), and their mount options set the owner and modes of
// every file. They are mounted on the mount point directly, gated by those
// options: root's, readable by the admin group.
var ownerless = map[string]bool{"vfat": true, "msdos": true, "exfat": true}

// ownerlessOptions are the mount options that gate an ownerless
// filesystem as the gate directory gates the others.
func (m *Manager) ownerlessOptions() string {
	if m.opts.AdminGID < 0 {
		return "uid=0,gid=0,dmask=0077,fmask=0177"
	}
	return fmt.Sprintf("uid=0,gid=%d,dmask=0027,fmask=0137", m.opts.AdminGID)
}

// mountStaged mounts target's filesystem on a new staging directory, then
// the gated overlay of it on the mount point open as pointFD; an ownerless
// filesystem goes on the mount point itself, with no staging (fd -1). A
// failure undoes the steps before it.
func (m *Manager) mountStaged(target mountTarget, pointFD int) (staging, error) {
	if ownerless[target.fstype] {
		return staging{fd: -1}, blockdev.MountReadOnlyWith(target.device, target.fstype, pointFD, m.ownerlessOptions())
	}
	gate, err := m.stagingReady()
	if err != nil {
		return staging{}, err
	}
	dir, err := os.MkdirTemp(m.opts.StagingDir, stagingPrefix+ownerTag()+"-")
	if err != nil {
		return staging{}, fmt.Errorf("staging directory: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return staging{}, fmt.Errorf("open %s: %w", dir, err)
	}
	st := staging{dir: dir, fd: fd}
	if err := blockdev.MountReadOnly(target.device, target.fstype, fd); err != nil {
		unix.Close(fd)
		os.Remove(dir)
		return staging{}, err
	}
	if err := blockdev.MountOverlay(target.device, []string{gate, dir}, pointFD); err != nil {
		m.releaseStaging(st)
		return staging{}, err
	}
	return st, nil
}

// releaseStaging unmounts a staging mount whose overlay is gone (unmounted,
// detached lazily, or taken away from outside with the tree), closes it and
// removes its directory. The overlay holds its layers by itself: files
// still open in a lazily detached overlay stay readable.
func (m *Manager) releaseStaging(st staging) {
	if st.fd < 0 {
		return // an ownerless filesystem, mounted without staging
	}
	err := blockdev.Unmount(st.fd)
	if errors.Is(err, unix.EBUSY) {
		// Only root can be inside the staging directory.
		m.log.Warn("staging mount in use: detaching it lazily", "staging", st.dir)
		err = blockdev.Detach(st.fd)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: unmounted from outside
		m.log.Error("unmounting the staging mount", "staging", st.dir, "err", err)
	}
	unix.Close(st.fd)
	if err := os.Remove(st.dir); err != nil {
		m.log.Error("removing the staging directory", "staging", st.dir, "err", err)
	}
}

// stagingReady makes StagingDir and its gate as they must be, and cleans up
// after a snapfs that was killed, the first time. It returns the gate.
func (m *Manager) stagingReady() (gate string, err error) {
	m.stagingMu.Lock()
	defer m.stagingMu.Unlock()
	dir := m.opts.StagingDir
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("staging directory %q: not an absolute path", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("staging directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("staging directory: %w", err)
	}
	if err := m.checkStagingDir(); err != nil {
		return "", err
	}
	gate = filepath.Join(dir, gateName)
	if err := m.readyGate(gate); err != nil {
		return "", err
	}
	m.cleanLeftoversLocked()
	return gate, nil
}

// checkStagingDir refuses a StagingDir that is not a directory owned by
// root (a symbolic link, say), and makes its mode 0700 when it is not.
func (m *Manager) checkStagingDir() error {
	dir := m.opts.StagingDir
	f, err := openDirNoFollow(dir)
	if err != nil {
		return fmt.Errorf("staging directory: %w", err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("staging directory %s: %w", dir, err)
	}
	if st.Uid != 0 {
		return fmt.Errorf("staging directory %s: owned by uid %d, not root", dir, st.Uid)
	}
	if mode := st.Mode & 0o7777; mode != 0o700 {
		if err := unix.Fchmod(int(f.Fd()), 0o700); err != nil {
			return fmt.Errorf("staging directory %s: chmod 0700: %w", dir, err)
		}
		m.log.Warn("staging directory had another mode: made it 0700", "staging", dir, "mode", fmt.Sprintf("%04o", mode))
	}
	return nil
}

// readyGate makes the gate, or gives an existing one its owner and mode,
// and refuses a gate with anything in it, which would show in every files/.
func (m *Manager) readyGate(gate string) error {
	if err := os.Mkdir(gate, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("gate: %w", err)
	}
	f, err := openDirNoFollow(gate)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	defer f.Close()
	gid, mode := 0, uint32(0o700)
	if m.opts.AdminGID >= 0 {
		gid, mode = m.opts.AdminGID, 0o750
	}
	if err := unix.Fchown(int(f.Fd()), 0, gid); err != nil {
		return fmt.Errorf("gate %s: chown 0:%d: %w", gate, gid, err)
	}
	if err := unix.Fchmod(int(f.Fd()), mode); err != nil {
		return fmt.Errorf("gate %s: chmod %04o: %w", gate, mode, err)
	}
	if names, err := f.Readdirnames(1); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("not empty (%s): it would show on top of every snapshot's files", names[0])
		}
		return fmt.Errorf("gate %s: %w", gate, err)
	}
	return nil
}

// openDirNoFollow opens a directory that must not be a symbolic link.
func openDirNoFollow(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s is a symbolic link", dir)
		}
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// cleanLeftovers cleans up, once, after a snapfs that was killed: Hold
// calls it, since a leftover mount keeps the snapshot's LV open.
func (m *Manager) cleanLeftovers() {
	m.stagingMu.Lock()
	defer m.stagingMu.Unlock()
	if m.leftoversCleaned {
		return
	}
	if _, err := os.Lstat(m.opts.StagingDir); errors.Is(err, fs.ErrNotExist) {
		m.leftoversCleaned = true
		return
	}
	if err := m.checkStagingDir(); err != nil {
		m.log.Error("not cleaning up after an earlier snapfs", "err", err)
		return
	}
	m.cleanLeftoversLocked()
}

// cleanLeftoversLocked detaches and removes the staging directories of
// processes that are gone (snapfs killed before it could unmount), once.
// It is called with m.stagingMu held, StagingDir checked.
func (m *Manager) cleanLeftoversLocked() {
	if m.leftoversCleaned {
		return
	}
	entries, err := os.ReadDir(m.opts.StagingDir)
	if err != nil {
		m.log.Error("looking for the leftovers of an earlier snapfs", "err", err)
		return
	}
	m.leftoversCleaned = true
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), stagingPrefix) || !isLeftover(e.Name()) {
			continue
		}
		p := filepath.Join(m.opts.StagingDir, e.Name())
		device := ""
		if mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(p)); err == nil && len(mounts) > 0 {
			device = mounts[len(mounts)-1].Source
		}
		detached := 0
		// Mounts may be stacked there; EINVAL says none is left.
		for detached < 16 && unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW) == nil {
			detached++
		}
		if err := os.Remove(p); err != nil {
			m.log.Error("removing the staging directory of a snapfs that is gone", "err", err)
			continue
		}
		m.log.Warn("cleaned up the staging directory of a snapfs that is gone", "staging", p, "device", device, "detached", detached)
	}
}

// ownerTag names this process in its staging directories' names, as
// "PID.STARTTIME": a leftover of a process that is gone is told from a
// staging directory of a live one (another snapfs, or another Manager of
// this process) by it, even once the PID is reused.
var ownerTag = sync.OnceValue(func() string {
	start, _ := processStart(os.Getpid())
	return strconv.Itoa(os.Getpid()) + "." + start
})

// isLeftover tells whether a staging directory's process is gone, or
// unknown (a name snapmount did not make).
func isLeftover(name string) bool {
	tag, _, ok := strings.Cut(strings.TrimPrefix(name, stagingPrefix), "-")
	pid, start, ok2 := strings.Cut(tag, ".")
	n, err := strconv.Atoi(pid)
	if !ok || !ok2 || err != nil || n <= 0 {
		return true
	}
	now, alive := processStart(n)
	return !alive || now != start
}

// processStart returns a process's start time (field 22 of
// /proc/PID/stat, in clock ticks after boot), and false when there is no
// such process.
func processStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name before it, in parentheses, may hold spaces and
	// parentheses: count the fields from its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	fields := strings.Fields(string(b[i+1:])) // from field 3 on
	if len(fields) < 20 {
		return "", false
	}
	return fields[19], true
}
