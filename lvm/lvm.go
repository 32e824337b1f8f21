// Package lvm runs the LVM command-line tools and reads device-mapper status,
// and returns typed values and typed errors. It knows nothing of FUSE or errno:
// callers classify failures with errors.Is against the sentinel errors below.
//
// It exists so that the rest of snapfs never builds an LVM command line or
// parses LVM output itself. Every command goes through a Runner, argv only,
// never a shell, so tests substitute recorded outputs (testdata/lvm) for real
// LVM. The whole state of the volume groups comes from one `lvm fullreport`
// process (see Client.Report), and the fill level of an active snapshot can be
// read from the kernel with no process at all (see DeviceMapper), computed
// exactly as lvs prints it.
package lvm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. A *CommandError unwraps to exactly one of them.
var (
	ErrExists      = errors.New("name already in use")
	ErrNoSpace     = errors.New("insufficient free space")
	ErrInUse       = errors.New("logical volume in use")
	ErrNotFound    = errors.New("not found")
	ErrInvalidName = errors.New("invalid name")
	ErrInvalidArg  = errors.New("invalid argument")
	ErrTimeout     = errors.New("command timed out")
	ErrFailed      = errors.New("command failed")
	// ErrActiveElsewhere is an LV of a shared VG whose lock another host
	// holds: it, or the origin a snapshot needs, is active there.
	ErrActiveElsewhere = errors.New("logical volume active on another host")
	// ErrNoLock is a shared VG whose lock this host cannot have: its
	// lockspace is not started here, or lvmlockd or the lock manager is
	// down.
	ErrNoLock = errors.New("the shared VG's lock cannot be had on this host")
)

// ErrInvalidTag is returned for a tag LVM would refuse, before any command
// runs (see ValidateTag). It wraps ErrInvalidArg, which LVM's own refusal of
// such a tag (exit 3, "Invalid argument for --addtag") is classified as.
var ErrInvalidTag = fmt.Errorf("invalid tag: %w", ErrInvalidArg)

// Runner runs one command, argv only, and returns its standard output.
// A failure is a *CommandError.
type Runner interface {
	Run(ctx context.Context, argv ...string) (stdout []byte, err error)
}

// CommandError is a failed LVM command: its argv, exit code, and LVM's own
// message (from stderr, or from the JSON "log" array of lvm >= 2.03.26).
type CommandError struct {
	Argv     []string
	ExitCode int    // -1 when the process did not exit normally (timeout, signal, not started)
	Message  string // LVM's own words, trimmed; one line per message
	Kind     error  // one of the sentinels above
	// Stdout is what the command printed on standard output before it
	// failed. A report command that fails for one volume group still
	// reports the others there.
	Stdout []byte
}

// Error returns the command line, the exit status and LVM's message, so that
// one log line says what ran and what LVM answered.
func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString(strings.Join(e.Argv, " "))
	if e.ExitCode >= 0 {
		b.WriteString(": exit status ")
		b.WriteString(strconv.Itoa(e.ExitCode))
	} else if e.Kind == ErrTimeout {
		b.WriteString(": timed out")
	}
	if msg := strings.TrimSpace(e.Message); msg != "" {
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(msg, "\n", "; "))
	}
	return b.String()
}

// Unwrap returns the sentinel error that classifies the failure.
func (e *CommandError) Unwrap() error {
	if e.Kind == nil {
		return ErrFailed
	}
	return e.Kind
}

// Report is one consistent view of the volume groups and their logical volumes,
// taken by one LVM process.
type Report struct {
	VGs []VG
	LVs []LV // every LV, hidden ones included, deduplicated by UUID, in LVM's order
}

// VG returns the volume group named name, or nil.
func (r *Report) VG(name string) *VG {
	for i := range r.VGs {
		if r.VGs[i].Name == name {
			return &r.VGs[i]
		}
	}
	return nil
}

// LV returns the logical volume vg/name, or nil.
func (r *Report) LV(vg, name string) *LV {
	for i := range r.LVs {
		if r.LVs[i].VG == vg && r.LVs[i].Name == name {
			return &r.LVs[i]
		}
	}
	return nil
}

// VG is a volume group as LVM reports it.
type VG struct {
	Name       string
	UUID       string
	Size       uint64 // bytes
	Free       uint64 // bytes
	ExtentSize uint64 // bytes
	LVCount    int    // lv_count: visible LVs
	SnapCount  int    // snap_count: COW snapshots, merging ones included
	// Seqno is vg_seqno, the metadata's sequence number, which its backup
	// carries too; 0 when not reported.
	Seqno int
	// LockType is vg_lock_type: "sanlock" or "dlm" for a VG shared by
	// several hosts through lvmlockd, "" for a local one.
	LockType string
	// PVs are the devices of its PVs (pv_name) as this host sees them.
	PVs []string
}

// Shared tells whether several hosts share the VG through lvmlockd.
func (v *VG) Shared() bool { return v.LockType != "" }

// LV is a logical volume as LVM reports it.
type LV struct {
	Name       string // without the brackets LVM puts around hidden LVs
	VG         string
	UUID       string
	Hidden     bool   // shown as [name] by lvs -a (internal LVs, merging snapshots)
	Path       string // lv_path, e.g. /dev/vg/lv; empty for hidden LVs
	DMPath     string // lv_dm_path, e.g. /dev/mapper/vg-lv
	Attr       Attr
	Origin     string // origin LV name, for COW and thin snapshots
	PoolLV     string // thin pool, for thin volumes
	Size       uint64 // lv_size in bytes: for a COW snapshot, LVM's LSize (the COW store)
	OriginSize uint64 // origin_size in bytes: the size a COW snapshot shows
	// SnapPercent is Snap% (COW allocation) for COW snapshots; DataPercent is
	// Data% for thin volumes and pools. Unset when LVM reports none
	// (inactive). LVM 2.03 prints the same value in both fields for every LV
	// that has one. For a merging COW snapshot, and for its origin, it is
	// what the origin's snapshot-merge target has left to copy back.
	SnapPercent Percent
	DataPercent Percent
	ChunkSize   uint64    // bytes: COW chunk for snapshots, pool chunk for thin pools; 0 otherwise
	Time        time.Time // lv_time, the creation time; zero when LVM does not know it
	KernelMajor int       // -1 when not active
	KernelMinor int       // -1 when not active
	// SkipActivation is lv_skip_activation. Thin snapshots are created with
	// it, so they stay inactive until activated with `lvchange -ay -K`.
	SkipActivation bool

	// Layout and Role are lv_layout and lv_role, e.g. ["linear"] and
	// ["public", "snapshot", "thicksnapshot"]; Role holds "private" for
	// internal LVs.
	Layout []string
	Role   []string
	// SegType is the segment type of the LV's first segment, e.g. "linear",
	// "striped", "raid1", "thin", "thin-pool".
	SegType string
	// Segments is how many segments the LV has.
	Segments int
	// Merging, MergeFailed and SnapshotInvalid are lv_merging,
	// lv_merge_failed and lv_snapshot_invalid. The last two are only known
	// while the snapshot target is active.
	Merging         bool
	MergeFailed     bool
	SnapshotInvalid bool
	// DeviceOpen is lv_device_open: the LV's device is open (mounted, held
	// by a process or a domain).
	DeviceOpen bool
	// Tags is lv_tags, the LV's tags in LVM's order (sorted, as
	// lib/report/report.c: _tags_disp prints them); nil when it has none.
	// snapfs keeps holds, expiry times and the mark of scheduled snapshots
	// there (see Client.AddTag), so that they survive restarts.
	Tags []string
}

// Percent is a percentage as LVM prints it, with two decimals. Valid is false
// when LVM reports no value.
type Percent struct {
	Hundredths int64 // 486 means 4.86%
	Valid      bool
}

// Attr is a parsed lv_attr string, e.g. "swi-a-s---" (see lvs(8) and
// ParseAttr for the letters).
type Attr struct {
	VolumeType  byte // 1st: s snapshot, S merging snapshot, o origin, O origin merging, V thin volume, t thin pool, - plain, ...
	Permissions byte // 2nd: w, r, R
	Allocation  byte // 3rd
	Minor       byte // 4th: m fixed minor
	State       byte // 5th: a active, s suspended, I invalid snapshot, m merge failed, ...
	Open        byte // 6th: o open, - closed
	TargetType  byte // 7th: s snapshot, t thin, m mirror, r raid, ...
	Zero        byte // 8th
	Health      byte // 9th
	Skip        byte // 10th: k skip activation
}

// SizeSpec is how much COW space a new snapshot gets: a size (`--size 2G`),
// extents (`--extents 20%ORIGIN`), or nothing (a thin snapshot).
type SizeSpec struct {
	Size    string // LVM size syntax, e.g. "2G"; mutually exclusive with Extents
	Extents string // LVM extents syntax, e.g. "20%ORIGIN"
}

// IsZero reports whether the spec asks for no size at all, as a thin
// snapshot does.
func (s SizeSpec) IsZero() bool { return s.Size == "" && s.Extents == "" }

// String returns the spec as it was written, e.g. "2G" or "20%ORIGIN".
func (s SizeSpec) String() string {
	if s.Extents != "" {
		return s.Extents
	}
	return s.Size
}

// DefaultTimeout is used when a Runner is built without one.
const DefaultTimeout = 2 * time.Minute
