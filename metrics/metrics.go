// Package metrics renders MOUNT/metrics: every number the status files of
// the tree hold, in the Prometheus text exposition format, so that
// node_exporter's textfile collector or any scraper reads the file as it is.
//
// It is pure like model: it reads the model, device-mapper through model's
// interface and the numbers the guard and the daemon keep, and runs nothing.
// The values are the ones the status files show for the same model and
// device-mapper, because both take them from the same functions of model.
package metrics

import (
	"math"
	"strconv"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// GuardNumbers are the numbers the guard keeps of one COW snapshot, known
// only to it.
type GuardNumbers struct {
	FillRate float64 // bytes a second the COW store has grown over the last minute; 0 when idle
	FullIn   float64 // seconds until the COW store is full at that rate; -1 when not growing
}

// Input is what the metrics file shows.
type Input struct {
	Tree *model.Tree
	// DM reads the snapshots' live status; nil: the report's values, as the
	// status files show them without device-mapper.
	DM model.DeviceMapper
	// Guard returns the guard's numbers of the snapshot with that UUID, and
	// false when it has none (the guard is off, or does not watch it). nil:
	// the guard is off.
	Guard func(uuid string) (GuardNumbers, bool)
	// MinFree returns the bytes the guard keeps free in the VG; nil: 0.
	MinFree func(vg string) uint64
	// Pools returns the use of a thin pool of the VG, and false when it is
	// not known; nil: no thin pool metrics.
	Pools func(vg, pool string) (data, metadata lvm.Percent, ok bool)
	// Held tells whether a snapshot is held (tag snapfs_hold); nil: none is.
	Held     func(e *model.LVEntry) bool
	Counters Counters
}

// Counters are the daemon's counts since it started.
type Counters struct {
	GuardExtensions uint64 // COW stores and thin pools the guard extended
	LVMCommands     uint64 // LVM commands run
	Events          uint64 // events emitted on MOUNT/events
}

// Render renders every metric of in: families sorted by name, each with its
// # HELP and # TYPE lines, samples sorted by their label values. A family
// with no sample is left out; the counters are always there.
func Render(in Input) []byte {
	var s sampleSet
	if in.Tree != nil {
		for _, v := range in.Tree.VGs {
			s.vg(in, v)
			for _, o := range v.Origins {
				s.origin(in, o)
				s.snapshots(in, o)
			}
		}
	}
	s.add(mGuardExtensions, count(in.Counters.GuardExtensions))
	s.add(mLVMCommands, count(in.Counters.LVMCommands))
	s.add(mEvents, count(in.Counters.Events))
	return s.render()
}

// vg adds the numbers of a VG's status, and of its thin pools.
func (s *sampleSet) vg(in Input, v *model.VGEntry) {
	g := v.VG
	l := labels{{"vg", g.Name}}
	s.add(mVGSize, count(g.Size), l...)
	s.add(mVGFree, count(g.Free), l...)
	s.add(mVGExtentSize, count(g.ExtentSize), l...)
	s.add(mVGLVs, count(uint64(g.LVCount)), l...)
	s.add(mVGSnapshots, count(uint64(v.SnapshotCount)), l...)
	minFree := uint64(0)
	if in.MinFree != nil {
		minFree = in.MinFree(g.Name)
	}
	s.add(mVGMinFree, count(minFree), l...)

	if in.Pools == nil || v.Report() == nil {
		return
	}
	for _, lv := range v.Report().LVs {
		if lv.VG != g.Name || !lv.Attr.IsThinPool() {
			continue
		}
		data, meta, ok := in.Pools(g.Name, lv.Name)
		if !ok {
			continue
		}
		pl := labels{{"vg", g.Name}, {"pool", lv.Name}}
		s.addPercent(mPoolData, data, pl...)
		s.addPercent(mPoolMetadata, meta, pl...)
	}
}

// origin adds the numbers of an origin's status.
func (s *sampleSet) origin(in Input, e *model.LVEntry) {
	l := labels{{"vg", e.LV.VG}, {"origin", e.LV.Name}}
	s.add(mOriginSize, count(e.LV.Size), l...)
	s.add(mOriginSnapshots, count(uint64(len(e.Snaps))), l...)
	s.add(mOriginActive, flag(e.LV.Attr.Active()), l...)
	s.add(mOriginOpen, flag(model.IsOpen(in.DM, e)), l...)
	if !e.LV.Time.IsZero() {
		s.add(mOriginCreated, strconv.FormatInt(e.LV.Time.Unix(), 10), l...)
	}
}

// snapshots adds the numbers of the status of every snapshot below e, thin
// snapshots of thin snapshots too.
func (s *sampleSet) snapshots(in Input, e *model.LVEntry) {
	for _, snap := range e.Snaps {
		s.snapshot(in, snap)
		s.snapshots(in, snap)
	}
}

// snapshot adds the numbers of a snapshot's status. A key the status shows
// as "-" has no sample.
func (s *sampleSet) snapshot(in Input, e *model.LVEntry) {
	l := labels{{"vg", e.LV.VG}, {"origin", e.Parent.LV.Name}, {"snapshot", e.LV.Name}}
	st := model.SnapshotStatus(in.DM, e)
	size, cowSize, chunk := model.SnapshotSizes(e)

	s.add(mSnapState, "1", append(l[:len(l):len(l)], label{"state", st.State})...)
	s.add(mSnapActive, flag(model.SnapshotActive(e, st)), l...)
	s.add(mSnapOpen, flag(model.IsOpen(in.DM, e)), l...)
	s.add(mSnapSize, count(size), l...)
	s.add(mSnapCOW, count(cowSize), l...)
	if st.Allocated.Valid {
		s.add(mSnapCOWUsed, count(st.CowUsed), l...)
	}
	s.addPercent(mSnapAllocated, st.Allocated, l...)
	s.add(mSnapChunk, count(chunk), l...)
	if st.State == model.StateMerging {
		s.addPercent(mSnapMergeProgress, st.MergeProgress, l...)
	}
	if !e.LV.Time.IsZero() {
		s.add(mSnapCreated, strconv.FormatInt(e.LV.Time.Unix(), 10), l...)
	}

	// Without the guard's numbers a snapshot is idle, as its status shows it.
	var g GuardNumbers
	if in.Guard != nil {
		if n, ok := in.Guard(e.LV.UUID); ok {
			g = n
		}
	}
	s.add(mSnapFillRate, float(g.FillRate), l...)
	if g.FillRate > 0 && g.FullIn >= 0 && !math.IsInf(g.FullIn, 0) && !math.IsNaN(g.FullIn) {
		s.add(mSnapFullIn, float(g.FullIn), l...)
	}
	s.add(mSnapHeld, flag(in.Held != nil && in.Held(e)), l...)
}
