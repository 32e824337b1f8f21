package fs

import (
	"errors"

	"github.com/snapfs/snapfs/lvm"
)

// Snapshot states, as the state file shows them.
const (
	stateActive       = "active"
	stateInactive     = "inactive"
	stateMerging      = "merging"
	stateMergePending = "merge-pending"
	stateMergeFailed  = "merge-failed"
	stateInvalid      = "invalid"
)

// liveStatus is what a snapshot's files show of its device: read from
// device-mapper when the files are opened, so reading them spawns no process.
type liveStatus struct {
	State         string
	Allocated     lvm.Percent // unset when LVM would show none (inactive)
	CowUsed       uint64      // bytes; meaningful when Allocated is set
	MergeProgress lvm.Percent // set while merging
}

// snapshotStatus reads the live status of snapshot e. dm may be nil (no
// /dev/mapper/control): the report's values are used then.
func snapshotStatus(dm DeviceMapper, e *LVEntry) liveStatus {
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
			return liveStatus{State: stateInactive}
		}
		return cowStatus(targets[0], e.LV.Size)
	}
	if e.IsMerging() {
		// A thin snapshot merges when its origin is next activated.
		return liveStatus{State: stateMergePending}
	}
	targets, err := dm.TableStatus(lvm.DMName(vg, e.LV.Name))
	if err != nil || len(targets) == 0 {
		if err != nil && !errors.Is(err, lvm.ErrNotFound) {
			return reportStatus(e)
		}
		return liveStatus{State: stateInactive}
	}
	chunk := uint64(0)
	if pool := e.Pool(); pool != nil {
		chunk = pool.LV.ChunkSize
	}
	return thinStatus(targets[0], e.LV.Size, chunk)
}

// cowStatus interprets a snapshot target's status line.
func cowStatus(t lvm.Target, cowSize uint64) liveStatus {
	if t.Type != "snapshot" {
		return liveStatus{State: stateActive}
	}
	s, err := lvm.ParseSnapshotStatus(t.Params)
	if err != nil {
		return liveStatus{State: stateActive}
	}
	switch {
	case s.Invalid || s.Overflow:
		return liveStatus{State: stateInvalid, Allocated: lvm.Percent{Hundredths: 10000, Valid: true}, CowUsed: cowSize}
	case s.MergeFailed:
		return liveStatus{State: stateMergeFailed}
	}
	return liveStatus{State: stateActive, Allocated: s.Percent(), CowUsed: s.UsedBytes()}
}

// cowMergeStatus tells merging from merge-pending: while LVM merges, the
// origin's table is a snapshot-merge target whose allocation counts down;
// while the merge is delayed (origin or snapshot open, or origin inactive) it
// is not.
func cowMergeStatus(dm DeviceMapper, vg string, e *LVEntry) liveStatus {
	targets, err := dm.TableStatus(lvm.DMName(vg, e.LV.Origin))
	if err != nil || len(targets) == 0 || targets[0].Type != "snapshot-merge" {
		// Delayed: the snapshot still has its own device and allocation.
		s := liveStatus{State: stateMergePending}
		if own, err := dm.TableStatus(lvm.DMName(vg, e.LV.Name)); err == nil && len(own) > 0 {
			if st := cowStatus(own[0], e.LV.Size); st.State == stateActive {
				s.Allocated, s.CowUsed = st.Allocated, st.CowUsed
			}
		}
		return s
	}
	s, err := lvm.ParseSnapshotStatus(targets[0].Params)
	if err != nil {
		return liveStatus{State: stateMerging}
	}
	if s.MergeFailed {
		return liveStatus{State: stateMergeFailed}
	}
	return liveStatus{
		State:         stateMerging,
		Allocated:     s.Percent(),
		CowUsed:       s.UsedBytes(),
		MergeProgress: s.MergeProgress(),
	}
}

// thinStatus interprets a thin target's status line: mapped sectors against
// the volume's size, as lvs shows Data%.
func thinStatus(t lvm.Target, size, poolChunk uint64) liveStatus {
	if t.Type != "thin" {
		return liveStatus{State: stateActive}
	}
	s, err := lvm.ParseThinStatus(t.Params)
	if err != nil {
		return liveStatus{State: stateActive}
	}
	if s.Fail || s.Error {
		return liveStatus{State: stateInvalid}
	}
	return liveStatus{State: stateActive, Allocated: s.Percent(size, poolChunk), CowUsed: s.UsedBytes()}
}

// reportStatus derives the status from the LVM report alone, for hosts where
// device-mapper cannot be read directly.
func reportStatus(e *LVEntry) liveStatus {
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
	s := liveStatus{State: state.String(), Allocated: pct}
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

// isOpen tells whether e's device is open (mounted, held by a process or a
// domain), as lv_device_open: from device-mapper's open count when it can
// be read, so that it is live like the other status; else from the report.
func isOpen(dm DeviceMapper, e *LVEntry) bool {
	if dm, ok := dm.(deviceStatuser); ok && hasDevice(e) {
		if st, err := dm.Status(lvm.DMName(e.LV.VG, e.LV.Name)); err == nil {
			return st.OpenCount > 0
		}
	}
	return e.LV.Attr.IsOpen()
}
