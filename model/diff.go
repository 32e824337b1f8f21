package model

import "sort"

// The kinds of Change, named as their events.
const (
	ChangeCreated      = "created"
	ChangeRemoved      = "removed"
	ChangeRenamed      = "renamed"
	ChangeMergeStarted = "merge-started"
	ChangeMerged       = "merged"
)

// Change is a difference between two models that an event tells of: a
// snapshot that appeared, went, was renamed, began to merge, or was merged
// (LVM removed it after the merge).
type Change struct {
	Kind string
	UUID string
	VG   string
	Name string // the snapshot's LV name: the new one for a rename
	Path string // its path in the tree, "vg/origin/snapshot": the new one for a rename
	// OldName and OldPath are the snapshot's name and path before a rename.
	OldName, OldPath string
}

// Diff lists the changes to snapshots between two models, sorted by path.
// A snapshot that went while it was merging was merged; one that went
// otherwise was removed. A snapshot whose name stays while its origin is
// renamed is not a change of its own.
func Diff(old, cur *Tree) []Change {
	var out []Change
	if old == nil || cur == nil {
		return nil
	}
	for uuid, e := range cur.lvByUUID {
		if !e.IsSnapshot() {
			continue
		}
		was := old.lvByUUID[uuid]
		switch {
		case was == nil || !was.IsSnapshot():
			out = append(out, change(ChangeCreated, e))
			if e.IsMerging() {
				out = append(out, change(ChangeMergeStarted, e))
			}
		case was.LV.Name != e.LV.Name:
			c := change(ChangeRenamed, e)
			c.OldName, c.OldPath = was.LV.Name, was.String()
			out = append(out, c)
		case e.IsMerging() && !was.IsMerging():
			out = append(out, change(ChangeMergeStarted, e))
		}
	}
	for uuid, was := range old.lvByUUID {
		if !was.IsSnapshot() {
			continue
		}
		if e := cur.lvByUUID[uuid]; e != nil && e.IsSnapshot() {
			continue
		}
		if was.IsMerging() {
			out = append(out, change(ChangeMerged, was))
		} else {
			out = append(out, change(ChangeRemoved, was))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func change(kind string, e *LVEntry) Change {
	return Change{Kind: kind, UUID: e.LV.UUID, VG: e.LV.VG, Name: e.LV.Name, Path: e.String()}
}
