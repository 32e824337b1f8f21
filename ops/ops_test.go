package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/snapmount"
	"github.com/snapfs/snapfs/state"
)

// trail records what the operations did besides LVM, in order.
type trail struct {
	mu  sync.Mutex
	log []string
}

func (e *trail) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

func (e *trail) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.log, "; ")
}

type fakeDomains struct{ doms []model.Domain }

func (d fakeDomains) UsingNow(context.Context, int, int) ([]model.Domain, error) { return d.doms, nil }

type fakeQuiescer struct{ ev *trail }

func (q fakeQuiescer) Hold(_ context.Context, doms []model.Domain, why string) (func(), error) {
	q.ev.add("pause %d for %s", len(doms), why)
	return func() { q.ev.add("unpause") }, nil
}

type fakeFiles struct {
	ev   *trail
	busy bool
}

func (f fakeFiles) Hold(uuid string) (func(), error) {
	if f.busy {
		return nil, fmt.Errorf("files/ of %s in use: %w", uuid, lvm.ErrInUse)
	}
	f.ev.add("hold files")
	return func() { f.ev.add("release files") }, nil
}

func (f fakeFiles) Drop(string) { f.ev.add("drop files") }

type fixture struct {
	lvm   *lvmtest.LVM
	store *state.Store
	ops   *Ops
	ev    *trail
	logs  *bytes.Buffer
	dm    *lvmtest.DM // set by xenFixture
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	fx := &fixture{lvm: lvmtest.New(), ev: &trail{}, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(fx.logs, nil))
	fx.store = state.New(fx.lvm, state.Options{Logger: log})
	if opts.SnapshotSize.IsZero() {
		opts.SnapshotSize = lvm.SizeSpec{Extents: "20%ORIGIN"}
	}
	if opts.Files == nil {
		opts.Files = fakeFiles{ev: fx.ev}
	}
	opts.Logger = log
	fx.ops = New(fx.lvm, fx.store, opts)
	return fx
}

func (fx *fixture) entry(t *testing.T, path string) *model.LVEntry {
	t.Helper()
	tree, err := fx.store.Current()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(path, "/")
	e := tree.VG(parts[0]).Origin(parts[1])
	for _, name := range parts[2:] {
		e = e.Child(name)
	}
	if e == nil {
		t.Fatalf("no %s in the model", path)
	}
	return e
}

func (fx *fixture) calls() string {
	fx.lvm.Mu.Lock()
	defer fx.lvm.Mu.Unlock()
	return strings.Join(fx.lvm.Calls, "; ")
}

// mkdir: the command LVM runs for each kind of origin and name, and the
// refusals that run nothing.
func TestSnapshot(t *testing.T) {
	tests := []struct {
		name, origin, snap string
		opts               Options
		wantCall           string // "" when nothing may run
		wantErrno          syscall.Errno
	}{
		{"global size", "vg/web", "new", Options{}, "lvm lvcreate --snapshot --name new --extents 20%ORIGIN vg/web", 0},
		{"per-origin size", "vg/web", "new", Options{OriginSnapshotSize: map[string]lvm.SizeSpec{"vg/web": {Size: "64M"}}},
			"lvm lvcreate --snapshot --name new --size 64M vg/web", 0},
		{"thin origin", "vg/db", "new", Options{}, "lvm lvcreate --snapshot --name new vg/db", 0},
		{"thin snapshot of a thin snapshot", "vg/db/dbsnap", "new", Options{}, "lvm lvcreate --snapshot --name new vg/dbsnap", 0},
		{"fixed name", "vg/web", "status.json", Options{}, "", syscall.EEXIST},
		{"reserved name", "vg/db/dbsnap", "image", Options{}, "", syscall.EEXIST},
		{"name LVM rejects", "vg/web", "-x", Options{}, "", syscall.EINVAL},
		{"reserved substring", "vg/web", "a_tmeta", Options{}, "", syscall.EINVAL},
		{"snapshot of a COW snapshot", "vg/web/snap1", "new", Options{}, "", syscall.EPERM},
		{"name taken", "vg/web", "snap1", Options{}, "lvm lvcreate --snapshot --name snap1 --extents 20%ORIGIN vg/web", syscall.EEXIST},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, tc.opts)
			made, err := fx.ops.Snapshot(t.Context(), fx.entry(t, tc.origin), tc.snap)
			if got := Errno(err); got != tc.wantErrno {
				t.Fatalf("errno %v (%v), want %v", got, err, tc.wantErrno)
			}
			if got := fx.calls(); got != tc.wantCall {
				t.Errorf("LVM ran %q, want %q", got, tc.wantCall)
			}
			if err == nil && (made == nil || made.LV.Name != tc.snap || made.Parent.LV.Name != fx.entry(t, tc.origin).LV.Name) {
				t.Errorf("made %v, want %s under %s", made, tc.snap, tc.origin)
			}
		})
	}
}

// A failed lvcreate that left its LV behind (a killed command) is undone:
// LVM is as it was.
func TestSnapshotLeavesNothingHalfMade(t *testing.T) {
	fx := newFixture(t, Options{})
	before := strings.Join(fx.lvm.Names("vg"), " ")
	fx.lvm.FailNext["lvcreate"] = lvmtest.CmdErr(lvm.ErrTimeout, -1, []string{"lvm", "lvcreate"}, "timed out")
	fx.lvm.LeaveBehind = true
	_, err := fx.ops.Snapshot(t.Context(), fx.entry(t, "vg/web"), "half")
	if Errno(err) != syscall.ETIMEDOUT {
		t.Fatalf("errno %v (%v), want ETIMEDOUT", Errno(err), err)
	}
	if after := strings.Join(fx.lvm.Names("vg"), " "); after != before {
		t.Errorf("LVs after %q, want as before %q", after, before)
	}
	if !strings.Contains(fx.calls(), "lvm lvremove --yes vg/half") {
		t.Errorf("no lvremove of the half-made LV: %s", fx.calls())
	}
}

// quiesce = "pause": the domains of the origin are paused for the lvcreate
// only, and unpaused before anything else, whatever it did.
func TestSnapshotQuiesces(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("lvcreate fails %v", fail), func(t *testing.T) {
			ev := &trail{}
			fx := newFixture(t, Options{OriginQuiesce: map[string]bool{"vg/web": true},
				Domains: fakeDomains{[]model.Domain{{Name: "web", ID: 3, State: "running"}}}, Quiescer: fakeQuiescer{ev}})
			fx.lvm.Mu.Lock()
			fx.lvm.Find("vg", "web").KernelMajor, fx.lvm.Find("vg", "web").KernelMinor = 254, 1
			fx.lvm.Mu.Unlock()
			if fail {
				fx.lvm.FailNext["lvcreate"] = lvmtest.CmdErr(lvm.ErrNoSpace, 5, []string{"lvm", "lvcreate"}, "insufficient free space")
			}
			_, err := fx.ops.Snapshot(t.Context(), fx.entry(t, "vg/web"), "q")
			if (err != nil) != fail {
				t.Fatalf("err %v", err)
			}
			if got, want := ev.String(), "pause 1 for vg/web/q; unpause"; got != want {
				t.Errorf("quiesce %q, want %q", got, want)
			}
			// Another origin is not quiesced.
			if _, err := fx.ops.Snapshot(t.Context(), fx.entry(t, "vg/db"), "nq"); err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(ev.String(), "pause"); got != 2 {
				t.Errorf("quiesce after a second origin %q", ev.String())
			}
		})
	}
}

// rmdir: refused for a disk of a running domain and for busy files/,
// without running LVM; else files/ is held across the lvremove and dropped.
func TestRemove(t *testing.T) {
	tests := []struct {
		name      string
		domains   []model.Domain
		busy      bool
		wantErrno syscall.Errno
		wantCall  string
		wantEv    string
	}{
		{"idle", nil, false, 0, "lvm lvremove --yes vg/snap1", "hold files; drop files; release files"},
		{"disk of a shut down domain", []model.Domain{{Name: "d", State: "shutdown"}}, false, 0, "lvm lvremove --yes vg/snap1", "hold files; drop files; release files"},
		{"disk of a running domain", []model.Domain{{Name: "d", State: "running"}}, false, syscall.EBUSY, "", ""},
		{"files/ in use", nil, true, syscall.EBUSY, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &trail{}
			fx := newFixture(t, Options{Domains: fakeDomains{tc.domains}, Files: fakeFiles{ev: ev, busy: tc.busy}})
			fx.lvm.Mu.Lock()
			fx.lvm.Find("vg", "snap1").KernelMajor, fx.lvm.Find("vg", "snap1").KernelMinor = 254, 2
			fx.lvm.Mu.Unlock()
			snap := fx.entry(t, "vg/web/snap1")
			err := fx.ops.Remove(t.Context(), snap)
			if got := Errno(err); got != tc.wantErrno {
				t.Fatalf("errno %v (%v), want %v", got, err, tc.wantErrno)
			}
			if got := fx.calls(); got != tc.wantCall {
				t.Errorf("LVM ran %q, want %q", got, tc.wantCall)
			}
			if got := ev.String(); got != tc.wantEv {
				t.Errorf("files/ %q, want %q", got, tc.wantEv)
			}
			tree, _ := fx.store.Current()
			if gone := tree.LV(snap.LV.UUID) == nil; gone != (err == nil) {
				t.Errorf("snapshot gone from the model: %v, after err %v", gone, err)
			}
		})
	}
}

// ctl: each command runs its one LVM command; anything else is EINVAL and
// runs nothing.
func TestControl(t *testing.T) {
	tests := []struct {
		snap, write string
		wantErrno   syscall.Errno
		wantCall    string
	}{
		{"vg/web/snap1", "merge\n", 0, "lvm lvconvert --merge --background vg/snap1"},
		{"vg/web/snap1", "extend 512M\n", 0, "lvm lvextend --size +512M vg/snap1"},
		{"vg/web/snap1", "extend 512M", 0, "lvm lvextend --size +512M vg/snap1"},
		{"vg/db/dbsnap", "extend 512M\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "extend\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "extend -1G\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "extend 1G;reboot\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "merge now\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "merge\nmerge\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "frobnicate\n", syscall.EINVAL, ""},
		{"vg/web/snap1", "\n", syscall.EINVAL, ""},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSpace(tc.snap+" "+tc.write), func(t *testing.T) {
			fx := newFixture(t, Options{})
			err := fx.ops.Control(t.Context(), fx.entry(t, tc.snap), []byte(tc.write))
			if got := Errno(err); got != tc.wantErrno {
				t.Fatalf("errno %v (%v), want %v", got, err, tc.wantErrno)
			}
			if got := fx.calls(); got != tc.wantCall {
				t.Errorf("LVM ran %q, want %q", got, tc.wantCall)
			}
		})
	}
}

// The audit line names the caller, the operation, the LVM command lines
// and the errno of the result.
func TestChangeAuditLine(t *testing.T) {
	fx := newFixture(t, Options{})
	web := fx.entry(t, "vg/web")
	err := fx.ops.Change(WithCaller(t.Context(), 1000), "mkdir", "vg/web/snap1", func(ctx context.Context) error {
		_, err := fx.ops.Snapshot(ctx, web, "snap1")
		return err
	})
	if !errors.Is(err, lvm.ErrExists) {
		t.Fatalf("err %v", err)
	}
	line := fx.logs.String()
	for _, want := range []string{`msg="change refused"`, "op=mkdir", "path=vg/web/snap1", "uid=1000",
		`lvm="lvm lvcreate --snapshot --name snap1 --extents 20%ORIGIN vg/web"`, `result="EEXIST (file exists)"`} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line lacks %s:\n%s", want, line)
		}
	}
}

func TestErrno(t *testing.T) {
	tests := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{fmt.Errorf("x: %w", lvm.ErrInvalidName), syscall.EINVAL},
		{fmt.Errorf("x: %w", ErrBadCommand), syscall.EINVAL},
		{fmt.Errorf("x: %w", ErrFixedName), syscall.EEXIST},
		{lvm.ErrExists, syscall.EEXIST},
		{lvm.ErrNoSpace, syscall.ENOSPC},
		{lvm.ErrInUse, syscall.EBUSY},
		{ErrDomainBusy, syscall.EBUSY},
		{fmt.Errorf("vg/o/s (files/): %w", snapmount.ErrBusy), syscall.EBUSY},
		{ErrNotAllowed, syscall.EPERM},
		{lvm.ErrTimeout, syscall.ETIMEDOUT},
		{model.ErrGone, syscall.ENOENT},
		{errors.New("anything else"), syscall.EIO},
	}
	for _, tc := range tests {
		if got := Errno(tc.err); got != tc.want {
			t.Errorf("Errno(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if got := ErrnoName(syscall.EBUSY); got != "EBUSY (device or resource busy)" {
		t.Errorf("ErrnoName(EBUSY) = %q", got)
	}
}

// At start, each VG with a COW snapshot merging gets LVM's poller restarted
// (a killed snapfs may have taken lvconvert's with it); other VGs nothing.
func TestResumeMerges(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.ops.ResumeMerges(t.Context())
	if got := fx.calls(); got != "" {
		t.Errorf("without a merge, LVM ran %q", got)
	}
	if err := fx.lvm.Merge(t.Context(), "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	fx.ops.ResumeMerges(WithCaller(t.Context(), 0))
	if got, want := fx.calls(), "lvm lvconvert --merge --background vg/snap1; lvm vgchange --poll y vg"; got != want {
		t.Errorf("LVM ran %q, want %q", got, want)
	}
	if log := fx.logs.String(); !strings.Contains(log, "op=resume-merge path=vg/web/snap1") {
		t.Errorf("no audit line:\n%s", log)
	}
}
