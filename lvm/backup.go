package lvm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultBackupDir is where LVM writes the metadata backup of each VG after
// every change to it (backup/backup_dir in lvm.conf), one file per VG.
const DefaultBackupDir = "/etc/lvm/backup"

// BackupSnapshot is what a VG's metadata backup says of a COW snapshot: the
// exact values the next report would show, which device-mapper cannot tell.
type BackupSnapshot struct {
	UUID      string
	Created   time.Time // creation_time, lv_time in a report
	ChunkSize uint64    // bytes
}

// ReadBackupSnapshot reads what the metadata backup of vg in dir says of the
// COW snapshot name. LVM writes the file before the command that changed
// the VG returns, so just after an lvcreate it describes the new snapshot;
// with backups off it may be missing or old (callers check the UUID).
func ReadBackupSnapshot(dir, vg, name string) (BackupSnapshot, error) {
	f, err := os.Open(filepath.Join(dir, vg))
	if err != nil {
		return BackupSnapshot{}, err
	}
	defer f.Close()
	return parseBackupSnapshot(f, name)
}

// parseBackupSnapshot reads LVM's text metadata format (lib/format_text):
// the LV's section, `\t\tNAME {` inside logical_volumes, holds its id and
// creation_time; the chunk size is in the section of the hidden snapshotN
// LV whose segment has cow_store = "NAME".
func parseBackupSnapshot(r io.Reader, name string) (BackupSnapshot, error) {
	var s BackupSnapshot
	var chunkSectors uint64
	var section string      // the LV section the scanner is in
	var sectionChunk uint64 // chunk_size seen in it
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	inLVs := false
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case line == "\tlogical_volumes {":
			inLVs = true
		case !inLVs:
		case strings.HasPrefix(line, "\t\t") && !strings.HasPrefix(line, "\t\t\t") && strings.HasSuffix(line, " {"):
			section, sectionChunk = strings.TrimSuffix(trimmed, " {"), 0
		case section == name && strings.HasPrefix(trimmed, "id = "):
			s.UUID = strings.Trim(strings.TrimPrefix(trimmed, "id = "), `"`)
		case section == name && strings.HasPrefix(trimmed, "creation_time = "):
			v := strings.Fields(strings.TrimPrefix(trimmed, "creation_time = "))
			if len(v) > 0 {
				if sec, err := strconv.ParseInt(v[0], 10, 64); err == nil {
					s.Created = time.Unix(sec, 0)
				}
			}
		case strings.HasPrefix(trimmed, "chunk_size = "):
			if v := strings.Fields(strings.TrimPrefix(trimmed, "chunk_size = ")); len(v) > 0 {
				sectionChunk, _ = strconv.ParseUint(v[0], 10, 64)
			}
		case trimmed == `cow_store = "`+name+`"`:
			chunkSectors = sectionChunk
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("metadata backup: %w", err)
	}
	if s.UUID == "" || s.Created.IsZero() || chunkSectors == 0 {
		return s, fmt.Errorf("metadata backup: no COW snapshot %q: %w", name, ErrNotFound)
	}
	s.ChunkSize = chunkSectors * 512
	return s, nil
}
