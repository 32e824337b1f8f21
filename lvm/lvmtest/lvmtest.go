// Package lvmtest provides an in-memory LVM and device-mapper for tests:
// they refuse what LVM refuses, with LVM's words, and record every call.
package lvmtest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

// LVM is an in-memory LVM for tests: it keeps VGs and LVs,
// refuses what LVM refuses with LVM's words, and records every change.
type LVM struct {
	// Mu guards every field; tests that change LVs directly hold it.
	Mu      sync.Mutex
	VGs     []lvm.VG
	LVs     []lvm.LV
	Calls   []string
	Reports int
	// FailNext makes the next call of an operation ("lvcreate", "lvremove",
	// "lvrename", "lvconvert", "lvextend", "lvchange" (Activate, AddTag,
	// DelTag), "report") fail with this error.
	FailNext map[string]error
	// LeaveBehind makes a failing lvcreate leave its LV behind, as a killed
	// command could.
	LeaveBehind bool
	// Now, when set, is the clock of the snapshots CreateSnapshot makes
	// (their lv_time); a test of schedules sets it.
	Now func() time.Time
	// Delay makes every change take this long, to widen race windows.
	Delay  time.Duration
	nextID int
}

// Extent is the fake VGs' extent size.
const Extent = 4 << 20

// T0 is the creation time of the first LV; each next one is an hour later.
var T0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// MustAttr parses an lv_attr string, or panics.
func MustAttr(s string) lvm.Attr {
	a, err := lvm.ParseAttr(s)
	if err != nil {
		panic(err)
	}
	return a
}

// New returns two VGs: vg holds a linear origin web with snapshot
// snap1, a thin pool with thin origin db and its thin snapshot dbsnap, an LV
// named like a fixed file, and internal LVs; vg2 holds one LV.
func New() *LVM {
	f := &LVM{FailNext: map[string]error{}}
	f.VGs = []lvm.VG{
		{Name: "vg", UUID: "vg-uuid", Size: 10 << 30, Free: 5 << 30, ExtentSize: Extent},
		{Name: "vg2", UUID: "vg2-uuid", Size: 1 << 30, Free: 512 << 20, ExtentSize: Extent},
	}
	f.Add(lvm.LV{Name: "web", VG: "vg", Attr: MustAttr("owi-aos---"), Size: 1 << 30, SegType: "linear"})
	f.Add(lvm.LV{Name: "snap1", VG: "vg", Attr: MustAttr("swi-a-s---"), Origin: "web", Size: 200 << 20, OriginSize: 1 << 30,
		ChunkSize: 4096, SnapPercent: lvm.Percent{Hundredths: 486, Valid: true}})
	f.Add(lvm.LV{Name: "pool", VG: "vg", Attr: MustAttr("twi-aotz--"), Size: 2 << 30, ChunkSize: 64 << 10, SegType: "thin-pool"})
	f.Add(lvm.LV{Name: "pool_tdata", VG: "vg", Hidden: true, Attr: MustAttr("Twi-ao----"), Size: 2 << 30})
	f.Add(lvm.LV{Name: "pool_tmeta", VG: "vg", Hidden: true, Attr: MustAttr("ewi-ao----"), Size: 4 << 20})
	f.Add(lvm.LV{Name: "db", VG: "vg", Attr: MustAttr("Vwi-a-tz--"), PoolLV: "pool", Size: 1 << 30, SegType: "thin"})
	f.Add(lvm.LV{Name: "dbsnap", VG: "vg", Attr: MustAttr("Vwi---tz-k"), PoolLV: "pool", Origin: "db", Size: 1 << 30, SegType: "thin", SkipActivation: true})
	f.Add(lvm.LV{Name: "status", VG: "vg", Attr: MustAttr("-wi-a-----"), Size: 8 << 20, SegType: "linear"})
	f.Add(lvm.LV{Name: "data", VG: "vg2", Attr: MustAttr("-wi-a-----"), Size: 256 << 20, SegType: "linear"})
	return f
}

func (f *LVM) Add(lv lvm.LV) {
	f.nextID++
	if lv.UUID == "" {
		lv.UUID = fmt.Sprintf("uuid-%03d", f.nextID)
	}
	if lv.Time.IsZero() {
		lv.Time = T0.Add(time.Duration(f.nextID) * time.Hour)
	}
	if !lv.Hidden {
		lv.Path = "/dev/" + lv.VG + "/" + lv.Name
	}
	lv.KernelMajor, lv.KernelMinor = -1, -1
	if lv.Tags != nil {
		lv.Tags = slices.Clone(lv.Tags)
		sort.Strings(lv.Tags)
	}
	f.LVs = append(f.LVs, lv)
}

func (f *LVM) Find(vg, name string) *lvm.LV {
	for i := range f.LVs {
		if f.LVs[i].VG == vg && f.LVs[i].Name == name {
			return &f.LVs[i]
		}
	}
	return nil
}

func (f *LVM) VG(name string) *lvm.VG {
	for i := range f.VGs {
		if f.VGs[i].Name == name {
			return &f.VGs[i]
		}
	}
	return nil
}

// CmdErr is the error the lvm package returns for a failed command.
func CmdErr(kind error, code int, argv []string, msg string) error {
	return &lvm.CommandError{Argv: argv, ExitCode: code, Message: msg, Kind: kind}
}

// begin records a call, as a real runner would in ctx's recorder too, and
// returns a queued failure for it.
func (f *LVM) begin(ctx context.Context, op string, args ...string) ([]string, error) {
	argv := append([]string{"lvm", op}, args...)
	f.Calls = append(f.Calls, strings.Join(argv, " "))
	lvm.Record(ctx, argv)
	if err := f.FailNext[op]; err != nil {
		delete(f.FailNext, op)
		return argv, err
	}
	if f.Delay > 0 {
		f.Mu.Unlock()
		time.Sleep(f.Delay)
		f.Mu.Lock()
	}
	return argv, nil
}

// ReportCount is how many reports were asked for so far.
func (f *LVM) ReportCount() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Reports
}

func (f *LVM) Report(ctx context.Context, vgs []string) (*lvm.Report, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Reports++
	if err := f.FailNext["report"]; err != nil {
		delete(f.FailNext, "report")
		return nil, err
	}
	r := &lvm.Report{}
	var missing error
	for _, name := range vgs {
		if f.VG(name) == nil {
			// LVM reports the VGs it found, and fails for the others.
			missing = CmdErr(lvm.ErrNotFound, 5, []string{"lvm", "fullreport"}, fmt.Sprintf("Volume group %q not found", name))
		}
	}
	r.VGs = append(r.VGs, f.VGs...)
	for i := range r.VGs {
		r.VGs[i].LVCount, r.VGs[i].SnapCount = 0, 0
		for _, lv := range f.LVs {
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
	r.LVs = append(r.LVs, f.LVs...)
	for i := range r.LVs {
		// The report is the caller's: later changes must not show in it.
		r.LVs[i].Tags = slices.Clone(r.LVs[i].Tags)
	}
	return r, missing
}

func (f *LVM) CreateSnapshot(ctx context.Context, vg, origin, name string, size lvm.SizeSpec, tags ...string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	args := []string{"--snapshot", "--name", name}
	switch {
	case size.Size != "":
		args = append(args, "--size", size.Size)
	case size.Extents != "":
		args = append(args, "--extents", size.Extents)
	}
	for _, tag := range tags {
		args = append(args, "--addtag", tag)
	}
	args = append(args, vg+"/"+origin)
	argv, err := f.begin(ctx, "lvcreate", args...)
	if err != nil {
		if f.LeaveBehind {
			f.Add(lvm.LV{Name: name, VG: vg, Attr: MustAttr("swi-a-s---"), Origin: origin, Size: Extent})
		}
		return err
	}
	if lvm.ValidateName(vg, name) != nil {
		return CmdErr(lvm.ErrInvalidName, 3, argv, fmt.Sprintf("Logical volume name %q is invalid.", name))
	}
	if f.Find(vg, name) != nil {
		return CmdErr(lvm.ErrExists, 5, argv, fmt.Sprintf("Logical Volume %q already exists in volume group %q", name, vg))
	}
	o := f.Find(vg, origin)
	if o == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, origin))
	}
	if o.Attr.IsCOWSnapshot() {
		return CmdErr(lvm.ErrInvalidName, 5, argv, "Snapshots of snapshots are not supported.")
	}
	if size.IsZero() {
		if !o.Attr.IsThin() {
			return CmdErr(lvm.ErrInvalidArg, 3, argv, "Please specify either size or extents with snapshots.")
		}
		f.Add(lvm.LV{Name: name, VG: vg, Attr: MustAttr("Vwi---tz-k"), PoolLV: o.PoolLV, Origin: origin,
			Size: o.Size, SegType: "thin", SkipActivation: true, Tags: sortedTags(tags), Time: f.now()})
		return nil
	}
	var bytes uint64
	if size.Size != "" {
		if bytes, err = lvm.SizeBytes(size.Size); err != nil {
			return CmdErr(lvm.ErrInvalidArg, 3, argv, err.Error())
		}
	} else {
		pct, _ := strconv.Atoi(strings.TrimSuffix(size.Extents, "%ORIGIN"))
		bytes = o.Size * uint64(pct) / 100
	}
	bytes = (bytes + Extent - 1) / Extent * Extent
	g := f.VG(vg)
	if bytes > g.Free {
		return CmdErr(lvm.ErrNoSpace, 5, argv, fmt.Sprintf("Volume group %q has insufficient free space (%d extents): %d required.", vg, g.Free/Extent, bytes/Extent))
	}
	g.Free -= bytes
	o.Attr.VolumeType = 'o'
	f.Add(lvm.LV{Name: name, VG: vg, Attr: MustAttr("swi-a-s---"), Origin: origin, Size: bytes, OriginSize: o.Size,
		ChunkSize: 4096, SnapPercent: lvm.Percent{Valid: true}, SegType: "snapshot", Tags: sortedTags(tags), Time: f.now()})
	return nil
}

// now is the creation time of a snapshot the fake makes: Now's when set,
// else the next hour after T0 (as Add gives).
func (f *LVM) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Time{}
}

func sortedTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := append([]string(nil), tags...)
	sort.Strings(out)
	return out
}

func (f *LVM) Remove(ctx context.Context, vg, name string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "lvremove", "--yes", vg+"/"+name)
	if err != nil {
		return err
	}
	lv := f.Find(vg, name)
	if lv == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, name))
	}
	if lv.Attr.IsOpen() {
		return CmdErr(lvm.ErrInUse, 5, argv, fmt.Sprintf("Logical volume %s/%s in use.", vg, name))
	}
	if lv.Attr.IsCOWSnapshot() {
		f.VG(vg).Free += lv.Size
	}
	kept := f.LVs[:0]
	for _, l := range f.LVs {
		if !(l.VG == vg && l.Name == name) {
			kept = append(kept, l)
		}
	}
	f.LVs = kept
	return nil
}

func (f *LVM) Rename(ctx context.Context, vg, oldName, newName string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "lvrename", vg, oldName, newName)
	if err != nil {
		return err
	}
	if f.Find(vg, newName) != nil {
		return CmdErr(lvm.ErrExists, 5, argv, fmt.Sprintf("Logical Volume %q already exists in volume group %q", newName, vg))
	}
	lv := f.Find(vg, oldName)
	if lv == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Existing logical volume %q not found in volume group %q", oldName, vg))
	}
	lv.Name = newName
	lv.Path = "/dev/" + vg + "/" + newName
	for i := range f.LVs {
		if f.LVs[i].VG == vg && f.LVs[i].Origin == oldName {
			f.LVs[i].Origin = newName
		}
	}
	return nil
}

func (f *LVM) Merge(ctx context.Context, vg, name string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	_, err := f.begin(ctx, "lvconvert", "--merge", "--background", vg+"/"+name)
	if err != nil {
		return err
	}
	lv := f.Find(vg, name)
	if lv.Attr.IsCOWSnapshot() {
		lv.Attr.VolumeType = 'S'
		lv.Hidden, lv.Path = true, ""
	}
	lv.Merging = true
	return nil
}

func (f *LVM) Extend(ctx context.Context, vg, name, size string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "lvextend", "--size", "+"+size, vg+"/"+name)
	if err != nil {
		return err
	}
	bytes, err := lvm.SizeBytes(size)
	if err != nil {
		return CmdErr(lvm.ErrInvalidArg, 3, argv, err.Error())
	}
	g := f.VG(vg)
	if bytes > g.Free {
		return CmdErr(lvm.ErrNoSpace, 5, argv, "Insufficient free space")
	}
	g.Free -= bytes
	f.Find(vg, name).Size += bytes
	return nil
}

func (f *LVM) Activate(ctx context.Context, vg, name string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "lvchange", "-ay", "-K", vg+"/"+name)
	if err != nil {
		return err
	}
	lv := f.Find(vg, name)
	if lv == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, name))
	}
	lv.Attr.State = 'a'
	return nil
}

// AddTag records lvchange --addtag and adds tag to the LV's tags, kept
// sorted as LVM reports them; a tag it has already is no change.
func (f *LVM) AddTag(ctx context.Context, vg, name, tag string) error {
	return f.changeTag(ctx, "--addtag", vg, name, tag)
}

// DelTag records lvchange --deltag and removes tag from the LV's tags; one
// it does not have is no change, as in LVM.
func (f *LVM) DelTag(ctx context.Context, vg, name, tag string) error {
	return f.changeTag(ctx, "--deltag", vg, name, tag)
}

func (f *LVM) changeTag(ctx context.Context, option, vg, name, tag string) error {
	// lvm.Client refuses a bad tag before it runs anything.
	if err := lvm.ValidateTag(tag); err != nil {
		return fmt.Errorf("lvchange %s %s/%s: %w", option, vg, name, err)
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "lvchange", option, tag, vg+"/"+name)
	if err != nil {
		return err
	}
	if f.VG(vg) == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Volume group %q not found\nCannot process volume group %s", vg, vg))
	}
	lv := f.Find(vg, name)
	if lv == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, name))
	}
	// A new slice each time: reports already handed out keep theirs.
	i, has := slices.BinarySearch(lv.Tags, tag)
	switch {
	case option == "--addtag" && !has:
		lv.Tags = slices.Insert(slices.Clone(lv.Tags), i, tag)
	case option == "--deltag" && has:
		lv.Tags = slices.Delete(slices.Clone(lv.Tags), i, i+1)
		if len(lv.Tags) == 0 {
			lv.Tags = nil
		}
	}
	return nil
}

// PollVG records vgchange --poll y; the fake has no merges to poll.
func (f *LVM) PollVG(ctx context.Context, vg string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "vgchange", "--poll", "y", vg)
	if err != nil {
		return err
	}
	if f.VG(vg) == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Volume group %q not found", vg))
	}
	return nil
}

// ExtendPoolMetadata records lvextend --poolmetadatasize and grows the
// pool's hidden metadata LV.
func (f *LVM) ExtendPoolMetadata(ctx context.Context, vg, pool, size string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	argv, err := f.begin(ctx, "lvextend", "--poolmetadatasize", "+"+size, vg+"/"+pool)
	if err != nil {
		return err
	}
	bytes, err := lvm.SizeBytes(size)
	if err != nil {
		return CmdErr(lvm.ErrInvalidArg, 3, argv, err.Error())
	}
	g := f.VG(vg)
	if bytes > g.Free {
		return CmdErr(lvm.ErrNoSpace, 5, argv, "Insufficient free space")
	}
	meta := f.Find(vg, pool+"_tmeta")
	if meta == nil {
		return CmdErr(lvm.ErrNotFound, 5, argv, fmt.Sprintf("Failed to find logical volume \"%s/%s\"", vg, pool))
	}
	g.Free -= bytes
	meta.Size += bytes
	return nil
}

// LastCall returns the last recorded call.
func (f *LVM) LastCall() string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if len(f.Calls) == 0 {
		return ""
	}
	return f.Calls[len(f.Calls)-1]
}

func (f *LVM) Names(vg string) []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []string
	for _, lv := range f.LVs {
		if lv.VG == vg {
			out = append(out, lv.Name)
		}
	}
	sort.Strings(out)
	return out
}
