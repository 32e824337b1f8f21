package fs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

// fakeLVM is an in-memory LVM for the FUSE tests: it keeps VGs and LVs,
// refuses what LVM refuses with LVM's words, and records every change.
type fakeLVM struct {
	mu      sync.Mutex
	vgs     []lvm.VG
	lvs     []lvm.LV
	calls   []string
	reports int
	// failNext makes the next call of an operation ("lvcreate", "lvremove",
	// "lvrename", "lvconvert", "lvextend", "report") fail with this error.
	failNext map[string]error
	// leaveBehind makes a failing lvcreate leave its LV behind, as a killed
	// command could.
	leaveBehind bool
	// delay makes every change take this long, to widen race windows.
	delay  time.Duration
	nextID int
}

const extent = 4 << 20

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func mustAttr(s string) lvm.Attr {
	a, err := lvm.ParseAttr(s)
	if err != nil {
		panic(err)
	}
	return a
}

// newFakeLVM returns two VGs: vg holds a linear origin web with snapshot
// snap1, a thin pool with thin origin db and its thin snapshot dbsnap, an LV
// named like a fixed file, and internal LVs; vg2 holds one LV.
func newFakeLVM() *fakeLVM {
	f := &fakeLVM{failNext: map[string]error{}}
	f.vgs = []lvm.VG{
		{Name: "vg", UUID: "vg-uuid", Size: 10 << 30, Free: 5 << 30, ExtentSize: extent},
		{Name: "vg2", UUID: "vg2-uuid", Size: 1 << 30, Free: 512 << 20, ExtentSize: extent},
	}
	f.add(lvm.LV{Name: "web", VG: "vg", Attr: mustAttr("owi-aos---"), Size: 1 << 30, SegType: "linear"})
	f.add(lvm.LV{Name: "snap1", VG: "vg", Attr: mustAttr("swi-a-s---"), Origin: "web", Size: 200 << 20, OriginSize: 1 << 30,
		ChunkSize: 4096, SnapPercent: lvm.Percent{Hundredths: 486, Valid: true}})
	f.add(lvm.LV{Name: "pool", VG: "vg", Attr: mustAttr("twi-aotz--"), Size: 2 << 30, ChunkSize: 64 << 10, SegType: "thin-pool"})
	f.add(lvm.LV{Name: "pool_tdata", VG: "vg", Hidden: true, Attr: mustAttr("Twi-ao----"), Size: 2 << 30})
	f.add(lvm.LV{Name: "pool_tmeta", VG: "vg", Hidden: true, Attr: mustAttr("ewi-ao----"), Size: 4 << 20})
	f.add(lvm.LV{Name: "db", VG: "vg", Attr: mustAttr("Vwi-a-tz--"), PoolLV: "pool", Size: 1 << 30, SegType: "thin"})
	f.add(lvm.LV{Name: "dbsnap", VG: "vg", Attr: mustAttr("Vwi---tz-k"), PoolLV: "pool", Origin: "db", Size: 1 << 30, SegType: "thin", SkipActivation: true})
	f.add(lvm.LV{Name: "status", VG: "vg", Attr: mustAttr("-wi-a-----"), Size: 8 << 20, SegType: "linear"})
	f.add(lvm.LV{Name: "data", VG: "vg2", Attr: mustAttr("-wi-a-----"), Size: 256 << 20, SegType: "linear"})
	return f
}

func (f *fakeLVM) add(lv lvm.LV) {
	f.nextID++
	if lv.UUID == "" {
		lv.UUID = fmt.Sprintf("uuid-%03d", f.nextID)
	}
	if lv.Time.IsZero() {
		lv.Time = t0.Add(time.Duration(f.nextID) * time.Hour)
	}
	if !lv.Hidden {
		lv.Path = "/dev/" + lv.VG + "/" + lv.Name
	}
	lv.KernelMajor, lv.KernelMinor = -1, -1
	f.lvs = append(f.lvs, lv)
}

func (f *fakeLVM) find(vg, name string) *lvm.LV {
	for i := range f.lvs {
		if f.lvs[i].VG == vg && f.lvs[i].Name == name {
			return &f.lvs[i]
		}
	}
	return nil
}

func (f *fakeLVM) vg(name string) *lvm.VG {
	for i := range f.vgs {
		if f.vgs[i].Name == name {
			return &f.vgs[i]
		}
	}
	return nil
}

func cmdErr(kind error, code int, argv []string, msg string) error {
	return &lvm.CommandError{Argv: argv, ExitCode: code, Message: msg, Kind: kind}
}

// begin records a call, as a real runner would in ctx's recorder too, and
// returns a queued failure for it.
func (f *fakeLVM) begin(ctx context.Context, op string, args ...string) ([]string, error) {
	argv := append([]string{"lvm", op}, args...)
	f.calls = append(f.calls, strings.Join(argv, " "))
	lvm.Record(ctx, argv)
	if err := f.failNext[op]; err != nil {
		delete(f.failNext, op)
		return argv, err
	}
	if f.delay > 0 {
		f.mu.Unlock()
		time.Sleep(f.delay)
		f.mu.Lock()
	}
	return argv, nil
}

// reportCount is how many reports were asked for so far.
func (f *fakeLVM) reportCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports
}

func (f *fakeLVM) Report(ctx context.Context, vgs []string) (*lvm.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports++
	if err := f.failNext["report"]; err != nil {
		delete(f.failNext, "report")
		return nil, err
	}
	r := &lvm.Report{}
	var missing error
	for _, name := range vgs {
		if f.vg(name) == nil {
			// LVM reports the VGs it found, and fails for the others.
			missing = cmdErr(lvm.ErrNotFound, 5, []string{"lvm", "fullreport"}, fmt.Sprintf("Volume group %q not found", name))
		}
	}
	r.VGs = append(r.VGs, f.vgs...)
	for i := range r.VGs {
		r.VGs[i].LVCount, r.VGs[i].SnapCount = 0, 0
		for _, lv := range f.lvs {
			if lv.VG != r.VGs[i].Name {
				continue
			}
			if !lv.Hidden {
				r.VGs[i].LVCount++
			}
			if lv.Attr.IsCOWSnapshot() {
				r.VGs[i].SnapCount++
			}
		}
	}
	r.LVs = append(r.LVs, f.lvs...)
	return r, missing
}

func (f *fakeLVM) CreateSnapshot(ctx context.Context, vg, origin, name string, size lvm.SizeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	args := []string{"--snapshot", "--name", name}
	switch {
	case size.Size != "":
		args = append(args, "--size", size.Size)
	case size.Extents != "":
		args = append(args, "--extents", size.Extents)
	}
	args = append(args, vg+"/"+origin)
	argv, err := f.begin(ctx, "lvcreate", args...)
	if err != nil {
		if f.leaveBehind {
			f.add(lvm.LV{Name: name, VG: vg, Attr: mustAttr("swi-a-s---"), Origin: origin, Size: extent})
		}
		return err
	}
	if lvm.ValidateName(vg, name) != nil {
		return cmdErr(lvm.ErrInvalidName, 3, argv, fmt.Sprintf("Logical volume name %q is invalid.", name))
	}
	if f.find(vg, name) != nil {
		return cmdErr(lvm.ErrExists, 5, argv, fmt.Sprintf("Logical Volume %q already exists in volume group %q", name, vg))
	}
	o := f.find(vg, origin)
	if o == nil {
		return cmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, origin))
	}
	if o.Attr.IsCOWSnapshot() {
		return cmdErr(lvm.ErrInvalidName, 5, argv, "Snapshots of snapshots are not supported.")
	}
	if size.IsZero() {
		if !o.Attr.IsThin() {
			return cmdErr(lvm.ErrInvalidArg, 3, argv, "Please specify either size or extents with snapshots.")
		}
		f.add(lvm.LV{Name: name, VG: vg, Attr: mustAttr("Vwi---tz-k"), PoolLV: o.PoolLV, Origin: origin,
			Size: o.Size, SegType: "thin", SkipActivation: true})
		return nil
	}
	var bytes uint64
	if size.Size != "" {
		if bytes, err = lvm.SizeBytes(size.Size); err != nil {
			return cmdErr(lvm.ErrInvalidArg, 3, argv, err.Error())
		}
	} else {
		pct, _ := strconv.Atoi(strings.TrimSuffix(size.Extents, "%ORIGIN"))
		bytes = o.Size * uint64(pct) / 100
	}
	bytes = (bytes + extent - 1) / extent * extent
	g := f.vg(vg)
	if bytes > g.Free {
		return cmdErr(lvm.ErrNoSpace, 5, argv, fmt.Sprintf("Volume group %q has insufficient free space (%d extents): %d required.", vg, g.Free/extent, bytes/extent))
	}
	g.Free -= bytes
	o.Attr.VolumeType = 'o'
	f.add(lvm.LV{Name: name, VG: vg, Attr: mustAttr("swi-a-s---"), Origin: origin, Size: bytes, OriginSize: o.Size,
		ChunkSize: 4096, SnapPercent: lvm.Percent{Valid: true}, SegType: "snapshot"})
	return nil
}

func (f *fakeLVM) Remove(ctx context.Context, vg, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	argv, err := f.begin(ctx, "lvremove", "--yes", vg+"/"+name)
	if err != nil {
		return err
	}
	lv := f.find(vg, name)
	if lv == nil {
		return cmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, name))
	}
	if lv.Attr.IsOpen() {
		return cmdErr(lvm.ErrInUse, 5, argv, fmt.Sprintf("Logical volume %s/%s in use.", vg, name))
	}
	if lv.Attr.IsCOWSnapshot() {
		f.vg(vg).Free += lv.Size
	}
	kept := f.lvs[:0]
	for _, l := range f.lvs {
		if !(l.VG == vg && l.Name == name) {
			kept = append(kept, l)
		}
	}
	f.lvs = kept
	return nil
}

func (f *fakeLVM) Rename(ctx context.Context, vg, oldName, newName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	argv, err := f.begin(ctx, "lvrename", vg, oldName, newName)
	if err != nil {
		return err
	}
	if f.find(vg, newName) != nil {
		return cmdErr(lvm.ErrExists, 5, argv, fmt.Sprintf("Logical Volume %q already exists in volume group %q", newName, vg))
	}
	lv := f.find(vg, oldName)
	if lv == nil {
		return cmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Existing logical volume %q not found in volume group %q", oldName, vg))
	}
	lv.Name = newName
	lv.Path = "/dev/" + vg + "/" + newName
	for i := range f.lvs {
		if f.lvs[i].VG == vg && f.lvs[i].Origin == oldName {
			f.lvs[i].Origin = newName
		}
	}
	return nil
}

func (f *fakeLVM) Merge(ctx context.Context, vg, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.begin(ctx, "lvconvert", "--merge", "--background", vg+"/"+name)
	if err != nil {
		return err
	}
	lv := f.find(vg, name)
	if lv.Attr.IsCOWSnapshot() {
		lv.Attr.VolumeType = 'S'
		lv.Hidden, lv.Path = true, ""
	}
	lv.Merging = true
	return nil
}

func (f *fakeLVM) Extend(ctx context.Context, vg, name, size string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	argv, err := f.begin(ctx, "lvextend", "--size", "+"+size, vg+"/"+name)
	if err != nil {
		return err
	}
	bytes, err := lvm.SizeBytes(size)
	if err != nil {
		return cmdErr(lvm.ErrInvalidArg, 3, argv, err.Error())
	}
	g := f.vg(vg)
	if bytes > g.Free {
		return cmdErr(lvm.ErrNoSpace, 5, argv, "Insufficient free space")
	}
	g.Free -= bytes
	f.find(vg, name).Size += bytes
	return nil
}

func (f *fakeLVM) Activate(ctx context.Context, vg, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	argv, err := f.begin(ctx, "lvchange", "-ay", "-K", vg+"/"+name)
	if err != nil {
		return err
	}
	lv := f.find(vg, name)
	if lv == nil {
		return cmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, name))
	}
	lv.Attr.State = 'a'
	return nil
}

// lastCall returns the last recorded call.
func (f *fakeLVM) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeLVM) names(vg string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, lv := range f.lvs {
		if lv.VG == vg {
			out = append(out, lv.Name)
		}
	}
	sort.Strings(out)
	return out
}

// fakeDM serves device-mapper status lines set by a test, and for other
// active LVs of the fake LVM an empty snapshot or thin target.
type fakeDM struct {
	mu       sync.Mutex
	tables   map[string][]lvm.Target
	statuses map[string]*lvm.DeviceStatus
	lvm      *fakeLVM
}

func (d *fakeDM) set(name string, targets ...lvm.Target) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables == nil {
		d.tables = map[string][]lvm.Target{}
	}
	d.tables[name] = targets
}

func (d *fakeDM) TableStatus(name string) ([]lvm.Target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.tables[name]; ok {
		return t, nil
	}
	if d.lvm == nil {
		return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
	}
	d.lvm.mu.Lock()
	defer d.lvm.mu.Unlock()
	for _, lv := range d.lvm.lvs {
		if lvm.DMName(lv.VG, lv.Name) != name || !lv.Attr.Active() {
			continue
		}
		switch {
		case lv.Attr.IsCOWSnapshot():
			return []lvm.Target{{Type: "snapshot", Params: fmt.Sprintf("16/%d 16", lv.Size/512)}}, nil
		case lv.Attr.IsThin():
			return []lvm.Target{{Type: "thin", Params: "0 -"}}, nil
		}
		return []lvm.Target{{Type: "linear"}}, nil
	}
	return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
}

// Status answers for the devices set with setStatus only: others are not
// found, and a mkdir then reads LVM again.
func (d *fakeDM) Status(name string) (*lvm.DeviceStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.statuses[name]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
}

func (d *fakeDM) setStatus(st *lvm.DeviceStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.statuses == nil {
		d.statuses = map[string]*lvm.DeviceStatus{}
	}
	d.statuses[st.Name] = st
}
