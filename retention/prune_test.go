package retention

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// at parses an RFC 3339 time of a test table.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// auto is a scheduled snapshot taken at the RFC 3339 time created, named
// after it as the schedule would.
func auto(created string) Snapshot {
	t := at(created)
	return Snapshot{Name: Name(t), Created: t, Auto: true}
}

// names lists the schedule's names of RFC 3339 times.
func names(times ...string) []string {
	var out []string
	for _, s := range times {
		out = append(out, Name(at(s)))
	}
	return out
}

func held(s Snapshot) Snapshot   { s.Held = true; return s }
func inUse(s Snapshot) Snapshot  { s.InUse = true; return s }
func manual(s Snapshot) Snapshot { s.Auto = false; s.Name = "manual-" + s.Name; return s }

func TestPrune(t *testing.T) {
	tests := []struct {
		name  string
		snaps []Snapshot
		keep  Keep
		want  []string
	}{
		{"last keeps the newest",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T12:00:00Z"), auto("2026-03-01T13:00:00Z"), auto("2026-03-01T14:00:00Z")},
			Keep{Last: 2},
			names("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z")},
		{"last above the count removes nothing",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z")},
			Keep{Last: 5}, nil},
		{"hourly keeps the newest of each hour",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T10:15:00Z"), auto("2026-03-01T10:30:00Z"), auto("2026-03-01T10:45:00Z"),
				auto("2026-03-01T11:00:00Z"), auto("2026-03-01T11:15:00Z"), auto("2026-03-01T11:30:00Z")},
			Keep{Hourly: 2},
			names("2026-03-01T10:00:00Z", "2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z", "2026-03-01T11:00:00Z", "2026-03-01T11:15:00Z")},
		{"hourly of one keeps only the newest",
			[]Snapshot{auto("2026-03-01T10:45:00Z"), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T11:30:00Z")},
			Keep{Hourly: 1},
			names("2026-03-01T10:45:00Z", "2026-03-01T11:00:00Z")},
		{"hours without a snapshot do not count",
			[]Snapshot{auto("2026-03-01T08:30:00Z"), auto("2026-03-01T09:10:00Z"), auto("2026-03-01T12:20:00Z"), auto("2026-03-01T12:40:00Z")},
			Keep{Hourly: 3},
			names("2026-03-01T12:20:00Z")},
		{"hours are told apart across days",
			[]Snapshot{auto("2026-03-01T10:30:00Z"), auto("2026-03-02T10:10:00Z"), auto("2026-03-02T10:20:00Z")},
			Keep{Hourly: 2},
			names("2026-03-02T10:10:00Z")},
		{"daily across midnight UTC",
			[]Snapshot{auto("2026-03-01T12:00:00Z"), auto("2026-03-01T23:50:00Z"), auto("2026-03-02T00:10:00Z"), auto("2026-03-02T00:20:00Z")},
			Keep{Daily: 2},
			names("2026-03-01T12:00:00Z", "2026-03-02T00:10:00Z")},
		{"days are UTC days, whatever the zone of Created",
			// Both are 2 March at +02:00, but 1 and 2 March in UTC.
			[]Snapshot{auto("2026-03-02T01:30:00+02:00"), auto("2026-03-02T02:30:00+02:00"), auto("2026-02-28T12:00:00Z")},
			Keep{Daily: 2},
			names("2026-02-28T12:00:00Z")},
		{"weekly across ISO week 53 and a new year",
			// 2026-12-27 is a Sunday of week 52; 2026-12-28 and 2027-01-03 are
			// in week 53 of 2026; 2027-01-04 begins week 1 of 2027.
			[]Snapshot{auto("2026-12-27T12:00:00Z"), auto("2026-12-28T12:00:00Z"), auto("2027-01-03T12:00:00Z"), auto("2027-01-04T12:00:00Z")},
			Keep{Weekly: 2},
			names("2026-12-27T12:00:00Z", "2026-12-28T12:00:00Z")},
		{"weekly of three reaches week 52",
			[]Snapshot{auto("2026-12-20T12:00:00Z"), auto("2026-12-27T12:00:00Z"), auto("2026-12-28T12:00:00Z"), auto("2027-01-03T12:00:00Z"), auto("2027-01-04T12:00:00Z")},
			Keep{Weekly: 3},
			names("2026-12-20T12:00:00Z", "2026-12-28T12:00:00Z")},
		{"weekly with ISO week 1 starting in December",
			// 2024-12-30 is Monday of week 1 of 2025, like 2025-01-01;
			// 2024-12-29 is Sunday of week 52 of 2024.
			[]Snapshot{auto("2024-12-29T12:00:00Z"), auto("2024-12-30T12:00:00Z"), auto("2025-01-01T12:00:00Z")},
			Keep{Weekly: 2},
			names("2024-12-30T12:00:00Z")},
		{"weekly splits Sunday from Monday in UTC",
			[]Snapshot{auto("2026-03-08T23:59:59Z"), auto("2026-03-09T00:00:00Z"), auto("2026-03-09T00:00:01Z")},
			Keep{Weekly: 2},
			names("2026-03-09T00:00:00Z")},
		{"monthly across the end of a 30-day month",
			[]Snapshot{auto("2026-04-30T23:00:00Z"), auto("2026-05-01T00:30:00Z"), auto("2026-05-31T12:00:00Z"), auto("2026-06-01T00:00:00Z")},
			Keep{Monthly: 2},
			names("2026-04-30T23:00:00Z", "2026-05-01T00:30:00Z")},
		{"monthly across the end of a 31-day month",
			[]Snapshot{auto("2026-03-30T12:00:00Z"), auto("2026-03-31T23:59:59Z"), auto("2026-04-01T00:00:00Z")},
			Keep{Monthly: 2},
			names("2026-03-30T12:00:00Z")},
		{"monthly across February in a common year",
			[]Snapshot{auto("2026-01-31T23:59:00Z"), auto("2026-02-01T00:00:00Z"), auto("2026-02-28T23:59:00Z"), auto("2026-03-01T00:00:00Z")},
			Keep{Monthly: 3},
			names("2026-02-01T00:00:00Z")},
		{"monthly across February in a leap year",
			[]Snapshot{auto("2024-02-01T00:00:00Z"), auto("2024-02-29T12:00:00Z"), auto("2024-03-01T00:00:00Z")},
			Keep{Monthly: 2},
			names("2024-02-01T00:00:00Z")},
		{"months are told apart across years",
			[]Snapshot{auto("2025-03-15T00:00:00Z"), auto("2026-02-15T00:00:00Z"), auto("2026-03-15T00:00:00Z")},
			Keep{Monthly: 3}, nil},
		{"the same month of adjacent years is two months",
			[]Snapshot{auto("2025-03-01T00:00:00Z"), auto("2025-03-15T00:00:00Z"), auto("2026-03-10T00:00:00Z")},
			Keep{Monthly: 2},
			names("2025-03-01T00:00:00Z")},
		{"the same week of adjacent years is two weeks",
			// 2025-03-12 and 2026-03-11 are both in ISO week 11.
			[]Snapshot{auto("2025-03-11T00:00:00Z"), auto("2025-03-12T00:00:00Z"), auto("2026-03-11T00:00:00Z")},
			Keep{Weekly: 2},
			names("2025-03-11T00:00:00Z")},
		{"the same day of adjacent years is two days",
			[]Snapshot{auto("2025-03-11T08:00:00Z"), auto("2025-03-11T09:00:00Z"), auto("2026-03-11T08:00:00Z")},
			Keep{Daily: 2},
			names("2025-03-11T08:00:00Z")},
		{"equal times are ordered by name",
			[]Snapshot{
				{Name: "b", Created: at("2026-03-01T10:00:00Z"), Auto: true},
				{Name: "c", Created: at("2026-03-01T10:00:00Z"), Auto: true},
				{Name: "a", Created: at("2026-03-01T10:00:00Z"), Auto: true},
			},
			Keep{Last: 1, Hourly: 1}, []string{"a", "b"}},
		{"a held snapshot is kept and not returned",
			[]Snapshot{held(auto("2026-03-01T10:00:00Z")), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T12:00:00Z")},
			Keep{Last: 1},
			names("2026-03-01T11:00:00Z")},
		{"a held snapshot fills its kept slot",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T12:00:00Z"), held(auto("2026-03-01T13:00:00Z"))},
			Keep{Last: 2},
			names("2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z")},
		{"a held snapshot the policy removes keeps no other",
			[]Snapshot{held(auto("2026-03-01T10:00:00Z")), auto("2026-03-01T10:30:00Z"), auto("2026-03-01T11:00:00Z")},
			Keep{Hourly: 1},
			names("2026-03-01T10:30:00Z")},
		{"a snapshot in use is kept and not returned",
			[]Snapshot{inUse(auto("2026-03-01T10:00:00Z")), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T12:00:00Z")},
			Keep{Last: 1},
			names("2026-03-01T11:00:00Z")},
		{"a snapshot in use fills its kept slot",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z"), inUse(auto("2026-03-01T12:00:00Z"))},
			Keep{Last: 2},
			names("2026-03-01T10:00:00Z")},
		{"snapshots not taken by a schedule do not count",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T12:00:00Z"), manual(auto("2026-03-01T13:00:00Z"))},
			Keep{Last: 2, Hourly: 2},
			names("2026-03-01T10:00:00Z")},
		{"snapshots not taken by a schedule are never removed",
			[]Snapshot{manual(auto("2026-03-01T09:00:00Z")), manual(auto("2026-03-01T10:00:00Z")), auto("2026-03-01T11:00:00Z")},
			Keep{Last: 1}, nil},
		{"a zero policy removes nothing",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z"), auto("2026-03-01T12:00:00Z")},
			Keep{}, nil},
		{"negative counts are zero",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T11:00:00Z")},
			Keep{Last: -1, Hourly: -1, Daily: -1, Weekly: -1, Monthly: -1}, nil},
		{"negative last beside a positive count keeps none by last",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T10:30:00Z")},
			Keep{Last: -3, Hourly: 1},
			names("2026-03-01T10:00:00Z")},
		{"no snapshots",
			nil, Keep{Last: 3}, nil},
		{"kept by one rule and not another",
			[]Snapshot{auto("2026-03-01T10:00:00Z"), auto("2026-03-01T20:00:00Z"), auto("2026-03-02T08:00:00Z"), auto("2026-03-02T09:00:00Z")},
			Keep{Last: 1, Daily: 2},
			names("2026-03-01T10:00:00Z", "2026-03-02T08:00:00Z")},
		{"every rule together",
			[]Snapshot{
				auto("2026-01-10T08:00:00Z"), // newest of January: monthly
				auto("2026-01-05T08:00:00Z"), // older in January
				auto("2026-02-20T08:00:00Z"), // week 8: beyond the 2 weeks
				auto("2026-02-23T08:00:00Z"), // week 9, newest of February: weekly and monthly
				auto("2026-03-02T07:00:00Z"), // week 10, a day before: daily
				auto("2026-03-03T05:00:00Z"), // hour 05: hourly
				auto("2026-03-03T06:10:00Z"), // older in hour 06
				auto("2026-03-03T06:50:00Z"), // newest of hour 06: hourly
				auto("2026-03-03T07:00:00Z"), // last
				auto("2026-03-03T07:30:00Z"), // last
			},
			Keep{Last: 2, Hourly: 3, Daily: 2, Weekly: 2, Monthly: 3},
			names("2026-01-05T08:00:00Z", "2026-02-20T08:00:00Z", "2026-03-03T06:10:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The order of the input must not matter: try it as given,
			// reversed and rotated.
			for i, snaps := range orders(tt.snaps) {
				got := Prune(snaps, tt.keep)
				if !slices.Equal(got, tt.want) {
					t.Errorf("order %d: Prune(%+v) = %q, want %q", i, tt.keep, got, tt.want)
				}
			}
		})
	}
}

// orders returns snaps as given, reversed, and rotated by one.
func orders(snaps []Snapshot) [][]Snapshot {
	reversed := slices.Clone(snaps)
	slices.Reverse(reversed)
	rotated := slices.Clone(snaps)
	if len(rotated) > 1 {
		rotated = append(rotated[1:], rotated[0])
	}
	return [][]Snapshot{snaps, reversed, rotated}
}

// TestPruneSchedule prunes three days of a 15-minute schedule with the
// policy of the SPEC's example, and checks what is left against a count made
// by hand.
func TestPruneSchedule(t *testing.T) {
	start := at("2026-03-01T00:00:00Z")
	var snaps []Snapshot
	for i := range 3 * 24 * 4 {
		c := start.Add(time.Duration(i) * 15 * time.Minute)
		snaps = append(snaps, Snapshot{Name: Name(c), Created: c, Auto: true})
	}
	removed := Prune(snaps, Keep{Last: 4, Hourly: 24, Daily: 7})

	// Kept: the 4 of the last hour, the newest of each other hour of
	// 3 March (23), and the newest of 1 and 2 March (2).
	if got, want := len(snaps)-len(removed), 4+23+2; got != want {
		t.Errorf("kept %d, want %d", got, want)
	}
	if !slices.IsSorted(removed) {
		t.Errorf("removed not oldest first: %q", removed)
	}
	for _, c := range []string{"2026-03-01T23:45:00Z", "2026-03-02T23:45:00Z", "2026-03-03T00:45:00Z", "2026-03-03T23:00:00Z", "2026-03-03T23:15:00Z"} {
		if slices.Contains(removed, Name(at(c))) {
			t.Errorf("%s removed, want it kept", c)
		}
	}
	for _, c := range []string{"2026-03-01T00:00:00Z", "2026-03-02T23:30:00Z", "2026-03-03T00:30:00Z", "2026-03-03T22:30:00Z"} {
		if !slices.Contains(removed, Name(at(c))) {
			t.Errorf("%s kept, want it removed", c)
		}
	}
}

func ExamplePrune() {
	snaps := []Snapshot{
		{Name: "auto-20260301-101500", Created: at("2026-03-01T10:15:00Z"), Auto: true},
		{Name: "auto-20260301-103000", Created: at("2026-03-01T10:30:00Z"), Auto: true},
		{Name: "auto-20260301-104500", Created: at("2026-03-01T10:45:00Z"), Auto: true, Held: true},
		{Name: "auto-20260301-110000", Created: at("2026-03-01T11:00:00Z"), Auto: true},
		{Name: "before-upgrade", Created: at("2026-03-01T09:00:00Z")},
	}
	fmt.Println(Prune(snaps, Keep{Last: 1}))
	// Output: [auto-20260301-101500 auto-20260301-103000]
}
