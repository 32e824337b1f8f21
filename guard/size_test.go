package guard

import (
	"math"
	"strings"
	"testing"
)

const (
	kib = uint64(1) << 10
	mib = uint64(1) << 20
	gib = uint64(1) << 30
)

func TestParseSizes(t *testing.T) {
	parsers := map[string]func(string) (Size, error){
		"extend_by": ParseExtendBy, "extend_max": ParseExtendMax, "min_free": ParseMinFree,
	}
	tests := []struct {
		key, in string
		want    Size
		err     string // a part of the error; "" for none
	}{
		{"extend_by", "20%", Size{Percent: 20}, ""},
		{"extend_by", "12.5%", Size{Percent: 12.5}, ""},
		{"extend_by", "256M", Size{Bytes: 256 * mib}, ""},
		{"extend_by", "1G", Size{Bytes: gib}, ""},
		{"extend_by", "1.5g", Size{Bytes: 1536 * mib}, ""},
		{"extend_by", "64", Size{Bytes: 64 * mib}, ""}, // no unit: MiB, as LVM
		{"extend_by", "", Size{}, "empty"},
		{"extend_by", "0%", Size{}, "more than 0%"},
		{"extend_by", "0", Size{}, "at least one sector"},
		{"extend_by", "-1%", Size{}, "want a number"},
		{"extend_by", "%", Size{}, "want a number"},
		{"extend_by", "5X", Size{}, "unknown unit"},
		{"extend_by", "-256M", Size{}, "not a number"},
		{"extend_by", "20%ORIGIN", Size{}, "write 20%, with nothing after"},
		{"extend_by", "20%%", Size{}, "nothing after"},
		{"extend_max", "100%ORIGIN", Size{Percent: 100}, ""},
		{"extend_max", "50%origin", Size{Percent: 50}, ""},
		{"extend_max", "150%O", Size{Percent: 150}, ""},
		{"extend_max", "8G", Size{Bytes: 8 * gib}, ""},
		{"extend_max", "100%", Size{}, "write 100%ORIGIN"},
		{"extend_max", "100%VG", Size{}, "write 100%ORIGIN"},
		{"extend_max", "%ORIGIN", Size{}, "want a number"},
		{"extend_max", "0%ORIGIN", Size{}, "more than 0%"},
		{"extend_max", "0", Size{}, "at least one sector"},
		{"extend_max", "", Size{}, "empty"},
		{"min_free", "0", Size{}, ""},
		{"min_free", "0%", Size{}, ""},
		{"min_free", "5%", Size{Percent: 5}, ""},
		{"min_free", "100%", Size{}, "must be below 100%"},
		{"min_free", "99.5%", Size{Percent: 99.5}, ""},
		{"min_free", "2G", Size{Bytes: 2 * gib}, ""},
		{"min_free", "120%", Size{}, "at most 100%"},
		{"min_free", "-1%", Size{}, "want a number"},
		{"min_free", "5%VG", Size{}, "write 5%, with nothing after"},
		{"min_free", "%ORIGIN", Size{}, "nothing after"},
		{"min_free", "5X", Size{}, "unknown unit"},
		{"min_free", "", Size{}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.in, func(t *testing.T) {
			got, err := parsers[tt.key](tt.in)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.err != "" && err == nil:
				t.Fatalf("= %+v, want an error with %q", got, tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Fatalf("error %q, want it to say %q", err, tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), `"`+tt.in+`"`) && tt.in != "":
				t.Errorf("error %q does not quote the value %q", err, tt.in)
			}
			if got != tt.want {
				t.Errorf("= %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSizeOf(t *testing.T) {
	tests := []struct {
		size Size
		base uint64
		want uint64
	}{
		{Size{Bytes: 256 * mib}, gib, 256 * mib},
		{Size{Percent: 20}, 100, 20},
		{Size{Percent: 20}, 101, 21},                   // 20.2 rounds up
		{Size{Percent: 20}, 20 * 4 * mib, 4 * 4 * mib}, // exact: no stray byte from 0.2's binary fraction
		{Size{Percent: 12.5}, 8 * mib, mib},            // a fraction
		{Size{Percent: 33.3}, 1000, 333},               // 332.99999... or 333.0000...1 both round to 333
		{Size{Percent: 100}, math.MaxUint64, math.MaxUint64},
		{Size{Percent: 200}, math.MaxUint64, math.MaxUint64}, // saturates
		{Size{Percent: 1e30}, gib, math.MaxUint64},           // saturates in floating point
		{Size{}, gib, 0},
	}
	for _, tt := range tests {
		if got := tt.size.Of(tt.base); got != tt.want {
			t.Errorf("%+v.Of(%d) = %d, want %d", tt.size, tt.base, got, tt.want)
		}
	}
	if s := (Size{Percent: 12.5}).String(); s != "12.5%" {
		t.Errorf("String() = %q", s)
	}
	if s := (Size{Bytes: 512}).String(); s != "512B" {
		t.Errorf("String() = %q", s)
	}
}

func TestValidate(t *testing.T) {
	good := Config{ExtendAt: 80, WarnAt: 70, ExtendBy: Size{Percent: 20}, ExtendMax: Size{Percent: 100}}
	tests := []struct {
		name string
		edit func(*Config)
		key  string // the key the error names; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"off", func(c *Config) { c.ExtendAt, c.WarnAt = 0, 95 }, ""}, // warn_at is free when extend_at is off
		{"warn equal to extend", func(c *Config) { c.WarnAt = 80 }, ""},
		{"no warning", func(c *Config) { c.WarnAt = 0 }, ""},
		{"extend at 100", func(c *Config) { c.ExtendAt = 100 }, ""},
		{"min_free 100%", func(c *Config) { c.MinFree = Size{Percent: 100} }, ""},
		{"extend_at negative", func(c *Config) { c.ExtendAt = -1 }, "extend_at"},
		{"extend_at 101", func(c *Config) { c.ExtendAt = 101 }, "extend_at"},
		{"warn_at negative", func(c *Config) { c.WarnAt = -1 }, "warn_at"},
		{"warn_at 101 with extension off", func(c *Config) { c.ExtendAt, c.WarnAt = 0, 101 }, "warn_at"},
		{"warn_at above extend_at", func(c *Config) { c.WarnAt = 81 }, "warn_at"},
		{"extend_by zero", func(c *Config) { c.ExtendBy = Size{} }, "extend_by"},
		{"extend_by negative", func(c *Config) { c.ExtendBy = Size{Percent: -5} }, "extend_by"},
		{"extend_max zero", func(c *Config) { c.ExtendMax = Size{} }, "extend_max"},
		{"min_free above 100%", func(c *Config) { c.MinFree = Size{Percent: 120} }, "min_free"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.key == "" && err != nil:
				t.Errorf("Validate() = %v", err)
			case tt.key != "" && err == nil:
				t.Errorf("Validate() of %+v succeeded", c)
			case tt.key != "" && !strings.HasPrefix(err.Error(), tt.key+": "):
				t.Errorf("Validate() = %q, want it to name %s", err, tt.key)
			}
		})
	}
}
