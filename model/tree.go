package model

import (
	"fmt"
	"sort"

	"github.com/snapfs/snapfs/lvm"
)

// Fixed file names of each level. They take precedence over LV names: an LV
// named like one of them is left out of the listing, and mkdir of such a name
// is EEXIST.
var (
	// RootFiles are the fixed names of the root: the events and metrics
	// files, and the Xen directory. A VG of such a name is left out.
	RootFiles     = []string{"events", "metrics", "xen"}
	VGFiles       = []string{"status", "status.json"}
	OriginFiles   = []string{"domu", "status", "status.json"}
	SnapshotFiles = []string{"allocated", "ctl", "domu", "origin", "state", "status", "status.json"}
	// ReservedSnapshotNames are the other fixed names of a snapshot
	// directory: its block device (image) and its filesystem (files/), which
	// are not rendered files.
	ReservedSnapshotNames = []string{"files", "image"}
)

// Tree is the pure model of what snapfs shows, built from one LVM report. It
// is never changed after it is built: a refresh builds a new one.
type Tree struct {
	VGs      []*VGEntry // sorted by name
	vgByName map[string]*VGEntry
	lvByUUID map[string]*LVEntry
	// Hidden lists LVs left out because their name is a fixed file name, as
	// "vg/lv" strings, for one warning each.
	Hidden []string
}

// VGEntry is a volume group directory.
type VGEntry struct {
	VG      lvm.VG
	Origins []*LVEntry // the LVs shown at the VG level, sorted by name
	// lvByName holds every LV of the VG in the report, hidden ones too, so
	// that a name LVM would refuse as taken is known to be taken.
	lvByName map[string]*LVEntry
	// SnapshotCount is the number of snapshots shown anywhere under the VG.
	SnapshotCount int
	// report is the report the model was built from, for the states that
	// only it can tell when device-mapper cannot be read.
	report *lvm.Report
}

// LVEntry is a logical volume: an origin directory, or a snapshot directory.
type LVEntry struct {
	LV     lvm.LV
	VG     *VGEntry
	Parent *LVEntry   // the origin this snapshot is shown under; nil at the VG level
	Snaps  []*LVEntry // snapshots shown under this LV, sorted by name
}

// IsSnapshot tells whether the LV is shown as a snapshot directory.
func (e *LVEntry) IsSnapshot() bool { return e.Parent != nil }

// IsThin tells whether the LV is a thin volume (so its snapshots are thin
// snapshots, taken without a size, and can be snapshotted again).
// A thin volume that is the origin of a COW snapshot shows as an origin in
// lv_attr, so the target type decides.
func (e *LVEntry) IsThin() bool { return e.LV.Attr.IsThin() && !e.LV.Attr.IsCOWSnapshot() }

// IsMerging tells whether LVM has been asked to merge this snapshot.
func (e *LVEntry) IsMerging() bool {
	return e.IsSnapshot() && (e.LV.Merging || e.LV.Attr.IsMergingSnapshot())
}

// Child returns the snapshot shown under e with that name.
func (e *LVEntry) Child(name string) *LVEntry {
	i := sort.Search(len(e.Snaps), func(i int) bool { return e.Snaps[i].LV.Name >= name })
	if i < len(e.Snaps) && e.Snaps[i].LV.Name == name {
		return e.Snaps[i]
	}
	return nil
}

// FileNames are the fixed file names of this LV's directory.
func (e *LVEntry) FileNames() []string {
	if e.IsSnapshot() {
		return SnapshotFiles
	}
	return OriginFiles
}

// Pool returns the thin pool of a thin volume, or nil.
func (e *LVEntry) Pool() *LVEntry {
	if e.LV.PoolLV == "" {
		return nil
	}
	return e.VG.lvByName[e.LV.PoolLV]
}

// LockedHere tells whether this host may change LV e or use its device. In
// a local VG it always may. In a VG shared by several hosts through
// lvmlockd it may only where the LV whose lock covers e is active: a COW
// snapshot's origin (LVM locks a snapshot with its origin), a thin
// volume's pool, else e itself. An LV active on another host shows as
// inactive here, and so does one active on no host: which of the two it is
// only the lock manager knows, and asking it means taking the lock, that
// is, activating the LV here. LVM itself does not stop lvremove, lvrename
// or lvconvert --merge of a snapshot whose origin another host has active
// (lvm 2.03.16, testdata/lvm/errors/shared-*), so snapfs must.
func (e *LVEntry) LockedHere() bool {
	if e.VG == nil || !e.VG.VG.Shared() {
		return true
	}
	return e.LockHolder().LV.Attr.Active()
}

// LockHolder is the LV whose lvmlockd lock covers e in a shared VG: a COW
// snapshot's origin, a thin volume's pool, else e itself.
func (e *LVEntry) LockHolder() *LVEntry {
	switch {
	case e.LV.Attr.IsCOWSnapshot() && e.Parent != nil:
		return e.Parent
	case e.LV.PoolLV != "":
		if p := e.Pool(); p != nil {
			return p
		}
	}
	return e
}

// VG returns the volume group with that name, or nil.
func (t *Tree) VG(name string) *VGEntry { return t.vgByName[name] }

// LV returns the LV shown in the tree with that UUID, or nil.
func (t *Tree) LV(uuid string) *LVEntry { return t.lvByUUID[uuid] }

// Origin returns the LV shown at the VG level with that name, or nil.
func (v *VGEntry) Origin(name string) *LVEntry {
	i := sort.Search(len(v.Origins), func(i int) bool { return v.Origins[i].LV.Name >= name })
	if i < len(v.Origins) && v.Origins[i].LV.Name == name {
		return v.Origins[i]
	}
	return nil
}

// LVByName returns the LV of the VG with that name, shown or not, or nil.
func (v *VGEntry) LVByName(name string) *LVEntry { return v.lvByName[name] }

// Report is the LVM report the model of the VG was built from.
func (v *VGEntry) Report() *lvm.Report { return v.report }

// Pools returns the VG's thin pools, sorted by name: they are not shown in
// the tree, but the guard watches them and the VG's status shows their use.
func (v *VGEntry) Pools() []*LVEntry {
	var pools []*LVEntry
	for _, e := range v.lvByName {
		if e.LV.SegType == "thin-pool" || (e.LV.SegType == "" && e.LV.Attr.VolumeType == 't') {
			pools = append(pools, e)
		}
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].LV.Name < pools[j].LV.Name })
	return pools
}

// HasLV tells whether the VG has an LV of that name, shown or not.
func (v *VGEntry) HasLV(name string) bool { _, ok := v.lvByName[name]; return ok }

// IsFixedName tells whether name is one of the fixed names of a level.
func IsFixedName(name string, names ...[]string) bool {
	for _, list := range names {
		for _, n := range list {
			if n == name {
				return true
			}
		}
	}
	return false
}

// shownAsSnapshot tells whether an LV is shown under its origin: a COW
// snapshot (merging ones too, which lvs -a shows as [name]), or a thin volume
// with an origin.
func shownAsSnapshot(lv *lvm.LV) bool {
	k := lv.Kind()
	return lv.Origin != "" && (k == lvm.KindCOWSnapshot || k == lvm.KindThinSnapshot)
}

// shownAsOrigin tells whether an LV is shown at the VG level: every visible
// LV that is not a snapshot, not a thin pool and not internal.
func shownAsOrigin(lv *lvm.LV) bool { return lv.Kind() == lvm.KindVolume }

// BuildTree builds the model from a report. vgs, when not empty, limits the
// tree to those volume groups.
func BuildTree(r *lvm.Report, vgs []string) *Tree {
	t := &Tree{vgByName: map[string]*VGEntry{}, lvByUUID: map[string]*LVEntry{}}
	want := map[string]bool{}
	for _, name := range vgs {
		want[name] = true
	}
	for _, vg := range r.VGs {
		if len(want) > 0 && !want[vg.Name] {
			continue
		}
		if _, dup := t.vgByName[vg.Name]; dup {
			continue
		}
		if IsFixedName(vg.Name, RootFiles) {
			t.Hidden = append(t.Hidden, vg.Name)
			continue
		}
		v := &VGEntry{VG: vg, lvByName: map[string]*LVEntry{}, report: r}
		t.vgByName[vg.Name] = v
		t.VGs = append(t.VGs, v)
	}
	sort.Slice(t.VGs, func(i, j int) bool { return t.VGs[i].VG.Name < t.VGs[j].VG.Name })

	for i := range r.LVs {
		lv := r.LVs[i]
		v := t.vgByName[lv.VG]
		if v == nil {
			continue
		}
		if _, dup := v.lvByName[lv.Name]; dup {
			continue
		}
		v.lvByName[lv.Name] = &LVEntry{LV: lv, VG: v}
	}

	for _, v := range t.VGs {
		// Place snapshots under their origins, and origins at the VG level.
		names := make([]string, 0, len(v.lvByName))
		for name := range v.lvByName {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			e := v.lvByName[name]
			switch {
			case shownAsSnapshot(&e.LV):
				parent := v.lvByName[e.LV.Origin]
				if parent == nil {
					continue
				}
				e.Parent = parent
				parent.Snaps = append(parent.Snaps, e)
			case shownAsOrigin(&e.LV):
				v.Origins = append(v.Origins, e)
			}
		}
		// A thin snapshot whose origin is itself not shown (a hidden or
		// internal LV) would hang nowhere: it cannot happen with LVM's rules,
		// but the walk below only reaches what hangs from a shown origin.
		kept := v.Origins[:0]
		for _, o := range v.Origins {
			if IsFixedName(o.LV.Name, VGFiles) {
				t.Hidden = append(t.Hidden, v.VG.Name+"/"+o.LV.Name)
				continue
			}
			kept = append(kept, o)
			t.adopt(o, &v.SnapshotCount)
		}
		v.Origins = kept
	}
	return t
}

// adopt registers e and the snapshots below it, leaving out those named like
// a fixed file of the directory they would appear in.
func (t *Tree) adopt(e *LVEntry, count *int) {
	t.lvByUUID[e.LV.UUID] = e
	files := e.FileNames()
	kept := e.Snaps[:0]
	for _, s := range e.Snaps {
		if IsFixedName(s.LV.Name, files, ReservedFor(e)) {
			t.Hidden = append(t.Hidden, s.VG.VG.Name+"/"+s.LV.Name)
			continue
		}
		kept = append(kept, s)
		*count++
		t.adopt(s, count)
	}
	e.Snaps = kept
}

// ReservedFor returns the names reserved in e's directory besides its files.
func ReservedFor(e *LVEntry) []string {
	if e.IsSnapshot() {
		return ReservedSnapshotNames
	}
	return nil
}

// String is the LV's path in the tree, "vg/origin/snapshot", for logs.
func (e *LVEntry) String() string {
	if e.Parent == nil {
		return fmt.Sprintf("%s/%s", e.LV.VG, e.LV.Name)
	}
	return e.Parent.String() + "/" + e.LV.Name
}
