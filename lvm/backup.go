package lvm

import (
	"errors"
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

// Backup is what snapfs reads of a VG's metadata backup (LVM's text format,
// lib/format_text): enough to tell, without LVM, which LVs a change added
// or removed and that it touched nothing else.
type Backup struct {
	VG    string
	Seqno int // the metadata's sequence number, vg_seqno in a report
	// Header is the VG's section without its logical_volumes and its
	// seqno: extent size, flags, tags, physical volumes.
	Header string
	LVs    map[string]*BackupLV // by UUID
}

// BackupLV is one LV's section of a metadata backup.
type BackupLV struct {
	Name     string
	UUID     string
	Text     string // the whole section as written
	Visible  bool
	Writable bool      // status has WRITE: not created read-only (-p r)
	Created  time.Time // creation_time, lv_time in a report
	// The hidden LV (snapshotN) that ties a COW snapshot to its origin
	// has a segment of type "snapshot" naming both, and the chunk size.
	Origin, COWStore string
	ChunkSize        uint64 // bytes
}

// ByName returns the LV of that name, or nil.
func (b *Backup) ByName(name string) *BackupLV {
	for _, lv := range b.LVs {
		if lv.Name == name {
			return lv
		}
	}
	return nil
}

// SnapshotLink returns the hidden LV that makes cow a COW snapshot, or nil.
func (b *Backup) SnapshotLink(cow string) *BackupLV {
	for _, lv := range b.LVs {
		if lv.COWStore == cow && lv.Origin != "" {
			return lv
		}
	}
	return nil
}

// ReadBackup reads the metadata backup of vg in dir. LVM writes it (a new
// file renamed into place) before the command that changed the VG returns.
func ReadBackup(dir, vg string) (*Backup, error) {
	f, err := os.Open(filepath.Join(dir, vg))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := ParseBackup(f)
	if err != nil {
		return nil, fmt.Errorf("metadata backup of %s: %w", vg, err)
	}
	if b.VG != vg {
		return nil, fmt.Errorf("metadata backup %s is of VG %q", filepath.Join(dir, vg), b.VG)
	}
	return b, nil
}

// ParseBackup reads a metadata backup. The format is LVM's own, written by
// one function (lib/format_text/export.c): one item per line, a section
// opened by `NAME {` and closed by `}` on lines of their own, indented by
// one tab a level; the VG is the one top-level section.
//
// It reads the whole backup at once and cuts each LV's Text out of it
// rather than copying line by line: a backup of 1,000 LVs is read after
// every change snapfs makes or catches up with, and under emulation a
// parse that allocated for every line took 60 ms of a mkdir.
func ParseBackup(r io.Reader) (*Backup, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := string(data)
	b := &Backup{LVs: map[string]*BackupLV{}}
	var header strings.Builder
	var lv *BackupLV
	lvStart := 0 // where lv's section starts in text
	var chunkSectors uint64
	depth := 0
	inLVs := false
	for pos := 0; pos < len(text); {
		lineStart := pos
		line, _, found := strings.Cut(text[pos:], "\n")
		pos += len(line)
		if found {
			pos++
		}
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		opens := strings.HasSuffix(trimmed, " {") && !strings.Contains(trimmed, "=")
		closes := trimmed == "}"
		switch {
		case depth == 0 && opens:
			if b.VG != "" {
				return nil, errors.New("more than one VG section")
			}
			b.VG = strings.TrimSuffix(trimmed, " {")
		case depth == 1 && trimmed == "logical_volumes {":
			inLVs = true
		case depth == 2 && inLVs && opens:
			lv = &BackupLV{Name: strings.TrimSuffix(trimmed, " {")}
			lvStart = lineStart
			chunkSectors = 0
		}
		if lv != nil {
			switch key, val, _ := strings.Cut(trimmed, " = "); key {
			case "id":
				lv.UUID = unquote(val)
			case "status":
				lv.Visible = strings.Contains(val, `"VISIBLE"`)
				lv.Writable = strings.Contains(val, `"WRITE"`)
			case "creation_time":
				if sec, err := strconv.ParseInt(firstField(val), 10, 64); err == nil {
					lv.Created = time.Unix(sec, 0)
				}
			case "origin":
				lv.Origin = unquote(val)
			case "cow_store":
				lv.COWStore = unquote(val)
			case "chunk_size":
				chunkSectors, _ = strconv.ParseUint(firstField(val), 10, 64)
			}
		} else if depth >= 1 && !inLVs && !strings.HasPrefix(trimmed, "seqno = ") {
			header.WriteString(line)
			header.WriteByte('\n')
		} else if depth == 1 && strings.HasPrefix(trimmed, "seqno = ") {
			n, err := strconv.Atoi(firstField(strings.TrimPrefix(trimmed, "seqno = ")))
			if err != nil {
				return nil, fmt.Errorf("seqno: %w", err)
			}
			b.Seqno = n
		}
		switch {
		case opens:
			depth++
		case closes:
			depth--
			if depth < 0 {
				return nil, errors.New("unbalanced section")
			}
			if depth == 2 && lv != nil {
				lv.Text = text[lvStart:pos]
				if !found {
					lv.Text += "\n"
				}
				lv.ChunkSize = chunkSectors * 512
				if lv.UUID == "" {
					return nil, fmt.Errorf("LV %s has no id", lv.Name)
				}
				b.LVs[lv.UUID] = lv
				lv = nil
			}
			if depth == 1 && inLVs {
				inLVs = false
			}
		}
	}
	if depth != 0 || b.VG == "" || b.Seqno == 0 {
		return nil, errors.New("no complete VG section")
	}
	b.Header = header.String()
	return b, nil
}

func unquote(s string) string { return strings.Trim(firstField(s), `"`) }

// firstField is a value without the comment LVM writes after it.
func firstField(s string) string {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// BackupSnapshot is what a VG's metadata backup says of a COW snapshot: the
// exact values the next report would show, which device-mapper cannot tell.
type BackupSnapshot struct {
	UUID      string
	Origin    string    // the origin LV's name
	Writable  bool      // not created read-only
	Created   time.Time // creation_time, lv_time in a report
	ChunkSize uint64    // bytes
}

// Snapshot returns what b says of the COW snapshot name.
func (b *Backup) Snapshot(name string) (BackupSnapshot, error) {
	lv, link := b.ByName(name), b.SnapshotLink(name)
	if lv == nil || link == nil || lv.Created.IsZero() || link.ChunkSize == 0 {
		return BackupSnapshot{}, fmt.Errorf("metadata backup: no COW snapshot %q: %w", name, ErrNotFound)
	}
	return BackupSnapshot{UUID: lv.UUID, Origin: link.Origin, Writable: lv.Writable, Created: lv.Created, ChunkSize: link.ChunkSize}, nil
}

// ReadBackupSnapshot reads what the metadata backup of vg in dir says of the
// COW snapshot name. Just after an lvcreate it describes the new snapshot;
// with backups off it may be missing or old (callers check the UUID).
func ReadBackupSnapshot(dir, vg, name string) (BackupSnapshot, error) {
	b, err := ReadBackup(dir, vg)
	if err != nil {
		return BackupSnapshot{}, err
	}
	return b.Snapshot(name)
}
