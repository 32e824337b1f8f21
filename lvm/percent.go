package lvm

import (
	"fmt"
	"strconv"
	"strings"
)

// dmPercent is libdevmapper's dm_percent_t: a percentage in millionths of
// a percent, in an int32.
type dmPercent int32

const (
	dmPercent0       dmPercent = 0
	dmPercent1       dmPercent = 1000000
	dmPercent100     dmPercent = 100 * dmPercent1
	dmPercentInvalid dmPercent = -1
)

// makeDMPercent is libdm's dm_make_percent (libdm/libdm-report.c): a
// fraction that is neither empty nor full never shows as 0% or 100%.
func makeDMPercent(numerator, denominator uint64) dmPercent {
	if denominator == 0 {
		return dmPercent100
	}
	if numerator == 0 {
		return dmPercent0
	}
	if numerator == denominator {
		return dmPercent100
	}
	// C: percent = DM_PERCENT_100 * ((double) n / (double) d), the double
	// converted to int32 by truncation.
	p := dmPercent(float64(dmPercent100) * (float64(numerator) / float64(denominator)))
	switch p {
	case dmPercent100:
		return dmPercent100 - 1
	case dmPercent0:
		return dmPercent0 + 1
	}
	return p
}

// report turns a dm_percent_t into the Percent lvs prints: libdm's
// dm_report_field_percent, which formats dm_percent_to_round_float(p, 2)
// with "%.2f". The arithmetic is single precision, as in C, so that a
// value on a rounding edge prints as lvs prints it.
func (p dmPercent) report() Percent {
	if p == dmPercentInvalid || p < 0 {
		return Percent{}
	}
	const digits = 2
	power10 := float32(0.01)
	f := float32(float32(p)/float32(dmPercent1)) + 0
	r := float32(float32(dmPercent1) * power10)
	switch {
	case float32(p) < r && p > dmPercent0:
		f = power10
	case float32(p) > float32(float32(dmPercent100)-r) && p < dmPercent100:
		f = float32(float32(float32(dmPercent100)-r) / float32(dmPercent1))
	}
	s := strconv.FormatFloat(float64(f), 'f', digits, 64)
	pc, err := ParsePercent(s)
	if err != nil {
		// Not reachable: FormatFloat wrote digits and one dot.
		return Percent{}
	}
	return pc
}

// ParsePercent reads a percentage as LVM prints it ("4.86", "100.00"); an
// empty string is a Percent that is not Valid.
func ParsePercent(s string) (Percent, error) {
	if s == "" {
		return Percent{}, nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || strings.Trim(whole+frac, "0123456789") != "" {
		return Percent{}, fmt.Errorf("percent %q: want digits with up to two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return Percent{}, fmt.Errorf("percent %q: %w", s, err)
	}
	return Percent{Hundredths: n, Valid: true}, nil
}

// String formats the percentage as LVM does, with two decimals ("4.86"),
// or as the empty string when it is not Valid.
func (p Percent) String() string {
	if !p.Valid {
		return ""
	}
	n := p.Hundredths
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

// Float returns the percentage as a number, e.g. 4.86; 0 when not Valid.
func (p Percent) Float() float64 {
	if !p.Valid {
		return 0
	}
	return float64(p.Hundredths) / 100
}

// Complement returns 100% minus p: the progress of a merge whose
// snapshot-merge target still holds p of its store, approximately as
// lvconvert prints it (lvconvert subtracts before rounding; use
// SnapshotStatus.MergeProgress for the exact value). Not Valid when p is not.
func (p Percent) Complement() Percent {
	if !p.Valid {
		return Percent{}
	}
	return Percent{Hundredths: 10000 - p.Hundredths, Valid: true}
}
