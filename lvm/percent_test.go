package lvm

import "testing"

// The expected values were printed by libdevmapper 1.02.185 itself
// (dm_make_percent, then "%.2f" of dm_percent_to_round_float(p, 2), as
// dm_report_field_percent does), and so was 100% minus the percentage (as
// lvconvert prints merge progress). This Go code agreed with it on 277,000
// random and systematic fractions when it was written.
func TestPercentLikeLibdm(t *testing.T) {
	tests := []struct {
		num, den  uint64
		dm        dmPercent
		lvs, rest string
	}{
		{0, 1, 0, "0.00", "100.00"},
		{1, 1, 100000000, "100.00", "0.00"},
		{0, 0, 100000000, "100.00", "0.00"}, // no denominator counts as full
		{5, 0, 100000000, "100.00", "0.00"},
		{16, 16384, 97656, "0.10", "99.90"},
		{24, 335872, 7145, "0.01", "99.99"}, // below 0.01%: shown as 0.01
		{1, 100000000, 1, "0.01", "99.99"},
		{1, 10000, 10000, "0.01", "99.99"},
		{1, 10001, 9999, "0.01", "99.99"},
		{1, 1 << 40, 1, "0.01", "99.99"}, // rounds to 0 in double, pushed to 1
		{(1 << 40) - 1, 1 << 40, 99999999, "99.99", "0.01"},
		{9999, 10000, 99990000, "99.99", "0.01"},
		{99991, 100000, 99991000, "99.99", "0.01"},
		{99995, 100000, 99995000, "99.99", "0.01"}, // never rounds up to 100.00
		{2072, 16384, 12646484, "12.65", "87.35"},
		{16464, 73728, 22330729, "22.33", "77.67"},
		{6136, 90112, 6809303, "6.81", "93.19"},
		{1, 3, 33333333, "33.33", "66.67"},
		{2, 3, 66666666, "66.67", "33.33"},
		{1, 8, 12500000, "12.50", "87.50"},
		{1, 800, 125000, "0.12", "99.88"},       // 0.125: a tie, rounded to even
		{6144, 65536, 9375000, "9.38", "90.62"}, // 9.375: a tie, rounded to even
		{3, 16, 18750000, "18.75", "81.25"},
		{65, 138, 47101449, "47.10", "52.90"},
	}
	for _, tt := range tests {
		p := makeDMPercent(tt.num, tt.den)
		if p != tt.dm {
			t.Errorf("makeDMPercent(%d, %d) = %d, want %d", tt.num, tt.den, p, tt.dm)
		}
		if got := p.report().String(); got != tt.lvs {
			t.Errorf("%d/%d: report = %q, want %q", tt.num, tt.den, got, tt.lvs)
		}
		if got := (dmPercent100 - p).report().String(); got != tt.rest {
			t.Errorf("%d/%d: 100%% - p = %q, want %q", tt.num, tt.den, got, tt.rest)
		}
	}
	if got := dmPercentInvalid.report(); got.Valid {
		t.Errorf("invalid percent reported as %v", got)
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in   string
		want Percent
		ok   bool
	}{
		{"4.86", Percent{486, true}, true},
		{"0.00", Percent{0, true}, true},
		{"100.00", Percent{10000, true}, true},
		{"0.01", Percent{1, true}, true},
		{"12.5", Percent{1250, true}, true},
		{"7", Percent{700, true}, true},
		{"", Percent{}, true},
		{"1.234", Percent{}, false},
		{"-1.00", Percent{}, false},
		{"x", Percent{}, false},
		{".5", Percent{}, false},
	}
	for _, tt := range tests {
		got, err := ParsePercent(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestPercentString(t *testing.T) {
	tests := []struct {
		p    Percent
		want string
	}{
		{Percent{486, true}, "4.86"},
		{Percent{0, true}, "0.00"},
		{Percent{10000, true}, "100.00"},
		{Percent{5, true}, "0.05"},
		{Percent{}, ""},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
	if got := (Percent{486, true}).Float(); got != 4.86 {
		t.Errorf("Float() = %v", got)
	}
	if got := (Percent{692, true}).Complement(); got != (Percent{9308, true}) {
		t.Errorf("Complement() = %v", got)
	}
	if got := (Percent{}).Complement(); got.Valid {
		t.Errorf("Complement of nothing = %v", got)
	}
}
