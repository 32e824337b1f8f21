package lvm

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Lines of /proc/diskstats as Linux 6.1 writes them (20 fields), as 4.18
// did (18) and as older kernels did (14).
const diskstats = `   7       0 loop0 219 0 7398 42 12 0 96 3 0 64 46 0 0 0 0 4 1
 254       0 e2e-web 120 0 4410 25 7 0 56 9 2 44 34 3 0 24 1 0 0
 254       1 e2e-web-real 77 0 3202 12 5 0 40 4 0 20 16 0 0 0 0
 253      17 sdb1 5 0 40 1 9 0 72 2 1 3 3
   8      16 sdb2 1 2 3 4
`

func TestParseDiskStats(t *testing.T) {
	counts := map[uint64]IOCounts{}
	if err := parseDiskStats([]byte(diskstats), counts); err != nil {
		t.Fatal(err)
	}
	for dev, want := range map[uint64]IOCounts{
		unix.Mkdev(7, 0):    {Writes: 12},
		unix.Mkdev(254, 0):  {Writes: 7, InFlight: 2, Discards: 3},
		unix.Mkdev(254, 1):  {Writes: 5},
		unix.Mkdev(253, 17): {Writes: 9, InFlight: 1},
	} {
		if got := counts[dev]; got != want {
			t.Errorf("%d:%d: %+v, want %+v", unix.Major(dev), unix.Minor(dev), got, want)
		}
	}
	if len(counts) != 4 {
		t.Errorf("%d devices, want 4 (not sdb2, without counts): %v", len(counts), counts)
	}
	if err := parseDiskStats([]byte("   8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n"), counts); err == nil {
		t.Error("a line with a word for a number: no error")
	}
}

// Read takes the whole file, however long, and each read anew.
func TestDiskStatsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "diskstats")
	var long []byte
	for i := 0; i < 2000; i++ {
		long = append(long, " 254 "...)
		long = append(long, strconv.Itoa(i)...)
		long = append(long, " dm-x 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"...)
	}
	if err := os.WriteFile(path, long, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &DiskStats{path: path}
	counts, err := d.Read()
	if err != nil || len(counts) != 2000 || counts[unix.Mkdev(254, 1999)] != (IOCounts{Writes: 5, InFlight: 9, Discards: 12}) {
		t.Fatalf("%d devices, %v; want 2000", len(counts), err)
	}
	if err := os.WriteFile(path, []byte(diskstats), 0o644); err != nil {
		t.Fatal(err)
	}
	if counts, err = d.Read(); err != nil || len(counts) != 4 {
		t.Errorf("read again: %d devices, %v; want 4", len(counts), err)
	}
}
