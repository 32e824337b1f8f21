package model

import (
	"errors"

	"github.com/snapfs/snapfs/lvm"
)

// Snapshot states, as the state file shows them.
const (
	StateActive       = "active"
	StateInactive     = "inactive"
	StateMerging      = "merging"
	StateMergePending = "merge-pending"
	StateMergeFailed  = "merge-failed"
	StateInvalid      = "invalid"
)

// LiveStatus is what a snapshot's files show of its device: read from
// device-mapper when the files are opened, so reading them spawns no process.
type LiveStatus struct {
	State         string
	Allocated     lvm.Percent // unset when LVM would show none (inactive)
	CowUsed       uint64      // bytes; meaningful when Allocated is set
	MergeProgress lvm.Percent // set while merging
}

// SnapshotStatus reads the live status of snapshot e. dm may be nil (no
// /dev/mapper/control): the report's values are used then.
func SnapshotStatus(dm DeviceMapper, e *LVEntry) LiveStatus {
	if dm == nil {
		return reportStatus(e)
	}
	vg := e.VG.VG.Name
	if e.LV.Attr.IsCOWSnapshot() {
		if e.IsMerging() {
			return cowMergeStatus(dm, vg, e)
		}
		targets, err := dm.TableStatus(lvm.DMName(vg, e.LV.Name))
		if err != nil || len(targets) == 0 {
			if err != nil && !errors.Is(err, lvm.ErrNotFound) {
				return reportStatus(e)
			}
			return LiveStatus{State: StateInactive}
		}
		return COWStatus(targets[0], e.LV.Size)
	}
	if e.IsMerging() {
		// A thin snapshot merges when its origin is next activated.
		return LiveStatus{State: StateMergePending}
	}
	targets, err := dm.TableStatus(lvm.DMName(vg, e.LV.Name))
	if err != nil || len(targets) == 0 {
		if err != nil && !errors.Is(err, lvm.ErrNotFound) {
			return reportStatus(e)
		}
		return LiveStatus{State: StateInactive}
	}
	chunk := uint64(0)
	if pool := e.Pool(); pool != nil {
		chunk = pool.LV.ChunkSize
	}
	return thinStatus(targets[0], e.LV.Size, chunk)
}

// COWStatus interprets a snapshot target's status line.
func COWStatus(t lvm.Target, cowSize uint64) LiveStatus {
	if t.Type != "snapshot" {
		return LiveStatus{State: StateActive}
	}
	s, err := lvm.ParseSnapshotStatus(t.Params)
	if err != nil {
		return LiveStatus{State: StateActive}
	}
	switch {
	case s.Invalid || s.Overflow:
		return LiveStatus{State: StateInvalid, Allocated: lvm.Percent{Hundredths: 10000, Valid: true}, CowUsed: cowSize}
	case s.MergeFailed:
		return LiveStatus{State: StateMergeFailed}
	}
	return LiveStatus{State: StateActive, Allocated: s.Percent(), CowUsed: s.UsedBytes()}
}

// cowMergeStatus tells merging from merge-pending: while LVM merges, the
// origin's table is a snapshot-merge target whose allocation counts down;
// while the merge is delayed (origin or snapshot open, or origin inactive) it
// is not.
func cowMergeStatus(dm DeviceMapper, vg string, e *LVEntry) LiveStatus {
	targets, err := dm.TableStatus(lvm.DMName(vg, e.LV.Origin))
	if err != nil || len(targets) == 0 || targets[0].Type != "snapshot-merge" {
		// Delayed: the snapshot still has its own device and allocation.
		s := LiveStatus{State: StateMergePending}
		if own, err := dm.TableStatus(lvm.DMName(vg, e.LV.Name)); err == nil && len(own) > 0 {
			if st := COWStatus(own[0], e.LV.Size); st.State == StateActive {
				s.Allocated, s.CowUsed = st.Allocated, st.CowUsed
			}
		}
		return s
	}
	s, err := lvm.ParseSnapshotStatus(targets[0].Params)
	if err != nil {
		return LiveStatus{State: StateMerging}
	}
	if s.MergeFailed {
		return LiveStatus{State: StateMergeFailed}
	}
	return LiveStatus{
		State:         StateMerging,
		Allocated:     s.Percent(),
		CowUsed:       s.UsedBytes(),
		MergeProgress: s.MergeProgress(),
	}
}

// thinStatus interprets a thin target's status line: mapped sectors against
// the volume's size, as lvs shows Data%.
func thinStatus(t lvm.Target, size, poolChunk uint64) LiveStatus {
	if t.Type != "thin" {
		return LiveStatus{State: StateActive}
	}
	s, err := lvm.ParseThinStatus(t.Params)
	if err != nil {
		return LiveStatus{State: StateActive}
	}
	if s.Fail || s.Error {
		return LiveStatus{State: StateInvalid}
	}
	return LiveStatus{State: StateActive, Allocated: s.Percent(size, poolChunk), CowUsed: s.UsedBytes()}
}

// reportStatus derives the status from the LVM report alone, for hosts where
// device-mapper cannot be read directly.
func reportStatus(e *LVEntry) LiveStatus {
	lv := &e.LV
	state := e.VG.report.SnapshotState(lv)
	pct := lv.SnapPercent
	if e.IsThin() {
		pct = lv.DataPercent
	}
	if state == lvm.SnapshotMerging {
		if o := e.VG.report.LV(lv.VG, lv.Origin); o != nil {
			pct = o.SnapPercent
		}
	}
	s := LiveStatus{State: state.String(), Allocated: pct}
	if pct.Valid {
		s.CowUsed = uint64(float64(lv.Size) * float64(pct.Hundredths) / 10000)
	}
	switch state {
	case lvm.SnapshotMerging:
		s.MergeProgress = pct.Complement()
	case lvm.SnapshotInvalid:
		s.Allocated, s.CowUsed = lvm.Percent{Hundredths: 10000, Valid: true}, lv.Size
	case lvm.SnapshotMergeFailed, lvm.SnapshotInactive:
		s.Allocated, s.CowUsed = lvm.Percent{}, 0
	}
	return s
}

// IsOpen tells whether e's device is open (mounted, held by a process or a
// domain), as lv_device_open: from device-mapper's open count when it can
// be read, so that it is live like the other status; else from the report.
func IsOpen(dm DeviceMapper, e *LVEntry) bool {
	if dm, ok := dm.(DeviceStatuser); ok && HasDevice(e) {
		if st, err := dm.Status(lvm.DMName(e.LV.VG, e.LV.Name)); err == nil {
			return st.OpenCount > 0
		}
	}
	return e.LV.Attr.IsOpen()
}
