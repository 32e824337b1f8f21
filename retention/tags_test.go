package retention

import (
	"strings"
	"testing"
	"time"
)

// lvmTagChars are the characters lvm2 allows in a tag
// (lib/misc/lvm-string.c, validate_tag).
const lvmTagChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-/=!:&#"

func TestTagsAreValidLVMTags(t *testing.T) {
	for _, tag := range []string{TagHold, TagAuto, ExpiresTag(at("2026-05-10T12:00:00Z")), ExpiresTag(at("9999-12-31T23:59:59Z"))} {
		if tag == "" || strings.Trim(tag, lvmTagChars) != "" {
			t.Errorf("%q is not a valid LVM tag", tag)
		}
	}
}

func TestExpiresTag(t *testing.T) {
	tests := []struct {
		t    string
		want string
	}{
		{"2026-05-10T12:00:00Z", "snapfs_expires_1778414400"},
		{"2026-05-10T14:00:00+02:00", "snapfs_expires_1778414400"},
		{"2026-05-10T11:59:59.000000001Z", "snapfs_expires_1778414400"},
		{"2026-05-10T11:59:59.999Z", "snapfs_expires_1778414400"},
		{"1970-01-01T00:00:00Z", "snapfs_expires_0"},
		{"1960-01-01T00:00:00Z", "snapfs_expires_0"},
	}
	for _, tt := range tests {
		t.Run(tt.t, func(t *testing.T) {
			if got := ExpiresTag(at(tt.t)); got != tt.want {
				t.Errorf("ExpiresTag(%s) = %q, want %q", tt.t, got, tt.want)
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		name       string
		tags       []string
		held, auto bool
		expires    string // RFC 3339; "" for none
	}{
		{name: "none"},
		{name: "held", tags: []string{TagHold}, held: true},
		{name: "auto", tags: []string{TagAuto}, auto: true},
		{name: "expires", tags: []string{"snapfs_expires_1778414400"}, expires: "2026-05-10T12:00:00Z"},
		{name: "all with others",
			tags: []string{"backup", TagAuto, "snapfs_expires_1778414400", "owner=ops", TagHold},
			held: true, auto: true, expires: "2026-05-10T12:00:00Z"},
		{name: "unknown tags ignored",
			tags: []string{"snapfs_holdx", "SNAPFS_HOLD", "snapfs_auto_", "xsnapfs_auto", "snapfs_expires", "snapfs_expire_1778414400", "snapfs"}},
		{name: "several expiry tags: the latest",
			tags:    []string{"snapfs_expires_1778414400", "snapfs_expires_1778500800", "snapfs_expires_1778400000"},
			expires: "2026-05-11T12:00:00Z"},
		{name: "malformed expiry tags ignored",
			tags: []string{"snapfs_expires_x", "snapfs_expires_", "snapfs_expires_-5", "snapfs_expires_+5", "snapfs_expires_12a", "snapfs_expires_1.5", "snapfs_expires_ 12"}},
		{name: "a malformed expiry tag beside a good one",
			tags:    []string{"snapfs_expires_99x", "snapfs_expires_1778414400", "snapfs_expires_9999999999999x"},
			expires: "2026-05-10T12:00:00Z"},
		{name: "an expiry beyond year 9999 is the end of 9999",
			tags:    []string{"snapfs_expires_1778414400", "snapfs_expires_99999999999999999999999"},
			expires: "9999-12-31T23:59:59Z"},
		{name: "the epoch is an expiry, not none",
			tags:    []string{"snapfs_expires_0"},
			expires: "1970-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, auto, expires := ParseTags(tt.tags)
			var want time.Time
			if tt.expires != "" {
				want = at(tt.expires)
			}
			if held != tt.held || auto != tt.auto || !expires.Equal(want) || expires.IsZero() != want.IsZero() {
				t.Errorf("ParseTags(%q) = %v, %v, %s; want %v, %v, %s", tt.tags, held, auto, expires, tt.held, tt.auto, want)
			}
		})
	}
}

// TestTagsRoundTrip writes the tags of snapshots and reads them back, as
// snapfs does across a restart.
func TestTagsRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		held, auto bool
		expires    string // RFC 3339; "" for none
		want       string // the expiry read back, when it differs
	}{
		{name: "nothing"},
		{name: "held", held: true},
		{name: "auto", auto: true},
		{name: "held auto expiring", held: true, auto: true, expires: "2026-05-10T12:00:00Z"},
		{name: "expiring in another zone", expires: "2026-05-10T14:00:00+02:00"},
		{name: "a fraction of a second rounds up", expires: "2026-05-10T12:00:00.25Z", want: "2026-05-10T12:00:01Z"},
		{name: "far future", expires: "9999-12-31T23:59:59Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tags []string
			if tt.held {
				tags = append(tags, TagHold)
			}
			if tt.auto {
				tags = append(tags, TagAuto)
			}
			var want time.Time
			if tt.expires != "" {
				tags = append(tags, ExpiresTag(at(tt.expires)))
				want = at(tt.expires)
				if tt.want != "" {
					want = at(tt.want)
				}
			}
			held, auto, expires := ParseTags(tags)
			if held != tt.held || auto != tt.auto || !expires.Equal(want) || expires.IsZero() != want.IsZero() {
				t.Errorf("ParseTags(%q) = %v, %v, %s; want %v, %v, %s", tags, held, auto, expires, tt.held, tt.auto, want)
			}
			if !expires.IsZero() && expires.Location() != time.UTC {
				t.Errorf("expiry in %v, want UTC", expires.Location())
			}
		})
	}
}
