package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// Catching up: when the change stamp says LVM changed something, the model
// is brought up to date from what LVM wrote, without a report, if what
// changed is COW snapshots taken or removed and LVs' tags, nothing else. The metadata
// backup of each VG, read just after the last report (with the report's
// seqno, so the two agree), is the baseline: the backups now must differ
// from it in whole snapshots only (a snapshot's COW LV and the hidden
// snapshotN LV that ties it to its origin), every other LV's section and
// the VG's own (its PVs, extent size, flags) byte for byte the same. The
// new snapshots are described from device-mapper and the backup, as after
// snapfs's own mkdir (AddCreated), and /dev/mapper must then hold a device
// for exactly the LVs the model calls active, which catches activation and
// renames made without a metadata change. Anything else, or any doubt, and
// LVM is read as before. A caught-up model counts as read from LVM: each
// backup is a whole dump of the VG's metadata, so it also shows any earlier
// change made with backups off, and what a change without a backup does to
// the devices shows in /dev/mapper; a change that touches neither is what
// TrustAge bounds, from here as from a report.

// baseline is what the model was built from besides the report.
type baseline struct {
	backups map[string]*lvm.Backup // by VG name
}

// errCatchUp is wrapped by every reason catchUpReport gives up.
var errCatchUp = errors.New("not only COW snapshots taken or removed")

// readBaseline reads the metadata backups of the VGs of report r, or
// returns nil when any is missing or is not of the metadata r shows.
func (s *Store) readBaseline(r *lvm.Report) *baseline {
	b := &baseline{backups: map[string]*lvm.Backup{}}
	for _, vg := range r.VGs {
		if vg.Seqno == 0 {
			return nil
		}
		bk, err := s.opts.ReadBackup(s.opts.BackupDir, vg.Name)
		if err != nil || bk.Seqno != vg.Seqno || !sameLVs(r, vg.Name, bk) {
			return nil
		}
		b.backups[vg.Name] = bk
	}
	return b
}

// sameLVs tells whether report r shows exactly the LVs of backup b in VG
// vg: every section but the snapshotN ones, which no report shows.
func sameLVs(r *lvm.Report, vg string, b *lvm.Backup) bool {
	n := 0
	for i := range r.LVs {
		if lv := &r.LVs[i]; lv.VG == vg {
			if bl := b.LVs[lv.UUID]; bl == nil || bl.Name != lv.Name || bl.Origin != "" {
				return false
			}
			n++
		}
	}
	for _, bl := range b.LVs {
		if bl.Origin == "" {
			n--
		}
	}
	return n == 0
}

// catchUp returns the model brought up to date without a report, or nil.
// The caller holds refreshMu and has taken stamp just before, with the
// seqnos it read from the PVs of the VGs of old (pvSeqnos).
func (s *Store) catchUp(old *model.Tree, stamp string, seqnos map[string]int) *model.Tree {
	base := s.base
	if base == nil || old == nil || len(old.VGs) == 0 || len(base.backups) != len(old.VGs) {
		return nil
	}
	start := s.now()
	now := map[string]*lvm.Backup{}
	for name := range base.backups {
		b, err := s.opts.ReadBackup(s.opts.BackupDir, name)
		if err != nil {
			s.log.Debug("reading LVM: no metadata backup to catch up from", "vg", name, "err", err)
			return nil
		}
		now[name] = b
		// Another host's change to a shared VG is on its PVs, not in
		// this host's backup; so is a change made here with backups off.
		if v := old.VG(name); v != nil {
			seqno, ok := seqnos[name]
			if (ok || v.VG.Shared()) && seqno != b.Seqno {
				s.log.Debug("reading LVM: the VG's metadata is not what its backup here says", "vg", name, "seqno", seqno, "backup", b.Seqno)
				return nil
			}
		}
	}
	next, err := catchUpReport(old.VGs[0].Report(), base.backups, now, s.describeCreated)
	if err == nil {
		var names []string
		if names, err = s.opts.MapperNames(); err == nil {
			err = mapperMatches(next, names)
		}
	}
	if err != nil {
		s.log.Debug("reading LVM: the model cannot catch up", "reason", err)
		return nil
	}
	t := model.BuildTree(next, s.opts.VGs)
	s.base = &baseline{backups: now}
	s.replace(t, start, stamp)
	s.log.Debug("model caught up from the metadata backups", "took", s.since(start))
	return t
}

// vgSetUnchanged tells whether the VGs to show are still those of the
// baseline: those configured, or, when none are, those with a metadata
// backup (vgcreate and vgremove add and remove one). The caller holds
// refreshMu.
func (s *Store) vgSetUnchanged() bool {
	if s.base == nil {
		return false
	}
	want := s.opts.VGs
	if len(want) == 0 {
		var err error
		if want, err = s.opts.BackupNames(s.opts.BackupDir); err != nil {
			return false
		}
	}
	if len(want) != len(s.base.backups) {
		return false
	}
	for _, name := range want {
		if s.base.backups[name] == nil {
			return false
		}
	}
	return true
}

// describeFunc describes the new COW snapshot cow of origin in vg, from
// device-mapper and backup b.
type describeFunc func(vg string, origin *lvm.LV, cow string, b *lvm.Backup) (lvm.LV, error)

// catchUpReport returns report r with the COW snapshots added and removed
// between the backups base and now, or an error wrapping errCatchUp when
// they differ in anything else. r may have some of the changes already
// (snapfs's own mkdir and rmdir update it).
func catchUpReport(r *lvm.Report, base, now map[string]*lvm.Backup, describe describeFunc) (*lvm.Report, error) {
	next := r
	for name, b0 := range base {
		b1 := now[name]
		if b1 == nil || b1.VG != b0.VG {
			return nil, fmt.Errorf("VG %s: no backup: %w", name, errCatchUp)
		}
		if b1.Seqno == b0.Seqno {
			continue
		}
		if b1.Header != b0.Header {
			return nil, fmt.Errorf("VG %s: its own metadata changed: %w", name, errCatchUp)
		}
		retagged := map[string][]string{} // by UUID
		for uuid, lv1 := range b1.LVs {
			lv0 := b0.LVs[uuid]
			switch {
			case lv0 != nil && lv0.Text != lv1.Text:
				tags, ok := tagsChanged(lv0.Text, lv1.Text)
				if !ok {
					return nil, fmt.Errorf("LV %s/%s changed: %w", name, lv1.Name, errCatchUp)
				}
				retagged[uuid] = tags
			case lv0 == nil && !snapshotPart(b1, lv1):
				return nil, fmt.Errorf("LV %s/%s is new and no COW snapshot: %w", name, lv1.Name, errCatchUp)
			}
		}
		if len(retagged) > 0 {
			var err error
			if next, err = reportRetagged(next, name, retagged); err != nil {
				return nil, err
			}
		}
		for uuid, lv0 := range b0.LVs {
			if b1.LVs[uuid] == nil && !snapshotPart(b0, lv0) {
				return nil, fmt.Errorf("LV %s/%s is gone and was no COW snapshot: %w", name, lv0.Name, errCatchUp)
			}
		}
		// Apply: first the removals, so that a name freed and taken
		// again describes the new LV.
		for uuid, lv0 := range b0.LVs {
			if b1.LVs[uuid] != nil || lv0.Origin != "" {
				continue
			}
			if n, ok := reportWithout(next, name, uuid); ok {
				next = n
			}
		}
		for uuid, lv1 := range b1.LVs {
			if b0.LVs[uuid] != nil || lv1.Origin != "" || reportHas(next, uuid) {
				continue
			}
			link := b1.SnapshotLink(lv1.Name)
			origin := reportLV(next, name, link.Origin)
			if origin == nil {
				return nil, fmt.Errorf("snapshot %s/%s: origin %s not in the model: %w", name, lv1.Name, link.Origin, errCatchUp)
			}
			lv, err := describe(name, origin, lv1.Name, b1)
			if err != nil {
				return nil, fmt.Errorf("snapshot %s/%s: %v: %w", name, lv1.Name, err, errCatchUp)
			}
			next = reportWith(next, lv)
		}
		if !sameLVs(next, name, b1) {
			return nil, fmt.Errorf("VG %s: the model does not show the backup's LVs: %w", name, errCatchUp)
		}
	}
	return next, nil
}

// reportRetagged returns r with the LVs of vg in tags (by UUID) given
// those tags, or an error when r lacks one of them.
func reportRetagged(r *lvm.Report, vg string, tags map[string][]string) (*lvm.Report, error) {
	next := &lvm.Report{VGs: r.VGs, LVs: append([]lvm.LV(nil), r.LVs...)}
	found := 0
	for i := range next.LVs {
		if lv := &next.LVs[i]; lv.VG == vg {
			if t, ok := tags[lv.UUID]; ok {
				lv.Tags = t
				found++
			}
		}
	}
	if found != len(tags) {
		return nil, fmt.Errorf("VG %s: an LV whose tags changed is not in the model: %w", vg, errCatchUp)
	}
	return next, nil
}

// tagsChanged tells whether an LV's metadata section went from text t0 to
// t1 by its tags alone (lvchange --addtag or --deltag), and returns its
// tags then as a report gives them (sorted; nil for none).
func tagsChanged(t0, t1 string) ([]string, bool) {
	rest0, _, ok0 := withoutTags(t0)
	rest1, tags, ok1 := withoutTags(t1)
	if !ok0 || !ok1 || rest0 != rest1 {
		return nil, false
	}
	return tags, true
}

// withoutTags returns an LV's metadata section without the line of its
// tags, and those tags, sorted. The LV's own tags line (tags = ["a", "b"],
// as LVM writes it) comes before its first segment; a segment's is left
// in the text. ok is false for a line of tags it cannot read.
func withoutTags(text string) (rest string, tags []string, ok bool) {
	lines := strings.SplitAfter(text, "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if i > 0 && strings.HasSuffix(trimmed, "{") {
			break // the first segment
		}
		list, found := strings.CutPrefix(trimmed, "tags = [")
		if !found {
			continue
		}
		list, found = strings.CutSuffix(list, "]")
		if !found {
			return "", nil, false
		}
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if len(item) < 3 || item[0] != '"' || item[len(item)-1] != '"' || strings.ContainsAny(item[1:len(item)-1], `"\`) {
				return "", nil, false
			}
			tags = append(tags, item[1:len(item)-1])
		}
		slices.Sort(tags)
		return strings.Join(lines[:i], "") + strings.Join(lines[i+1:], ""), tags, true
	}
	return text, nil, true
}

// snapshotPart tells whether lv is a COW snapshot's LV in backup b: the COW
// store, which a snapshotN LV of b names, or that snapshotN LV.
func snapshotPart(b *lvm.Backup, lv *lvm.BackupLV) bool {
	if lv.Origin != "" {
		return lv.COWStore != "" && b.ByName(lv.COWStore) != nil && b.ByName(lv.Origin) != nil
	}
	return b.SnapshotLink(lv.Name) != nil
}

func reportHas(r *lvm.Report, uuid string) bool {
	return slices.ContainsFunc(r.LVs, func(lv lvm.LV) bool { return lv.UUID == uuid })
}

func reportLV(r *lvm.Report, vg, name string) *lvm.LV {
	for i := range r.LVs {
		if lv := &r.LVs[i]; lv.VG == vg && lv.Name == name {
			return lv
		}
	}
	return nil
}

// reportWith returns r with the new COW snapshot lv, as a report would
// show it: the VG has its extents less and counts one more LV and
// snapshot, and its origin is an origin.
func reportWith(r *lvm.Report, lv lvm.LV) *lvm.Report {
	next := &lvm.Report{VGs: append([]lvm.VG(nil), r.VGs...), LVs: append(append(make([]lvm.LV, 0, len(r.LVs)+1), r.LVs...), lv)}
	for i := range next.VGs {
		if g := &next.VGs[i]; g.Name == lv.VG {
			g.Free -= min(g.Free, lv.Size)
			g.LVCount++
			g.SnapCount++
		}
	}
	for i := range next.LVs {
		if o := &next.LVs[i]; o.VG == lv.VG && o.Name == lv.Origin && o.Attr.VolumeType != 'o' {
			// The first snapshot makes a plain volume an origin.
			o.Attr.VolumeType, o.Attr.TargetType = 'o', 's'
			o.Role = append(withoutOriginRoles(o.Role), "origin", "thickorigin", "multithickorigin")
		}
	}
	return next
}

// reportWithout returns r without the LV uuid of vg, as a report would show
// it: the VG gets its extents back and counts one LV (and one snapshot)
// less, and an origin left without snapshots is a plain volume again. ok
// is false when r does not have it.
func reportWithout(r *lvm.Report, vg, uuid string) (next *lvm.Report, ok bool) {
	next = &lvm.Report{VGs: append([]lvm.VG(nil), r.VGs...), LVs: make([]lvm.LV, 0, len(r.LVs))}
	var gone *lvm.LV
	for i := range r.LVs {
		if r.LVs[i].UUID == uuid && r.LVs[i].VG == vg {
			gone = &r.LVs[i]
			continue
		}
		next.LVs = append(next.LVs, r.LVs[i])
	}
	if gone == nil {
		return r, false
	}
	cow := gone.Attr.IsCOWSnapshot()
	for i := range next.VGs {
		g := &next.VGs[i]
		if g.Name != vg {
			continue
		}
		if cow {
			// A COW store has extents of its own; a thin volume's are
			// the pool's.
			g.Free += gone.Size
			g.SnapCount--
		}
		if !gone.Hidden {
			g.LVCount--
		}
	}
	if cow {
		others := false
		for i := range next.LVs {
			lv := &next.LVs[i]
			others = others || (lv.VG == vg && lv.Origin == gone.Origin && lv.Attr.IsCOWSnapshot())
		}
		for i := range next.LVs {
			lv := &next.LVs[i]
			if !others && lv.VG == vg && lv.Name == gone.Origin && lv.Attr.VolumeType == 'o' {
				lv.Attr.VolumeType, lv.Attr.TargetType = '-', '-'
				lv.Role = withoutOriginRoles(lv.Role)
			}
		}
	}
	return next, true
}

// mapperMatches tells whether the device names (of /dev/mapper) are those of
// the active LVs of report r, in r's VGs: a device VG-LV for each, and no
// other without a layer suffix (-real, -cow, -tpool: LVM's devices under
// an LV).
func mapperMatches(r *lvm.Report, names []string) error {
	want := map[string]bool{}
	for i := range r.LVs {
		if lv := &r.LVs[i]; lv.Attr.Active() {
			want[lvm.DMName(lv.VG, lv.Name)] = true
		}
	}
	for _, vg := range r.VGs {
		prefix := lvm.DMName(vg.Name, "") // the escaped VG name and its '-'
		for _, n := range names {
			rest, ok := strings.CutPrefix(n, prefix)
			// A '-' right after is an escaped one: another VG's name.
			if !ok || rest == "" || rest[0] == '-' || hasLayer(rest) {
				continue
			}
			if !want[n] {
				return fmt.Errorf("device %s is not an active LV of the model: %w", n, errCatchUp)
			}
			delete(want, n)
		}
	}
	for n := range want {
		return fmt.Errorf("no device %s of an active LV of the model: %w", n, errCatchUp)
	}
	return nil
}

// hasLayer tells whether the LV part of a device-mapper name ends in a
// layer suffix: a single '-' (an LV name's own are doubled).
func hasLayer(lvPart string) bool {
	for i := 0; i < len(lvPart); i++ {
		if lvPart[i] != '-' {
			continue
		}
		if i+1 < len(lvPart) && lvPart[i+1] == '-' {
			i++
			continue
		}
		return true
	}
	return false
}

// withoutOriginRoles drops the roles of a COW origin from an LV's lv_role.
func withoutOriginRoles(roles []string) []string {
	var kept []string
	for _, r := range roles {
		switch r {
		case "origin", "thickorigin", "multithickorigin":
		default:
			kept = append(kept, r)
		}
	}
	return kept
}
