package guard

import (
	"math"
	"math/bits"
	"time"
)

// Store is what the guard reads of one COW snapshot, or of one thin pool's
// data or metadata, at one moment.
type Store struct {
	// Used and Size are the bytes in use and the bytes of the store: the COW
	// store's allocation (metadata included, as the kernel counts it) and
	// its LV's size; or a pool's data or metadata device.
	Used, Size uint64
	Invalid    bool // the snapshot overflowed (or the pool failed)
	// OriginSize is, for a COW snapshot, the origin's size in bytes: the
	// base of extend_max and, with ChunkSize, of CowMaxSize. It is 0 for a
	// thin pool, which is how Decide tells the two apart.
	OriginSize uint64
	// ChunkSize is a COW snapshot's chunk size in bytes (lvs -o
	// chunk_size); 0 is taken as DefaultChunkSize.
	ChunkSize uint64
	// ExtentSize is the VG's extent size: an extension is a whole number of
	// extents. 0 is taken as 512 (one sector).
	ExtentSize uint64
}

// VG is what the guard reads of the volume group, in bytes.
type VG struct{ Size, Free uint64 }

// Action is the guard's decision for one reading. Each event flag is
// edge-triggered: it is set on one reading, not again until its condition
// has ended and come back.
type Action struct {
	Extend   uint64 // bytes to add now (a whole number of extents), 0 for none
	Filling  bool   // crossed WarnAt upward since the last reading (event "filling")
	Invalid  bool   // became invalid since the last reading (event "invalid")
	LowSpace bool   // wanted to extend but not one extent fits above MinFree (event "low-space")
	Capped   bool   // wanted to extend but the store is at its maximum already (log it; no event)
}

// Decide returns what to do about store s now, given its VG and settings,
// and updates st, which must be the same State at every reading of the
// store (the zero State for a store not seen before).
//
// Events. Filling is set when use reaches WarnAt (Used*100 >= WarnAt*Size)
// at a reading after one below it; the warning re-arms once a reading is
// below WarnAt again (after an extension, say), so each crossing warns once.
// Invalid is set at the first invalid reading after a valid one. The first
// reading of a store only arms both: a store first seen above WarnAt, or
// already invalid (snapfs restarted, or the LV appeared so), gives no event,
// so that a restart does not repeat old news; the status files show it.
// An invalid store is not extended, and its reading changes nothing else.
// A store of Size 0 is not judged.
//
// Extension. When ExtendAt > 0 and use reaches it (Used*100 >=
// ExtendAt*Size, exactly at ExtendAt included), the guard wants ExtendBy:
// a percentage of Size rounded up, or bytes; at least one extent, rounded
// up to whole extents (as lvextend -l +N%LV rounds up). Then:
//
//   - It caps the store at its maximum: ExtendMax in bytes; for a COW
//     snapshot also never beyond CowMaxSize, and ExtendMax as a percentage
//     is what lvcreate makes of N%ORIGIN (tools/lvcreate.c, PERCENT_ORIGIN:
//     CowMaxSize less the origin, plus N percent of the origin rounded up to
//     extents), so that 100%ORIGIN is exactly CowMaxSize, a store that can
//     never overflow. For a thin pool a percentage does not limit. The
//     maximum is rounded down to whole extents above Size; when not one
//     extent is left, the action is Capped and nothing is extended.
//   - It keeps MinFree free in the VG: MinFree in bytes, or a percentage of
//     the VG's size rounded up. When the VG has less than one extent free
//     above MinFree (exactly MinFree free included, or less), the action is
//     LowSpace and nothing is extended.
//   - Otherwise it extends by what fits: the wanted amount, cut down to the
//     maximum and to the VG's free space above MinFree, in whole extents. A
//     partial extension is worth it (the store lives longer, the next
//     reading wants more) and it is not LowSpace: the next reading that
//     finds no extent free says so.
//
// Capped and LowSpace are edge-triggered too: reported at the first reading
// that wants an extension and cannot; Capped again only after a reading
// that was not capped; LowSpace again only after space came back, i.e. a
// reading found at least one extent free above MinFree (whether or not it
// wanted to extend).
//
// Decide knows nothing of an extension in flight: the caller must not ask
// again about a store until its lvextend has finished and Size is read anew.
func Decide(now time.Time, s Store, vg VG, c Config, st *State) Action {
	var a Action
	first := !st.seen
	st.seen = true
	if s.Invalid {
		a.Invalid = !st.invalid && !first
		st.invalid = true
		return a
	}
	st.invalid = false
	if s.Size == 0 {
		return a
	}
	st.record(now, s.Used)

	if c.WarnAt > 0 {
		above := atLeastPercent(s.Used, s.Size, c.WarnAt)
		a.Filling = above && !st.warned && !first
		st.warned = above
	} else {
		st.warned = false
	}

	extent := s.ExtentSize
	if extent == 0 {
		extent = 512
	}
	room := roundDown(spaceAbove(vg, c.MinFree), extent)
	if room > 0 {
		st.lowSpace = false
	}
	if c.ExtendAt <= 0 || !atLeastPercent(s.Used, s.Size, c.ExtendAt) {
		st.capped = false
		return a
	}

	want := roundUp(max(c.ExtendBy.Of(s.Size), 1), extent)
	limit := maxSize(s, c, extent)
	headroom := uint64(0)
	if limit > s.Size {
		headroom = roundDown(limit-s.Size, extent)
	}
	if headroom == 0 {
		a.Capped = !st.capped
		st.capped = true
		return a
	}
	st.capped = false
	if room == 0 {
		a.LowSpace = !st.lowSpace
		st.lowSpace = true
		return a
	}
	a.Extend = min(want, headroom, room)
	return a
}

// maxSize is the largest the guard makes store s under c (see Decide), or
// the largest uint64 when nothing limits it.
func maxSize(s Store, c Config, extent uint64) uint64 {
	limit := uint64(math.MaxUint64)
	if c.ExtendMax.Percent <= 0 && c.ExtendMax.Bytes > 0 {
		limit = c.ExtendMax.Bytes
	}
	if s.OriginSize == 0 {
		return limit
	}
	cowMax := CowMaxSize(s.OriginSize, s.ChunkSize, extent)
	if c.ExtendMax.Percent > 0 {
		var overhead uint64
		if origin := roundUp(s.OriginSize, extent); cowMax > origin {
			overhead = cowMax - origin
		}
		limit = satAdd(overhead, roundUp(percentOf(s.OriginSize, c.ExtendMax.Percent), extent))
	}
	return min(limit, cowMax)
}

// MinFreeOK tells whether taking need bytes from the VG leaves at least
// MinFree free (MinFree's percentage of the VG's size rounded up); mkdir
// checks it to refuse with ENOSPC. A VG with exactly MinFree free takes
// nothing more; need 0 is OK as long as the VG is not below MinFree already.
func MinFreeOK(vg VG, minFree Size, need uint64) bool {
	return need <= vg.Free && vg.Free-need >= minFree.Of(vg.Size)
}

// spaceAbove is the VG's free space above minFree, 0 when it has no more.
func spaceAbove(vg VG, minFree Size) uint64 {
	if reserve := minFree.Of(vg.Size); vg.Free > reserve {
		return vg.Free - reserve
	}
	return 0
}

// atLeastPercent tells whether used is at least pct percent of size,
// computed in 128 bits: used*100 >= pct*size.
func atLeastPercent(used, size uint64, pct int) bool {
	if pct <= 0 {
		return true
	}
	uh, ul := bits.Mul64(used, 100)
	sh, sl := bits.Mul64(size, uint64(pct))
	return uh > sh || (uh == sh && ul >= sl)
}

// satAdd is a+b, saturating at the largest uint64.
func satAdd(a, b uint64) uint64 {
	if s, carry := bits.Add64(a, b, 0); carry == 0 {
		return s
	}
	return math.MaxUint64
}
