package checkpoint

import (
	"errors"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
)

func TestCheckName(t *testing.T) {
	short := Disk{VG: "vg", Origin: "root"}
	// "data-disk-long" is 14 characters and 16 in its device-mapper name
	// (hyphens doubled): lvm.ValidateName lets "vg-" + ORIGIN.NAME +
	// "-real" be at most 127, so NAME may have 102 characters with it, and
	// 114 with "root".
	long := Disk{VG: "vg", Origin: "data-disk-long"}
	both := []Disk{short, long}
	tests := []struct {
		name  string
		disks []Disk
		want  string // in the error; "" for none
	}{
		{"before-upgrade", both, ""},
		{"v1.2_3+4", both, ""},
		{"snapshot", both, ""}, // "root.snapshot" does not start with "snapshot"
		{strings.Repeat("x", 102), both, ""},
		{strings.Repeat("x", 103), both, "vg/data-disk-long"},
		{strings.Repeat("x", 103), []Disk{short}, ""},
		{strings.Repeat("x", 115), []Disk{short}, "vg/root"},
		{strings.Repeat("x", 127), nil, ""}, // no disk, no LVM limit
		{strings.Repeat("x", 256), nil, "longer than 255"},
		{"a_mlog", both, `"_mlog"`},
		{"x_tmeta", both, `"_tmeta"`},
		{"x_pmspare1", both, `"_pmspare"`},
		{"x", []Disk{short, {VG: "vg", Origin: "pvmove0"}}, `origin vg/pvmove0: logical volume name "pvmove0.x": names starting "pvmove"`},
		{"x", []Disk{{VG: "vg", Origin: "snapshot1"}}, `names starting "snapshot"`},
		{"a/b", both, "'/'"},
		{"a\x00b", both, "NUL"},
		{".hidden", both, "'.'"},
		{".", both, `"."`},
		{"..", both, `".."`},
		{"-x", both, "hyphen"},
		{"", both, "empty"},
		{"a b", both, `character ' '`},
		{"été", both, "not allowed"},
		{"x", []Disk{{VG: "vg"}}, "must be set"},
		{"x", []Disk{{VG: "bad vg", Origin: "root"}}, `volume group name "bad vg"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName(tt.name, tt.disks)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckName: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckName: %v, want an error with %q", err, tt.want)
			case err != nil && !errors.Is(err, lvm.ErrInvalidName):
				t.Errorf("CheckName: %v does not wrap lvm.ErrInvalidName", err)
			}
		})
	}
}

func TestValidDomain(t *testing.T) {
	tests := []struct {
		domain string
		ok     bool
	}{
		{"web", true},
		{"web 1", true},
		{"dömäin", true},
		{"a#b:c", true},
		{".hidden", true}, // a domain may start with '.': no temporary file lives in DIR
		{"-x", true},
		{strings.Repeat("d", 255), true},
		{strings.Repeat("d", 256), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"/", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			if err := ValidDomain(tt.domain); (err == nil) != tt.ok {
				t.Errorf("ValidDomain(%q) = %v, want ok %v", tt.domain, err, tt.ok)
			}
		})
	}
}

func TestSnapshotName(t *testing.T) {
	if got := SnapshotName("root", "before"); got != "root.before" {
		t.Errorf("SnapshotName = %q, want root.before", got)
	}
}
