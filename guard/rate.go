package guard

import "time"

// FillRate is the bytes a second the store has grown over the readings of
// the last minute before now (RateWindow, its edge included): the growth of
// Used from the oldest of them to the newest, over the time between them. It
// is 0 with fewer than two such readings, or when Used did not grow (idle,
// or shrinking: a thin pool after discards, a merging snapshot). Only Used
// counts, so an extension of the store (Size growing) does not change it.
func (st *State) FillRate(now time.Time) float64 {
	var first, last *reading
	at := now.UnixNano()
	for i := range st.readings {
		r := &st.readings[i]
		if at-r.at > int64(RateWindow) || r.at > at {
			continue
		}
		if first == nil {
			first = r
		}
		last = r
	}
	if first == nil || last.at <= first.at || last.used <= first.used {
		return 0
	}
	return float64(last.used-first.used) / time.Duration(last.at-first.at).Seconds()
}

// FullIn is the seconds until store s is full (Used reaches Size) at
// FillRate, or -1 when it is not growing. A store already full is 0.
func (st *State) FullIn(now time.Time, s Store) float64 {
	rate := st.FillRate(now)
	if rate <= 0 {
		return -1
	}
	if s.Used >= s.Size {
		return 0
	}
	return float64(s.Size-s.Used) / rate
}
