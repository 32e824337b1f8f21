package retention

import (
	"math/bits"
	"time"
)

// Slot returns the start of the schedule slot now falls in, in UTC. Slots are
// aligned to the clock: a slot starts where Unix time is a multiple of every,
// so a 15m schedule has slots at :00, :15, :30 and :45 UTC (and a 90m one at
// 00:00, 01:30, 03:00 UTC; a 7-day one on Thursdays 00:00 UTC, as the Unix
// epoch was), and two hosts or two restarts agree. An every that is not
// positive is no schedule: Slot returns now unchanged.
func Slot(now time.Time, every time.Duration) time.Time {
	if every <= 0 {
		return now
	}
	// The offset into the slot is (Unix nanoseconds) mod every, computed on
	// 128 bits so that no date overflows, and floored before 1970.
	e := uint64(every)
	sec, nsec := now.Unix(), uint64(now.Nanosecond())
	var offset uint64
	if sec >= 0 {
		hi, lo := bits.Mul64(uint64(sec), 1e9)
		lo, carry := bits.Add64(lo, nsec, 0)
		offset = bits.Rem64(hi+carry, lo, e)
	} else {
		// -(sec*1e9 + nsec) = (-sec)*1e9 - nsec, positive since nsec < 1e9.
		hi, lo := bits.Mul64(uint64(-sec), 1e9)
		lo, borrow := bits.Sub64(lo, nsec, 0)
		if r := bits.Rem64(hi-borrow, lo, e); r != 0 {
			offset = e - r
		}
	}
	return now.Add(-time.Duration(offset)).UTC()
}

// Due reports whether a scheduled snapshot is to be taken now: when the newest
// Auto snapshot, taken at lastAuto (zero when there is none), is older than
// the start of the slot now falls in. Each slot thus gets at most one, and a
// schedule missed while snapfs was stopped is caught up with one snapshot,
// not one per missed slot.
//
// A lastAuto after now (a snapshot made before the clock was set back) counts
// like any other: none is due until the slot after the one lastAuto falls in
// has begun. That keeps one snapshot per slot and never takes a burst; the
// price is a gap in the schedule as long as the clock went back.
//
// An every that is not positive is no schedule: nothing is ever due.
func Due(now time.Time, every time.Duration, lastAuto time.Time) bool {
	if every <= 0 {
		return false
	}
	return lastAuto.IsZero() || lastAuto.Before(Slot(now, every))
}

// Name is the scheduled snapshot's name for time t: "auto-YYYYMMDD-HHMMSS"
// in UTC, every field zero-padded, so that the names sort by time.
func Name(t time.Time) string {
	return t.UTC().Format("auto-20060102-150405")
}
