package lvm

import (
	"errors"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		exit int
		msg  string
		want error
	}{
		{"exists", 5, `Logical Volume "x" already exists in volume group "vg"`, ErrExists},
		{"exists historical", 5, `historical Logical Volume "x" already exists in volume group "vg"`, ErrExists},
		{"exists lvcreate wording", 5, `Logical volume x already exists in Volume group vg.`, ErrExists},
		{"no space", 5, `Volume group "vg" has insufficient free space (21 extents): 200 required.`, ErrNoSpace},
		{"no space extents", 5, `Insufficient free space: 512 extents needed, but only 19 available`, ErrNoSpace},
		{"no suitable extents", 5, `Insufficient suitable allocatable extents found for logical volume s.`, ErrNoSpace},
		{"in use", 5, `Logical volume vg/x in use.`, ErrInUse},
		{"filesystem in use", 5, `Logical volume vg/x contains a filesystem in use.`, ErrInUse},
		{"holder", 5, `Logical volume vg/x is used by another device.`, ErrInUse},
		{"open", 5, `Can't remove open logical volume "x"`, ErrInUse},
		{"busy", 5, `device-mapper: remove ioctl on vg-x failed: Device or resource busy`, ErrInUse},
		{"merging snapshot", 5, `Can't remove merging snapshot logical volume vg/mps.`, ErrInUse},
		{"origin merging", 5, `Snapshots of an origin that has a merging snapshot are not supported.`, ErrInUse},
		{"lv not found", 5, `Failed to find logical volume "vg/x"`, ErrNotFound},
		{"vg lock", 5, "VG vg lock failed: error -210\nCannot access VG vg due to failed lock.", ErrNoLock},
		{"no lvmlockd", 5, "WARNING: lvmlockd is not running.\nCannot access VG vg due to failed lock.", ErrNoLock},
		{"lv locked elsewhere", 5, "LV locked by other host: vg/base\nFailed to lock logical volume vg/base.", ErrActiveElsewhere},
		{"origin locked elsewhere", 5, "Failed to lock origin LV vg/base", ErrActiveElsewhere},
		{"vg not found", 5, "Volume group \"x\" not found\nCannot process volume group x", ErrNotFound},
		{"origin not found", 5, `Snapshot origin LV nosuch not found in Volume group vg.`, ErrNotFound},
		{"rename source not found", 5, `Existing logical volume "nosuch" not found in volume group "vg"`, ErrNotFound},
		{"snapshot of snapshot", 5, `Snapshots of snapshots are not supported.`, ErrInvalidName},
		{"reserved prefix", 3, "Names starting \"snapshot\" are reserved. Please choose a different LV name.\nRun `lvcreate --help' for more information.", ErrInvalidName},
		{"reserved substring", 3, `Names including "_tmeta" are reserved. Please choose a different LV name.`, ErrInvalidName},
		{"invalid name", 3, `Logical volume name "a b" is invalid.`, ErrInvalidName},
		{"invalid new name", 3, `New logical volume name "a b" is invalid`, ErrInvalidName},
		{"new name too long", 3, `New logical volume name "xx" may not exceed 123 characters.`, ErrInvalidName},
		{"vg name characters", 5, `Volume group name "a b" has invalid characters.`, ErrInvalidName},
		{"dm name too long", 5, `Name "vg-x-cow" too long.`, ErrInvalidName},
		{"vg/lv too long", 5, `Internal error: LV name "vg/x" length 129 is not supported.`, ErrInvalidName},
		{"bad size", 3, "Can't parse size argument.\nInvalid argument for --size: 1.5q", ErrInvalidArg},
		{"zero size", 3, `--size may not be zero.`, ErrInvalidArg},
		{"percent of LV", 5, `Please express size as %FREE, %ORIGIN, %PVS or %VG.`, ErrInvalidArg},
		{"bad tag", 3, "Invalid argument for --addtag: a,b\nError during parsing of command line.", ErrInvalidArg},
		{"other exit 3", 3, `Option --foo not recognised.`, ErrInvalidArg},
		{"other failure", 5, `vg/lv1 cannot be merged because --trackchanges was not used.`, ErrFailed},
		{"empty", 5, ``, ErrFailed},
		{"signal", -1, `signal: killed`, ErrFailed},
		// Warnings do not decide: this one is printed by every lvcreate in
		// a VG whose thin pools are overcommitted.
		{"warning about free space", 5, "WARNING: Sum of all thin volume sizes (120.00 MiB) exceeds the size of thin pools (no free space in volume group).\nFailed to suspend logical volume vg/lv1.", ErrFailed},
		{"warning in use", 0, "WARNING: something in use.", ErrFailed},
		{"case insensitive", 5, `LOGICAL VOLUME VG/X IN USE.`, ErrInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.exit, tt.msg); got != tt.want {
				t.Errorf("classify(%d, %q) = %v, want %v", tt.exit, tt.msg, got, tt.want)
			}
		})
	}
}

// TestClassifyRecorded classifies every command recorded from real LVM.
func TestClassifyRecorded(t *testing.T) {
	want := map[string]error{
		"lvchange-missing":              ErrNotFound,
		"lvconvert-merge-missing":       ErrNotFound,
		"lvconvert-merge-not-snapshot":  ErrFailed,
		"lvcreate-bad-extents":          ErrInvalidArg,
		"lvcreate-bad-size":             ErrInvalidArg,
		"lvcreate-dm-name-too-long":     ErrInvalidName,
		"lvcreate-dotdot":               ErrInvalidName,
		"lvcreate-exists":               ErrExists,
		"lvcreate-exists-thin":          ErrExists,
		"lvcreate-invalid-char":         ErrInvalidName,
		"lvcreate-invalid-name":         ErrInvalidName,
		"lvcreate-leading-hyphen":       ErrInvalidName,
		"lvcreate-name-too-long":        ErrInvalidName,
		"lvcreate-no-origin":            ErrNotFound,
		"lvcreate-no-vg":                ErrNotFound,
		"lvcreate-nospace":              ErrNoSpace,
		"lvcreate-nospace-extents":      nil, // LVM settles for less space
		"lvcreate-nospace-extents-full": ErrNoSpace,
		"lvcreate-nospace-free":         nil,
		"lvcreate-origin-merging":       ErrInUse,
		"lvcreate-reserved-prefix":      ErrInvalidName,
		"lvcreate-reserved-pvmove":      ErrInvalidName,
		"lvcreate-reserved-tmeta":       ErrInvalidName,
		"lvcreate-reserved-vorigin":     ErrInvalidName,
		"lvcreate-snapshot-of-snapshot": ErrInvalidName,
		"lvextend-bad-size":             ErrInvalidArg,
		"lvextend-nospace":              ErrNoSpace,
		"lvextend-nospace-snapshot":     ErrNoSpace,
		"lvextend-zero":                 ErrInvalidArg,
		"lvremove-holder":               ErrInUse,
		"lvremove-merging":              ErrInUse,
		"lvremove-missing":              ErrNotFound,
		"lvremove-mounted":              ErrInUse,
		"lvremove-no-vg":                ErrNotFound,
		"lvremove-open":                 ErrInUse,
		"lvrename-exists":               ErrExists,
		"lvrename-invalid":              ErrInvalidName,
		"lvrename-missing":              ErrNotFound,
		"lvrename-reserved":             ErrInvalidName,
		"merge-delayed-origin-open":     nil,
		"merge-delayed-snapshot-open":   nil,
		"merge-delayed-thin":            nil,
		"merge-started":                 nil,
		// Host 2 of a VG shared through lvmlockd and sanlock. LVM lets
		// lvremove, lvrename and lvconvert --merge of a snapshot whose
		// origin host 1 has active through (exit 0): snapfs refuses those
		// itself (model.LVEntry.LockedHere). It also never activates such
		// a snapshot, which LVM would want confirmed.
		"shared-activate-snapshot-active-remotely":     ErrFailed,
		"shared-activate-snapshot-yes-active-remotely": ErrActiveElsewhere,
		// In an lvm shell that has read the VG before (snapfs's, after its
		// first report), LVM blames the lock LV instead of the lockspace.
		"shared-shell-lvcreate-no-lockspace":              ErrNoLock,
		"shared-shell-lvcreate-no-lockspace-after-report": ErrNoLock,
		"shared-lvchange-active-remotely":                 ErrActiveElsewhere,
		"shared-lvcreate-active-remotely":                 ErrActiveElsewhere,
		"shared-lvcreate-no-lockspace":                    ErrNoLock,
		"shared-lvextend-active-remotely":                 ErrActiveElsewhere,
		"shared-lvremove-active-remotely":                 nil,
		"shared-lvremove-no-lockspace":                    ErrNoLock,
		"shared-lvrename-active-remotely":                 nil,
		"shared-merge-active-remotely":                    nil,
	}
	seen := make(map[string]bool)
	for _, name := range allCases(t) {
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			kind, ok := want[name]
			if !ok {
				t.Fatalf("recorded command %s has no expected classification here", name)
			}
			c := loadCase(t, name)
			_, err := c.result()
			if kind == nil {
				if err != nil {
					t.Fatalf("%q: exit %d, %v; want success", c.argv, c.exit, err)
				}
				return
			}
			if !errors.Is(err, kind) {
				t.Fatalf("%q: %v; want %v", c.argv, err, kind)
			}
			var ce *CommandError
			if !errors.As(err, &ce) || ce.ExitCode != c.exit {
				t.Fatalf("%q: %#v; want a *CommandError with exit code %d", c.argv, err, c.exit)
			}
			if ce.Message == "" || strings.Contains(ce.Message, "\n\n") {
				t.Errorf("message %q: want LVM's non-empty lines", ce.Message)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expected recorded command %s is missing from %s", name, testdataDir)
		}
	}
}

func TestCommandError(t *testing.T) {
	ce := commandError([]string{"lvm", "lvremove", "--yes", "vg/x"}, 5,
		[]byte("  WARNING: a warning.\n  Logical volume vg/x in use.\n"), nil)
	if ce.Kind != ErrInUse || !errors.Is(ce, ErrInUse) || errors.Is(ce, ErrFailed) {
		t.Errorf("Kind = %v; want exactly ErrInUse", ce.Kind)
	}
	if want := "WARNING: a warning.\nLogical volume vg/x in use."; ce.Message != want {
		t.Errorf("Message = %q, want %q", ce.Message, want)
	}
	want := "lvm lvremove --yes vg/x: exit status 5: WARNING: a warning.; Logical volume vg/x in use."
	if got := ce.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&CommandError{Argv: []string{"lvm", "x"}, ExitCode: -1, Kind: ErrTimeout, Message: "timed out after 1s"}).Error(); got != "lvm x: timed out: timed out after 1s" {
		t.Errorf("timeout Error() = %q", got)
	}
	if err := (&CommandError{}); !errors.Is(err, ErrFailed) {
		t.Errorf("a CommandError without Kind should unwrap to ErrFailed")
	}
}

// LVM from 2.03.26 on reports the log of a JSON command in its output
// instead of on stderr; this is the shape lvm prints there.
func TestJSONLogErrors(t *testing.T) {
	out := []byte(`{
      "report": [],
      "log": [
          {"log_seq_num":"1", "log_type":"error", "log_context":"processing", "log_object_type":"vg", "log_object_name":"nosuchvg", "log_object_id":"", "log_object_group":"", "log_object_group_id":"", "log_message":"Volume group \"nosuchvg\" not found", "log_errno":"-1", "log_ret_code":"0"},
          {"log_seq_num":"2", "log_type":"warn", "log_message":"WARNING: something"},
          {"log_seq_num":"3", "log_type":"status", "log_message":"failure", "log_ret_code":"5"}
      ]
  }`)
	ce := commandError([]string{"lvm", "fullreport"}, 5, nil, out)
	if ce.Message != `Volume group "nosuchvg" not found` {
		t.Errorf("Message = %q", ce.Message)
	}
	if ce.Kind != ErrNotFound {
		t.Errorf("Kind = %v, want ErrNotFound", ce.Kind)
	}
	if got := jsonLogErrors([]byte("  Logical volume created.")); got != nil {
		t.Errorf("jsonLogErrors of text = %q, want nothing", got)
	}
}
