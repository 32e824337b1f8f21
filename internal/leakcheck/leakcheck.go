// Package leakcheck fails a test that leaves a file descriptor open or a
// mount behind, as gocryptfs's tests check at every unmount. A daemon that
// leaks a descriptor per request, or a mount per snapshot, runs out of
// descriptors or loop devices after weeks; a test finds it at once.
package leakcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// fdGrace is how long a descriptor that was not open before may stay open
// after the test: go-fuse's server goroutines close /dev/fuse after the
// unmount returns, and the runtime closes a finished child's pidfd in Wait
// on its own goroutine.
const fdGrace = 2 * time.Second

// Check records the open file descriptors of the process (/proc/self/fd,
// which ones, not just how many) and the mounts at or below dir now, and
// registers a t.Cleanup that fails the test when, after the test's other
// cleanups, a descriptor is open that was not open before (named by what
// it points to) or a mount is at or below dir that was not there before.
// Descriptors get a grace of about two seconds, polled, because go-fuse and
// the runtime close some asynchronously.
//
// Cleanups run last in, first out: call Check first thing in the test, so
// that its check runs after every other cleanup, and before mounting, since
// a go-fuse server keeps /dev/fuse open until it is unmounted. Descriptors
// are the whole process's: Check does not suit parallel tests.
func Check(t testing.TB, dir string) {
	t.Helper()
	check(t, dir, fdGrace)
}

func check(t testing.TB, dir string, grace time.Duration) {
	t.Helper()
	dir, err := resolve(dir)
	if err != nil {
		t.Fatalf("leakcheck: %v", err)
		return
	}
	fdsBefore, err := openFDs()
	if err != nil {
		t.Fatalf("leakcheck: %v", err)
		return
	}
	mountsBefore, err := mountsAt(dir)
	if err != nil {
		t.Fatalf("leakcheck: %v", err)
		return
	}
	t.Cleanup(func() {
		t.Helper()
		mounts, err := mountsAt(dir)
		if err != nil {
			t.Errorf("leakcheck: %v", err)
		}
		for _, m := range newMounts(mountsBefore, mounts) {
			t.Errorf("leakcheck: mount left at %s: %s from %s", m.Mountpoint, m.FSType, m.Source)
		}
		leaked, err := leakedFDs(fdsBefore, grace)
		if err != nil {
			t.Errorf("leakcheck: %v", err)
		}
		for _, fd := range leaked {
			t.Errorf("leakcheck: file descriptor %d left open: %s", fd.num, fd.target)
		}
	})
}

// resolve makes dir absolute, clean and free of symbolic links, as
// mountinfo lists mount points and mountinfo.PrefixFilter wants them. A
// directory that does not exist yet is taken as it is spelled.
func resolve(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}

// descriptor is an open file descriptor and what /proc/self/fd says it
// points to: a path, or a kind and inode such as "pipe:[1234]".
type descriptor struct {
	num    int
	target string
}

// openFDs lists the process's open descriptors by number, without the one
// that reads the list.
func openFDs() (map[int]string, error) {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The runtime opened its poller, if it had not yet, in os.Open above,
	// so its descriptors are in the list from the first call on.
	self := int(f.Fd())
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list /proc/self/fd: %w", err)
	}
	fds := make(map[int]string, len(names))
	for _, name := range names {
		num, err := strconv.Atoi(name)
		if err != nil || num == self {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // closed since the listing
		}
		if err != nil {
			return nil, err
		}
		fds[num] = target
	}
	return fds, nil
}

// leakedFDs polls for up to grace until every descriptor open now was
// open before, pointing to the same thing, and returns those that still
// are not, sorted by number.
func leakedFDs(before map[int]string, grace time.Duration) ([]descriptor, error) {
	deadline := time.Now().Add(grace)
	for {
		now, err := openFDs()
		if err != nil {
			return nil, err
		}
		var leaked []descriptor
		for num, target := range now {
			if was, ok := before[num]; !ok || was != target {
				leaked = append(leaked, descriptor{num, target})
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			sort.Slice(leaked, func(i, j int) bool { return leaked[i].num < leaked[j].num })
			return leaked, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mountsAt lists the mounts at dir and below it.
func mountsAt(dir string) ([]*mountinfo.Info, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// newMounts returns the mounts in after that are not in before. A mount
// is known by its ID together with where it is, its device and source,
// since the kernel reuses the IDs of mounts that are gone.
func newMounts(before, after []*mountinfo.Info) []*mountinfo.Info {
	type key struct {
		id, major, minor           int
		mountpoint, fstype, source string
	}
	keyOf := func(m *mountinfo.Info) key {
		return key{m.ID, m.Major, m.Minor, m.Mountpoint, m.FSType, m.Source}
	}
	known := make(map[key]bool, len(before))
	for _, m := range before {
		known[keyOf(m)] = true
	}
	var added []*mountinfo.Info
	for _, m := range after {
		if !known[keyOf(m)] {
			added = append(added, m)
		}
	}
	return added
}
