package lvm

// SnapshotState is what a snapshot is doing, as the report shows it.
type SnapshotState int

// The states of a snapshot.
const (
	// SnapshotActive: the snapshot's device is active.
	SnapshotActive SnapshotState = iota
	// SnapshotInactive: the snapshot has no active device, e.g. a thin
	// snapshot, created with the skip-activation flag.
	SnapshotInactive
	// SnapshotMerging: the kernel is copying the snapshot back into its
	// origin, whose device carries the snapshot-merge target.
	SnapshotMerging
	// SnapshotMergePending: the merge was accepted but LVM delayed it
	// because the origin or the snapshot was open; it starts at the
	// origin's next activation. The snapshot still has its own device.
	SnapshotMergePending
	// SnapshotMergeFailed: the kernel could not finish the merge.
	SnapshotMergeFailed
	// SnapshotInvalid: the kernel dropped the COW snapshot because its
	// store overflowed or failed; its contents are lost.
	SnapshotInvalid
)

// String returns the state as one word: active, inactive, merging,
// merge-pending, merge-failed or invalid.
func (s SnapshotState) String() string {
	switch s {
	case SnapshotActive:
		return "active"
	case SnapshotInactive:
		return "inactive"
	case SnapshotMerging:
		return "merging"
	case SnapshotMergePending:
		return "merge-pending"
	case SnapshotMergeFailed:
		return "merge-failed"
	case SnapshotInvalid:
		return "invalid"
	}
	return "unknown"
}

// SnapshotState tells what the snapshot lv of this report is doing.
//
// A merging COW snapshot (attr S) is merging when its origin's device
// carries the snapshot-merge target: LVM then reports Snap% for the origin
// too, and the snapshot's kernel device numbers are the origin's. While the
// merge is pending, the origin reports no Snap% and the snapshot keeps its
// own snapshot device. LVM merges a thin snapshot at once when the origin
// is activated, so a merging thin snapshot is always pending.
func (r *Report) SnapshotState(lv *LV) SnapshotState {
	switch {
	case lv.Attr.MergeFailed() || lv.MergeFailed:
		return SnapshotMergeFailed
	case lv.Attr.SnapshotInvalid() || lv.SnapshotInvalid:
		return SnapshotInvalid
	case lv.Attr.IsMergingSnapshot():
		if lv.Attr.IsCOWSnapshot() {
			if o := r.LV(lv.VG, lv.Origin); o != nil && o.SnapPercent.Valid {
				return SnapshotMerging
			}
		}
		return SnapshotMergePending
	case !lv.Attr.Active():
		return SnapshotInactive
	}
	return SnapshotActive
}

// StatusDMName returns the device-mapper name of the device whose target
// status holds lv's allocation (see DeviceMapper.TableStatus): the LV's
// own device, but the origin's for a COW snapshot that is merging, whose
// own device then maps an error target.
func (r *Report) StatusDMName(lv *LV) string {
	if lv.Attr.IsCOWSnapshot() && r.SnapshotState(lv) == SnapshotMerging {
		return DMName(lv.VG, lv.Origin)
	}
	return DMName(lv.VG, lv.Name)
}
