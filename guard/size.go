package guard

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/snapfs/snapfs/lvm"
)

// Size is a guard size setting: a percentage of a base (Percent > 0) or a
// number of bytes. Which base depends on the setting: the store's current
// size for extend_by, the origin's size for extend_max, the VG's size for
// min_free. The zero Size is zero bytes.
type Size struct {
	Percent float64
	Bytes   uint64
}

// IsZero tells whether the size stands for nothing at all.
func (s Size) IsZero() bool { return s.Percent == 0 && s.Bytes == 0 }

// Of returns the size in bytes against base: Bytes, or Percent of base
// rounded up to a whole byte (every guard setting rounds in the cautious
// direction: a bigger extension, a bigger reserve). Whole percentages are
// computed exactly; the result saturates at the largest uint64.
func (s Size) Of(base uint64) uint64 {
	if s.Percent <= 0 {
		return s.Bytes
	}
	return percentOf(base, s.Percent)
}

// String writes the size back as the configuration takes it ("20%",
// "268435456B"); the base's suffix (ORIGIN) is the caller's to add.
func (s Size) String() string {
	if s.Percent > 0 {
		return strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatUint(s.Bytes, 10) + "B"
}

// percentOf is ceil(base * pct / 100), exact for whole percentages.
func percentOf(base uint64, pct float64) uint64 {
	if pct == math.Trunc(pct) && pct < 1<<32 {
		hi, lo := bits.Mul64(base, uint64(pct))
		if hi >= 100 {
			return math.MaxUint64
		}
		q, r := bits.Div64(hi, lo, 100)
		if r != 0 {
			q++
		}
		return q
	}
	v := math.Ceil(float64(base) * pct / 100)
	if v >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(v)
}

// ParseExtendBy parses extend_by: a percentage of the store's current size
// ("20%", fractions allowed: "12.5%") or an LVM size ("256M", "1G", a plain
// number being MiB, as lvm.SizeBytes takes it). It must be more than zero.
func ParseExtendBy(s string) (Size, error) {
	num, base, isPct := strings.Cut(s, "%")
	if !isPct {
		return parseBytes(s)
	}
	if base != "" {
		return Size{}, fmt.Errorf("%q: extend_by is a percentage of the store's own size: write %s%%, with nothing after the %%", s, num)
	}
	return parsePercent(s, num, false, math.Inf(1))
}

// ParseExtendMax parses extend_max: a percentage of the origin's size
// ("100%ORIGIN"; ORIGIN may be written in any case or abbreviated to O or
// OR, as lvcreate takes it) or an LVM size. It must be more than zero. The
// percentage means what it means to lvcreate --extents N%ORIGIN: N percent
// of the origin plus the COW store's metadata (see Decide).
func ParseExtendMax(s string) (Size, error) {
	num, base, isPct := strings.Cut(s, "%")
	if !isPct {
		return parseBytes(s)
	}
	switch strings.ToUpper(base) {
	case "ORIGIN", "OR", "O":
	default:
		return Size{}, fmt.Errorf("%q: extend_max is a percentage of the origin: write %s%%ORIGIN", s, num)
	}
	return parsePercent(s, num, false, math.Inf(1))
}

// ParseMinFree parses min_free: "0" (no reserve), a percentage of the VG's
// size from 0% to 100% ("5%"), or an LVM size ("2G").
func ParseMinFree(s string) (Size, error) {
	if s == "0" {
		return Size{}, nil
	}
	num, base, isPct := strings.Cut(s, "%")
	if !isPct {
		return parseBytes(s)
	}
	if base != "" {
		return Size{}, fmt.Errorf("%q: min_free is a percentage of the VG's size: write %s%%, with nothing after the %%", s, num)
	}
	size, err := parsePercent(s, num, true, 100)
	if err == nil && size.Percent >= 100 {
		// A VG kept wholly free refuses every snapshot and extension.
		return Size{}, fmt.Errorf("%q: must be below 100%%", s)
	}
	return size, err
}

// parsePercent reads the number before the % sign: digits with an optional
// fraction, no sign, more than zero unless zeroOK, at most max.
func parsePercent(s, num string, zeroOK bool, max float64) (Size, error) {
	if !decimal(num) {
		return Size{}, fmt.Errorf("%q: want a number before the %%, e.g. 20%%", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return Size{}, fmt.Errorf("%q: the percentage is out of range", s)
	}
	switch {
	case v == 0 && !zeroOK:
		return Size{}, fmt.Errorf("%q: must be more than 0%%", s)
	case v > max:
		return Size{}, fmt.Errorf("%q: must be at most %g%%", s, max)
	}
	return Size{Percent: v}, nil
}

// parseBytes reads an LVM size; lvm.SizeBytes refuses zero, signs and unknown
// units, and its error says which.
func parseBytes(s string) (Size, error) {
	if s == "" {
		return Size{}, fmt.Errorf("empty: want a percentage or a size such as 256M")
	}
	b, err := lvm.SizeBytes(s)
	if err != nil {
		return Size{}, err
	}
	return Size{Bytes: b}, nil
}

// decimal matches digits with an optional fraction: "5", "12.5", ".5".
func decimal(s string) bool {
	digits, dot := 0, false
	for _, c := range s {
		switch {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
