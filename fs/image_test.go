package fs

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/snapfs/snapfs/blockdev"
)

// The image and files/ tests stand a regular file, or a read-only loop device over
// one, in for a snapshot's block device: the fake LVM reports it as the
// LV's path.

// useDevice makes the fake LV vg/name report dev as its device, of size
// bytes (what its snapshot directory shows).
func (m *mountedFS) useDevice(t *testing.T, name, dev string, size uint64) {
	t.Helper()
	m.lvm.Mu.Lock()
	lv := m.lvm.Find("vg", name)
	lv.Path = dev
	if lv.Attr.IsThin() {
		lv.Size = size
	} else {
		lv.OriginSize = size
	}
	m.lvm.Mu.Unlock()
	if _, err := m.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		skipOrFail(t, "%s not found (scripts/ensure-deps installs it)", name)
	}
}

// randomFile writes size bytes, random in a few places and zero elsewhere,
// and returns the file's path.
func randomFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "device.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 3<<20+123)
	for _, off := range []int64{0, size / 2, size - int64(len(chunk))} {
		if _, err := rand.Read(chunk); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// attachLoop attaches a read-only loop device over a file for the test.
func attachLoop(t *testing.T, file string) string {
	t.Helper()
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		skipOrFail(t, "no loop devices: %v", err)
	}
	loop, err := blockdev.AttachLoop(file)
	if err != nil {
		skipOrFail(t, "cannot attach a loop device: %v", err)
	}
	// The kernel detaches it once snapfs has unmounted what it mounted
	// from it, which happens in a cleanup that runs after this one.
	t.Cleanup(func() { loop.Close() })
	return loop.Device
}

func (m *mountedFS) passthrough() bool {
	return m.server.Passthrough()
}

// The image is the device byte for byte, with the device's size, for the
// tools that back up images; where the kernel offers passthrough, a regular
// file behind it is read without snapfs.
func TestImage(t *testing.T) {
	m := mountFake(t, setup{})
	const size = 64 << 20
	dev := randomFile(t, size)
	m.useDevice(t, "snap1", dev, size)
	img := m.path("vg/web/snap1/image")

	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size || fi.Mode() != 0o400 {
		t.Errorf("image: size %d mode %v, want %d and -r--------", fi.Size(), fi.Mode(), size)
	}
	m.mustSh(t, "cmp "+img+" "+dev)
	if got, want := m.mustSh(t, "dd if="+img+" bs=1M status=none | sha256sum"), m.mustSh(t, "sha256sum < "+dev); got != want {
		t.Errorf("dd of the image: %s, the device: %s", got, want)
	}
	out := filepath.Join(t.TempDir(), "copy")
	m.mustSh(t, "cp --sparse=always "+img+" "+out+" && cmp "+img+" "+out)
	if m.passthrough() {
		if n := m.fs.imageReads.Load(); n != 0 {
			t.Errorf("the kernel offers passthrough, yet %d reads reached snapfs", n)
		}
	} else if m.fs.imageReads.Load() == 0 {
		t.Error("no reads reached snapfs, and the kernel has no passthrough")
	}

	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"write", func() error { return os.WriteFile(img, []byte("x"), 0) }},
		{"open read-write", func() error {
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"truncate", func() error { return os.Truncate(img, 0) }},
		{"remove", func() error { return os.Remove(img) }},
	} {
		if err := tc.op(); errnoOf(err) != syscall.EPERM {
			t.Errorf("%s: %v, want EPERM", tc.name, err)
		}
	}
}

// A block device cannot be a passthrough backing file (Linux 6.18 refuses
// it): snapfs serves the reads itself, in requests of up to 1 MiB.
func TestImageOfBlockDevice(t *testing.T) {
	m := mountFake(t, setup{})
	const size = 48 << 20
	file := randomFile(t, size)
	dev := attachLoop(t, file)
	m.useDevice(t, "snap1", dev, size)
	img := m.path("vg/web/snap1/image")
	m.mustSh(t, "dd if="+img+" bs=1M status=none | cmp - "+file)
	reads := m.fs.imageReads.Load()
	if reads == 0 {
		t.Fatal("no reads reached snapfs")
	}
	// Readahead of 4 MiB in requests of almost 1 MiB: a sequential read of
	// 48 MiB needs about 50 requests, not 384 of 128 KiB.
	if reads > 80 {
		t.Errorf("reading %d MiB took %d requests: the read size or readahead is small", size>>20, reads)
	}
	requireTool(t, "qemu-img")
	qcow := filepath.Join(t.TempDir(), "snap.qcow2")
	m.mustSh(t, "cmp "+img+" "+dev+" && qemu-img convert -O qcow2 "+img+" "+qcow+" && qemu-img compare -q "+qcow+" "+file)
}

// A thin snapshot is created with activation skipped: opening its image
// activates it, and its state says so.
func TestImageActivatesThinSnapshot(t *testing.T) {
	m := mountFake(t, setup{})
	dev := randomFile(t, 8<<20)
	m.useDevice(t, "dbsnap", dev, 8<<20)
	if got := readFile(t, m.path("vg/db/dbsnap/state")); got != "inactive\n" {
		t.Fatalf("state before: %q", got)
	}
	// A stat activates nothing.
	if _, err := os.Stat(m.path("vg/db/dbsnap/image")); err != nil {
		t.Fatal(err)
	}
	if got := m.lvm.LastCall(); strings.Contains(got, "lvchange") {
		t.Errorf("stat of image ran %s", got)
	}
	m.mustSh(t, "cmp vg/db/dbsnap/image "+dev)
	if got := m.lvm.LastCall(); got != "lvm lvchange -ay -K vg/dbsnap" {
		t.Errorf("last LVM call %q, want the activation", got)
	}
	if got := readFile(t, m.path("vg/db/dbsnap/state")); got != "active\n" {
		t.Errorf("state after opening image: %q", got)
	}
	if !strings.Contains(m.logs.String(), `op=activate path=vg/db/dbsnap uid=0 lvm="lvm lvchange -ay -K vg/dbsnap"`) {
		t.Errorf("no audit line for the activation:\n%s", m.logs.String())
	}
}
