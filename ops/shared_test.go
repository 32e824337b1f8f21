package ops

import (
	"strings"
	"syscall"
	"testing"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// sharedFixture makes vg a VG shared through lvmlockd with sanlock, and
// web, with its snapshot snap1, active on this host or not (another host's,
// or no host's: this host cannot tell).
func sharedFixture(t *testing.T, activeHere bool) *fixture {
	t.Helper()
	fx := newFixture(t, Options{})
	fx.lvm.Mu.Lock()
	fx.lvm.VG("vg").LockType = "sanlock"
	if !activeHere {
		fx.lvm.Find("vg", "web").Attr = lvmtest.MustAttr("owi---s---")
		fx.lvm.Find("vg", "snap1").Attr = lvmtest.MustAttr("swi---s---")
		fx.lvm.Find("vg", "pool").Attr = lvmtest.MustAttr("twi---tz--")
		fx.lvm.Find("vg", "db").Attr = lvmtest.MustAttr("Vwi---tz--")
	}
	fx.lvm.Mu.Unlock()
	return fx
}

// TestSharedNotHere: in a shared VG, a snapshot whose origin (or thin pool)
// is not active on this host is neither changed nor activated here: EBUSY,
// no LVM command, and the log says why. LVM itself lets lvremove, lvrename
// and lvconvert --merge through (testdata/lvm/errors/shared-*).
func TestSharedNotHere(t *testing.T) {
	ops := []struct {
		name string
		path string
		do   func(fx *fixture, path string) error
	}{
		{"rmdir", "vg/web/snap1", func(fx *fixture, p string) error { return fx.ops.Remove(t.Context(), fx.entry(t, p)) }},
		{"mv", "vg/web/snap1", func(fx *fixture, p string) error { return fx.ops.Rename(t.Context(), fx.entry(t, p), "moved") }},
		{"merge", "vg/web/snap1", func(fx *fixture, p string) error {
			return fx.ops.Control(t.Context(), fx.entry(t, p), []byte("merge\n"))
		}},
		{"extend", "vg/web/snap1", func(fx *fixture, p string) error {
			return fx.ops.Control(t.Context(), fx.entry(t, p), []byte("extend 64M\n"))
		}},
		{"guard extend", "vg/web/snap1", func(fx *fixture, p string) error {
			return fx.ops.ExtendStore(t.Context(), fx.entry(t, p), 64<<20)
		}},
		{"image", "vg/web/snap1", func(fx *fixture, p string) error {
			_, err := fx.ops.Device(t.Context(), fx.entry(t, p).LV.UUID)
			return err
		}},
		{"thin image", "vg/db/dbsnap", func(fx *fixture, p string) error {
			_, err := fx.ops.Device(t.Context(), fx.entry(t, p).LV.UUID)
			return err
		}},
	}
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			fx := sharedFixture(t, false)
			before := fx.lvm.Names("vg")
			err := tc.do(fx, tc.path)
			if Errno(err) != syscall.EBUSY {
				t.Fatalf("%v (%v), want EBUSY", Errno(err), err)
			}
			if calls := fx.calls(); strings.Contains(calls, "lvremove") || strings.Contains(calls, "lvrename") ||
				strings.Contains(calls, "lvconvert") || strings.Contains(calls, "lvextend") || strings.Contains(calls, "lvchange") {
				t.Errorf("LVM ran: %s", calls)
			}
			if after := fx.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("LVs %q, were %q", after, before)
			}
			if !strings.Contains(err.Error(), "not active on this host") {
				t.Errorf("the error does not say why: %v", err)
			}
		})
	}
}

// TestSharedHere: where the origin is active, a shared VG is like a local
// one.
func TestSharedHere(t *testing.T) {
	fx := sharedFixture(t, true)
	if err := fx.ops.Rename(t.Context(), fx.entry(t, "vg/web/snap1"), "moved"); err != nil {
		t.Fatal(err)
	}
	if err := fx.ops.Remove(t.Context(), fx.entry(t, "vg/web/moved")); err != nil {
		t.Fatal(err)
	}
	if got, want := fx.calls(), "lvm lvrename vg snap1 moved; lvm lvremove"; !strings.Contains(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if _, err := fx.ops.Device(t.Context(), fx.entry(t, "vg/db/dbsnap").LV.UUID); err != nil {
		t.Errorf("image of a thin snapshot whose pool is active here: %v", err)
	}
}

// TestSharedRefusedByLVM: mkdir is LVM's to refuse, as for a local VG (it
// takes the origin's lock itself): an origin another host has active is
// EBUSY, a lock this host cannot have ENOLCK, LVM unchanged either way.
func TestSharedRefusedByLVM(t *testing.T) {
	for _, tc := range []struct {
		kind  error
		msg   string
		errno syscall.Errno
	}{
		{lvm.ErrActiveElsewhere, "LV locked by other host: vg/web\nFailed to lock origin LV vg/web", syscall.EBUSY},
		{lvm.ErrNoLock, "Cannot access VG vg due to failed lock.", syscall.ENOLCK},
	} {
		fx := sharedFixture(t, false)
		before := fx.lvm.Names("vg")
		fx.lvm.FailNext["lvcreate"] = lvmtest.CmdErr(tc.kind, 5, []string{"lvm", "lvcreate"}, tc.msg)
		_, err := fx.ops.Snapshot(t.Context(), fx.entry(t, "vg/web"), "new")
		if Errno(err) != tc.errno {
			t.Errorf("%s: %v (%v), want %v", tc.msg, Errno(err), err, tc.errno)
		}
		if after := fx.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
			t.Errorf("%s: LVs %q, were %q", tc.msg, after, before)
		}
	}
}

// TestImageOfInactiveOrigin: in a local VG too, the image of a COW snapshot
// whose origin is inactive is EBUSY: activating the snapshot would activate
// the origin (LVM asks first, and the lvm shell would wait for an answer
// until command_timeout), and start a merge pending on it.
func TestImageOfInactiveOrigin(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.lvm.Mu.Lock()
	fx.lvm.Find("vg", "web").Attr = lvmtest.MustAttr("owi---s---")
	fx.lvm.Find("vg", "snap1").Attr = lvmtest.MustAttr("swi---s---")
	fx.lvm.Mu.Unlock()
	_, err := fx.ops.Device(t.Context(), fx.entry(t, "vg/web/snap1").LV.UUID)
	if Errno(err) != syscall.EBUSY || !strings.Contains(err.Error(), "lvchange -ay vg/web") {
		t.Errorf("%v (%v), want EBUSY naming the command", Errno(err), err)
	}
	if calls := fx.calls(); strings.Contains(calls, "lvchange") {
		t.Errorf("LVM ran: %s", calls)
	}
}
