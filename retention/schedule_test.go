package retention

import (
	"slices"
	"testing"
	"time"
)

func TestSlot(t *testing.T) {
	tests := []struct {
		name  string
		now   string
		every time.Duration
		want  string
	}{
		{"15m at :00", "2026-03-01T12:00:00Z", 15 * time.Minute, "2026-03-01T12:00:00Z"},
		{"15m within :00", "2026-03-01T12:07:33.5Z", 15 * time.Minute, "2026-03-01T12:00:00Z"},
		{"15m just before :15", "2026-03-01T12:14:59.999999999Z", 15 * time.Minute, "2026-03-01T12:00:00Z"},
		{"15m at :15", "2026-03-01T12:15:00Z", 15 * time.Minute, "2026-03-01T12:15:00Z"},
		{"15m at :30", "2026-03-01T12:44:00Z", 15 * time.Minute, "2026-03-01T12:30:00Z"},
		{"15m at :45", "2026-03-01T12:59:59Z", 15 * time.Minute, "2026-03-01T12:45:00Z"},
		{"1h in a zone half an hour off UTC", "2026-03-01T10:10:00+05:30", time.Hour, "2026-03-01T04:00:00Z"},
		{"90m from midnight UTC", "2026-03-01T02:00:00Z", 90 * time.Minute, "2026-03-01T01:30:00Z"},
		{"1d at midnight UTC", "2026-03-01T23:59:59+01:00", 24 * time.Hour, "2026-03-01T00:00:00Z"},
		{"7d on Thursday, as the epoch", "2026-03-03T12:00:00Z", 7 * 24 * time.Hour, "2026-02-26T00:00:00Z"},
		{"before 1970", "1969-12-31T23:50:00Z", 15 * time.Minute, "1969-12-31T23:45:00Z"},
		{"before 1970 at a slot", "1969-12-31T23:45:00Z", 15 * time.Minute, "1969-12-31T23:45:00Z"},
		{"before 1970 within a second", "1969-12-31T23:59:59.5Z", time.Second, "1969-12-31T23:59:59Z"},
		{"sub-second interval", "2026-03-01T12:00:00.7Z", 250 * time.Millisecond, "2026-03-01T12:00:00.5Z"},
		{"far future", "9999-12-31T23:59:59Z", time.Hour, "9999-12-31T23:00:00Z"},
		{"no schedule", "2026-03-01T12:07:00Z", 0, "2026-03-01T12:07:00Z"},
		{"negative interval", "2026-03-01T12:07:00Z", -time.Minute, "2026-03-01T12:07:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Slot(at(tt.now), tt.every)
			if want := at(tt.want); !got.Equal(want) {
				t.Errorf("Slot(%s, %v) = %s, want %s", tt.now, tt.every, got.Format(time.RFC3339Nano), tt.want)
			}
			if tt.every > 0 && got.Location() != time.UTC {
				t.Errorf("Slot(%s, %v) in %v, want UTC", tt.now, tt.every, got.Location())
			}
		})
	}
}

func TestDue(t *testing.T) {
	const every = 15 * time.Minute
	tests := []struct {
		name     string
		now      string
		lastAuto string // "" when there is none
		want     bool
	}{
		{"none taken yet", "2026-03-01T12:07:00Z", "", true},
		{"restart within the same slot", "2026-03-01T12:10:00Z", "2026-03-01T12:00:02Z", false},
		{"taken at the very start of the slot", "2026-03-01T12:29:59Z", "2026-03-01T12:15:00Z", false},
		{"taken just before the slot", "2026-03-01T12:15:00Z", "2026-03-01T12:14:59Z", true},
		{"next slot", "2026-03-01T12:16:00Z", "2026-03-01T12:00:00Z", true},
		{"after three missed slots", "2026-03-01T12:52:00Z", "2026-03-01T12:05:00Z", true},
		{"after the catch-up", "2026-03-01T12:53:00Z", "2026-03-01T12:52:00Z", false},
		{"days later", "2026-03-04T08:00:00Z", "2026-03-01T12:00:00Z", true},
		{"made in the future, clock set back", "2026-03-01T12:20:00Z", "2026-03-01T13:05:00Z", false},
		{"made in the future, in its slot", "2026-03-01T13:14:59Z", "2026-03-01T13:05:00Z", false},
		{"made in the future, slot passed", "2026-03-01T13:15:00Z", "2026-03-01T13:05:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last time.Time
			if tt.lastAuto != "" {
				last = at(tt.lastAuto)
			}
			if got := Due(at(tt.now), every, last); got != tt.want {
				t.Errorf("Due(%s, %v, %q) = %v, want %v", tt.now, every, tt.lastAuto, got, tt.want)
			}
		})
	}
	t.Run("no schedule", func(t *testing.T) {
		if Due(at("2026-03-01T12:00:00Z"), 0, time.Time{}) {
			t.Error("Due with every 0 = true, want false")
		}
	})
}

// TestDueScheduler runs a scheduler that asks Due once a minute and takes a
// snapshot when it is due, stopped for a while, and counts what it takes.
func TestDueScheduler(t *testing.T) {
	const every = 15 * time.Minute
	tests := []struct {
		name              string
		from, stop, start string // the scheduler runs from..stop, and start..until
		until             string
		want              []string
	}{
		{"runs through", "2026-03-01T12:00:00Z", "", "", "2026-03-01T13:00:00Z",
			[]string{"12:00", "12:15", "12:30", "12:45", "13:00"}},
		{"restarted within a slot", "2026-03-01T12:00:00Z", "2026-03-01T12:03:00Z", "2026-03-01T12:08:00Z", "2026-03-01T12:20:00Z",
			[]string{"12:00", "12:15"}},
		{"stopped over three slots", "2026-03-01T12:00:00Z", "2026-03-01T12:05:00Z", "2026-03-01T12:52:00Z", "2026-03-01T13:10:00Z",
			[]string{"12:00", "12:52", "13:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last time.Time
			var taken []string
			for now := at(tt.from); !now.After(at(tt.until)); now = now.Add(time.Minute) {
				if tt.stop != "" && now.After(at(tt.stop)) && now.Before(at(tt.start)) {
					continue
				}
				if Due(now, every, last) {
					last = now
					taken = append(taken, now.Format("15:04"))
				}
			}
			if !slices.Equal(taken, tt.want) {
				t.Errorf("took %q, want %q", taken, tt.want)
			}
		})
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		t    string
		want string
	}{
		{"2026-03-04T05:06:07Z", "auto-20260304-050607"},
		{"2026-12-31T23:59:59.999Z", "auto-20261231-235959"},
		{"2026-01-01T01:02:03+02:00", "auto-20251231-230203"},
		{"0999-01-02T03:04:05Z", "auto-09990102-030405"},
	}
	for _, tt := range tests {
		t.Run(tt.t, func(t *testing.T) {
			if got := Name(at(tt.t)); got != tt.want {
				t.Errorf("Name(%s) = %q, want %q", tt.t, got, tt.want)
			}
		})
	}
}
