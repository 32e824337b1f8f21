package guard

import "time"

// RateWindow is how far back FillRate looks: readings older than this are
// dropped.
const RateWindow = time.Minute

// State is what the guard remembers of one store between readings, so that
// events are edge-triggered and the fill rate can be computed. The zero
// State is a store not seen yet. A State is not safe for concurrent use.
type State struct {
	seen     bool // a reading was judged
	warned   bool // at or above WarnAt at the last valid reading
	invalid  bool // invalid at the last reading
	capped   bool // Capped was reported and still holds
	lowSpace bool // LowSpace was reported and space has not come back
	readings []reading
}

// reading is one sample of a store's use. Its time is in Unix
// nanoseconds: half the size of a time.Time, for the minute of readings
// kept of every store (2,500 of them in a VG of 5,000 LVs).
type reading struct {
	at   int64
	used uint64
}

// record keeps the reading and drops those older than RateWindow before it.
// A reading earlier than the last one (the clock stepped back) starts over.
func (st *State) record(now time.Time, used uint64) {
	at := now.UnixNano()
	if n := len(st.readings); n > 0 && at < st.readings[n-1].at {
		st.readings = st.readings[:0]
	}
	st.readings = append(st.readings, reading{at, used})
	drop := 0
	for drop < len(st.readings) && at-st.readings[drop].at > int64(RateWindow) {
		drop++
	}
	if drop > 0 {
		// Copied down, not resliced: a resliced array would grow to twice
		// the readings of a minute, for every store.
		st.readings = append(st.readings[:0], st.readings[drop:]...)
	}
}
