package lvm

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name   string
		vg, lv string
		ok     bool
		reason string // a word the error must contain
	}{
		{"plain", "vg", "snap1", true, ""},
		{"all allowed characters", "vg", "Az09._+-x", true, ""},
		{"hyphen inside", "vg", "my-snap", true, ""},
		{"plus first", "vg", "+x", true, ""},
		{"dot first", "vg", ".x", true, ""},
		{"three dots", "vg", "...", true, ""},
		{"underscore first", "vg", "_x", true, ""},
		{"reserved word not a prefix", "vg", "mysnapshot", true, ""},
		{"pvmove not a prefix", "vg", "xpvmove", true, ""},
		{"substring without underscore", "vg", "tmeta", true, ""},

		{"empty", "vg", "", false, "empty"},
		{"dot", "vg", ".", false, `"."`},
		{"dotdot", "vg", "..", false, `".."`},
		{"leading hyphen", "vg", "-x", false, "hyphen"},
		{"space", "vg", "a b", false, "character"},
		{"slash", "vg", "a/b", false, "character"},
		{"colon", "vg", "bad:name", false, "character"},
		{"percent", "vg", "a%b", false, "character"},
		{"non-ASCII", "vg", "snäp", false, "character"},
		{"NUL", "vg", "a\x00b", false, "character"},
		{"newline", "vg", "a\n", false, "character"},

		{"prefix snapshot", "vg", "snapshot", false, `"snapshot"`},
		{"prefix snapshot1", "vg", "snapshot1", false, `"snapshot"`},
		{"prefix pvmove", "vg", "pvmove0", false, `"pvmove"`},
		{"_cdata", "vg", "x_cdata", false, "_cdata"},
		{"_cmeta", "vg", "x_cmeta", false, "_cmeta"},
		{"_corig", "vg", "x_corig", false, "_corig"},
		{"_cpool", "vg", "x_cpool", false, "_cpool"},
		{"_cvol", "vg", "x_cvol", false, "_cvol"},
		{"_wcorig", "vg", "x_wcorig", false, "_wcorig"},
		{"_mimage", "vg", "x_mimage_0", false, "_mimage"},
		{"_mlog", "vg", "x_mlog", false, "_mlog"},
		{"_rimage", "vg", "x_rimage_1", false, "_rimage"},
		{"_rmeta", "vg", "x_rmeta", false, "_rmeta"},
		{"_tdata", "vg", "pool_tdata", false, "_tdata"},
		{"_tmeta", "vg", "pool_tmeta", false, "_tmeta"},
		{"_vdata", "vg", "x_vdata", false, "_vdata"},
		{"_imeta", "vg", "x_imeta", false, "_imeta"},
		{"_iorig", "vg", "x_iorig", false, "_iorig"},
		{"_pmspare", "vg", "lvol0_pmspare", false, "_pmspare"},
		{"_vorigin", "vg", "x_vorigin", false, "_vorigin"},
		{"substring in the middle", "vg", "a_tmetab", false, "_tmeta"},

		{"bad vg", "bad vg", "x", false, "volume group"},
		{"empty vg", "", "x", false, "volume group"},

		// vg/lv must fit NAME_LEN (128) with room for a layer: LVM says
		// "Internal error: LV name ... length 128 is not supported".
		{"vg+lv too long for LVM", "vg", strings.Repeat("x", 123), false, "together"},
		{"lv longer than 127", "vg", strings.Repeat("x", 128), false, "longer than 127"},
		// LVM accepts these, then fails on the device-mapper name
		// "vg-NAME-cow" and leaves the LV behind.
		{"dm name of the COW too long", "vg2", strings.Repeat("m", 121), false, "device-mapper"},
		{"dm name too long with -real", "vg", strings.Repeat("x", 120), false, "device-mapper"},
		{"longest name fs may use", "vg", strings.Repeat("x", 119), true, ""},
		{"hyphens double in dm names", "vg", strings.Repeat("a-", 60), false, "device-mapper"},
		{"hyphens in the vg double too", "v-g", strings.Repeat("x", 118), false, "device-mapper"},
		{"hyphenated vg that fits", "v-g", strings.Repeat("x", 117), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.vg, tt.lv)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateName(%q, %q) = %v, want nil", tt.vg, tt.lv, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ValidateName(%q, %q) = %v, want an error wrapping ErrInvalidName", tt.vg, tt.lv, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("ValidateName(%q, %q) = %q, want it to say %q", tt.vg, tt.lv, err, tt.reason)
			}
		})
	}
}

func TestValidateSize(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		sectors float64
	}{
		{"512M", true, 512 * 2048},
		{"512m", true, 512 * 2048},
		{"1.5G", true, 1.5 * 1024 * 2048},
		{"1.5g", true, 1.5 * 1024 * 2048},
		{"100k", true, 200},
		{"100K", true, 200},
		{"100", true, 100 * 2048}, // no unit: MiB
		{"0.5", true, 1024},
		{".5G", true, 0.5 * 1024 * 2048},
		{"1.", true, 2048},
		{"2T", true, 2 << 31},
		{"1P", true, 1 << 41},
		{"1e", true, 1 << 51},
		{"1024b", true, 2},
		{"1024B", true, 2},
		{"8s", true, 8},
		{"8S", true, 8},

		{"", false, 0},
		{"0", false, 0},
		{"0M", false, 0},
		{"+1G", false, 0},
		{"-1G", false, 0},
		{" 1G", false, 0},
		{"1G ", false, 0},
		{"1 G", false, 0},
		{"1GiB", false, 0},
		{"1x", false, 0},
		{"G", false, 0},
		{".", false, 0},
		{"1.2.3", false, 0},
		{"1e3", false, 0}, // strtod would read an exponent
		{"0x10", false, 0},
		{"inf", false, 0},
		{"nan", false, 0},
		{"1000b", false, 0}, // bytes must be a multiple of 512
		{"16E", false, 0},   // 16 EiB does not fit
		{"0.1s", false, 0},  // less than a sector
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateSize(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateSize(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidArg) {
					t.Errorf("ValidateSize(%q) = %v, want it to wrap ErrInvalidArg", tt.in, err)
				}
				return
			}
			got, _ := parseSize(tt.in)
			if got != tt.sectors {
				t.Errorf("parseSize(%q) = %v sectors, want %v", tt.in, got, tt.sectors)
			}
		})
	}
}

func TestSizeBytes(t *testing.T) {
	got, err := SizeBytes("1.5G")
	if err != nil || got != 1536<<20 {
		t.Errorf("SizeBytes(1.5G) = %d, %v; want %d", got, err, 1536<<20)
	}
}

func TestParseSizeSpec(t *testing.T) {
	tests := []struct {
		in   string
		want SizeSpec
		ok   bool
	}{
		{"2G", SizeSpec{Size: "2G"}, true},
		{"512M", SizeSpec{Size: "512M"}, true},
		{"100", SizeSpec{Size: "100"}, true},
		{"20%ORIGIN", SizeSpec{Extents: "20%ORIGIN"}, true},
		{"20%origin", SizeSpec{Extents: "20%origin"}, true},
		{"20%O", SizeSpec{Extents: "20%O"}, true},
		{"150%ORIGIN", SizeSpec{Extents: "150%ORIGIN"}, true},
		{"100%FREE", SizeSpec{Extents: "100%FREE"}, true},
		{"10%VG", SizeSpec{Extents: "10%VG"}, true},
		{"50%PVS", SizeSpec{Extents: "50%PVS"}, true},
		{"50%PV", SizeSpec{Extents: "50%PV"}, true},

		{"", SizeSpec{}, false},
		{"20%LV", SizeSpec{}, false}, // lvcreate: "Please express size as %FREE, %ORIGIN, %PVS or %VG."
		{"20%", SizeSpec{}, false},
		{"%ORIGIN", SizeSpec{}, false},
		{"0%ORIGIN", SizeSpec{}, false},
		{"1.5%ORIGIN", SizeSpec{}, false},
		{"-20%ORIGIN", SizeSpec{}, false},
		{"+20%ORIGIN", SizeSpec{}, false},
		{"20%ORIGINS", SizeSpec{}, false},
		{"20 %ORIGIN", SizeSpec{}, false},
		{"4294967295%ORIGIN", SizeSpec{}, false},
		{"2Gb", SizeSpec{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSizeSpec(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseSizeSpec(%q) = %+v, %v; want ok=%v", tt.in, got, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidArg) {
					t.Errorf("ParseSizeSpec(%q) = %v, want it to wrap ErrInvalidArg", tt.in, err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("ParseSizeSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("ParseSizeSpec(%q).String() = %q", tt.in, got.String())
			}
		})
	}
}

func TestValidateExtents(t *testing.T) {
	for _, ok := range []string{"100", "1", "20%ORIGIN", "100%FREE"} {
		if err := validateExtents(ok); err != nil {
			t.Errorf("validateExtents(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "0", "2G", "20%LV", "4294967296", "-1"} {
		if err := validateExtents(bad); !errors.Is(err, ErrInvalidArg) {
			t.Errorf("validateExtents(%q) = %v, want ErrInvalidArg", bad, err)
		}
	}
}

func TestDMName(t *testing.T) {
	tests := []struct{ vg, lv, want string }{
		{"vg", "lv", "vg-lv"},
		{"vg", "my-lv", "vg-my--lv"},
		{"my-vg", "a-b-c", "my--vg-a--b--c"},
		{"vg", "-", "vg---"},
	}
	for _, tt := range tests {
		if got := DMName(tt.vg, tt.lv); got != tt.want {
			t.Errorf("DMName(%q, %q) = %q, want %q", tt.vg, tt.lv, got, tt.want)
		}
	}
}

func TestValidateTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"snapfs_hold", true},
		{"snapfs_auto", true},
		{"snapfs_expires_1800000000", true},
		{"AZaz09._+-/=!:&#", true}, // every character validate_tag allows
		{"a-", true},
		{strings.Repeat("t", MaxTagLen), true},
		{"", false},
		{strings.Repeat("t", MaxTagLen+1), false},
		{"a,b", false}, // would split in the report
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"@hold", false}, // LVM would strip the @
		{"-x", false},    // reads as an option
		{"--yes", false},
		{"a@b", false},
		{"a%b", false},
		{"a*b", false},
		{"a'b", false},
		{`a"b`, false},
		{"a$b", false},
		{"a;b", false},
		{"a\\b", false},
		{"é", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			err := ValidateTag(tt.tag)
			if tt.ok {
				if err != nil {
					t.Errorf("ValidateTag(%q) = %v, want nil", tt.tag, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTag) || !errors.Is(err, ErrInvalidArg) {
				t.Errorf("ValidateTag(%q) = %v, want ErrInvalidTag wrapping ErrInvalidArg", tt.tag, err)
			}
		})
	}
}
