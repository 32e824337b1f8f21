package retention

import (
	"strconv"
	"strings"
	"time"
)

// Tags: the LVM tags snapfs uses (LVM tag charset: A-Z a-z 0-9 _ + . - / = ! : & #).
// They live in LVM's metadata, so they survive restarts and show in
// `lvs -o tags`.
const (
	TagHold          = "snapfs_hold"     // `echo hold > ctl`: never removed by snapfs
	TagAuto          = "snapfs_auto"     // taken by a schedule: the only ones pruned
	TagExpiresPrefix = "snapfs_expires_" // followed by Unix seconds: removed at that time
)

// maxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const maxUnix = 253402300799

// ExpiresTag is the tag for expiry at t: TagExpiresPrefix followed by the
// Unix seconds of t in decimal, rounded up to the whole second so that the
// snapshot never expires before t. A time before 1970 gives 0 (long past).
// No expiry (the zero time, from "never") is the absence of the tag, not a
// tag: do not call ExpiresTag for it.
func ExpiresTag(t time.Time) string {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return TagExpiresPrefix + strconv.FormatInt(max(sec, 0), 10)
}

// ParseTags reads from an LV's tags whether it is held (TagHold), whether a
// schedule took it (TagAuto) and its expiry in UTC (zero when it has none).
// Several expiry tags, which a crash between lvchange's addtag of the new one
// and deltag of the old one can leave, mean the latest of them, so that the
// snapshot is never removed early; one past year 9999 reads as the end of
// 9999. Tags are matched exactly; others, and expiry tags whose suffix is
// not plain decimal digits, are ignored.
func ParseTags(tags []string) (held, auto bool, expires time.Time) {
	for _, tag := range tags {
		switch tag {
		case TagHold:
			held = true
			continue
		case TagAuto:
			auto = true
			continue
		}
		digits, ok := strings.CutPrefix(tag, TagExpiresPrefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		// Digits only, so the one error is a number too large: that, like
		// any time past year 9999, is read as the end of year 9999, which
		// keeps the snapshot rather than dropping the tag.
		sec, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || sec > maxUnix {
			sec = maxUnix
		}
		if t := time.Unix(sec, 0).UTC(); expires.IsZero() || t.After(expires) {
			expires = t
		}
	}
	return held, auto, expires
}
