package snapmount

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/blockdev"
)

// unmountAll unmounts every mount of the snapshot's files/, the overlay
// first, then its staging mount, and lets its loop device go. With detach,
// an overlay in use is detached lazily; without, an overlay in use fails it
// with ErrBusy, having unmounted nothing.
func (m *Manager) unmountAll(s *snapshotMounts, detach bool) error {
	s.mu.Lock()
	var busy []string
	for _, pt := range s.mountPoints {
		if !pt.isMounted {
			continue
		}
		// A mount with an open file or a shell inside has more users than
		// the mount tree: probe with MNT_EXPIRE, which refuses a busy mount
		// and only marks an idle one.
		if err := blockdev.Expire(pt.fd); errors.Is(err, unix.EBUSY) {
			busy = append(busy, "files/"+pt.part)
		}
	}
	if len(busy) > 0 && !detach {
		s.mu.Unlock()
		sort.Strings(busy)
		return fmt.Errorf("%s (%s): %w", m.name(s.uuid), strings.Join(busy, ", "), ErrBusy)
	}
	var unmounted []string
	for _, pt := range s.mountPoints {
		if !pt.isMounted {
			continue
		}
		err := blockdev.Unmount(pt.fd)
		if errors.Is(err, unix.EBUSY) {
			if !detach {
				// Used between the probe and now: the mounts already
				// unmounted are mounted again at the next look.
				s.mu.Unlock()
				return fmt.Errorf("%s (files/%s): %w", m.name(s.uuid), pt.part, ErrBusy)
			}
			m.log.Warn("files/ is in use: detaching it lazily", "snapshot", s.uuid, "mount", "files/"+pt.part)
			err = blockdev.Detach(pt.fd)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			m.log.Error("unmounting files/", "snapshot", s.uuid, "mount", "files/"+pt.part, "err", err)
		}
		// EINVAL: the overlay is gone already (umount -l of the tree), but
		// its staging mount is not.
		m.unmounted(pt)
		unmounted = append(unmounted, "files/"+pt.part)
	}
	loop := s.forget()
	s.mu.Unlock()
	if len(unmounted) > 0 {
		sort.Strings(unmounted)
		m.log.Info("unmounted", "snapshot", m.name(s.uuid), "mounts", strings.Join(unmounted, " "))
	}
	m.releaseLoop(loop)
	return nil
}

// unmounted takes down the staging mount under a mount point whose overlay
// is gone and forgets both. It is called with s.mu held.
func (m *Manager) unmounted(pt *mountPoint) {
	m.releaseStaging(pt.staging)
	unix.Close(pt.fd)
	pt.fd, pt.staging, pt.isMounted, pt.expireMarked = -1, staging{fd: -1}, false, time.Time{}
}

// forget drops what prepare found, so the next look inside probes again,
// and returns the loop device to let go. It is called with s.mu held and
// nothing mounted.
func (s *snapshotMounts) forget() *blockdev.Loop {
	loop := s.loop
	s.prepared, s.content, s.device, s.loop, s.partitions = false, blockdev.Content{}, "", nil, nil
	for _, pt := range s.mountPoints {
		pt.mountFailed = false
	}
	return loop
}

// releaseLoop lets a loop device go and waits until the kernel has
// detached it, so its backing LV is closed before lvremove.
func (m *Manager) releaseLoop(loop *blockdev.Loop) {
	if loop == nil {
		return
	}
	loop.Close()
	if !loop.WaitDetached(5 * time.Second) {
		m.log.Warn("loop device still attached: something else holds it", "loop", loop.Device)
	}
}

// expire unmounts the mounts of this snapshot that nobody used for idle,
// and forgets the probe of a files/ nobody looked at for that long.
func (m *Manager) expire(s *snapshotMounts, now time.Time, idle time.Duration) {
	s.mu.Lock()
	var unmounted []string
	busy := false
	for _, pt := range s.mountPoints {
		if pt.job != nil {
			busy = true
			continue
		}
		if !pt.isMounted {
			continue
		}
		if !pt.expireMarked.IsZero() && now.Sub(pt.expireMarked) < idle {
			busy = true
			continue
		}
		err := blockdev.Expire(pt.fd)
		switch {
		case err == nil, errors.Is(err, unix.EINVAL):
			// Expired; or no longer mounted here at all (detached by
			// hand, or with the whole FUSE mount by umount -l).
			m.unmounted(pt)
			unmounted = append(unmounted, "files/"+pt.part)
			continue
		case errors.Is(err, unix.EAGAIN):
			pt.expireMarked = now // marked now, or used since the last mark
		case errors.Is(err, unix.EBUSY):
			pt.expireMarked = time.Time{}
		default:
			m.log.Error("expiring files/", "snapshot", s.uuid, "mount", "files/"+pt.part, "err", err)
		}
		busy = true
	}
	var loop *blockdev.Loop
	if !busy && s.prepared && now.Sub(s.lastUse) >= idle && s.holds == 0 {
		loop = s.forget()
	}
	s.mu.Unlock()
	if len(unmounted) > 0 {
		sort.Strings(unmounted)
		m.log.Info("unmounted idle files/", "snapshot", m.name(s.uuid), "mounts", strings.Join(unmounted, " "), "idle", idle)
	}
	m.releaseLoop(loop)
}

// startJanitor starts the goroutine that unmounts idle files/, once, and
// never after Close.
func (m *Manager) startJanitor() {
	m.janitorMu.Lock()
	defer m.janitorMu.Unlock()
	if m.janitorStarted || m.isClosed() {
		return
	}
	m.janitorStarted = true
	m.janitorDone.Add(1)
	go m.janitor()
}

func (m *Manager) janitor() {
	defer m.janitorDone.Done()
	idle := m.opts.Idle
	tick := min(max(idle/4, 50*time.Millisecond), 30*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			all := m.allSnapshots()
			if len(all) > 0 && !m.treeMounted() {
				// umount -l of the tree detached the mounts inside it too;
				// let them go, or the FUSE mount they pin never ends.
				m.log.Warn("the tree was unmounted from outside: letting go of files/ mounts")
				for _, s := range all {
					_ = m.unmountAll(s, true)
				}
				continue
			}
			for _, s := range all {
				m.expire(s, now, idle)
			}
		}
	}
}

// treeMountedAt tells whether snapfs's tree is still mounted on
// mountpoint, from /proc/self/mountinfo (a stat would ask the tree itself).
// It says yes when it cannot tell.
func treeMountedAt(mountpoint string) bool {
	if mountpoint == "" {
		return true
	}
	mounts, err := mountinfo.GetMounts(snapfsMountFilter(mountpoint))
	return len(mounts) > 0 || err != nil
}

// snapfsMountFilter keeps the snapfs FUSE mounts on mountpoint; of several
// stacked there, the last one is on top.
func snapfsMountFilter(mountpoint string) mountinfo.FilterFunc {
	return func(info *mountinfo.Info) (skip, stop bool) {
		return info.Mountpoint != mountpoint || info.FSType != "fuse.snapfs", false
	}
}
