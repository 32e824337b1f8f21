package blockdev

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// skipOrFail skips a test that cannot run here, but fails it in CI, where
// every test must run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// ext4Image makes a small ext4 image file holding hello.txt.
func ext4Image(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "loop devices and mounts need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		skipOrFail(t, "no loop devices: %v", err)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		skipOrFail(t, "mkfs.ext4 not found (e2fsprogs)")
	}
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	if err := os.Mkdir(content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(content, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", content, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return img
}

func isMountPoint(t *testing.T, dir string) (bool, string) {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 {
		return false, ""
	}
	return true, mounts[0].Options
}

// A loop device attached read-only carries a filesystem that mounts
// read-only without a single write to the image; an idle mount expires; the
// device detaches itself once unused.
func TestLoopMountExpire(t *testing.T) {
	img := ext4Image(t)
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	loop, err := AttachLoop(img)
	if err != nil {
		skipOrFail(t, "cannot attach a loop device: %v", err)
	}
	closed := false
	defer func() {
		if !closed {
			loop.Close()
		}
	}()
	if ro, err := os.ReadFile("/sys/block/loop" + strconv.Itoa(loop.Number) + "/ro"); err != nil || strings.TrimSpace(string(ro)) != "1" {
		t.Errorf("%s is not read-only: %q %v", loop.Device, ro, err)
	}
	dev, err := os.Open(loop.Device)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Probe(dev)
	dev.Close()
	if err != nil || c.Kind != Filesystem || c.Type != "ext4" {
		t.Fatalf("Probe(%s) = %+v, %v", loop.Device, c, err)
	}
	if parts, err := loop.Partitions(); err != nil || len(parts) != 0 {
		t.Errorf("partitions of a filesystem image: %v %v", parts, err)
	}

	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := MountReadOnly(loop.Device, c.Type, fd); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Detach(fd) }()
	if ok, opts := isMountPoint(t, dir); !ok || !strings.HasPrefix(opts, "ro,") {
		t.Errorf("mounted %v with options %q, want ro", ok, opts)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(got) != "hello\n" {
		t.Errorf("hello.txt = %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into the mount: %v, want EROFS", err)
	}

	// In use: neither an unmount nor an expiry succeeds.
	f, err := os.Open(filepath.Join(dir, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmount(fd); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("Unmount of a busy mount: %v, want EBUSY", err)
	}
	f.Close()
	// Marked, then used, then marked again, then unused: expired.
	if err := Expire(fd); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("first Expire: %v, want EAGAIN", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello.txt")); err != nil {
		t.Fatal(err)
	}
	if err := Expire(fd); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("Expire after a use: %v, want EAGAIN", err)
	}
	if err := Expire(fd); err != nil {
		t.Errorf("Expire of an unused mount: %v", err)
	}
	if ok, _ := isMountPoint(t, dir); ok {
		t.Error("still mounted after expiry")
	}
	if err := Unmount(fd); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Unmount with nothing mounted: %v, want EINVAL", err)
	}

	closed = true
	if err := loop.Close(); err != nil {
		t.Fatal(err)
	}
	if !loop.WaitDetached(5 * time.Second) {
		t.Errorf("%s still attached after its last user closed it", loop.Device)
	}
	after, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the image changed: the read-only mount wrote to it")
	}
}
