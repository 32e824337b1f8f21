// Package checkpoint keeps snapfs's records of Xen checkpoints on disk and
// checks the names they are made of.
//
// A checkpoint of domain D named NAME is one COW snapshot ORIGIN.NAME of each
// of D's disks, tagged with Tag(D, NAME) so that the set is found again in
// LVM, and optionally a memory image (`xl save`) kept beside its record. The
// record, DIR/D/NAME/record.json under checkpoint_dir, says how far snapfs
// got (its Phase), so that a snapfs killed while it takes a checkpoint or
// reverts to one finds at its next start what it left, and completes or
// undoes it.
//
// The package runs no command: the operations that call xl and LVM live
// elsewhere and use this package for the records, the snapshot names and the
// tags. Records are written durably and atomically (a temporary file, fsync,
// rename, fsync of the directory), so a reader sees a whole record or none,
// and a crash never leaves half of one.
package checkpoint

import "time"

// Phase of a checkpoint record. Its JSON is read by the next snapfs, which
// may be a newer binary: do not change these values.
const (
	Taking    = "taking"    // being taken: memory saved and/or snapshots being made
	Ready     = "ready"     // whole: the domain runs again
	Reverting = "reverting" // revert under way: domain destroyed, merges started, restore next
)

// Disk is one disk of the checkpoint: the origin LV and its snapshot, both
// in volume group VG.
type Disk struct {
	VG       string `json:"vg"`
	Origin   string `json:"origin"`
	Snapshot string `json:"snapshot"`
}

// Record is what snapfs knows of one checkpoint, kept as JSON in
// DIR/DOMAIN/NAME/record.json. Its JSON is read by the next snapfs, which may
// be a newer binary: add fields, but do not rename or remove any.
type Record struct {
	Domain  string    `json:"domain"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Memory  bool      `json:"memory"` // a memory image was saved (DIR/DOMAIN/NAME/memory)
	Phase   string    `json:"phase"`
	Disks   []Disk    `json:"disks"`
	PID     int       `json:"pid"` // the snapfs that wrote it
}

// validPhase reports whether phase is one this snapfs knows how to finish.
func validPhase(phase string) bool {
	return phase == Taking || phase == Ready || phase == Reverting
}
