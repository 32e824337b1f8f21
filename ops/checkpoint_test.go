package ops

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
)

// fakeXen is one domain, dom, with the disks the test gives; it records
// the xl commands.
type fakeXen struct {
	dom      XenDomain
	exists   bool
	calls    []string
	failSave bool
	// beforeRestore runs as xl restore starts, before it reads the image.
	beforeRestore func()
}

func (x *fakeXen) Domain(_ context.Context, name string) (XenDomain, bool, error) {
	if !x.exists || name != x.dom.Name {
		return XenDomain{}, false, nil
	}
	return x.dom, true, nil
}

func (x *fakeXen) call(argv ...string) { x.calls = append(x.calls, strings.Join(argv, " ")) }

func (x *fakeXen) Save(_ context.Context, name, file string) error {
	x.call("xl save -p", name)
	if x.failSave {
		return fmt.Errorf("xl save -p %s: failed", name)
	}
	x.dom.State = "paused"
	return os.WriteFile(file, []byte("memory"), 0o600)
}

func (x *fakeXen) Restore(_ context.Context, file string) error {
	x.call("xl restore")
	if x.beforeRestore != nil {
		x.beforeRestore()
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("xl restore: Can't open restore file: %w", err)
	}
	x.exists, x.dom.State = true, "running"
	return nil
}

func (x *fakeXen) Destroy(_ context.Context, name string) error {
	x.call("xl destroy", name)
	x.exists = false
	return nil
}

func (x *fakeXen) Pause(_ context.Context, name string) error {
	x.call("xl pause", name)
	x.dom.State = "paused"
	return nil
}

func (x *fakeXen) Unpause(_ context.Context, name string) error {
	x.call("xl unpause", name)
	x.dom.State = "running"
	return nil
}

// xenFixture: domain web runs with two disks, vg/web and vg2/data, active
// with device numbers.
func xenFixture(t *testing.T, memory bool) (*fixture, *fakeXen, *checkpoint.Store) {
	t.Helper()
	x := &fakeXen{exists: true, dom: XenDomain{Domain: model.Domain{Name: "web", ID: 3, State: "running"},
		Devices: [][2]int{{254, 1}, {254, 3}}, Disks: 2}}
	store := checkpoint.New(t.TempDir())
	dm := &lvmtest.DM{}
	fx := newFixture(t, Options{Xen: x, Checkpoints: store, CheckpointMemory: memory, SnapshotSize: lvm.SizeSpec{Size: "8M"}, DM: dm})
	dm.LVM, fx.dm = fx.lvm, dm
	fx.lvm.Mu.Lock()
	fx.lvm.Find("vg", "web").KernelMajor, fx.lvm.Find("vg", "web").KernelMinor = 254, 1
	fx.lvm.Find("vg2", "data").KernelMajor, fx.lvm.Find("vg2", "data").KernelMinor = 254, 3
	fx.lvm.Mu.Unlock()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	return fx, x, store
}

// A checkpoint with memory: save, one tagged snapshot a disk, unpause; the
// snapshots belong to it (rmdir alone is EBUSY, status says so).
func TestCheckpoint(t *testing.T) {
	fx, x, store := xenFixture(t, true)
	if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(x.calls, "; "), "xl save -p web; xl unpause web"; got != want {
		t.Errorf("xl ran %q, want %q", got, want)
	}
	tag := checkpoint.Tag("web", "c1")
	if got := fx.calls(); !strings.Contains(got, "lvcreate --snapshot --name web.c1 --size 8M --addtag "+tag+" vg/web") ||
		!strings.Contains(got, "lvcreate --snapshot --name data.c1 --size 8M --addtag "+tag+" vg2/data") {
		t.Errorf("LVM ran %s", got)
	}
	rec, err := store.Get("web", "c1")
	if err != nil || rec.Phase != checkpoint.Ready || !rec.Memory || len(rec.Disks) != 2 {
		t.Fatalf("record %+v %v", rec, err)
	}
	snap := fx.entry(t, "vg/web/web.c1")
	if CheckpointOf(snap) != "web/c1" {
		t.Errorf("CheckpointOf %q", CheckpointOf(snap))
	}
	if err := fx.ops.Remove(t.Context(), snap); Errno(err) != syscall.EBUSY {
		t.Errorf("rmdir of a checkpoint's snapshot: %v, want EBUSY", err)
	}
	if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); Errno(err) != syscall.EEXIST {
		t.Errorf("a second checkpoint of the name: %v, want EEXIST", err)
	}
}

// A failure at any step undoes the steps before it: no snapshot, no
// record, the domain running.
func TestCheckpointUndo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(fx *fixture, x *fakeXen)
		errno  syscall.Errno
	}{
		{"save fails", func(_ *fixture, x *fakeXen) { x.failSave = true }, syscall.EIO},
		{"second snapshot fails", func(fx *fixture, _ *fakeXen) {
			fx.lvm.Mu.Lock()
			fx.lvm.VG("vg2").Free = 0
			fx.lvm.Mu.Unlock()
		}, syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, x, store := xenFixture(t, true)
			before := strings.Join(fx.lvm.Names("vg"), " ") + "|" + strings.Join(fx.lvm.Names("vg2"), " ")
			tc.break_(fx, x)
			if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); Errno(err) != tc.errno {
				t.Fatalf("errno %v (%v), want %v", Errno(err), err, tc.errno)
			}
			if after := strings.Join(fx.lvm.Names("vg"), " ") + "|" + strings.Join(fx.lvm.Names("vg2"), " "); after != before {
				t.Errorf("LVs %s, before %s", after, before)
			}
			if recs, _ := store.List(); len(recs) != 0 {
				t.Errorf("records left: %v", recs)
			}
			if x.dom.State != "running" {
				t.Errorf("domain %s after the undo", x.dom.State)
			}
		})
	}
}

// A disk that is no LV of the tree: EPERM, nothing run.
func TestCheckpointDiskNotLV(t *testing.T) {
	fx, x, _ := xenFixture(t, true)
	x.dom.Devices = [][2]int{{254, 1}, {7, 0}}
	if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); Errno(err) != syscall.EPERM {
		t.Errorf("errno %v (%v), want EPERM", Errno(err), err)
	}
	x.dom.Devices, x.dom.Disks = [][2]int{{254, 1}}, 2 // a disk with no device of dom0
	if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); Errno(err) != syscall.EPERM {
		t.Errorf("errno %v (%v), want EPERM", Errno(err), err)
	}
	if len(x.calls) != 0 || fx.calls() != "" {
		t.Errorf("ran xl %v, LVM %s", x.calls, fx.calls())
	}
	if err := fx.ops.Checkpoint(t.Context(), "nosuch", "c1"); Errno(err) != syscall.ENOENT {
		t.Errorf("checkpoint of no domain: %v, want ENOENT", err)
	}
}

// Revert: destroy, merge every snapshot, restore from memory; the
// checkpoint is reverting until the merged snapshots are gone, then Reap
// forgets it. Without memory the domain stays shut down.
func TestRevert(t *testing.T) {
	for _, memory := range []bool{true, false} {
		t.Run(fmt.Sprintf("memory %v", memory), func(t *testing.T) {
			fx, x, store := xenFixture(t, memory)
			if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); err != nil {
				t.Fatal(err)
			}
			x.calls = nil
			if err := fx.ops.CheckpointControl(t.Context(), "web", "c1", []byte("revert\n")); err != nil {
				t.Fatal(err)
			}
			want := "xl destroy web"
			if memory {
				want += "; xl restore"
			}
			if got := strings.Join(x.calls, "; "); got != want {
				t.Errorf("xl ran %q, want %q", got, want)
			}
			if got := fx.calls(); !strings.Contains(got, "lvconvert --merge --background vg/web.c1") || !strings.Contains(got, "lvconvert --merge --background vg2/data.c1") {
				t.Errorf("LVM ran %s", got)
			}
			if rec, _ := store.Get("web", "c1"); rec.Phase != checkpoint.Reverting {
				t.Errorf("phase %q", rec.Phase)
			}
			if err := fx.ops.RemoveCheckpoint(t.Context(), "web", "c1"); Errno(err) != syscall.EBUSY {
				t.Errorf("rmdir of a reverting checkpoint: %v", err)
			}
			mergesEnd(t, fx, "web.c1", "data.c1")
			fx.ops.Reap()
			if _, err := store.Get("web", "c1"); err == nil {
				t.Error("the checkpoint is still there after its merges")
			}
		})
	}
}

// rmdir of a checkpoint removes its snapshots and its record.
func TestRemoveCheckpoint(t *testing.T) {
	fx, _, store := xenFixture(t, true)
	if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := fx.ops.RemoveCheckpoint(t.Context(), "web", "c1"); err != nil {
		t.Fatal(err)
	}
	if fx.lvm.Find("vg", "web.c1") != nil || fx.lvm.Find("vg2", "data.c1") != nil {
		t.Error("snapshots left")
	}
	if _, err := store.Get("web", "c1"); err == nil {
		t.Error("record left")
	}
}

// Bad input is refused before anything runs: no xl command, no LVM
// change, no record, the domain running.
func TestCheckpointBadInput(t *testing.T) {
	for _, tc := range []struct {
		why, domain, name string
		want              syscall.Errno
	}{
		{"ORIGIN.NAME past 127 characters", "web", strings.Repeat("c", 124), syscall.EINVAL},
		{"a character LVM refuses", "web", "a b", syscall.EINVAL},
		{"a reserved suffix", "web", "x_mlog", syscall.EINVAL},
		{"a name beginning with a hyphen", "web", "-c", syscall.EINVAL},
		{"a domain xl does not know", "nosuch", "c1", syscall.ENOENT},
	} {
		t.Run(tc.why, func(t *testing.T) {
			fx, x, store := xenFixture(t, true)
			before := fx.lvm.Names("vg")
			err := fx.ops.Checkpoint(t.Context(), tc.domain, tc.name)
			if Errno(err) != tc.want {
				t.Fatalf("checkpoint %s/%q: %v, want %v", tc.domain, tc.name, err, tc.want)
			}
			if len(x.calls) != 0 || x.dom.State != "running" {
				t.Errorf("xl ran %q, domain %s", x.calls, x.dom.State)
			}
			if got := fx.lvm.Names("vg"); strings.Join(got, " ") != strings.Join(before, " ") {
				t.Errorf("LVs %v, were %v", got, before)
			}
			if recs, _ := store.List(); len(recs) != 0 {
				t.Errorf("records left: %v", recs)
			}
		})
	}
}

// revert is EBUSY, with the domain left running and every snapshot in
// place, when a snapshot is invalid or something besides the domain holds
// an origin open; an unknown ctl word is EINVAL.
func TestRevertRefused(t *testing.T) {
	for _, tc := range []struct {
		why  string
		ctl  string
		set  func(dm *lvmtest.DM)
		want syscall.Errno
	}{
		{"an invalid snapshot", "revert\n", func(dm *lvmtest.DM) {
			dm.Set(lvm.DMName("vg2", "data.c1"), lvm.Target{Type: "snapshot", Params: "Invalid"})
		}, syscall.EBUSY},
		{"an origin open twice", "revert\n", func(dm *lvmtest.DM) {
			dm.SetStatus(&lvm.DeviceStatus{Name: lvm.DMName("vg", "web"), Major: 254, Minor: 1, OpenCount: 2, Live: true})
		}, syscall.EBUSY},
		{"an unknown word", "rewind\n", func(*lvmtest.DM) {}, syscall.EINVAL},
	} {
		t.Run(tc.why, func(t *testing.T) {
			fx, x, store := xenFixture(t, true)
			if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); err != nil {
				t.Fatal(err)
			}
			tc.set(fx.dm)
			x.calls = nil
			lvmCalls := fx.calls()
			err := fx.ops.CheckpointControl(t.Context(), "web", "c1", []byte(tc.ctl))
			if Errno(err) != tc.want {
				t.Fatalf("%q: %v, want %v", tc.ctl, err, tc.want)
			}
			if len(x.calls) != 0 || !x.exists || x.dom.State != "running" {
				t.Errorf("xl ran %q; domain exists %v, %s", x.calls, x.exists, x.dom.State)
			}
			if got := fx.calls(); got != lvmCalls {
				t.Errorf("LVM ran more: %s", strings.TrimPrefix(got, lvmCalls))
			}
			if fx.lvm.Find("vg", "web.c1") == nil || fx.lvm.Find("vg2", "data.c1") == nil {
				t.Error("a snapshot of the checkpoint is gone")
			}
			if rec, err := store.Get("web", "c1"); err != nil || rec.Phase != checkpoint.Ready {
				t.Errorf("record %+v %v", rec, err)
			}
		})
	}
}

// Small merges can end before xl restore reads the memory image: Reap,
// run then (by the schedule, after a refresh), must keep the record and
// the image of a revert still under way, and forget them after it.
func TestReapDuringRevert(t *testing.T) {
	fx, x, store := xenFixture(t, true)
	if err := fx.ops.Checkpoint(t.Context(), "web", "c1"); err != nil {
		t.Fatal(err)
	}
	x.beforeRestore = func() {
		mergesEnd(t, fx, "web.c1", "data.c1")
		fx.ops.Reap()
	}
	if err := fx.ops.CheckpointControl(t.Context(), "web", "c1", []byte("revert\n")); err != nil {
		t.Fatalf("revert with merges that ended before the restore: %v", err)
	}
	if x.dom.State != "running" || !x.exists {
		t.Errorf("domain exists %v, %s", x.exists, x.dom.State)
	}
	fx.ops.Reap()
	if _, err := store.Get("web", "c1"); err == nil {
		t.Error("the checkpoint is still there after its revert")
	}
	if err := fx.ops.Revert(t.Context(), "web", "c1"); Errno(err) != syscall.ENOENT {
		t.Errorf("a second revert: %v, want ENOENT", err)
	}
}

// mergesEnd does what LVM does when the merges of snapshots end: they go.
func mergesEnd(t *testing.T, fx *fixture, names ...string) {
	t.Helper()
	fx.lvm.Mu.Lock()
	for _, name := range names {
		lv := fx.lvm.Find("vg", name)
		if lv == nil {
			lv = fx.lvm.Find("vg2", name)
		}
		lv.Name = "gone-" + name
		lv.Origin = ""
		lv.Attr = lvmtest.MustAttr("-wi-a-----")
	}
	fx.lvm.Mu.Unlock()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
}
