package lvm

import (
	"fmt"
	"strconv"
	"strings"
)

// Target is one line of a device-mapper table status, as `dmsetup status`
// prints it: start and length in 512-byte sectors, the target type and its
// status parameters.
type Target struct {
	Start, Length uint64
	Type, Params  string
}

// DMName returns the device-mapper name LVM gives to vg/lv: each hyphen in
// either name is doubled and a single hyphen joins them (libdm:
// dm_build_dm_name), so "vg", "my-lv" is "vg-my--lv".
func DMName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// SnapshotStatus is the status of a "snapshot" or "snapshot-merge" target
// (the kernel's snapshot_status in drivers/md/dm-snap.c): sectors of the COW
// store in use, of which metadata, and its size; or one of the failure
// states. During a merge the origin carries the snapshot-merge target, whose
// Allocated counts down to Metadata as chunks are copied back.
type SnapshotStatus struct {
	Allocated uint64 // sectors of the COW store in use, metadata included
	Total     uint64 // sectors of the COW store
	Metadata  uint64 // sectors of it that hold metadata
	// HasMetadata is false for the old two-field form "<allocated>/<total>".
	HasMetadata bool
	Invalid     bool // "Invalid": the kernel dropped the snapshot (it overflowed or failed)
	Overflow    bool // "Overflow": out of space; the kernel is about to invalidate it
	MergeFailed bool // "Merge failed"
	Unknown     bool // "Unknown": the store cannot report its usage
}

// TableStatuser reads device-mapper table statuses: DeviceMapper, or a
// test's double of it.
type TableStatuser interface {
	TableStatus(name string) ([]Target, error)
}

// ReadSnapshotStatus reads COW snapshot device name's status from dm: with
// dm's own SnapshotStatus when it has one (DeviceMapper's allocates
// nothing), else from its TableStatus. A device that is not a COW snapshot
// is an error wrapping ErrNotSnapshot.
func ReadSnapshotStatus(dm TableStatuser, name string) (SnapshotStatus, error) {
	if ss, ok := dm.(interface {
		SnapshotStatus(name string) (SnapshotStatus, error)
	}); ok {
		return ss.SnapshotStatus(name)
	}
	targets, err := dm.TableStatus(name)
	if err != nil {
		return SnapshotStatus{}, err
	}
	if len(targets) == 0 || targets[0].Type != "snapshot" {
		return SnapshotStatus{}, fmt.Errorf("%s: %w", name, ErrNotSnapshot)
	}
	return ParseSnapshotStatus(targets[0].Params)
}

// ParseSnapshotStatus parses the params of a snapshot or snapshot-merge
// target: "<allocated>/<total> <metadata>" in sectors, or "Invalid",
// "Overflow", "Merge failed", "Unknown".
func ParseSnapshotStatus(params string) (SnapshotStatus, error) {
	params = strings.TrimSpace(params)
	switch params {
	case "Invalid":
		return SnapshotStatus{Invalid: true}, nil
	case "Overflow":
		return SnapshotStatus{Overflow: true}, nil
	case "Merge failed":
		return SnapshotStatus{MergeFailed: true}, nil
	case "Unknown":
		return SnapshotStatus{Unknown: true}, nil
	}
	var s SnapshotStatus
	usage, meta, hasMeta := strings.Cut(params, " ")
	alloc, total, ok := strings.Cut(usage, "/")
	if !ok {
		return SnapshotStatus{}, fmt.Errorf("snapshot status %q: want <allocated>/<total> <metadata>", params)
	}
	var err error
	if s.Allocated, err = strconv.ParseUint(alloc, 10, 64); err != nil {
		return SnapshotStatus{}, fmt.Errorf("snapshot status %q: %w", params, err)
	}
	if s.Total, err = strconv.ParseUint(total, 10, 64); err != nil {
		return SnapshotStatus{}, fmt.Errorf("snapshot status %q: %w", params, err)
	}
	if hasMeta {
		if s.Metadata, err = strconv.ParseUint(meta, 10, 64); err != nil {
			return SnapshotStatus{}, fmt.Errorf("snapshot status %q: %w", params, err)
		}
		s.HasMetadata = true
	}
	return s, nil
}

// percent is LVM's dm_percent_t for the status, as lvs computes Snap%
// (lib/metadata/lv.c: lvseg_percent_with_info_and_seg_status): an invalid
// snapshot is full, a failed merge has no value, a store holding only
// metadata is empty. Overflow reports 0/0, which libdm takes as full.
func (s SnapshotStatus) percent() dmPercent {
	switch {
	case s.MergeFailed || s.Unknown:
		return dmPercentInvalid
	case s.Invalid:
		return dmPercent100
	case s.HasMetadata && s.Allocated == s.Metadata:
		return dmPercent0
	}
	return makeDMPercent(s.Allocated, s.Total)
}

// Percent is the COW allocation exactly as `lvs -o snap_percent` prints it:
// 100.00 once the snapshot is invalid or overflowing, 0.01 for any use
// below that, 99.99 for anything short of full. Not Valid after a failed
// merge. For a snapshot-merge target it is what lvs shows as the merging
// snapshot's Snap%.
func (s SnapshotStatus) Percent() Percent { return s.percent().report() }

// MergeProgress is a merge's progress as lvconvert prints it (tools/
// lvconvert_poll.c: poll_merge_progress shows DM_PERCENT_100 minus the
// snapshot-merge target's percentage, rounded as lvs rounds). Not Valid when
// the merge failed or the snapshot is invalid.
func (s SnapshotStatus) MergeProgress() Percent {
	if s.Invalid || s.MergeFailed || s.Unknown {
		return Percent{}
	}
	// lv_snapshot_percent (lib/snapshot/snapshot.c: _snap_target_percent)
	// differs from the report only for an invalid snapshot, excluded above.
	return (dmPercent100 - s.percent()).report()
}

// UsedBytes is the COW store's allocation in bytes, metadata included, as
// the kernel counts it.
func (s SnapshotStatus) UsedBytes() uint64 { return s.Allocated * 512 }

// ThinStatus is the status of a "thin" target (the kernel's thin_status in
// drivers/md/dm-thin.c): "<mapped sectors> <highest mapped sector>", the
// highest being "-" when nothing is mapped; "Fail" when the pool failed;
// "-" when the thin device is not open in the pool; "Error" when the kernel
// could not read its metadata.
type ThinStatus struct {
	Mapped        uint64 // sectors mapped
	HighestMapped uint64 // highest mapped sector; valid when HasHighest
	HasHighest    bool
	Fail          bool // the pool failed: no I/O possible
	Error         bool // the kernel could not read the pool's metadata
	NoDevice      bool // "-": no thin device behind the target
}

// ParseThinStatus parses the params of a thin target.
func ParseThinStatus(params string) (ThinStatus, error) {
	params = strings.TrimSpace(params)
	switch params {
	case "Fail":
		return ThinStatus{Fail: true}, nil
	case "Error":
		return ThinStatus{Error: true}, nil
	case "-":
		return ThinStatus{NoDevice: true}, nil
	}
	fields := strings.Fields(params)
	if len(fields) < 2 {
		return ThinStatus{}, fmt.Errorf("thin status %q: want <mapped sectors> <highest mapped sector>", params)
	}
	var s ThinStatus
	var err error
	if s.Mapped, err = strconv.ParseUint(fields[0], 10, 64); err != nil {
		return ThinStatus{}, fmt.Errorf("thin status %q: %w", params, err)
	}
	if fields[1] != "-" {
		if s.HighestMapped, err = strconv.ParseUint(fields[1], 10, 64); err != nil {
			return ThinStatus{}, fmt.Errorf("thin status %q: %w", params, err)
		}
		s.HasHighest = true
	}
	return s, nil
}

// Percent is the thin volume's Data% exactly as lvs prints it, given the
// LV's size and its pool's chunk size in bytes: the pool allocates whole
// chunks, so the size is rounded up to one (lib/metadata/lv.c:
// lvseg_percent_with_info_and_seg_status). Not Valid when the pool failed
// or the size is unknown.
func (s ThinStatus) Percent(size, poolChunkSize uint64) Percent {
	if s.Fail || s.Error || size == 0 {
		return Percent{}
	}
	sectors := size / 512
	if chunk := poolChunkSize / 512; chunk > 0 {
		sectors = (sectors + chunk - 1) / chunk * chunk
	}
	if s.Mapped > sectors {
		// lvs warns and shows 100% rather than nonsense above it.
		return dmPercent100.report()
	}
	return makeDMPercent(s.Mapped, sectors).report()
}

// UsedBytes is the thin volume's mapped space in bytes.
func (s ThinStatus) UsedBytes() uint64 { return s.Mapped * 512 }
