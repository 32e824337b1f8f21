package snapmount

import (
	"errors"
	"fmt"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/blockdev"
)

// mountPoint is files/ itself (part "") or one files/pN.
type mountPoint struct {
	part         string
	job          *mountJob // the mount under way, or nil
	fd           int       // the mount point, open (O_PATH) while mounted
	isMounted    bool
	staging      staging   // under the overlay on the mount point, while mounted
	mountFailed  bool      // the last mount failed; retried once the snapshot is idle
	expireMarked time.Time // when the janitor last marked the mount for expiry
}

// mountJob is one mount under way. walked is closed once the mount point
// is open (walkErr says whether it could be), done once the mount is made
// or has failed.
type mountJob struct {
	walked, done chan struct{}
	walkErr      error
}

// point returns mount point part, made on first use. It is called with
// s.mu held.
func (s *snapshotMounts) point(part string) *mountPoint {
	pt := s.mountPoints[part]
	if pt == nil {
		pt = &mountPoint{part: part, fd: -1, staging: staging{fd: -1}}
		s.mountPoints[part] = pt
	}
	return pt
}

// startMount starts mounting on mount point part unless it is mounted
// already (mounted is then true) or the last try failed, a hold is in
// effect or the Manager is closed (job is then nil).
func (m *Manager) startMount(s *snapshotMounts, part string, target mountTarget) (job *mountJob, mounted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.point(part)
	switch {
	case pt.isMounted:
		return nil, true
	case pt.job != nil:
		return pt.job, false
	case pt.mountFailed || s.holds > 0 || m.isClosed():
		return nil, false
	}
	job = &mountJob{walked: make(chan struct{}), done: make(chan struct{})}
	pt.job = job
	go m.mount(s, pt, job, target)
	return job, false
}

// mount runs in its own goroutine, never inside a FUSE request: it opens
// the mount point through snapfs's FUSE mount and mounts on it.
func (m *Manager) mount(s *snapshotMounts, pt *mountPoint, job *mountJob, target mountTarget) {
	defer close(job.done)
	rel, err := m.opts.Path(s.uuid)
	fd := -1
	if err == nil {
		rel = path.Join(rel, "files", pt.part)
		fd, err = m.openMountPoint(rel)
	}
	job.walkErr = err
	close(job.walked)
	var st staging
	if err == nil {
		st, err = m.mountStaged(target, fd)
	}
	s.mu.Lock()
	pt.job = nil
	if err != nil {
		pt.mountFailed = true
		if fd >= 0 {
			unix.Close(fd)
		}
	} else {
		pt.isMounted, pt.fd, pt.staging, pt.expireMarked = true, fd, st, time.Time{}
	}
	s.mu.Unlock()
	if err != nil {
		m.log.Error("mounting files/ failed: it shows an empty directory", "path", rel, "device", target.device, "type", target.fstype, "err", err)
		return
	}
	options, staged := "ro"+prefixComma(blockdev.MountData(target.fstype)), st.dir
	if ownerless[target.fstype] {
		options, staged = options+","+m.ownerlessOptions(), "- (gated by its own options)"
	}
	m.log.Info("mounted files/", "path", rel, "device", target.device, "type", target.fstype,
		"options", options, "staging", staged)
	m.startJanitor()
}

func prefixComma(s string) string {
	if s == "" {
		return ""
	}
	return "," + s
}

// openMountPoint opens a directory of the tree (a path relative to the
// mount point) as O_PATH. The walk must not cross into another mount: a
// files/ that is a mount point already is not snapfs's to mount on.
func (m *Manager) openMountPoint(rel string) (int, error) {
	mountpoint := m.opts.Mountpoint
	if mountpoint == "" {
		return -1, errors.New("snapfs was not told its mount point")
	}
	root, err := unix.Open(mountpoint, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", mountpoint, err)
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return -1, fmt.Errorf("open %s/%s: %w", mountpoint, rel, err)
	}
	return fd, nil
}

// walkedJob returns the mount under way on mount point part once it has its
// mount point open, or nil.
func (s *snapshotMounts) walkedJob(part string) *mountJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.mountPoints[part]
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

func (s *snapshotMounts) isMounted(part string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.mountPoints[part]
	return pt != nil && pt.isMounted
}
