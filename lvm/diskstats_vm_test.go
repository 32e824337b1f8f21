//go:build vmguest

package lvm

import (
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// /proc/diskstats counts each write to an origin and to a snapshot on the
// LV's own device-mapper device, by the device number LVM reports, as the
// guard relies on: a write that takes a chunk of a COW store moves them.
func TestGuestDiskStats(t *testing.T) {
	vmSetup(t)
	vmRun(t, "lvcreate", "--quiet", "--size", "32M", "--name", "io-origin", vmVG)
	vmRun(t, "lvcreate", "--quiet", "--snapshot", "--size", "8M", "--name", "io-snap", vmVG+"/io-origin")
	dev := func(lv string) uint64 {
		major, err1 := strconv.Atoi(lvsField(t, "lv_kernel_major", lv))
		minor, err2 := strconv.Atoi(lvsField(t, "lv_kernel_minor", lv))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: no device number: %v %v", lv, err1, err2)
		}
		return unix.Mkdev(uint32(major), uint32(minor))
	}
	origin, snap := dev("io-origin"), dev("io-snap")
	d := NewDiskStats()
	read := func() (o, s IOCounts) {
		t.Helper()
		counts, err := d.Read()
		if err != nil {
			t.Fatal(err)
		}
		o, ok1 := counts[origin]
		s, ok2 := counts[snap]
		if !ok1 || !ok2 {
			t.Fatalf("no counts of the origin (%v) or the snapshot (%v) among %d devices", ok1, ok2, len(counts))
		}
		return o, s
	}
	o0, s0 := read()
	vmWrite(t, "io-origin", 1, 2)
	o1, s1 := read()
	if o1.Writes <= o0.Writes || s1 != s0 {
		t.Errorf("a write to the origin: its counts %+v → %+v, the snapshot's %+v → %+v", o0, o1, s0, s1)
	}
	if used := lvsField(t, "snap_percent", "io-snap"); used == "0.00" {
		t.Errorf("the write took no chunk of the snapshot: %s%%", used)
	}
	vmWrite(t, "io-snap", 1, 4)
	o2, s2 := read()
	if s2.Writes <= s1.Writes || o2 != o1 || s2.Busy() {
		t.Errorf("a write to the snapshot: its counts %+v → %+v, the origin's %+v → %+v", s1, s2, o1, o2)
	}
}
