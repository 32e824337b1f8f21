package guard

import (
	"testing"
	"time"
)

// feed runs one reading a second through Decide (extension off, so that
// only the readings count), used(i) bytes at t0+i s for i in [from, to].
func feed(st *State, from, to int, size func(i int) uint64, used func(i int) uint64) {
	c := with(func(c *Config) { c.ExtendAt, c.WarnAt = 0, 0 })
	for i := from; i <= to; i++ {
		Decide(t0.Add(time.Duration(i)*time.Second), cow(used(i), size(i)), VG{Size: 200 * gib, Free: bigFree}, c, st)
	}
}

func fixed(n uint64) func(int) uint64 { return func(int) uint64 { return n } }

func TestFillRate(t *testing.T) {
	const rate = 2 << 20 // bytes a second, an untyped constant
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name     string
		readings func(*State)
		now      int // seconds after t0
		store    Store
		rate     float64
		fullIn   float64
	}{
		{"steady 2MiB/s over 90s", func(st *State) {
			feed(st, 0, 90, fixed(gib), func(i int) uint64 { return uint64(i) * rate })
		}, 90, cow(180*mib, 200*mib), rate, 10},
		{"older than a minute ignored", func(st *State) {
			// 10 MiB/s for the first 30 s, then 2 MiB/s: only the last
			// minute counts, from the reading at 30 s on (the edge included).
			feed(st, 0, 90, fixed(gib), func(i int) uint64 {
				if i <= 30 {
					return uint64(i) * 10 * mib
				}
				return 300*mib + uint64(i-30)*rate
			})
		}, 90, cow(420*mib, 500*mib), rate, 40},
		{"an extension in between", func(st *State) {
			feed(st, 0, 90, func(i int) uint64 {
				if i < 45 {
					return 100 * mib
				}
				return 120 * mib
			}, func(i int) uint64 { return uint64(i) * rate })
		}, 90, cow(180*mib, 220*mib), rate, 20},
		{"a reading exactly a minute old counts", func(st *State) {
			c := with(func(c *Config) { c.ExtendAt = 0 })
			for _, r := range []struct{ s, used int }{{30, 0}, {60, 90}, {90, 120}} {
				Decide(at(r.s), cow(uint64(r.used)*mib, gib), VG{Size: 200 * gib, Free: bigFree}, c, st)
			}
		}, 90, cow(120*mib, 200*mib), rate, 40},
		{"idle", func(st *State) { feed(st, 0, 90, fixed(gib), fixed(5*mib)) }, 90, cow(5*mib, gib), 0, -1},
		{"shrinking", func(st *State) {
			feed(st, 0, 90, fixed(gib), func(i int) uint64 { return 500*mib - uint64(i)*mib })
		}, 90, cow(410*mib, gib), 0, -1},
		{"one reading", func(st *State) { feed(st, 0, 0, fixed(gib), fixed(5*mib)) }, 0, cow(5*mib, gib), 0, -1},
		{"no reading", func(*State) {}, 0, cow(5*mib, gib), 0, -1},
		{"readings all older than a minute", func(st *State) {
			feed(st, 0, 10, fixed(gib), func(i int) uint64 { return uint64(i) * rate })
		}, 100, cow(20*mib, gib), 0, -1},
		{"asked between readings", func(st *State) {
			feed(st, 0, 90, fixed(gib), func(i int) uint64 { return uint64(i) * rate })
		}, 120, cow(180*mib, 200*mib), rate, 10}, // readings 60..90 s: still 2 MiB/s
		{"full already", func(st *State) {
			feed(st, 0, 10, fixed(gib), func(i int) uint64 { return uint64(i) * rate })
		}, 10, cow(gib, gib), rate, 0},
		{"invalid readings do not count", func(st *State) {
			feed(st, 0, 10, fixed(gib), func(i int) uint64 { return uint64(i) * rate })
			Decide(at(11), Store{Invalid: true}, VG{}, defaults, st)
		}, 11, cow(20*mib, gib), rate, float64(gib-20*mib) / rate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st State
			tt.readings(&st)
			if got := st.FillRate(at(tt.now)); got != tt.rate {
				t.Errorf("FillRate = %v, want %v", got, tt.rate)
			}
			if got := st.FullIn(at(tt.now), tt.store); got != tt.fullIn {
				t.Errorf("FullIn = %v, want %v", got, tt.fullIn)
			}
		})
	}
}

// TestReadingsKept checks that a State keeps only the readings of the last
// minute, however long the store is watched.
func TestReadingsKept(t *testing.T) {
	var st State
	feed(&st, 0, 600, fixed(gib), fixed(0))
	if n := len(st.readings); n != 61 {
		t.Errorf("%d readings kept after 600 s at one a second, want 61 (the last minute, both ends)", n)
	}
	if first := time.Unix(0, st.readings[0].at); !first.Equal(t0.Add(540 * time.Second)) {
		t.Errorf("oldest reading kept is from %v", first.Sub(t0))
	}
	// The clock stepped back: start over rather than compute a negative rate.
	feed(&st, 0, 0, fixed(gib), fixed(0))
	if n := len(st.readings); n != 1 {
		t.Errorf("%d readings kept after the clock stepped back, want 1", n)
	}
}
