package lvm

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// nameListAnswer builds the kernel's answer to DM_LIST_DEVICES with
// DM_UUID_FLAG (drivers/md/dm-ioctl.c: list_devices): per device its dev,
// next and name, then 8-byte aligned event_nr and flags, then, aligned
// again, its UUID when it has one. flagsOf gives an entry's flags (old
// kernels write 0).
func nameListAnswer(devs []DMDevice, flagsOf func(DMDevice) uint32) []byte {
	buf := make([]byte, 4096)
	fillListRequest(buf)
	ne := binary.NativeEndian
	data := buf[dmIoctlSize:]
	off, prev := 0, -1
	for i, d := range devs {
		if prev >= 0 {
			ne.PutUint32(data[prev+offListNext:], uint32(off-prev))
		}
		ne.PutUint64(data[off+offListDev:], uint64(253<<8|i+1))
		copy(data[off+offListName:], d.Name)
		extra := off + align8(offListName+len(d.Name)+1)
		ne.PutUint32(data[extra:], 1)
		flags := flagsOf(d)
		ne.PutUint32(data[extra+4:], flags)
		prev, off = off, extra+8
		if flags&dmNameListHasUUID != 0 {
			copy(data[off:], d.UUID)
			off = align8(off + len(d.UUID) + 1)
		}
	}
	ne.PutUint32(buf[offDataSize:], uint32(dmIoctlSize+max(off, 16)))
	return buf
}

func uuidFlags(d DMDevice) uint32 {
	if d.UUID == "" {
		return dmNameListDoesntUUID
	}
	return dmNameListHasUUID
}

func TestParseNameList(t *testing.T) {
	devs := []DMDevice{
		{Name: "vg-o", UUID: "LVM-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{Name: "vg-o-real", UUID: "LVM-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-real"},
		{Name: "plain"},
		{Name: "luks-1234", UUID: "CRYPT-LUKS2-1234-luks-1234"},
	}
	got, err := parseNameList(nameListAnswer(devs, uuidFlags))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, devs) {
		t.Errorf("got %+v\nwant %+v", got, devs)
	}

	// No devices: the kernel writes a dev of 0 and nothing else.
	if got, err := parseNameList(nameListAnswer(nil, uuidFlags)); err != nil || got != nil {
		t.Errorf("no devices: %+v, %v", got, err)
	}
	// A kernel before 4.45 ignores DM_UUID_FLAG and leaves flags 0.
	old := nameListAnswer(devs, func(DMDevice) uint32 { return 0 })
	if _, err := parseNameList(old); !errors.Is(err, ErrNoUUIDs) {
		t.Errorf("an old kernel's answer: %v, want ErrNoUUIDs", err)
	}
	// An answer cut short is an error, not a shorter list.
	short := nameListAnswer(devs, uuidFlags)
	binary.NativeEndian.PutUint32(short[offDataSize:], dmIoctlSize+40)
	if got, err := parseNameList(short); err == nil {
		t.Errorf("an answer cut short: %+v, no error", got)
	}
}

func TestDMVGPart(t *testing.T) {
	tests := []struct {
		name, vg string
		ok       bool
	}{
		{"vg-lv", "vg", true},
		{"vg-lv-real", "vg", true},
		{"snapfs--vm-a", "snapfs--vm", true},
		{"a---b", "a--", true}, // VG "a-", LV "b"
		{"a--b-c--d", "a--b", true},
		{"mpatha", "", false},
		{"luks--x", "", false},
		{"-x", "", false},
		{"x-", "", false},
	}
	for _, tt := range tests {
		vg, ok := dmVGPart(tt.name)
		if vg != tt.vg || ok != tt.ok {
			t.Errorf("dmVGPart(%q) = %q, %v; want %q, %v", tt.name, vg, ok, tt.vg, tt.ok)
		}
	}
}

func TestLVDeviceRejects(t *testing.T) {
	lv := func(name string) DMDevice { return DMDevice{Name: name, UUID: "LVM-" + strings.Repeat("a", 64)} }
	tests := []struct {
		name string
		devs []DMDevice
		want []string
	}{
		{"none", nil, nil},
		{"LVs and their layers", []DMDevice{lv("bench-o0000"), lv("bench-o0000-real"), lv("bench-s0000"), lv("bench-s0000-cow")},
			[]string{"r|^/dev/mapper/bench-[^-]|"}},
		{"a VG with a hyphen", []DMDevice{lv("snapfs--vm-a")}, []string{"r|^/dev/mapper/snapfs--vm-[^-]|"}},
		{"dots and pluses", []DMDevice{lv("my.vg+1-x")}, []string{"r|^/dev/mapper/my[.]vg[+]1-[^-]|"}},
		{"two VGs, sorted", []DMDevice{lv("vg2-a"), lv("vg1-a")},
			[]string{"r|^/dev/mapper/vg1-[^-]|", "r|^/dev/mapper/vg2-[^-]|"}},
		// A LUKS device named as an LV of VG data would be, which may
		// hold one of data's PVs: no filter for data.
		{"a LUKS device named as an LV", []DMDevice{lv("data-home"), {Name: "data-crypt", UUID: "CRYPT-LUKS2-1234-data-crypt"}, lv("vg-a")},
			[]string{"r|^/dev/mapper/vg-[^-]|"}},
		{"listed before the LVs", []DMDevice{{Name: "data-crypt", UUID: "CRYPT-LUKS2-1234-data-crypt"}, lv("data-home")}, nil},
		{"a device without a UUID", []DMDevice{lv("vg-a"), {Name: "vg-b"}}, nil},
		// kpartx's partitions of an LV: a UUID of their own.
		{"a partition of an LV", []DMDevice{lv("vg-disk"), {Name: "vg-disk1", UUID: "part1-LVM-" + strings.Repeat("a", 64)}}, nil},
		{"names of no VG", []DMDevice{{Name: "mpatha", UUID: "mpath-3600"}, {Name: "luks--x", UUID: "CRYPT-x"}, lv("vg-a")},
			[]string{"r|^/dev/mapper/vg-[^-]|"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lvDeviceRejects(tt.devs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScanFilterConfig(t *testing.T) {
	got := scanFilterConfig([]string{"r|^/dev/mapper/vg1-[^-]|", "r|^/dev/mapper/vg2-[^-]|"})
	if want := `devices/global_filter=["r|^/dev/mapper/vg1-[^-]|","r|^/dev/mapper/vg2-[^-]|"]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestParseScanSettings(t *testing.T) {
	// lvm 2.03.16's lvmconfig --typeconfig full, in the VM.
	s, err := parseScanSettings([]byte("global_filter=[\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=0\n"))
	if err != nil || s.globalFilter != defaultGlobalFilter || s.scanLVs || s.devicesFile {
		t.Errorf("defaults: %+v, %v", s, err)
	}
	s, err = parseScanSettings([]byte("global_filter=[\"r|^/dev/sdb$|\",\"a|.*|\"]\nscan_lvs=1\nuse_devicesfile=1\n"))
	if err != nil || s.globalFilter != `["r|^/dev/sdb$|","a|.*|"]` || !s.scanLVs || !s.devicesFile {
		t.Errorf("set: %+v, %v", s, err)
	}
	for _, out := range []string{"", "scan_lvs=0\nuse_devicesfile=0\n", "global_filter=[\"a|.*|\"]\nuse_devicesfile=0\n",
		"global_filter=[]\nscan_lvs=yes\nuse_devicesfile=0\n"} {
		if _, err := parseScanSettings([]byte(out)); err == nil {
			t.Errorf("%q: no error", out)
		}
	}
}

// lvmRunner answers every command with config, as lvmconfig would, and
// records each command.
type lvmRunner struct {
	config string
	calls  [][]string
}

func (r *lvmRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	r.calls = append(r.calls, argv)
	return []byte(r.config), nil
}

// TestClientRemoveFilter: with LVDevices, lvremove gets a global_filter that
// rejects the LVs' devices in place of LVM's default one; lvmconfig runs
// once, as a process, and again after lvm.conf changed. Without a filter
// to give (a global_filter of the administrator's, a devices file,
// scan_lvs set, no listing, no VG wholly LVM's) it is the plain lvremove;
// an LVM that refuses the command line gets the plain one too; any other
// failure is the answer.
func TestClientRemoveFilter(t *testing.T) {
	ctx := context.Background()
	lvs := []DMDevice{{Name: "vg-o", UUID: "LVM-x"}, {Name: "vg-s", UUID: "LVM-y"}}
	defaults := "global_filter=[\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=0\n"
	filtered := []string{"lvm", "lvremove", "--config", `devices/global_filter=["r|^/dev/mapper/vg-[^-]|"]`, "--yes", "vg/s"}
	config := []string{"lvm", "lvmconfig", "--typeconfig", "full", "devices/global_filter", "devices/scan_lvs", "devices/use_devicesfile"}
	plain := []string{"lvm", "lvremove", "--yes", "vg/s"}
	unknown := commandError([]string{"lvm", "lvremove"}, 3, []byte("  Error during parsing of command line.\n"), nil)
	inUse := commandError([]string{"lvm", "lvremove"}, 5, []byte("  Logical volume vg/s in use.\n"), nil)
	tests := []struct {
		name    string
		config  string
		devs    []DMDevice
		listErr error
		answers []error
		shell   [][]string
		err     error
	}{
		{"filtered", defaults, lvs, nil, nil, [][]string{filtered}, nil},
		{"in use", defaults, lvs, nil, []error{inUse}, [][]string{filtered}, ErrInUse},
		{"an LVM refusing the command line", defaults, lvs, nil, []error{unknown}, [][]string{filtered, plain}, nil},
		{"scan_lvs", "global_filter=[\"a|.*|\"]\nscan_lvs=1\nuse_devicesfile=0\n", lvs, nil, nil, [][]string{plain}, nil},
		{"a devices file", "global_filter=[\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=1\n", lvs, nil, nil, [][]string{plain}, nil},
		{"the administrator's global_filter", "global_filter=[\"r|^/dev/sdb$|\",\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=0\n", lvs, nil, nil, [][]string{plain}, nil},
		{"settings unreadable", "", lvs, nil, nil, [][]string{plain}, nil},
		{"no listing", defaults, nil, ErrNoUUIDs, nil, [][]string{plain}, nil},
		{"no VG wholly LVM's", defaults, []DMDevice{{Name: "vg-o", UUID: "LVM-x"}, {Name: "vg-crypt", UUID: "CRYPT-1"}}, nil, nil, [][]string{plain}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shell := &scriptRunner{answers: tt.answers}
			proc := &lvmRunner{config: tt.config}
			c := NewClient(shell, "")
			c.Process, c.ConfigDir = proc, t.TempDir()
			c.LVDevices = func() ([]DMDevice, error) { return tt.devs, tt.listErr }
			err := c.Remove(ctx, "vg", "s")
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if want := [][]string{config}; !reflect.DeepEqual(proc.calls, want) {
				t.Errorf("processes:\n got %q\nwant %q", proc.calls, want)
			}
			if !reflect.DeepEqual(shell.calls, tt.shell) {
				t.Errorf("shell commands:\n got %q\nwant %q", shell.calls, tt.shell)
			}
		})
	}

	t.Run("settings read once, and again after a change", func(t *testing.T) {
		dir := t.TempDir()
		conf := filepath.Join(dir, "lvm.conf")
		if err := os.WriteFile(conf, []byte("devices {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		proc, shell := &lvmRunner{config: defaults}, &scriptRunner{}
		c := NewClient(shell, "")
		c.Process, c.ConfigDir = proc, dir
		c.LVDevices = func() ([]DMDevice, error) { return lvs, nil }
		if err := c.ReadScanSettings(ctx); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := c.Remove(ctx, "vg", "s"); err != nil {
				t.Fatal(err)
			}
		}
		if want := [][]string{config}; !reflect.DeepEqual(proc.calls, want) {
			t.Errorf("processes:\n got %q\nwant %q", proc.calls, want)
		}
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(conf, later, later); err != nil {
			t.Fatal(err)
		}
		if err := c.Remove(ctx, "vg", "s"); err != nil {
			t.Fatal(err)
		}
		if want := [][]string{config, config}; !reflect.DeepEqual(proc.calls, want) {
			t.Errorf("after lvm.conf changed:\n got %q\nwant %q", proc.calls, want)
		}
		if want := [][]string{filtered, filtered, filtered}; !reflect.DeepEqual(shell.calls, want) {
			t.Errorf("shell commands:\n got %q\nwant %q", shell.calls, want)
		}
	})
}

// TestClientCreateSnapshotFilter: with a filter to give, lvcreate gets it
// and no --devices; an LVM that refuses the command line, or no filter to
// give, gets the VG's PVs as before.
func TestClientCreateSnapshotFilter(t *testing.T) {
	ctx := context.Background()
	lvs := []DMDevice{{Name: "vg-o", UUID: "LVM-x"}}
	defaults := "global_filter=[\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=0\n"
	theirs := "global_filter=[\"r|^/dev/sdb$|\",\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=0\n"
	filtered := []string{"lvm", "lvcreate", "--config", `devices/global_filter=["r|^/dev/mapper/vg-[^-]|"]`, "--snapshot", "--name", "s", "--size", "4M", "vg/o"}
	withPVs := []string{"lvm", "lvcreate", "--devices", "/dev/loop0", "--snapshot", "--name", "s", "--size", "4M", "vg/o"}
	unknown := commandError([]string{"lvm", "lvcreate"}, 3, []byte("  Error during parsing of command line.\n"), nil)
	exists := commandError([]string{"lvm", "lvcreate"}, 5, []byte("  Logical Volume \"s\" already exists in volume group \"vg\"\n"), nil)
	tests := []struct {
		name    string
		config  string
		answers []error
		want    [][]string
		err     error
	}{
		{"filtered", defaults, nil, [][]string{filtered}, nil},
		{"refused for itself", defaults, []error{exists}, [][]string{filtered}, ErrExists},
		{"an LVM refusing the command line", defaults, []error{unknown}, [][]string{filtered, withPVs}, nil},
		{"the administrator's global_filter", theirs, nil, [][]string{withPVs}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptRunner{answers: tt.answers}
			c := NewClient(r, "")
			c.Process, c.ConfigDir = &lvmRunner{config: tt.config}, t.TempDir()
			c.LVDevices = func() ([]DMDevice, error) { return lvs, nil }
			c.Devices = func(string) []string { return []string{"/dev/loop0"} }
			err := c.CreateSnapshot(ctx, "vg", "o", "s", SizeSpec{Size: "4M"})
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(r.calls, tt.want) {
				t.Errorf("commands:\n got %q\nwant %q", r.calls, tt.want)
			}
		})
	}
}

// TestClientFilteredCommands: every command that changes an LV, and the
// report, get the filter (the report in its own --config, which LVM reads
// once); an LVM that refuses the command line gets the command without it,
// and a refusal of the command itself is its answer.
func TestClientFilteredCommands(t *testing.T) {
	ctx := context.Background()
	const cfg = `devices/global_filter=["r|^/dev/mapper/vg-[^-]|"]`
	defaults := "global_filter=[\"a|.*|\"]\nscan_lvs=0\nuse_devicesfile=0\n"
	report := reportArgs([]string{"vg"})
	filteredReport := slices.Clone(report)
	i := slices.Index(filteredReport, "--config")
	filteredReport[i+1] = reportConfig + " " + cfg
	commands := []struct {
		name string
		run  func(*Client) error
		args []string // after the binary
		with []string // with the filter, after the binary
	}{
		{"report", func(c *Client) error { _, err := c.Report(ctx, []string{"vg"}); return err }, report, filteredReport},
		{"rename", func(c *Client) error { return c.Rename(ctx, "vg", "s", "t") },
			[]string{"lvrename", "vg", "s", "t"}, []string{"lvrename", "--config", cfg, "vg", "s", "t"}},
		{"merge", func(c *Client) error { return c.Merge(ctx, "vg", "s") },
			[]string{"lvconvert", "--merge", "--background", "vg/s"}, []string{"lvconvert", "--config", cfg, "--merge", "--background", "vg/s"}},
		{"extend", func(c *Client) error { return c.Extend(ctx, "vg", "s", "8M") },
			[]string{"lvextend", "--size", "+8M", "vg/s"}, []string{"lvextend", "--config", cfg, "--size", "+8M", "vg/s"}},
		{"extend pool metadata", func(c *Client) error { return c.ExtendPoolMetadata(ctx, "vg", "pool", "8M") },
			[]string{"lvextend", "--poolmetadatasize", "+8M", "vg/pool"}, []string{"lvextend", "--config", cfg, "--poolmetadatasize", "+8M", "vg/pool"}},
		{"activate", func(c *Client) error { return c.Activate(ctx, "vg", "s") },
			[]string{"lvchange", "-ay", "-K", "vg/s"}, []string{"lvchange", "--config", cfg, "-ay", "-K", "vg/s"}},
		{"add tag", func(c *Client) error { return c.AddTag(ctx, "vg", "s", "snapfs_hold") },
			[]string{"lvchange", "--addtag", "snapfs_hold", "vg/s"}, []string{"lvchange", "--config", cfg, "--addtag", "snapfs_hold", "vg/s"}},
		{"delete tag", func(c *Client) error { return c.DelTag(ctx, "vg", "s", "snapfs_hold") },
			[]string{"lvchange", "--deltag", "snapfs_hold", "vg/s"}, []string{"lvchange", "--config", cfg, "--deltag", "snapfs_hold", "vg/s"}},
	}
	refusedLine := commandError([]string{"lvm"}, 3, []byte("  Error during parsing of command line.\n"), nil)
	gone := commandError([]string{"lvm"}, 5, []byte("  Failed to find logical volume \"vg/s\"\n"), nil)
	lvm := func(args []string) []string { return append([]string{"lvm"}, args...) }
	for _, cmd := range commands {
		cases := []struct {
			name    string
			devs    []DMDevice
			answers []error
			want    [][]string
			err     error
		}{
			{"filtered", []DMDevice{{Name: "vg-s", UUID: "LVM-x"}}, nil, [][]string{lvm(cmd.with)}, nil},
			{"the command line refused", []DMDevice{{Name: "vg-s", UUID: "LVM-x"}}, []error{refusedLine}, [][]string{lvm(cmd.with), lvm(cmd.args)}, nil},
			{"the command refused", []DMDevice{{Name: "vg-s", UUID: "LVM-x"}}, []error{gone}, [][]string{lvm(cmd.with)}, ErrNotFound},
			{"no filter to give", []DMDevice{{Name: "vg-s", UUID: "CRYPT-x"}}, nil, [][]string{lvm(cmd.args)}, nil},
		}
		for _, tt := range cases {
			t.Run(cmd.name+"/"+tt.name, func(t *testing.T) {
				r := &reportingRunner{scriptRunner{answers: tt.answers}}
				c := NewClient(r, "")
				c.Process, c.ConfigDir = &lvmRunner{config: defaults}, t.TempDir()
				c.LVDevices = func() ([]DMDevice, error) { return tt.devs, nil }
				err := cmd.run(c)
				if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
					t.Errorf("err = %v, want %v", err, tt.err)
				}
				if !reflect.DeepEqual(r.calls, tt.want) {
					t.Errorf("commands:\n got %q\nwant %q", r.calls, tt.want)
				}
			})
		}
	}
}

// reportingRunner is a scriptRunner whose successful commands print an
// empty report, which a fullreport's caller can parse.
type reportingRunner struct{ scriptRunner }

func (r *reportingRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if _, err := r.scriptRunner.Run(ctx, argv...); err != nil {
		return nil, err
	}
	return []byte(`{"report": []}`), nil
}

func TestWithConfig(t *testing.T) {
	tests := []struct{ args, want []string }{
		{[]string{"lvremove", "--yes", "vg/s"}, []string{"lvremove", "--config", "C", "--yes", "vg/s"}},
		{[]string{"fullreport", "-a", "--config", "report/x=1", "vg"}, []string{"fullreport", "-a", "--config", "report/x=1 C", "vg"}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.args)
		if got := withConfig(tt.args, "C"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("withConfig(%q) = %q, want %q", tt.args, got, tt.want)
		}
		if !reflect.DeepEqual(tt.args, in) {
			t.Errorf("withConfig changed its argument: %q", tt.args)
		}
	}
}
