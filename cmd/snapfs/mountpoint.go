package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// fsType is the type snapfs's mounts have in /proc/self/mountinfo.
const fsType = "fuse.snapfs"

// topMount returns the mount on top at dir: the last one listed there,
// since /proc/self/mountinfo lists a mount after the one it covers.
func topMount(entries []*mountinfo.Info, dir string) (*mountinfo.Info, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Mountpoint == dir {
			return entries[i], true
		}
	}
	return nil, false
}

// readMountinfo lists the mounts of snapfs's mount namespace, in the order
// of /proc/self/mountinfo.
func readMountinfo() ([]*mountinfo.Info, error) {
	return mountinfo.GetMounts(nil)
}

// resolveMountpoint makes dir absolute and resolves symbolic links, as the
// kernel lists it in mountinfo. The last element is not resolved when it
// cannot be looked at: a stale mount answers ENOTCONN.
func resolveMountpoint(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}

// prepareMountpoint checks dir before snapfs mounts on it, and returns it
// resolved. A snapfs mount whose daemon is gone (killed, crashed) answers
// every access with ENOTCONN, "Transport endpoint is not connected": it is
// unmounted, with a log line. A snapfs that still serves there is an error,
// and so is a stale mount of another file system.
func prepareMountpoint(dir string, log *slog.Logger) (string, error) {
	dir, err := resolveMountpoint(dir)
	if err != nil {
		return "", err
	}
	// Mounts may be stacked: a new snapfs mounted over a stale one that
	// was never cleaned up. Each round removes the top one.
	for range 8 {
		// statfs, not stat: the kernel answers stat from its cache for
		// a second, while statfs always asks the file system.
		var st unix.Statfs_t
		statErr := unix.Statfs(dir, &st)
		if statErr == nil {
			return dir, checkNotServed(dir)
		}
		if !errors.Is(statErr, syscall.ENOTCONN) {
			return "", statErr
		}
		entries, err := readMountinfo()
		if err != nil {
			return "", err
		}
		m, ok := topMount(entries, dir)
		if !ok {
			return "", fmt.Errorf("%s: %w, yet it is not a mount point", dir, statErr)
		}
		if m.FSType != fsType {
			return "", fmt.Errorf("%s: %w: a stale %s mount of %s, not snapfs's; unmount it first", dir, statErr, m.FSType, m.Source)
		}
		log.Warn("unmounting a stale snapfs mount left by a snapfs that is gone", "mountpoint", dir, "source", m.Source, "err", statErr)
		if err := unix.Unmount(dir, 0); err != nil {
			// Still open somewhere (a shell inside it): detach it.
			log.Warn("stale mount busy, detaching it lazily", "mountpoint", dir, "err", err)
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return "", fmt.Errorf("unmount stale mount %s: %w", dir, err)
			}
		}
	}
	return "", fmt.Errorf("%s: too many stale mounts stacked", dir)
}

// checkNotServed refuses a mount point where a snapfs already serves.
func checkNotServed(dir string) error {
	entries, err := readMountinfo()
	if err != nil {
		return err
	}
	if m, ok := topMount(entries, dir); ok && m.FSType == fsType {
		return fmt.Errorf("%s: a snapfs is already mounted there (source %s)", dir, m.Source)
	}
	return nil
}
