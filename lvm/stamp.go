package lvm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ChangeStamp returns a short string that changes whenever LVM changes a
// VG's metadata or activates, deactivates or renames a device, read without
// starting a process: the metadata backups LVM writes after every change
// (each one a new file renamed into backupDir, so the directory's and the
// file's change times move), and the device nodes in /dev/mapper (made and
// removed with every activation). ok is false when a VG of vgs has no backup
// there (backups off, or kept elsewhere): then the stamp proves nothing and
// the caller must read LVM.
func ChangeStamp(backupDir string, vgs []string) (stamp string, ok bool) {
	var b strings.Builder
	add := func(path string) bool {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return false
		}
		fmt.Fprintf(&b, "%d:%d.%d:%d.%d:%d;", st.Ino, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Size)
		return true
	}
	if !add(backupDir) || !add("/dev/mapper") {
		return "", false
	}
	for _, vg := range vgs {
		if !add(filepath.Join(backupDir, vg)) {
			return "", false
		}
	}
	if _, err := os.Stat(dmControl); err != nil {
		return "", false
	}
	return b.String(), true
}
