package retention

import (
	"strings"
	"testing"
	"time"
)

func TestParseExpire(t *testing.T) {
	now := at("2026-05-10T12:00:00Z")
	tests := []struct {
		when string
		want string // RFC 3339; "" for the zero time
		err  string // a part of the error; "" for none
	}{
		// Short durations.
		{when: "90m", want: "2026-05-10T13:30:00Z"},
		{when: "36h", want: "2026-05-12T00:00:00Z"},
		{when: "7d", want: "2026-05-17T12:00:00Z"},
		{when: "2w", want: "2026-05-24T12:00:00Z"},
		{when: "1m", want: "2026-05-10T12:01:00Z"},
		{when: "007d", want: "2026-05-17T12:00:00Z"},
		{when: "15250w", want: "2318-08-18T12:00:00Z"},
		// What time.ParseDuration reads.
		{when: "1h30m", want: "2026-05-10T13:30:00Z"},
		{when: "1.5h", want: "2026-05-10T13:30:00Z"},
		{when: "45s", want: "2026-05-10T12:00:45Z"},
		{when: "+2h", want: "2026-05-10T14:00:00Z"},
		// RFC 3339 times.
		{when: "2026-05-11T00:00:00Z", want: "2026-05-11T00:00:00Z"},
		{when: "2026-05-11T02:00:00+02:00", want: "2026-05-11T00:00:00Z"},
		{when: "2026-05-10T12:00:00.5Z", want: "2026-05-10T12:00:00.5Z"},
		{when: "2099-01-01T00:00:00Z", want: "2099-01-01T00:00:00Z"},
		// Never, and the white space of a ctl write.
		{when: "never", want: ""},
		{when: " 7d\n", want: "2026-05-17T12:00:00Z"},
		{when: "never\n", want: ""},

		{when: "", err: "missing"},
		{when: " \n", err: "missing"},
		{when: "1h extra", err: "one word"},
		{when: "never again", err: "one word"},
		{when: "7 d", err: "one word"},
		{when: "2026-05-11 00:00:00Z", err: "one word"},
		{when: "0m", err: "positive"},
		{when: "0d", err: "positive"},
		{when: "0", err: "positive"},
		{when: "0s", err: "positive"},
		{when: "-1h", err: "positive"},
		{when: "-7d", err: "neither"},
		{when: "2026-05-10T12:00:00Z", err: "not in the future"},
		{when: "2026-05-10T11:59:59Z", err: "not in the future"},
		{when: "2020-01-01T00:00:00Z", err: "not in the future"},
		{when: "99999999999999999999d", err: "too long"},
		{when: "15251w", err: "too long"},
		{when: "99999999h30m", err: "neither"},
		{when: "abc", err: "neither"},
		{when: "d", err: "neither"},
		{when: "7x", err: "neither"},
		{when: "7D", err: "neither"},
		{when: "7dd", err: "neither"},
		{when: "1y", err: "neither"},
		{when: "Never", err: "neither"},
		{when: "2026-05-11", err: "neither"},
		{when: "2026-05-11T00:00:00", err: "neither"},
		{when: "tomorrow", err: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			got, err := ParseExpire(tt.when, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseExpire(%q) = %v, %v; want an error with %q", tt.when, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExpire(%q): %v", tt.when, err)
			}
			var want time.Time
			if tt.want != "" {
				want = at(tt.want)
			}
			if !got.Equal(want) || got.IsZero() != want.IsZero() {
				t.Errorf("ParseExpire(%q) = %s, want %s", tt.when, got, want)
			}
			if !got.IsZero() && got.Location() != time.UTC {
				t.Errorf("ParseExpire(%q) in %v, want UTC", tt.when, got.Location())
			}
		})
	}
}

// TestParseExpireZone checks that the time is given in UTC whatever the zone
// of now, as status and tags show it.
func TestParseExpireZone(t *testing.T) {
	now := at("2026-05-10T14:00:00+02:00")
	for _, when := range []string{"2h", "2h0m", "2026-05-10T16:00:00+02:00"} {
		got, err := ParseExpire(when, now)
		if err != nil || !got.Equal(at("2026-05-10T14:00:00Z")) || got.Location() != time.UTC {
			t.Errorf("ParseExpire(%q, %s) = %v, %v; want 2026-05-10T14:00:00Z in UTC", when, now, got, err)
		}
	}
}

func TestExpired(t *testing.T) {
	expires := at("2026-05-10T12:00:00Z")
	tests := []struct {
		name    string
		expires time.Time
		now     string
		want    bool
	}{
		{"before", expires, "2026-05-10T11:59:59Z", false},
		{"at", expires, "2026-05-10T12:00:00Z", true},
		{"after", expires, "2026-05-10T12:00:01Z", true},
		{"in another zone, before", expires, "2026-05-10T13:59:59+02:00", false},
		{"in another zone, at", expires, "2026-05-10T14:00:00+02:00", true},
		{"no expiry", time.Time{}, "2026-05-10T12:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expired(tt.expires, at(tt.now)); got != tt.want {
				t.Errorf("Expired(%s, %s) = %v, want %v", tt.expires, tt.now, got, tt.want)
			}
		})
	}
}
