package lvm

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestClientCommands runs each Client method against the command recorded
// from real LVM with the same argv: the method must build exactly that
// command, and classify LVM's answer.
func TestClientCommands(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		recording string
		call      func(c *Client) error
		want      error  // nil: the command succeeded
		prefix    string // how the error names the operation
	}{
		{"lvcreate-exists", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "snap1", SizeSpec{Size: "8M"})
		}, ErrExists, "lvcreate vg/snap1: "},
		{"lvcreate-exists-thin", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "thin1", "tsnap1", SizeSpec{})
		}, ErrExists, "lvcreate vg/tsnap1: "},
		{"lvcreate-nospace", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "fat", "toobig", SizeSpec{Size: "400M"})
		}, ErrNoSpace, "lvcreate vg/toobig: "},
		{"lvcreate-nospace-extents", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "fat", "toobig", SizeSpec{Extents: "100%ORIGIN"})
		}, nil, ""},
		{"lvcreate-nospace-extents-full", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg2", "o", "s", SizeSpec{Extents: "20%ORIGIN"})
		}, ErrNoSpace, "lvcreate vg2/s: "},
		{"lvcreate-snapshot-of-snapshot", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "snap1", "snapsnap", SizeSpec{Size: "8M"})
		}, ErrInvalidName, "lvcreate vg/snapsnap: "},
		{"lvcreate-origin-merging", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "mpo", "another", SizeSpec{Size: "8M"})
		}, ErrInUse, "lvcreate vg/another: "},
		{"lvcreate-no-origin", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "nosuch", "s", SizeSpec{Size: "8M"})
		}, ErrNotFound, "lvcreate vg/s: "},
		{"lvcreate-no-vg", func(c *Client) error {
			return c.CreateSnapshot(ctx, "nosuchvg", "lv1", "s", SizeSpec{Size: "8M"})
		}, ErrNotFound, "lvcreate nosuchvg/s: "},
		{"lvremove-open", func(c *Client) error { return c.Remove(ctx, "vg", "snapx") }, ErrInUse, "lvremove vg/snapx: "},
		{"lvremove-holder", func(c *Client) error { return c.Remove(ctx, "vg", "snapx") }, ErrInUse, "lvremove vg/snapx: "},
		{"lvremove-mounted", func(c *Client) error { return c.Remove(ctx, "vg", "snapfs") }, ErrInUse, "lvremove vg/snapfs: "},
		{"lvremove-merging", func(c *Client) error { return c.Remove(ctx, "vg", "mps") }, ErrInUse, "lvremove vg/mps: "},
		{"lvremove-missing", func(c *Client) error { return c.Remove(ctx, "vg", "nosuch") }, ErrNotFound, "lvremove vg/nosuch: "},
		{"lvrename-exists", func(c *Client) error { return c.Rename(ctx, "vg", "snap1", "snap0") }, ErrExists, "lvrename vg/snap1 snap0: "},
		{"lvrename-missing", func(c *Client) error { return c.Rename(ctx, "vg", "nosuch", "other") }, ErrNotFound, "lvrename vg/nosuch other: "},
		{"merge-delayed-origin-open", func(c *Client) error { return c.Merge(ctx, "vg", "mps") }, nil, ""},
		{"merge-delayed-snapshot-open", func(c *Client) error { return c.Merge(ctx, "vg", "mps2") }, nil, ""},
		{"merge-delayed-thin", func(c *Client) error { return c.Merge(ctx, "vg", "tsnap3") }, nil, ""},
		{"lvconvert-merge-missing", func(c *Client) error { return c.Merge(ctx, "vg", "nosuch") }, ErrNotFound, "lvconvert --merge vg/nosuch: "},
		{"lvextend-nospace-snapshot", func(c *Client) error { return c.Extend(ctx, "vg", "snapfat", "300M") }, ErrNoSpace, "lvextend vg/snapfat: "},
		{"lvextend-nospace", func(c *Client) error { return c.Extend(ctx, "vg", "filler1", "2G") }, ErrNoSpace, "lvextend vg/filler1: "},
		{"lvchange-missing", func(c *Client) error { return c.Activate(ctx, "vg", "nosuch") }, ErrNotFound, "lvchange -ay vg/nosuch: "},
	}
	for _, tt := range tests {
		t.Run(tt.recording, func(t *testing.T) {
			rec := loadCase(t, tt.recording)
			r := newReplayRunner(t, rec)
			err := tt.call(NewClient(r, ""))
			if calls := r.Calls(); len(calls) != 1 || !reflect.DeepEqual(calls[0], rec.argv) {
				t.Fatalf("commands run: %q, want exactly %q", calls, rec.argv)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v does not wrap a *CommandError", err)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Errorf("err = %q, want it to start with %q", err, tt.prefix)
			}
		})
	}
}

// noRunner fails the test when a command is run.
type noRunner struct{ t *testing.T }

func (r noRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	r.t.Errorf("ran %q; want no command", argv)
	return nil, nil
}

// TestClientRefusesBeforeRunning: names and sizes LVM would reject, or
// that would read as options, never reach LVM.
func TestClientRefusesBeforeRunning(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(c *Client) error
		want error
	}{
		{"reserved name", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "snapshot1", SizeSpec{Size: "8M"})
		}, ErrInvalidName},
		{"reserved substring", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "x_tmeta", SizeSpec{Size: "8M"})
		}, ErrInvalidName},
		{"option as name", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "--yes", SizeSpec{Size: "8M"})
		}, ErrInvalidName},
		{"option as origin", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "-x", "s", SizeSpec{Size: "8M"})
		}, ErrInvalidName},
		{"dm name too long", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg2", "o", strings.Repeat("m", 121), SizeSpec{Size: "4M"})
		}, ErrInvalidName},
		{"bad size", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "s", SizeSpec{Size: "1.5q"})
		}, ErrInvalidArg},
		{"bad extents", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "s", SizeSpec{Extents: "20%LV"})
		}, ErrInvalidArg},
		{"size and extents", func(c *Client) error {
			return c.CreateSnapshot(ctx, "vg", "lv1", "s", SizeSpec{Size: "8M", Extents: "20%ORIGIN"})
		}, ErrInvalidArg},
		{"remove option", func(c *Client) error { return c.Remove(ctx, "vg", "--all") }, ErrInvalidName},
		{"remove in bad vg", func(c *Client) error { return c.Remove(ctx, "-vg", "x") }, ErrInvalidName},
		{"rename to reserved", func(c *Client) error { return c.Rename(ctx, "vg", "snap1", "snapshot2") }, ErrInvalidName},
		{"rename to bad", func(c *Client) error { return c.Rename(ctx, "vg", "snap1", "a b") }, ErrInvalidName},
		{"rename from bad", func(c *Client) error { return c.Rename(ctx, "vg", "a/b", "c") }, ErrInvalidName},
		{"merge bad", func(c *Client) error { return c.Merge(ctx, "vg", "") }, ErrInvalidName},
		{"extend zero", func(c *Client) error { return c.Extend(ctx, "vg", "snap0", "0") }, ErrInvalidArg},
		{"extend signed", func(c *Client) error { return c.Extend(ctx, "vg", "snap0", "+1G") }, ErrInvalidArg},
		{"extend bad", func(c *Client) error { return c.Extend(ctx, "vg", "snap0", "1.5q") }, ErrInvalidArg},
		{"activate bad", func(c *Client) error { return c.Activate(ctx, "vg", "..") }, ErrInvalidName},
		{"report bad vg", func(c *Client) error { _, err := c.Report(ctx, []string{"--all"}); return err }, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(NewClient(noRunner{t}, ""))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// recordingRunner records the commands and answers with nothing.
type recordingRunner struct{ calls [][]string }

func (r *recordingRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	r.calls = append(r.calls, argv)
	return nil, nil
}

func TestClientCommandLines(t *testing.T) {
	ctx := context.Background()
	r := &recordingRunner{}
	c := NewClient(r, "/usr/sbin/lvm")
	steps := []func() error{
		func() error { return c.CreateSnapshot(ctx, "vg", "lv1", "s1", SizeSpec{Size: "2G"}) },
		func() error { return c.CreateSnapshot(ctx, "vg", "lv1", "s2", SizeSpec{Extents: "20%ORIGIN"}) },
		func() error { return c.CreateSnapshot(ctx, "vg", "lv1", "s3", SizeSpec{Extents: "100"}) },
		func() error { return c.CreateSnapshot(ctx, "vg", "thin1", "s4", SizeSpec{}) },
		func() error { return c.Remove(ctx, "vg", "s1") },
		func() error { return c.Rename(ctx, "vg", "s2", "s5") },
		func() error { return c.Merge(ctx, "vg", "s3") },
		func() error { return c.Extend(ctx, "vg", "s5", "512M") },
		func() error { return c.Activate(ctx, "vg", "s4") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := [][]string{
		{"/usr/sbin/lvm", "lvcreate", "--snapshot", "--name", "s1", "--size", "2G", "vg/lv1"},
		{"/usr/sbin/lvm", "lvcreate", "--snapshot", "--name", "s2", "--extents", "20%ORIGIN", "vg/lv1"},
		{"/usr/sbin/lvm", "lvcreate", "--snapshot", "--name", "s3", "--extents", "100", "vg/lv1"},
		{"/usr/sbin/lvm", "lvcreate", "--snapshot", "--name", "s4", "vg/thin1"},
		{"/usr/sbin/lvm", "lvremove", "--yes", "vg/s1"},
		{"/usr/sbin/lvm", "lvrename", "vg", "s2", "s5"},
		{"/usr/sbin/lvm", "lvconvert", "--merge", "--background", "vg/s3"},
		{"/usr/sbin/lvm", "lvextend", "--size", "+512M", "vg/s5"},
		{"/usr/sbin/lvm", "lvchange", "-ay", "-K", "vg/s4"},
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Errorf("commands:\n got %q\nwant %q", r.calls, want)
	}
	if c := (&Client{Runner: r}); c.Binary != "" {
		t.Fatal("zero Client has a binary")
	} else if err := c.Remove(ctx, "vg", "x"); err != nil || r.calls[len(r.calls)-1][0] != "lvm" {
		t.Errorf("a zero Binary runs %q, want lvm", r.calls[len(r.calls)-1][0])
	}
}

func TestClientTagCommandLines(t *testing.T) {
	ctx := context.Background()
	r := &recordingRunner{}
	c := NewClient(r, "")
	if err := c.AddTag(ctx, "vg", "snap1", "snapfs_hold"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTag(ctx, "vg", "snap1", "snapfs_expires_1800000000"); err != nil {
		t.Fatal(err)
	}
	if err := c.DelTag(ctx, "vg", "snap1", "snapfs_hold"); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"lvm", "lvchange", "--addtag", "snapfs_hold", "vg/snap1"},
		{"lvm", "lvchange", "--addtag", "snapfs_expires_1800000000", "vg/snap1"},
		{"lvm", "lvchange", "--deltag", "snapfs_hold", "vg/snap1"},
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Errorf("commands:\n got %q\nwant %q", r.calls, want)
	}
}

// TestClientTagRefusesBeforeRunning: bad names and tags never reach LVM.
func TestClientTagRefusesBeforeRunning(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(c *Client) error
		want error
	}{
		{"add option as tag", func(c *Client) error { return c.AddTag(ctx, "vg", "snap1", "--yes") }, ErrInvalidTag},
		{"add comma", func(c *Client) error { return c.AddTag(ctx, "vg", "snap1", "a,b") }, ErrInvalidTag},
		{"add empty", func(c *Client) error { return c.AddTag(ctx, "vg", "snap1", "") }, ErrInvalidTag},
		{"add @", func(c *Client) error { return c.AddTag(ctx, "vg", "snap1", "@hold") }, ErrInvalidTag},
		{"add bad LV", func(c *Client) error { return c.AddTag(ctx, "vg", "a b", "t") }, ErrInvalidName},
		{"add bad VG", func(c *Client) error { return c.AddTag(ctx, "-vg", "x", "t") }, ErrInvalidName},
		{"del space", func(c *Client) error { return c.DelTag(ctx, "vg", "snap1", "a b") }, ErrInvalidTag},
		{"del bad LV", func(c *Client) error { return c.DelTag(ctx, "vg", "..", "t") }, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(NewClient(noRunner{t}, ""))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.want == ErrInvalidTag && !errors.Is(err, ErrInvalidArg) {
				t.Errorf("err = %v does not wrap ErrInvalidArg", err)
			}
			if !strings.HasPrefix(err.Error(), "lvchange --") {
				t.Errorf("err = %q does not name the command", err)
			}
		})
	}
}

// answerRunner answers every command as LVM did with stderr and exit code.
type answerRunner struct {
	exit   int
	stderr []byte
}

func (r answerRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	return nil, commandError(argv, r.exit, r.stderr, nil)
}

// TestClientTagErrors classifies LVM's answers to lvchange --addtag and
// --deltag. An unknown LV gets the answer recorded for `lvchange -ay -K
// vg/nosuch` (errors/lvchange-missing): lvchange looks the LV up
// (process_each_lv) before it reads any option's work.
func TestClientTagErrors(t *testing.T) {
	ctx := context.Background()
	missing := loadCase(t, "lvchange-missing")
	tests := []struct {
		name   string
		runner Runner
		call   func(c *Client) error
		want   error
		prefix string
	}{
		{"add to missing LV", answerRunner{missing.exit, missing.stderr},
			func(c *Client) error { return c.AddTag(ctx, "vg", "nosuch", "snapfs_hold") },
			ErrNotFound, "lvchange --addtag snapfs_hold vg/nosuch: "},
		{"del from missing LV", answerRunner{missing.exit, missing.stderr},
			func(c *Client) error { return c.DelTag(ctx, "vg", "nosuch", "snapfs_hold") },
			ErrNotFound, "lvchange --deltag snapfs_hold vg/nosuch: "},
		// tools/lvmcmdline.c's words for a tag validate_tag refuses.
		{"LVM refuses the tag", answerRunner{3, []byte("  Invalid argument for --addtag: x\n  Error during parsing of command line.\n")},
			func(c *Client) error { return c.AddTag(ctx, "vg", "snap1", "x") },
			ErrInvalidArg, "lvchange --addtag x vg/snap1: "},
		{"missing VG", answerRunner{5, []byte("  Volume group \"nosuchvg\" not found\n  Cannot process volume group nosuchvg\n")},
			func(c *Client) error { return c.DelTag(ctx, "nosuchvg", "x", "t") },
			ErrNotFound, "lvchange --deltag t nosuchvg/x: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(NewClient(tt.runner, ""))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v does not wrap a *CommandError", err)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Errorf("err = %q, want it to start with %q", err, tt.prefix)
			}
		})
	}
}

// scriptRunner records the commands and answers each with the next of
// its answers (nil: success).
type scriptRunner struct {
	calls   [][]string
	answers []error
}

func (r *scriptRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	r.calls = append(r.calls, argv)
	if len(r.answers) == 0 {
		return nil, nil
	}
	err := r.answers[0]
	r.answers = r.answers[1:]
	return nil, err
}

// TestClientDevices: an lvcreate names the VG's PVs when Devices knows
// them, and runs again without the list when LVM refuses it before
// changing anything: a PV missing from it, none of the VG's PVs in it, or
// an LVM without --devices.
// Any other failure is the command's answer.
func TestClientDevices(t *testing.T) {
	ctx := context.Background()
	// LVM 2.03.16's words, in the VM, for a list without one of the VG's
	// two PVs.
	missing := commandError([]string{"lvm", "lvcreate"}, 5, []byte("  WARNING: Couldn't find device with uuid Q2xHkz-D9cV-9f3c-UJ2s-3pSb-0nVZ-Ty7gNd.\n"+
		"  WARNING: VG two is missing PV Q2xHkz-D9cV-9f3c-UJ2s-3pSb-0nVZ-Ty7gNd (last written to /dev/loop1).\n"+
		"  Cannot change VG two while PVs are missing.\n  See vgreduce --removemissing and vgextend --restoremissing.\n"), nil)
	unknown := commandError([]string{"lvm", "lvcreate"}, 3, []byte("  lvcreate: unrecognized option '--devices'\n  Error during parsing of command line.\n"), nil)
	exists := commandError([]string{"lvm", "lvcreate"}, 5, []byte("  Logical Volume \"s\" already exists in volume group \"two\"\n"), nil)
	// LVM 2.03.16's words, in the VM, for a list without any of the
	// VG's PVs (TestGuestScanFilter).
	noVG := commandError([]string{"lvm", "lvcreate"}, 5, []byte("  Device not found for /dev/null.\n  Volume group \"two\" not found\n  Cannot process volume group two\n"), nil)
	with := []string{"lvm", "lvcreate", "--devices", "/dev/loop0,/dev/loop1", "--snapshot", "--name", "s", "--size", "4M", "two/o"}
	without := []string{"lvm", "lvcreate", "--snapshot", "--name", "s", "--size", "4M", "two/o"}
	pvs := func(string) []string { return []string{"/dev/loop0", "/dev/loop1"} }
	tests := []struct {
		name    string
		devices func(string) []string
		answers []error
		want    [][]string
		err     error
	}{
		{"no Devices", nil, nil, [][]string{without}, nil},
		{"none known", func(string) []string { return nil }, nil, [][]string{without}, nil},
		{"a name with a comma", func(string) []string { return []string{"/dev/loop0", "/dev/a,b"} }, nil, [][]string{without}, nil},
		{"a name not in /dev", func(string) []string { return []string{"[unknown]"} }, nil, [][]string{without}, nil},
		{"named", pvs, nil, [][]string{with}, nil},
		{"a PV missing from the list", pvs, []error{missing}, [][]string{with, without}, nil},
		{"an LVM without --devices", pvs, []error{unknown}, [][]string{with, without}, nil},
		{"none of the VG's PVs in the list", pvs, []error{noVG}, [][]string{with, without}, nil},
		{"the VG gone", pvs, []error{noVG, noVG}, [][]string{with, without}, ErrNotFound},
		{"refused again without", pvs, []error{missing, exists}, [][]string{with, without}, ErrExists},
		{"refused for itself", pvs, []error{exists}, [][]string{with}, ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptRunner{answers: tt.answers}
			c := NewClient(r, "")
			c.Devices = tt.devices
			err := c.CreateSnapshot(ctx, "two", "o", "s", SizeSpec{Size: "4M"})
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(r.calls, tt.want) {
				t.Errorf("commands:\n got %q\nwant %q", r.calls, tt.want)
			}
		})
	}
}
