package retention

import (
	"slices"
	"strings"
	"time"
)

// Keep is the policy: keep = { last, hourly, daily, weekly, monthly } (counts >= 0).
// A negative count counts as zero.
type Keep struct{ Last, Hourly, Daily, Weekly, Monthly int }

// Snapshot is what the policy knows of one snapshot of an origin.
type Snapshot struct {
	Name    string
	Created time.Time // lv_time
	Auto    bool      // tagged snapfs_auto: taken by a schedule
	Held    bool      // tagged snapfs_hold
	InUse   bool      // open, mounted, a disk of a running domain, merging: never removed
}

// period is one calendar rule of the policy: how many of its periods keep a
// snapshot, and which period a UTC time falls in.
type period struct {
	count  int
	bucket func(utc time.Time) [2]int
}

// Prune returns the names of the snapshots the policy removes, oldest first.
//
// Among the Auto snapshots, one is kept while it is one of the keep.Last
// newest, or the newest of its hour among the keep.Hourly newest hours that
// have an Auto snapshot, and likewise for days, ISO weeks (Time.ISOWeek) and
// months, all in UTC; the others are removed. A Held or InUse snapshot is
// never returned, but it takes part in the policy as what it is: one that the
// policy keeps fills a kept slot, and one that it would remove does not make
// another one kept instead. Snapshots that are not Auto are never returned
// and do not count. A Keep whose counts are all zero removes nothing, which
// is what an origin without `keep` means.
//
// Snapshots are ordered by Created; of equal times, the greater name counts
// as the newer, which agrees with the order of the auto-YYYYMMDD-HHMMSS names.
// The order of snaps does not matter.
func Prune(snaps []Snapshot, keep Keep) []string {
	if keep.Last <= 0 && keep.Hourly <= 0 && keep.Daily <= 0 && keep.Weekly <= 0 && keep.Monthly <= 0 {
		return nil
	}
	var auto []Snapshot
	for _, s := range snaps {
		if s.Auto {
			auto = append(auto, s)
		}
	}
	slices.SortFunc(auto, func(a, b Snapshot) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})

	// auto is oldest first; walk it from the newest end.
	kept := make([]bool, len(auto))
	for i := len(auto) - 1; i >= 0 && len(auto)-i <= keep.Last; i-- {
		kept[i] = true
	}
	periods := []period{
		{keep.Hourly, func(t time.Time) [2]int { return [2]int{t.Year(), t.YearDay()*24 + t.Hour()} }},
		{keep.Daily, func(t time.Time) [2]int { return [2]int{t.Year(), t.YearDay()} }},
		{keep.Weekly, func(t time.Time) [2]int { y, w := t.ISOWeek(); return [2]int{y, w} }},
		{keep.Monthly, func(t time.Time) [2]int { return [2]int{t.Year(), int(t.Month())} }},
	}
	for _, p := range periods {
		// The snapshots are in time order, so those of one period are
		// adjacent: the first one met of each period is its newest.
		seen := 0
		var current [2]int
		for i := len(auto) - 1; i >= 0 && seen < p.count; i-- {
			b := p.bucket(auto[i].Created.UTC())
			if seen > 0 && b == current {
				continue
			}
			current = b
			seen++
			kept[i] = true
		}
	}

	var removed []string
	for i, s := range auto {
		if !kept[i] && !s.Held && !s.InUse {
			removed = append(removed, s.Name)
		}
	}
	return removed
}
