package retention

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// units are the units of the short durations `expire` takes: a day is 24
// hours and a week 7 days, counted in elapsed time (snapfs keeps time in UTC,
// which has no daylight saving to make a day shorter or longer).
var units = map[byte]time.Duration{
	'm': time.Minute,
	'h': time.Hour,
	'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
}

// ParseExpire parses WHEN of `echo "expire WHEN" > ctl` and returns the
// expiry time in UTC, or the zero time for "never" (no expiry).
//
// WHEN is one word, with any surrounding white space ignored:
//
//   - a duration from now: a positive integer with unit m, h, d or w ("90m",
//     "36h", "7d", "2w"), or a positive duration time.ParseDuration reads
//     ("1h30m", "1.5h", "45s");
//   - an RFC 3339 time after now ("2026-07-01T00:00:00Z", fractional seconds
//     allowed, an offset required);
//   - "never".
//
// The words and units are lower case. It is an error when WHEN is empty,
// unreadable, a zero or negative duration, a time not after now, or followed
// by further words ("1h extra").
func ParseExpire(when string, now time.Time) (time.Time, error) {
	words := strings.Fields(when)
	switch {
	case len(words) == 0:
		return time.Time{}, errors.New("expire: missing WHEN (a duration such as 7d, an RFC 3339 time, or never)")
	case len(words) > 1:
		return time.Time{}, fmt.Errorf("expire %q: one word expected, got %d", when, len(words))
	}
	word := words[0]
	if word == "never" {
		return time.Time{}, nil
	}
	if d, ok, err := parseShortDuration(word); ok {
		if err != nil {
			return time.Time{}, fmt.Errorf("expire %q: %w", word, err)
		}
		return now.Add(d).UTC(), nil
	}
	if d, err := time.ParseDuration(word); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("expire %q: the duration must be positive", word)
		}
		return now.Add(d).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, word)
	if err != nil {
		return time.Time{}, fmt.Errorf("expire %q: neither a duration (90m, 36h, 7d, 2w), an RFC 3339 time nor never", word)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("expire %q: the time is not in the future (now %s)", word, now.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

// parseShortDuration reads digits followed by one of the units. ok tells
// whether word has that form; err then tells why its value is refused.
func parseShortDuration(word string) (d time.Duration, ok bool, err error) {
	if len(word) < 2 {
		return 0, false, nil
	}
	digits, unit := word[:len(word)-1], units[word[len(word)-1]]
	if unit == 0 || strings.Trim(digits, "0123456789") != "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case err != nil || n > math.MaxInt64/int64(unit):
		return 0, true, errors.New("the duration is too long")
	case n == 0:
		return 0, true, errors.New("the duration must be positive")
	}
	return time.Duration(n) * unit, true, nil
}

// Expired tells whether expiry time expires has come at now: now is at or
// after it. A zero expires is no expiry and never expires.
func Expired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}
