package snapmount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/blockdev"
)

// The tests need no FUSE: a plain temporary directory stands in for the
// tree's mount point, with vg/o/<uuid>/files inside for each snapshot, and
// a loop device over an image file for each snapshot's device.

// skipOrFail skips a test that cannot run here, but fails it in CI, where
// every test must run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "loop devices and mounts need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		skipOrFail(t, "no loop devices: %v", err)
	}
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		skipOrFail(t, "%s not found (scripts/ensure-deps installs it)", name)
	}
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// sparseFile makes a sparse file of size bytes in dir.
func sparseFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// ext4Image makes an ext4 image of size bytes holding hello.txt, written
// into it with debugfs.
func ext4Image(t *testing.T, size int64) string {
	t.Helper()
	requireTool(t, "mkfs.ext4")
	requireTool(t, "debugfs")
	dir := t.TempDir()
	img := sparseFile(t, dir, "ext4.img", size)
	run(t, "mkfs.ext4", "-q", "-F", img)
	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-w", "-R", "write "+src+" hello.txt", img)
	return img
}

// gptImage makes a whole-disk image with a GPT partition table whose one
// partition, from 1 MiB on, holds an ext4 filesystem with hello.txt.
func gptImage(t *testing.T) string {
	t.Helper()
	requireTool(t, "sfdisk")
	const start, size = 1 << 20, 16 << 20
	part := ext4Image(t, size)
	img := sparseFile(t, t.TempDir(), "disk.img", start+size+1<<20)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=L\n", start/512, size/512))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	// Copy the filesystem into the partition, leaving holes where it has
	// zeros.
	src, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	zeros := make([]byte, 64<<10)
	for off := 0; off < len(src); off += len(zeros) {
		chunk := src[off:min(off+len(zeros), len(src))]
		if bytes.Equal(chunk, zeros[:len(chunk)]) {
			continue
		}
		if _, err := dst.WriteAt(chunk, int64(start+off)); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// attachLoop attaches a read-only loop device over a file for the test, and
// lets it go in the cleanup (the kernel detaches it once nothing is
// mounted from it).
func attachLoop(t *testing.T, file string) string {
	t.Helper()
	return attachLoopDevice(t, file).Device
}

func attachLoopDevice(t *testing.T, file string) *blockdev.Loop {
	t.Helper()
	loop, err := blockdev.AttachLoop(file)
	if err != nil {
		skipOrFail(t, "cannot attach a loop device: %v", err)
	}
	t.Cleanup(func() { loop.Close() })
	return loop
}

// harness is a Manager over a temporary directory with one snapshot
// directory vg/o/<uuid> for each device it is given.
type harness struct {
	dir     string
	staging string // Options.StagingDir
	m       *Manager
	devices map[string]string // by snapshot UUID
	logs    *lockedBuffer
}

// newHarness checks, at the end of the test, that no mount is left under
// its directory nor in its staging directory, which holds at most the gate,
// and that no file descriptor leaked. devices makes the snapshots' devices
// (attaching loop devices, whose cleanups must run before that check).
// Unless opts names one, the staging directory is a temporary one.
func newHarness(t *testing.T, opts Options, devices func() map[string]string) *harness {
	t.Helper()
	requireRoot(t)
	requireOverlay(t)
	dir := t.TempDir()
	if opts.StagingDir == "" {
		opts.StagingDir = filepath.Join(t.TempDir(), "staging")
	}
	fds := openFDs(t)
	t.Cleanup(func() {
		for _, d := range []string{dir, opts.StagingDir} {
			if left := mountsUnder(t, d); len(left) > 0 {
				t.Errorf("mounts left under %s: %v", d, left)
				for _, p := range slices.Backward(left) {
					_ = unix.Unmount(p, unix.MNT_DETACH)
				}
			}
		}
		if left := stagingLeft(t, opts.StagingDir); len(left) > 0 {
			t.Errorf("left in the staging directory: %v", left)
		}
		if now := openFDs(t); now != fds {
			t.Errorf("%d file descriptors open at the end, %d at the start", now, fds)
		}
	})
	h := &harness{dir: dir, staging: opts.StagingDir, devices: devices(), logs: &lockedBuffer{}}
	for uuid := range h.devices {
		if err := os.MkdirAll(filepath.Join(dir, "vg/o", uuid, "files"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts.Mountpoint = dir
	opts.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	opts.Path = func(uuid string) (string, error) {
		if _, ok := h.devices[uuid]; !ok {
			return "", fmt.Errorf("snapshot %s: %w", uuid, os.ErrNotExist)
		}
		return "vg/o/" + uuid, nil
	}
	opts.Device = func(_ context.Context, uuid string) (string, error) { return h.devices[uuid], nil }
	h.m = New(opts)
	// The directory is no FUSE mount of snapfs's: the janitor must not
	// take it for a tree unmounted from outside.
	h.m.treeMounted = func() bool { return true }
	t.Cleanup(h.m.Close)
	return h
}

// requireOverlay skips, or fails in CI, where the kernel has no overlayfs.
func requireOverlay(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !slices.Contains(strings.Fields(string(b)), "overlay") {
		skipOrFail(t, "no overlay filesystem in /proc/filesystems (modprobe overlay)")
	}
}

// stagingLeft lists what a staging directory holds besides the gate; nil
// when it is no directory.
func stagingLeft(t *testing.T, dir string) []string {
	t.Helper()
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if e.Name() != gateName {
			left = append(left, e.Name())
		}
	}
	return left
}

// files returns the path of files/ (part "") or files/pN of a snapshot.
func (h *harness) files(uuid, part string) string {
	return filepath.Join(h.dir, "vg/o", uuid, "files", part)
}

func (h *harness) mustEnter(t *testing.T, uuid, part string, want error) {
	t.Helper()
	if err := h.m.Enter(context.Background(), uuid, part, true); !errors.Is(err, want) {
		t.Fatalf("Enter(%s, %q) = %v, want %v", uuid, part, err, want)
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// mountsUnder lists what is mounted below dir, outermost first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, info := range mounts {
		if info.Mountpoint != dir {
			out = append(out, info.Mountpoint)
		}
	}
	return out
}

// mountOf returns what is mounted on dir (its fstype and mount options),
// or nil.
func mountOf(t *testing.T, dir string) *mountinfo.Info {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 {
		return nil
	}
	return mounts[len(mounts)-1]
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer collects the log of the Manager's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
