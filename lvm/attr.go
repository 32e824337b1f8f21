package lvm

import "fmt"

// ParseAttr parses an lv_attr string. LVM prints ten characters; a free-space
// pseudo LV has an empty one. The letters (lvs(8), and lib/metadata/lv.c:
// lv_attr_dup_with_info_and_seg_status, which decides them in this order):
//
//  1. volume type: p pvmove, c under conversion, o origin of COW snapshots,
//     O origin with a merging snapshot (COW or thin), e pool or raid
//     metadata and pool metadata spare, C cache or writecache, g integrity,
//     r/R raid (R: not synced), m/M mirror, V thin volume (thin snapshots
//     too), S merging thin snapshot, d VDO pool, D VDO pool data, v virtual
//     (error, zero, VDO), t thin pool, T thin pool data, i/I mirror or raid
//     image (I: out of sync), l mirror log, s COW snapshot, S merging COW
//     snapshot, o cache origin, - anything else: linear and striped.
//  2. permissions: w writable, r read-only, R read-only activation, - pvmove.
//  3. allocation policy: a anywhere, c contiguous, i inherited, l cling,
//     n normal; capital while locked (pvmove).
//  4. m fixed minor.
//  5. state: a active, s suspended, I invalid snapshot, S invalid suspended
//     snapshot, m snapshot merge failed, M suspended snapshot merge failed,
//     d device present without tables, i device present with inactive
//     table, c/C thin pool or cache check needed, h historical, X unknown,
//     - inactive.
//  6. o device open, X unknown.
//  7. target type: C cache, m mirror, r raid, s snapshot (COW snapshots and
//     their origins), t thin, u unknown, v virtual.
//  8. z newly allocated blocks are zeroed.
//  9. health: p partial, r refresh needed, m mismatches, w writemostly,
//     s reshaping, R remove after reshape, F failed, D out of data space,
//     M metadata read-only, E error, X unknown.
//  10. k skip activation.
func ParseAttr(s string) (Attr, error) {
	if s == "" {
		return Attr{}, nil
	}
	if len(s) != 10 {
		return Attr{}, fmt.Errorf("lv_attr %q: want 10 characters", s)
	}
	return Attr{
		VolumeType:  s[0],
		Permissions: s[1],
		Allocation:  s[2],
		Minor:       s[3],
		State:       s[4],
		Open:        s[5],
		TargetType:  s[6],
		Zero:        s[7],
		Health:      s[8],
		Skip:        s[9],
	}, nil
}

// String returns the attribute string LVM printed.
func (a Attr) String() string {
	if a == (Attr{}) {
		return ""
	}
	return string([]byte{a.VolumeType, a.Permissions, a.Allocation, a.Minor,
		a.State, a.Open, a.TargetType, a.Zero, a.Health, a.Skip})
}

// IsCOWSnapshot reports an old-style (copy-on-write) snapshot, merging or
// not: s, or S on a snapshot target. A merging thin snapshot is also S, but
// on a thin target.
func (a Attr) IsCOWSnapshot() bool {
	return a.VolumeType == 's' || a.VolumeType == 'S' && a.TargetType != 't'
}

// IsMergingSnapshot reports a snapshot, COW or thin, that is being merged
// into its origin or will be at the origin's next activation.
func (a Attr) IsMergingSnapshot() bool { return a.VolumeType == 'S' }

// IsMergingOrigin reports an origin into which a snapshot is being merged.
func (a Attr) IsMergingOrigin() bool { return a.VolumeType == 'O' }

// IsOrigin reports an LV that has COW snapshots, or that a snapshot is
// merging into.
func (a Attr) IsOrigin() bool { return a.VolumeType == 'o' || a.VolumeType == 'O' }

// IsThinPool reports a thin pool.
func (a Attr) IsThinPool() bool { return a.VolumeType == 't' }

// IsThinVolume reports a thin volume, thin snapshots included (a merging
// thin snapshot too), but not a thin volume that is the origin of COW
// snapshots: LVM shows that one as an origin (o) with target type t.
func (a Attr) IsThinVolume() bool {
	return a.VolumeType == 'V' || a.VolumeType == 'S' && a.TargetType == 't'
}

// IsThin reports an LV on a thin target: thin pools and thin volumes,
// whatever their first letter.
func (a Attr) IsThin() bool { return a.TargetType == 't' }

// IsInternal reports an LV that only exists as part of another: pool and
// raid metadata (e), thin pool data (T), VDO pool data (D), mirror and raid
// images (i, I), mirror logs (l) and pvmove LVs (p). LVM hides them (they
// are [bracketed] in lvs -a), but a split raid image can be visible.
func (a Attr) IsInternal() bool {
	switch a.VolumeType {
	case 'e', 'T', 'D', 'i', 'I', 'l', 'p':
		return true
	}
	return false
}

// Active reports that the LV has a live device-mapper table: state a, or a
// state that only an active snapshot or pool has.
func (a Attr) Active() bool {
	switch a.State {
	case 'a', 's', 'I', 'S', 'm', 'M', 'c', 'C':
		return true
	}
	return false
}

// Suspended reports a suspended device.
func (a Attr) Suspended() bool {
	switch a.State {
	case 's', 'S', 'M', 'C':
		return true
	}
	return false
}

// IsOpen reports that the LV's device is open.
func (a Attr) IsOpen() bool { return a.Open == 'o' }

// SnapshotInvalid reports a COW snapshot the kernel dropped, because its
// store overflowed or failed: state I or S on a snapshot.
func (a Attr) SnapshotInvalid() bool {
	return a.TargetType == 's' && (a.State == 'I' || a.State == 'S')
}

// MergeFailed reports a snapshot whose merge failed: state m or M.
func (a Attr) MergeFailed() bool { return a.State == 'm' || a.State == 'M' }

// SkipActivation reports the k flag: LVM activates the LV only when asked
// with -K (thin snapshots are created with it).
func (a Attr) SkipActivation() bool { return a.Skip == 'k' }

// Kind is what an LV is to snapfs: something that can be snapshotted, a
// snapshot, a thin pool or a part of another LV.
type Kind int

// The kinds of LV.
const (
	// KindVolume is an LV that can be snapshotted: linear, striped, raid,
	// mirror, cache, integrity, VDO and thin volumes, and origins.
	KindVolume Kind = iota
	// KindCOWSnapshot is an old-style snapshot, merging or not.
	KindCOWSnapshot
	// KindThinSnapshot is a thin volume with an origin. It is a volume in
	// its own right too: it can be snapshotted.
	KindThinSnapshot
	// KindThinPool is a thin pool.
	KindThinPool
	// KindInternal is a hidden part of another LV: metadata, pool data,
	// images, logs, a virtual origin, pvmove.
	KindInternal
)

func (k Kind) String() string {
	switch k {
	case KindVolume:
		return "volume"
	case KindCOWSnapshot:
		return "cow-snapshot"
	case KindThinSnapshot:
		return "thin-snapshot"
	case KindThinPool:
		return "thin-pool"
	case KindInternal:
		return "internal"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Kind tells what the LV is. A merging snapshot (COW or thin) is hidden
// but is a snapshot; every other hidden LV is internal.
func (lv *LV) Kind() Kind {
	switch {
	case lv.Attr.IsCOWSnapshot():
		return KindCOWSnapshot
	case lv.Attr.IsThinPool():
		return KindThinPool
	case lv.Attr.IsThin() && lv.Origin != "":
		// A thin snapshot that has COW snapshots itself shows as an
		// origin (o), still on a thin target; a merging one is S and
		// hidden.
		return KindThinSnapshot
	case lv.Hidden || lv.Attr.IsInternal() || hasRole(lv.Role, "private"):
		return KindInternal
	}
	return KindVolume
}

// IsSnapshot reports a COW or thin snapshot.
func (lv *LV) IsSnapshot() bool {
	k := lv.Kind()
	return k == KindCOWSnapshot || k == KindThinSnapshot
}

func hasRole(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}
