package lvm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLockDir is where LVM keeps the lock file of each VG (lvm.conf
// global/locking_dir): a command that changes VG vg holds an exclusive
// flock on LockDir/V_vg from before it reads the metadata until the
// metadata, its backup and the devices are all done (LVM waits for udev
// before it lets go), and a report holds a shared one.
const DefaultLockDir = "/run/lock/lvm"

// VGLocked tells whether a command holds VG vg's lock in dir for a change:
// its lock file is there and a shared lock of it cannot be had at once.
// The shared lock it gets, if any, it lets go at once.
func VGLocked(dir, vg string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, "V_"+vg))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // LVM removes the file when nobody holds it
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		return true, nil
	default:
		return false, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
}

// lockPoll is how often WaitVGsUnlocked looks at the locks again.
const lockPoll = 20 * time.Millisecond

// WaitVGsUnlocked waits until no command holds the lock of any of vgs in
// dir for a change, or ctx is done. It tells whether one held a lock when
// it began (waited), and returns ctx's error when it gave up. It only
// looks (VGLocked): LVM does not wait for it.
func WaitVGsUnlocked(ctx context.Context, dir string, vgs []string) (waited bool, err error) {
	for {
		locked := false
		for _, vg := range vgs {
			held, err := VGLocked(dir, vg)
			if err != nil {
				return waited, err
			}
			if held {
				locked = true
				break
			}
		}
		if !locked {
			return waited, nil
		}
		waited = true
		select {
		case <-ctx.Done():
			return waited, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}
