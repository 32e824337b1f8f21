package guard

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// The usual case: a COW store of 100 MiB of a 1 GiB origin, 4 KiB chunks, in
// a VG of 4 MiB extents with plenty free, and the default [guard] settings.
const (
	extent  = 4 * mib
	cowMax  = 1082130432 // CowMaxSize(1 GiB, 4 KiB, 4 MiB): 258 extents
	bigFree = 100 * gib
)

func cow(used, size uint64) Store {
	return Store{Used: used, Size: size, OriginSize: gib, ChunkSize: 4 * kib, ExtentSize: extent}
}

func pool(used, size uint64) Store {
	return Store{Used: used, Size: size, ExtentSize: extent}
}

var defaults = Config{ExtendAt: 80, WarnAt: 70, ExtendBy: Size{Percent: 20}, ExtendMax: Size{Percent: 100}}

func with(edit func(*Config)) Config {
	c := defaults
	edit(&c)
	return c
}

// TestDecideOnce is one reading of a store not seen before.
func TestDecideOnce(t *testing.T) {
	vg := VG{Size: 200 * gib, Free: bigFree}
	tests := []struct {
		name  string
		store Store
		vg    VG
		c     Config
		want  Action
	}{
		{"exactly at extend_at", cow(80*mib, 100*mib), vg, defaults, Action{Extend: 20 * mib}},
		{"just below extend_at", cow(80*mib-1, 100*mib), vg, defaults, Action{}},
		{"full", cow(100*mib, 100*mib), vg, defaults, Action{Extend: 20 * mib}},
		{"extend_at 0: off", cow(100*mib, 100*mib), vg, with(func(c *Config) { c.ExtendAt = 0 }), Action{}},
		{"invalid: not extended, no event at first sight", Store{Invalid: true, Size: 100 * mib, OriginSize: gib, ExtentSize: extent}, vg, defaults, Action{}},
		{"size 0: not judged", cow(0, 0), vg, defaults, Action{}},

		// The wanted amount, in whole extents rounded up.
		{"percent rounds up to an extent", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendBy = Size{Percent: 1} }), Action{Extend: 4 * mib}},
		{"21% of 100MiB is 6 extents", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendBy = Size{Percent: 21} }), Action{Extend: 24 * mib}},
		{"bytes round up", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendBy = Size{Bytes: 10 * mib} }), Action{Extend: 12 * mib}},
		{"bytes, whole extents", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendBy = Size{Bytes: 256 * mib} }), Action{Extend: 256 * mib}},
		{"at least one extent", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendBy = Size{Bytes: 512} }), Action{Extend: extent}},
		{"no extent size: sectors", Store{Used: 90, Size: 100, ExtentSize: 0}, vg, with(func(c *Config) { c.ExtendBy = Size{Bytes: 1000} }), Action{Extend: 1024}},

		// The store's maximum.
		{"extend_max bytes cuts the extension", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendMax = Size{Bytes: 110 * mib} }), Action{Extend: 8 * mib}},
		{"at extend_max", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendMax = Size{Bytes: 100 * mib} }), Action{Capped: true}},
		{"less than an extent below extend_max", cow(90*mib, 100*mib), vg, with(func(c *Config) { c.ExtendMax = Size{Bytes: 103 * mib} }), Action{Capped: true}},
		{"COW covers the origin: 100%ORIGIN", cow(cowMax-mib, cowMax), vg, defaults, Action{Capped: true}},
		{"COW covers the origin: bigger extend_max", cow(cowMax-mib, cowMax), vg, with(func(c *Config) { c.ExtendMax = Size{Percent: 200} }), Action{Capped: true}},
		{"COW covers the origin: extend_max bytes", cow(cowMax-mib, cowMax), vg, with(func(c *Config) { c.ExtendMax = Size{Bytes: 10 * gib} }), Action{Capped: true}},
		{"one extent short of covering the origin", cow(cowMax-5*mib, cowMax-extent), vg, defaults, Action{Extend: extent}},
		{"200%ORIGIN: still the COW maximum", cow(900*mib, 1000*mib), vg, with(func(c *Config) { c.ExtendMax = Size{Percent: 200} }), Action{Extend: cowMax - 1000*mib}},
		// lvcreate's 50%ORIGIN: 8 MiB of metadata beyond 1 GiB, plus 512 MiB.
		{"50%ORIGIN", cow(450*mib, 500*mib), vg, with(func(c *Config) { c.ExtendMax = Size{Percent: 50} }), Action{Extend: 20 * mib}},
		{"at 50%ORIGIN", cow(500*mib, 520*mib), vg, with(func(c *Config) { c.ExtendMax = Size{Percent: 50} }), Action{Capped: true}},
		{"pool: a percentage does not limit", pool(9*gib, 10*gib), vg, defaults, Action{Extend: 2 * gib}},
		{"pool: extend_max bytes", pool(9*gib, 10*gib), vg, with(func(c *Config) { c.ExtendMax = Size{Bytes: 11 * gib} }), Action{Extend: gib}},
		{"pool at extend_max", pool(9*gib, 10*gib), vg, with(func(c *Config) { c.ExtendMax = Size{Bytes: 10 * gib} }), Action{Capped: true}},

		// The VG's free space and min_free.
		{"VG free smaller than the extension", cow(90*mib, 100*mib), VG{Size: gib, Free: 10 * mib}, defaults, Action{Extend: 8 * mib}},
		{"VG free less than an extent", cow(90*mib, 100*mib), VG{Size: gib, Free: 3 * mib}, defaults, Action{LowSpace: true}},
		{"VG full", cow(90*mib, 100*mib), VG{Size: gib, Free: 0}, defaults, Action{LowSpace: true}},
		{"min_free bytes: what fits above it", cow(90*mib, 100*mib), VG{Size: gib, Free: 20 * mib}, with(func(c *Config) { c.MinFree = Size{Bytes: 8 * mib} }), Action{Extend: 12 * mib}},
		{"min_free bytes: the whole extension fits", cow(90*mib, 100*mib), VG{Size: gib, Free: 28 * mib}, with(func(c *Config) { c.MinFree = Size{Bytes: 8 * mib} }), Action{Extend: 20 * mib}},
		{"exactly min_free free", cow(90*mib, 100*mib), VG{Size: gib, Free: 8 * mib}, with(func(c *Config) { c.MinFree = Size{Bytes: 8 * mib} }), Action{LowSpace: true}},
		{"below min_free already", cow(90*mib, 100*mib), VG{Size: gib, Free: 4 * mib}, with(func(c *Config) { c.MinFree = Size{Bytes: 8 * mib} }), Action{LowSpace: true}},
		{"less than an extent above min_free", cow(90*mib, 100*mib), VG{Size: gib, Free: 12*mib - 512}, with(func(c *Config) { c.MinFree = Size{Bytes: 8 * mib} }), Action{LowSpace: true}},
		{"min_free percent", cow(90*mib, 100*mib), VG{Size: 1000 * mib, Free: 29 * mib}, with(func(c *Config) { c.MinFree = Size{Percent: 1} }), Action{Extend: 16 * mib}},
		// 1% of 1001 MiB is 10.01 MiB, rounded up to the byte: 10496246 bytes.
		{"min_free percent rounds up: one extent fits", cow(90*mib, 100*mib), VG{Size: 1001 * mib, Free: 10496246 + extent}, with(func(c *Config) { c.MinFree = Size{Percent: 1} }), Action{Extend: extent}},
		{"min_free percent rounds up: a byte short", cow(90*mib, 100*mib), VG{Size: 1001 * mib, Free: 10496245 + extent}, with(func(c *Config) { c.MinFree = Size{Percent: 1} }), Action{LowSpace: true}},
		{"capped rather than low on space", cow(cowMax-mib, cowMax), VG{Size: gib}, defaults, Action{Capped: true}},
		{"no space but below extend_at: nothing", cow(10*mib, 100*mib), VG{Size: gib}, defaults, Action{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st State
			if got := Decide(t0, tt.store, tt.vg, tt.c, &st); got != tt.want {
				t.Errorf("Decide(%+v, %+v) = %+v, want %+v", tt.store, tt.vg, got, tt.want)
			}
		})
	}
}

// step is one reading in a sequence, and what Decide must answer.
type step struct {
	store Store
	vg    VG
	want  Action
}

// TestDecideEvents runs sequences of readings of one store through one
// State: each event comes once per crossing.
func TestDecideEvents(t *testing.T) {
	plenty := VG{Size: 200 * gib, Free: bigFree}
	none := VG{Size: 200 * gib, Free: 0}
	off := with(func(c *Config) { c.ExtendAt = 0 })
	invalid := Store{Invalid: true, OriginSize: gib, ExtentSize: extent}
	tests := []struct {
		name  string
		c     Config
		steps []step
	}{
		{"warn_at crossed up, down and up again", off, []step{
			{cow(50*mib, 100*mib), plenty, Action{}},
			{cow(75*mib, 100*mib), plenty, Action{Filling: true}},
			{cow(78*mib, 100*mib), plenty, Action{}},
			{cow(69*mib, 100*mib), plenty, Action{}},
			{cow(70*mib, 100*mib), plenty, Action{Filling: true}}, // exactly at warn_at
			{cow(71*mib, 100*mib), plenty, Action{}},
		}},
		{"just below warn_at: no event", off, []step{
			{cow(50*mib, 100*mib), plenty, Action{}},
			{cow(70*mib-1, 100*mib), plenty, Action{}},
		}},
		{"first seen above warn_at: no event until it crosses again", off, []step{
			{cow(75*mib, 100*mib), plenty, Action{}},
			{cow(76*mib, 100*mib), plenty, Action{}},
			{cow(60*mib, 100*mib), plenty, Action{}},
			{cow(72*mib, 100*mib), plenty, Action{Filling: true}},
		}},
		{"warn_at 0: no event", with(func(c *Config) { c.WarnAt = 0 }), []step{
			{cow(10*mib, 100*mib), plenty, Action{}},
			{cow(99*mib, 200*mib), plenty, Action{}},
		}},
		{"an extension re-arms the warning", defaults, []step{
			{cow(50*mib, 100*mib), plenty, Action{}},
			{cow(75*mib, 100*mib), plenty, Action{Filling: true}},
			{cow(80*mib, 100*mib), plenty, Action{Extend: 20 * mib}},
			{cow(81*mib, 120*mib), plenty, Action{}}, // 67.5%
			{cow(85*mib, 120*mib), plenty, Action{Filling: true}},
		}},
		{"warning and extension at once", with(func(c *Config) { c.WarnAt = 80 }), []step{
			{cow(50*mib, 100*mib), plenty, Action{}},
			{cow(80*mib, 100*mib), plenty, Action{Filling: true, Extend: 20 * mib}},
		}},
		{"invalid once", defaults, []step{
			{cow(50*mib, 100*mib), plenty, Action{}},
			{invalid, plenty, Action{Invalid: true}},
			{invalid, plenty, Action{}},
			{invalid, plenty, Action{}},
		}},
		{"invalid reported with extension off", off, []step{
			{cow(99*mib, 100*mib), plenty, Action{}},
			{invalid, plenty, Action{Invalid: true}},
		}},
		{"first seen invalid: no event", defaults, []step{
			{invalid, plenty, Action{}},
			{invalid, plenty, Action{}},
		}},
		{"low space once per episode", defaults, []step{
			{cow(90*mib, 100*mib), none, Action{LowSpace: true}},
			{cow(91*mib, 100*mib), none, Action{}},
			{cow(92*mib, 100*mib), VG{Size: 200 * gib, Free: 3 * mib}, Action{}},
			{cow(93*mib, 100*mib), VG{Size: 200 * gib, Free: 8 * mib}, Action{Extend: 8 * mib}},
			{cow(95*mib, 108*mib), none, Action{LowSpace: true}},
		}},
		{"low space re-armed by space coming back, without extending", defaults, []step{
			{cow(90*mib, 100*mib), none, Action{LowSpace: true}},
			{cow(10*mib, 100*mib), plenty, Action{}},
			{cow(90*mib, 100*mib), none, Action{LowSpace: true, Filling: true}},
		}},
		{"low space not re-armed while there is none", defaults, []step{
			{cow(90*mib, 100*mib), none, Action{LowSpace: true}},
			{cow(10*mib, 100*mib), none, Action{}},
			{cow(90*mib, 100*mib), none, Action{Filling: true}},
		}},
		{"capped once until it no longer is", defaults, []step{
			{cow(cowMax-mib, cowMax), plenty, Action{Capped: true}},
			{cow(cowMax-mib, cowMax), plenty, Action{}},
			{cow(mib, cowMax), plenty, Action{}},
			{cow(cowMax-mib, cowMax), plenty, Action{Capped: true, Filling: true}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st State
			for i, s := range tt.steps {
				got := Decide(t0.Add(time.Duration(i)*time.Second), s.store, s.vg, tt.c, &st)
				if got != s.want {
					t.Errorf("reading %d (%+v): %+v, want %+v", i, s.store, got, s.want)
				}
			}
		})
	}
}

func TestMinFreeOK(t *testing.T) {
	tests := []struct {
		vg      VG
		minFree Size
		need    uint64
		want    bool
	}{
		{VG{Size: gib, Free: 100 * mib}, Size{}, 100 * mib, true},
		{VG{Size: gib, Free: 100 * mib}, Size{}, 100*mib + 1, false},
		{VG{Size: gib, Free: 100 * mib}, Size{Bytes: 20 * mib}, 80 * mib, true},
		{VG{Size: gib, Free: 100 * mib}, Size{Bytes: 20 * mib}, 80*mib + 1, false},
		{VG{Size: gib, Free: 20 * mib}, Size{Bytes: 20 * mib}, 0, true}, // exactly min_free free
		{VG{Size: gib, Free: 20 * mib}, Size{Bytes: 20 * mib}, 512, false},
		{VG{Size: gib, Free: 10 * mib}, Size{Bytes: 20 * mib}, 0, false}, // below already
		{VG{Size: 1000 * mib, Free: 100 * mib}, Size{Percent: 5}, 50 * mib, true},
		{VG{Size: 1000 * mib, Free: 100 * mib}, Size{Percent: 5}, 50*mib + 1, false},
		{VG{Size: 1001 * mib, Free: 100 * mib}, Size{Percent: 5}, 50 * mib, false}, // 5% of 1001 MiB rounds up past 50.05 MiB
	}
	for _, tt := range tests {
		if got := MinFreeOK(tt.vg, tt.minFree, tt.need); got != tt.want {
			t.Errorf("MinFreeOK(%+v, %+v, %d) = %v, want %v", tt.vg, tt.minFree, tt.need, got, tt.want)
		}
	}
}
