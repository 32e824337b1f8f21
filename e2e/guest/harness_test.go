//go:build vmguest

package guest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// These tests check that the VM gives the end-to-end tests what they need:
// device-mapper, LVM without udev, old-style and thin snapshots, and FUSE.

func TestHarnessDeviceMapper(t *testing.T) {
	requireCharDevice(t, "/dev/mapper/control")
	out := run(t, "dmsetup", "version")
	if !strings.Contains(out, "Driver version:") {
		t.Errorf("dmsetup version shows no kernel driver:\n%s", out)
	}
}

func TestHarnessLVMVersion(t *testing.T) {
	out := run(t, "lvm", "version")
	for _, want := range []string{"LVM version:", "Driver version:"} {
		if !strings.Contains(out, want) {
			t.Errorf("lvm version has no %q:\n%s", want, out)
		}
	}
}

func TestHarnessFUSE(t *testing.T) {
	requireCharDevice(t, "/dev/fuse")
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestHarnessMkVG(t *testing.T) {
	device := mkVG(t, "harness_mkvg", 64)
	if !strings.HasPrefix(device, "/dev/loop") {
		t.Fatalf("mkVG returned %q, want a loop device", device)
	}
	fields := strings.Fields(run(t, "vgs", "--noheadings", "-o", "vg_name,pv_count,lv_count", "harness_mkvg"))
	if want := []string{"harness_mkvg", "1", "0"}; strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("vgs shows %q, want %q", fields, want)
	}
	fields = strings.Fields(run(t, "pvs", "--noheadings", "-o", "pv_name,vg_name", device))
	if want := []string{device, "harness_mkvg"}; strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("pvs shows %q, want %q", fields, want)
	}
}

// TestHarnessCOWSnapshot takes an old-style snapshot, changes the origin and
// checks that the snapshot kept the old data in its COW store.
func TestHarnessCOWSnapshot(t *testing.T) {
	mkVG(t, "harness_cow", 128)
	run(t, "lvcreate", "--size", "32M", "--name", "origin", "harness_cow")
	requireBlockDevice(t, "/dev/harness_cow/origin")
	requireBlockDevice(t, "/dev/mapper/harness_cow-origin")

	before := pattern('a', 1<<20)
	after := pattern('b', 1<<20)
	writeDevice(t, "/dev/harness_cow/origin", before)
	run(t, "lvcreate", "--snapshot", "--size", "8M", "--name", "snap", "harness_cow/origin")
	requireBlockDevice(t, "/dev/harness_cow/snap")
	writeDevice(t, "/dev/harness_cow/origin", after)

	if !bytes.Equal(readDevice(t, "/dev/harness_cow/snap", len(before)), before) {
		t.Error("the snapshot does not hold the origin's data from before the snapshot")
	}
	if !bytes.Equal(readDevice(t, "/dev/harness_cow/origin", len(after)), after) {
		t.Error("the origin does not hold the data written after the snapshot")
	}
	fields := strings.Fields(run(t, "lvs", "--noheadings", "-o", "origin,snap_percent", "harness_cow/snap"))
	if len(fields) != 2 || fields[0] != "origin" {
		t.Fatalf("lvs shows %q for the snapshot, want origin \"origin\" and a Snap%%", fields)
	}
	// 1 MiB changed of an 8 MiB COW store: at least 12.5% is used.
	if used, err := strconv.ParseFloat(fields[1], 64); err != nil || used < 12.5 {
		t.Errorf("snapshot allocation is %q, want at least 12.5", fields[1])
	}

	run(t, "lvremove", "--yes", "harness_cow/snap")
	if lvs := run(t, "lvs", "--noheadings", "-o", "lv_name", "harness_cow"); strings.TrimSpace(lvs) != "origin" {
		t.Errorf("after lvremove of the snapshot lvs shows %q, want only origin", lvs)
	}
	if _, err := os.Lstat("/dev/harness_cow/snap"); !os.IsNotExist(err) {
		t.Errorf("/dev/harness_cow/snap is still there after lvremove: %v", err)
	}
}

// TestHarnessThinSnapshot creates a thin pool, a thin LV and a thin snapshot
// of it, and checks that the snapshot kept the old data.
func TestHarnessThinSnapshot(t *testing.T) {
	mkVG(t, "harness_thin", 256)
	run(t, "lvcreate", "--type", "thin-pool", "--size", "64M", "--name", "pool", "harness_thin")
	run(t, "lvcreate", "--virtualsize", "128M", "--thin", "harness_thin/pool", "--name", "thin")
	requireBlockDevice(t, "/dev/harness_thin/thin")

	before := pattern('c', 1<<20)
	after := pattern('d', 1<<20)
	writeDevice(t, "/dev/harness_thin/thin", before)
	run(t, "lvcreate", "--snapshot", "--name", "snap", "harness_thin/thin")
	fields := strings.Fields(run(t, "lvs", "--noheadings", "-o", "segtype,origin,pool_lv", "harness_thin/snap"))
	if want := []string{"thin", "thin", "pool"}; strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("lvs shows %q for the thin snapshot, want %q", fields, want)
	}
	// Thin snapshots are created with the activation-skip flag.
	run(t, "lvchange", "--activate", "y", "--ignoreactivationskip", "harness_thin/snap")
	requireBlockDevice(t, "/dev/harness_thin/snap")
	writeDevice(t, "/dev/harness_thin/thin", after)

	if !bytes.Equal(readDevice(t, "/dev/harness_thin/snap", len(before)), before) {
		t.Error("the thin snapshot does not hold the data from before the snapshot")
	}
	if !bytes.Equal(readDevice(t, "/dev/harness_thin/thin", len(after)), after) {
		t.Error("the thin LV does not hold the data written after the snapshot")
	}
	run(t, "lvremove", "--yes", "harness_thin/snap")
}

func requireCharDevice(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is %v, want a character device", path, fi.Mode())
	}
}

func requireBlockDevice(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		t.Fatalf("%s is %v, want a block device", path, fi.Mode())
	}
}

// pattern returns n bytes that differ with seed and with the offset, so a
// block read from the wrong place does not match.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i/4096)
	}
	return b
}

func writeDevice(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readDevice(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}
