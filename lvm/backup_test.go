package lvm

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// testdata/lvm/backup/vg is vgcfgbackup's output (the format of
// /etc/lvm/backup) of a VG with origin o and its snapshot s2.
func TestReadBackupSnapshot(t *testing.T) {
	dir := filepath.Join(testdataDir, "backup")
	s, err := ReadBackupSnapshot(dir, "vg", "s2")
	if err != nil {
		t.Fatal(err)
	}
	want := BackupSnapshot{UUID: "DkcAos-SuwP-dVY6-xJSv-kfft-yHcL-7ApSqH", Created: time.Unix(1795251065, 0), ChunkSize: 4096}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	for _, name := range []string{"o", "snapshot0", "nosuch"} {
		if _, err := ReadBackupSnapshot(dir, "vg", name); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s is no COW snapshot, yet: %v", name, err)
		}
	}
}
