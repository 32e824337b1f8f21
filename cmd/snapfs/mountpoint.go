package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// fsType is the type snapfs's mounts have in /proc/self/mountinfo.
const fsType = "fuse.snapfs"

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	MountPoint string
	FSType     string
	Source     string
}

// parseMountinfo reads /proc/PID/mountinfo (proc(5)): the fifth field is the
// mount point, and the file system type and source follow the "-"
// separator after the optional fields.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var entries []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		entries = append(entries, mountEntry{
			MountPoint: unescapeMountinfo(fields[4]),
			FSType:     unescapeMountinfo(fields[sep+1]),
			Source:     unescapeMountinfo(fields[sep+2]),
		})
	}
	return entries, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab,
// newline and backslash (\040, \011, \012, \134).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// topMount returns the mount on top at dir, the last one listed there.
func topMount(entries []mountEntry, dir string) (mountEntry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].MountPoint == dir {
			return entries[i], true
		}
	}
	return mountEntry{}, false
}

func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
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
