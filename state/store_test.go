package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
)

// clock is a test's time: it moves only when the test moves it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// stamper is a change stamp a test sets.
type stamper struct {
	mu    sync.Mutex
	stamp string
	asked int
}

func (s *stamper) Stamp([]string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	return s.stamp, s.stamp != ""
}

func (s *stamper) set(stamp string) {
	s.mu.Lock()
	s.stamp = stamp
	s.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestStore returns a store over the fake LVM with the test's clock, and
// no metadata backups (no catch-up).
func newTestStore(l Reporter, c *clock, opts Options) *Store {
	opts.Now = c.Now
	opts.Logger = quiet()
	if opts.ReadBackup == nil {
		opts.ReadBackup = func(string, string) (*lvm.Backup, error) { return nil, lvm.ErrNotFound }
	}
	opts.BackupNames = func(string) ([]string, error) { return nil, nil }
	opts.MapperNames = func() ([]string, error) { return nil, nil }
	if opts.Seqno == nil {
		// Never this machine's devices.
		opts.Seqno = func(string) (string, int, error) { return "", 0, lvm.ErrNoMetadata }
	}
	if opts.WaitLVM == nil {
		// Never this machine's locks: no LVM command is changing a VG.
		opts.WaitLVM = func(context.Context, []string) bool { return false }
	}
	return New(l, opts)
}

// Which access reads LVM, and which is answered from the model: by the
// model's age against MaxAge and StaleGrace, and by the change stamp
// within TrustAge.
func TestCurrentReadsLVMWhenDue(t *testing.T) {
	const maxAge, grace, trust = time.Second, 2 * time.Second, time.Minute
	tests := []struct {
		name       string
		stamp      string        // "" for no stamp
		restamp    string        // the stamp at the access
		age        time.Duration // of the model at the access
		wantReport bool          // the access itself waits for a report
		wantBG     bool          // a report in the background
		// The metadata seqno of vg2 on its PV at the access (vg's stays 5,
		// vg2's is 5 at the first report): 0 when the VGs have no PVs, -1
		// when it cannot be read, from the first report on.
		seqno int
	}{
		{"young", "", "", maxAge / 2, false, false, 0},
		{"old, within the grace", "", "", maxAge + grace/2, false, true, 0},
		{"too old", "", "", maxAge + grace + time.Millisecond, true, false, 0},
		{"old, stamp unchanged", "s1", "s1", maxAge + grace + time.Millisecond, false, false, 0},
		{"old, stamp changed", "s1", "s2", maxAge + grace + time.Millisecond, true, false, 0},
		// Past TrustAge LVM is read, in the background: the stamp still
		// vouches for what it looks at, and a long walk does not stall.
		{"stamp unchanged past TrustAge", "s1", "s1", trust + time.Millisecond, false, true, 0},
		// The ticks of the guard and the schedules trust the stamp
		// however old the model: an idle snapfs reads LVM never.
		{"settled: stamp unchanged past TrustAge", "s1", "s1", 10 * trust, false, false, 0},
		{"settled: stamp changed", "s1", "s2", 10 * trust, true, false, 0},
		{"settled: no stamp", "", "", maxAge + grace + time.Millisecond, true, false, 0},
		// With the seqno of every VG read from its PVs, the stamp sees
		// every change of LVM's metadata, one made with backups off too:
		// an unchanged one is trusted however old.
		{"seqnos: unchanged past TrustAge", "s1", "s1", 10 * trust, false, false, 5},
		{"seqnos: one changed, backups and /dev/mapper not", "s1", "s1", maxAge + grace + time.Millisecond, true, false, 6},
		{"seqnos: one unreadable, past TrustAge", "s1", "s1", trust + time.Millisecond, false, true, -1},
		{"seqnos: one unreadable, within TrustAge", "s1", "s1", maxAge + grace + time.Millisecond, false, false, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every report after the first waits for the gate: an access
			// that waits for one cannot return before the gate opens.
			l := &gatedReporter{LVM: lvmtest.New(), gate: make(chan struct{}), pvs: tc.seqno != 0}
			c := &clock{now: lvmtest.T0}
			st := &stamper{stamp: tc.stamp}
			var vg2Seqno atomic.Int32
			vg2Seqno.Store(5)
			if tc.seqno < 0 {
				vg2Seqno.Store(-1) // from the first report on
			}
			seqno := func(dev string) (string, int, error) {
				vg := strings.TrimPrefix(dev, "/dev/pv-")
				switch n := int(vg2Seqno.Load()); {
				case vg != "vg2":
					return vg, 5, nil
				case n < 0:
					return "", 0, lvm.ErrNoMetadata
				default:
					return vg, n, nil
				}
			}
			// With VGs configured, the first report is stamped already.
			s := newTestStore(l, c, Options{VGs: []string{"vg", "vg2"}, MaxAge: maxAge, StaleGrace: grace, TrustAge: trust, Stamp: st.Stamp, Seqno: seqno})
			if _, err := s.Current(); err != nil {
				t.Fatal(err)
			}
			if n := l.ReportCount(); n != 1 {
				t.Fatalf("%d reports for the first access, want 1", n)
			}
			st.set(tc.restamp)
			if tc.seqno != 0 {
				vg2Seqno.Store(int32(tc.seqno))
			}
			c.advance(tc.age)
			access := s.Current
			if strings.HasPrefix(tc.name, "settled") {
				access = s.Settled
			}
			done := make(chan error, 1)
			go func() { _, err := access(); done <- err }()
			if tc.wantReport {
				waitFor(t, "the access's report", func() bool { return l.started.Load() == 2 })
				select {
				case <-done:
					t.Error("the access returned before the report it needs")
				case <-time.After(20 * time.Millisecond):
				}
				close(l.gate)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the access waited for a report")
			}
			if tc.wantBG {
				waitFor(t, "the background report", func() bool { return l.started.Load() == 2 })
			} else if n := l.started.Load(); n != 1 {
				t.Errorf("%d reports after the access, want none", n-1)
			}
			close(l.gate)
		})
	}
}

// gatedReporter lets the first report through, and holds every later one
// until gate is closed; started counts the reports begun. With pvs, each
// VG has one PV, /dev/pv-NAME, and seqno 5.
type gatedReporter struct {
	*lvmtest.LVM
	gate    chan struct{}
	started atomic.Int32
	pvs     bool
}

func (r *gatedReporter) Report(ctx context.Context, vgs []string) (*lvm.Report, error) {
	if r.started.Add(1) > 1 {
		<-r.gate
	}
	rep, err := r.LVM.Report(ctx, vgs)
	if err != nil || !r.pvs {
		return rep, err
	}
	for i := range rep.VGs {
		rep.VGs[i].PVs, rep.VGs[i].Seqno = []string{"/dev/pv-" + rep.VGs[i].Name}, 5
	}
	return rep, nil
}

// waitFor polls cond for what a goroutine of the store does, up to a
// bound that only a failing test reaches.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A burst of accesses to an old model costs one report: the others reuse
// it.
func TestBurstCostsOneReport(t *testing.T) {
	l := lvmtest.New()
	c := &clock{now: lvmtest.T0}
	s := newTestStore(l, c, Options{MaxAge: time.Second, StaleGrace: time.Second})
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	l.Mu.Lock()
	l.Delay = 0
	l.Mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Current(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := l.ReportCount(); n != 2 {
		t.Errorf("%d reports, want 2 (the first, and one for the burst)", n)
	}
}

// A report that fails keeps the model it had, and a first one fails the
// access.
func TestFailedReport(t *testing.T) {
	l := lvmtest.New()
	c := &clock{now: lvmtest.T0}
	s := newTestStore(l, c, Options{})
	failure := lvmtest.CmdErr(lvm.ErrFailed, 5, []string{"lvm", "fullreport"}, "Device failure")
	l.FailNext["report"] = failure
	if _, err := s.Current(); !errors.Is(err, lvm.ErrFailed) {
		t.Fatalf("first access: %v, want the report's error", err)
	}
	first, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	l.FailNext["report"] = failure
	got, err := s.Refresh(true)
	if err != nil || got != first {
		t.Errorf("after a failed report: model %p (%v), want the old one %p", got, err, first)
	}
}

// Every new model is told to the listener, with the one it replaces; snapfs's
// own changes keep the model's age, reports renew it.
func TestReplaceTellsListenerAndKeepsAge(t *testing.T) {
	l := lvmtest.New()
	c := &clock{now: lvmtest.T0}
	s := newTestStore(l, c, Options{MaxAge: time.Second, StaleGrace: time.Second})
	told := make(chan [2]*model.Tree, 4)
	s.OnReplace(func(old, cur *model.Tree) { told <- [2]*model.Tree{old, cur} })
	t1, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	e := t1.VG("vg").Origin("web").Child("snap1")
	c.advance(1500 * time.Millisecond)
	// As after snapfs's own lvremove: LVM and then the model lose snap1.
	if err := l.Remove(t.Context(), "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	s.ForgetRemoved("vg", "snap1", e.LV.UUID)
	pair := <-told
	if pair[0] != t1 || pair[1].LV(e.LV.UUID) != nil {
		t.Fatalf("listener told %p→%p, want the first model and one without snap1", pair[0], pair[1])
	}
	if got := pair[1].VG("vg").VG.Free; got != t1.VG("vg").VG.Free+e.LV.Size {
		t.Errorf("free after the removal %d, want %d", got, t1.VG("vg").VG.Free+e.LV.Size)
	}
	// The model kept its age: 1.5 s is past MaxAge, so the next access
	// reads LVM in the background.
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "report after the kept age", func() bool { return l.ReportCount() == 2 })
	// A removal the model no longer shows changes nothing.
	s.ForgetRemoved("vg", "snap1", e.LV.UUID)
	select {
	case <-told:
	case <-time.After(5 * time.Second):
		t.Fatal("the background report was not told")
	}
	select {
	case p := <-told:
		t.Errorf("a second replacement %p→%p for a removal already done", p[0], p[1])
	default:
	}
}

// Snapshots taken and removed outside snapfs enter the model from LVM's
// metadata backups and /dev/mapper, without a report; a rename needs one.
func TestCatchUpWithoutReport(t *testing.T) {
	step := "1-origin"
	var mu sync.Mutex
	current := func() string { mu.Lock(); defer mu.Unlock(); return step }
	reporter := &backupReporter{t: t, step: current}
	dm := &lvmtest.DM{}
	c := &clock{now: lvmtest.T0}
	st := &stamper{stamp: step}
	s := New(reporter, Options{
		VGs: []string{"vg"}, MaxAge: time.Second, StaleGrace: time.Millisecond, Stamp: st.Stamp, DM: dm,
		Now: c.Now, Logger: quiet(),
		ReadBackup:  func(_, vg string) (*lvm.Backup, error) { b, _ := backupStep(t, current()); return b, nil },
		BackupNames: func(string) ([]string, error) { return []string{"vg"}, nil },
		MapperNames: func() ([]string, error) { _, names := backupStep(t, current()); return names, nil },
	})
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step    string
		reports int
		want    string
	}{
		{"2-snapshot", 1, "o s1"},
		{"3-second-snapshot", 1, "o s-2 s1"},
		{"4-removed", 1, "o s-2"},
		{"5-renamed", 2, "o s3"},
	} {
		mu.Lock()
		step = tc.step
		mu.Unlock()
		st.set(tc.step)
		b, _ := backupStep(t, tc.step)
		setSnapshotDevices(dm, b)
		c.advance(2 * time.Second)
		tree, err := s.Current()
		if err != nil {
			t.Fatal(err)
		}
		if got := reporter.count(); got != tc.reports {
			t.Errorf("%s: %d reports in all, want %d", tc.step, got, tc.reports)
		}
		if got := shown(tree); got != tc.want {
			t.Errorf("%s: model shows %q, want %q", tc.step, got, tc.want)
		}
	}
}

// With the seqno of a local VG read from its PV, a catch-up is taken
// however old the model (past TrustAge too: the seqno shows a change made
// with backups off), and refused when the PV's seqno is not the backup's.
func TestCatchUpWithSeqnos(t *testing.T) {
	step := "1-origin"
	bump := 0 // a change made with backups off: on the PV, not in the backup
	var mu sync.Mutex
	current := func() string { mu.Lock(); defer mu.Unlock(); return step }
	reporter := &backupReporter{t: t, step: current, pvs: true}
	dm := &lvmtest.DM{}
	c := &clock{now: lvmtest.T0}
	st := &stamper{stamp: step}
	s := New(reporter, Options{
		VGs: []string{"vg"}, MaxAge: time.Second, StaleGrace: time.Millisecond, TrustAge: time.Minute, Stamp: st.Stamp, DM: dm,
		Now: c.Now, Logger: quiet(),
		ReadBackup:  func(_, vg string) (*lvm.Backup, error) { b, _ := backupStep(t, current()); return b, nil },
		BackupNames: func(string) ([]string, error) { return []string{"vg"}, nil },
		MapperNames: func() ([]string, error) { _, names := backupStep(t, current()); return names, nil },
		Seqno: func(dev string) (string, int, error) {
			b, _ := backupStep(t, current())
			mu.Lock()
			defer mu.Unlock()
			return "vg", b.Seqno + bump, nil
		},
	})
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	step = "2-snapshot"
	mu.Unlock()
	st.set(step)
	b, _ := backupStep(t, step)
	setSnapshotDevices(dm, b)
	c.advance(10 * time.Minute)
	tree, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got := reporter.count(); got != 1 {
		t.Errorf("a snapshot taken, the model ten minutes old: %d reports in all, want 1 (a catch-up)", got)
	}
	if got := shown(tree); got != "o s1" {
		t.Errorf("model shows %q, want \"o s1\"", got)
	}
	c.advance(10 * time.Minute)
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	if got := reporter.count(); got != 1 {
		t.Errorf("nothing changed for ten minutes: %d reports in all, want 1", got)
	}
	mu.Lock()
	bump = 1
	mu.Unlock()
	c.advance(2 * time.Second)
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	if got := reporter.count(); got != 2 {
		t.Errorf("a change with backups off: %d reports in all, want 2 (no catch-up from a backup behind the PV)", got)
	}
}

// A catch-up that meets LVM in the middle of a change (the new snapshot's
// devices made, its metadata on the PV, the backup not yet written) waits
// for the change to end (WaitLVM) and catches up then, without a report.
// When no LVM command was changing the VG, or the change was more than
// snapshots, LVM is read. When the change is snapfs's own, begun after the
// access found none (own), the model stays as it was, for the change's end
// to update: neither a report nor a wait for the lock the change holds.
func TestCatchUpWaitsForLVMsChange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		busy        bool   // an LVM command holds the VG's lock
		own         bool   // it is snapfs's own, begun as the catch-up reads the PV
		start, done string // the steps before the change and once it is done
		reports     int
		want        string
	}{
		{"a snapshot taken by hand", true, false, "1-origin", "2-snapshot", 1, "o s1"},
		{"no LVM command running", false, false, "1-origin", "2-snapshot", 2, "o s1"},
		{"renamed by hand", true, false, "4-removed", "5-renamed", 2, "o s3"},
		{"a snapshot taken by snapfs", true, true, "1-origin", "2-snapshot", 1, "o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s *Store
			var began atomic.Bool
			var mu sync.Mutex
			backupAt, devicesAt := tc.start, tc.start
			at := func(step *string) string { mu.Lock(); defer mu.Unlock(); return *step }
			// LVM reports what is on the PV.
			reporter := &backupReporter{t: t, step: func() string { return at(&devicesAt) }, pvs: true}
			dm := &lvmtest.DM{}
			c := &clock{now: lvmtest.T0}
			st := &stamper{stamp: "1"}
			var waitedFor []string
			s = New(reporter, Options{
				VGs: []string{"vg"}, MaxAge: time.Second, StaleGrace: time.Millisecond, Stamp: st.Stamp, DM: dm,
				Now: c.Now, Logger: quiet(),
				ReadBackup:  func(_, vg string) (*lvm.Backup, error) { b, _ := backupStep(t, at(&backupAt)); return b, nil },
				BackupNames: func(string) ([]string, error) { return []string{"vg"}, nil },
				MapperNames: func() ([]string, error) { _, names := backupStep(t, at(&devicesAt)); return names, nil },
				// The PV has the new metadata as soon as the devices do.
				Seqno: func(string) (string, int, error) {
					if tc.own && at(&devicesAt) == tc.done && !began.Swap(true) {
						s.BeginChange()
					}
					b, _ := backupStep(t, at(&devicesAt))
					return "vg", b.Seqno, nil
				},
				WaitLVM: func(_ context.Context, vgs []string) bool {
					waitedFor = vgs
					if !tc.busy {
						return false
					}
					mu.Lock()
					backupAt = tc.done
					mu.Unlock()
					st.set("3")
					return true
				},
			})
			b, _ := backupStep(t, tc.start)
			setSnapshotDevices(dm, b)
			if _, err := s.Current(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			devicesAt = tc.done
			mu.Unlock()
			st.set("2")
			b, _ = backupStep(t, tc.done)
			setSnapshotDevices(dm, b)
			c.advance(3 * time.Second)
			tree, err := s.Current()
			if err != nil {
				t.Fatal(err)
			}
			if got := reporter.count(); got != tc.reports {
				t.Errorf("%d reports in all, want %d", got, tc.reports)
			}
			if got := shown(tree); got != tc.want {
				t.Errorf("model shows %q, want %q", got, tc.want)
			}
			wantWait := []string{"vg"}
			if tc.own {
				wantWait = nil
			}
			if !slices.Equal(waitedFor, wantWait) {
				t.Errorf("waited for LVM's changes of %q, want %q", waitedFor, wantWait)
			}
		})
	}
}

// backupReporter reports what the metadata backup of the test's step says,
// as LVM would.
type backupReporter struct {
	t      *testing.T
	step   func() string
	shared bool // vg is shared through lvmlockd, its PV /dev/vda
	pvs    bool // vg is local, its PV /dev/vda

	mu      sync.Mutex
	reports int
}

func (r *backupReporter) Report(context.Context, []string) (*lvm.Report, error) {
	r.mu.Lock()
	r.reports++
	r.mu.Unlock()
	b, _ := backupStep(r.t, r.step())
	rep := backupReport(r.t, b)
	if r.shared {
		rep.VGs[0].LockType = "sanlock"
	}
	if r.shared || r.pvs {
		rep.VGs[0].PVs = []string{"/dev/vda"}
	}
	return rep, nil
}

func (r *backupReporter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reports
}

// setSnapshotDevices gives device-mapper the devices of every COW snapshot
// of metadata backup b, as LVM activates them.
func setSnapshotDevices(dm *lvmtest.DM, b *lvm.Backup) {
	for _, lv := range b.LVs {
		if b.SnapshotLink(lv.Name) != nil {
			setSnapshotDevice(dm, lv)
		}
	}
}

// setSnapshotDevice gives device-mapper the devices of COW snapshot lv of
// a metadata backup, as LVM activates them.
func setSnapshotDevice(dm *lvmtest.DM, lv *lvm.BackupLV) {
	name := lvm.DMName("vg", lv.Name)
	// The VG half of the device UUID is not looked at.
	uuid := "LVM-" + strings.Repeat("V", 32) + strings.ReplaceAll(lv.UUID, "-", "")
	dm.SetStatus(&lvm.DeviceStatus{Name: name, UUID: uuid, Major: 254, Minor: 9, Live: true,
		Targets: []lvm.Target{{Type: "snapshot", Length: 8192, Params: "16/8192 16"}}})
	dm.SetStatus(&lvm.DeviceStatus{Name: name + "-cow", Live: true, Targets: []lvm.Target{{Type: "linear", Length: 8192}}})
}

// shown lists the LVs the model shows, sorted.
func shown(t *model.Tree) string {
	var names []string
	for _, v := range t.VGs {
		for _, o := range v.Origins {
			names = append(names, o.LV.Name)
			for _, s := range o.Snaps {
				names = append(names, s.LV.Name)
			}
		}
	}
	return strings.Join(names, " ")
}

// blockingReporter is LVM busy with a change: a report waits until the
// test lets it go.
type blockingReporter struct {
	*lvmtest.LVM
	release chan struct{}
	started chan struct{}
}

func (r *blockingReporter) Report(ctx context.Context, vgs []string) (*lvm.Report, error) {
	select {
	case r.started <- struct{}{}:
	default:
	}
	<-r.release
	return r.LVM.Report(ctx, vgs)
}

// While a change of snapfs's own is in flight, an access to a model of any
// age, or a refresh not forced, is answered at once, from the model as it
// was, and starts no report;
// without one, an access to a model too old waits for the report.
func TestReadsNeverWaitForAChange(t *testing.T) {
	r := &blockingReporter{LVM: lvmtest.New(), release: make(chan struct{}), started: make(chan struct{}, 1)}
	c := &clock{now: lvmtest.T0}
	s := newTestStore(r, c, Options{MaxAge: time.Second, StaleGrace: time.Second})
	close(r.release)
	first, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	r.release = make(chan struct{})
	<-r.started // the first report's

	end := s.BeginChange()
	c.advance(time.Hour)
	got := make(chan *model.Tree, 1)
	go func() { t2, _ := s.Current(); got <- t2 }()
	select {
	case t2 := <-got:
		if t2 != first {
			t.Errorf("during a change: model %p, want the one before %p", t2, first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an access waited for a report while a change was in flight")
	}
	// So does a refresh that an access began before the change and that
	// gets to read only now (it waited for another refresh).
	go func() { t2, _ := s.Refresh(false); got <- t2 }()
	select {
	case t2 := <-got:
		if t2 != first {
			t.Errorf("a refresh during a change: model %p, want the one before %p", t2, first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a refresh waited for a report while a change was in flight")
	}
	select {
	case <-r.started:
		t.Error("a report started while a change was in flight, in the middle of it")
	case <-time.After(50 * time.Millisecond):
	}
	end()
	end() // a second end is harmless

	// The change is over. A model too old makes an access wait for the
	// report.
	c.advance(time.Hour)
	go func() { t3, _ := s.Current(); got <- t3 }()
	select {
	case <-got:
		t.Fatal("without a change in flight, an access to a model an hour old did not wait for the report")
	case <-time.After(50 * time.Millisecond):
	}
	close(r.release)
	if t3 := <-got; t3 == first {
		t.Error("the access after the report got the old model")
	}
}

// snapshotReporter is a report that reflects LVM as of its start, then
// takes its time: a change LVM finishes meanwhile is not in it.
type snapshotReporter struct {
	*lvmtest.LVM
	started chan struct{}
	release chan struct{}
	// armed makes the next report, and only it, signal started and wait
	// for release. (A send that waited for the test to receive raced with
	// the test reaching its receive; the report then never held.)
	mu    sync.Mutex
	armed bool
}

func (r *snapshotReporter) arm() { r.mu.Lock(); r.armed = true; r.mu.Unlock() }

func (r *snapshotReporter) Report(ctx context.Context, vgs []string) (*lvm.Report, error) {
	rep, err := r.LVM.Report(ctx, vgs)
	r.mu.Lock()
	hold := r.armed
	r.armed = false
	r.mu.Unlock()
	if hold {
		r.started <- struct{}{} // buffered: never waits
		<-r.release
	}
	return rep, err
}

// A refresh asked for after a change never gets a report that began
// before it: snapfs's own change must be in the model that Refresh(true)
// returns (a scheduled snapshot missing from it would be taken again).
func TestRefreshAfterChangeIsFresh(t *testing.T) {
	r := &snapshotReporter{LVM: lvmtest.New(), started: make(chan struct{}, 1), release: make(chan struct{})}
	c := &clock{now: lvmtest.T0}
	s := newTestStore(r, c, Options{})
	if _, err := s.Refresh(true); err != nil {
		t.Fatal(err)
	}
	r.arm()
	// A background refresh begins; LVM then finishes a change.
	bg := make(chan struct{})
	go func() { s.Refresh(true); close(bg) }()
	<-r.started
	c.advance(time.Second)
	r.Mu.Lock()
	r.Add(lvm.LV{Name: "new", VG: "vg", Attr: lvmtest.MustAttr("swi-a-s---"), Origin: "web", Size: lvmtest.Extent})
	r.Mu.Unlock()
	got := make(chan *model.Tree, 1)
	go func() { t2, _ := s.Refresh(true); got <- t2 }()
	// The caller has asked (and waits for the background refresh) before
	// that refresh ends, later.
	time.Sleep(100 * time.Millisecond)
	c.advance(time.Second)
	close(r.release)
	<-bg
	tree := <-got
	if tree.VG("vg").LVByName("new") == nil {
		t.Error("Refresh after the change returned the model of a report that began before it")
	}
}

// TestSharedChangeFromAnotherHost: another host's change to a shared VG
// touches nothing on this one but the metadata on the shared PVs. The
// stamp holds the VG's seqno as its PV says, so the next access after
// MaxAge reads LVM; while the seqno stays, no access does. The backup here
// is the old one, so the model is not caught up from it.
func TestSharedChangeFromAnotherHost(t *testing.T) {
	step := "1-origin" // what LVM reads from the shared PVs
	var mu sync.Mutex
	current := func() string { mu.Lock(); defer mu.Unlock(); return step }
	reporter := &backupReporter{t: t, step: current, shared: true}
	c := &clock{now: lvmtest.T0}
	st := &stamper{stamp: "local"} // never changes: the change was not made here
	// This host has no metadata backup of vg (made on the other host): a
	// stamp asked to look at it cannot tell.
	stamp := func(vgs []string) (string, bool) {
		if slices.Contains(vgs, "vg") {
			return "", false
		}
		return st.Stamp(vgs)
	}
	var seqnoReads int
	s := New(reporter, Options{
		VGs: []string{"vg"}, MaxAge: time.Second, StaleGrace: time.Millisecond, Stamp: stamp, DM: &lvmtest.DM{},
		Now: c.Now, Logger: quiet(),
		ReadBackup:  func(_, vg string) (*lvm.Backup, error) { b, _ := backupStep(t, "1-origin"); return b, nil },
		BackupNames: func(string) ([]string, error) { return []string{"vg"}, nil },
		MapperNames: func() ([]string, error) { _, names := backupStep(t, "1-origin"); return names, nil },
		Seqno: func(dev string) (string, int, error) {
			mu.Lock()
			seqnoReads++
			mu.Unlock()
			if dev != "/dev/vda" {
				t.Errorf("seqno read from %s", dev)
			}
			b, _ := backupStep(t, current())
			return "vg", b.Seqno, nil
		},
	})
	access := func() *model.Tree {
		t.Helper()
		c.advance(2 * time.Second)
		tree, err := s.Current()
		if err != nil {
			t.Fatal(err)
		}
		return tree
	}
	access()
	for i := 0; i < 3; i++ {
		if got := shown(access()); got != "o" {
			t.Errorf("unchanged: model shows %q", got)
		}
	}
	// The first report's stamp was taken before snapfs knew vg shared,
	// and could not tell: the second report's can.
	if got := reporter.count(); got != 2 {
		t.Errorf("%d reports while nothing changed, want 2", got)
	}
	mu.Lock()
	step = "2-snapshot"
	mu.Unlock()
	if got := shown(access()); got != "o s1" {
		t.Errorf("after the other host's snapshot: model shows %q, want \"o s1\"", got)
	}
	if got := reporter.count(); got != 3 {
		t.Errorf("%d reports, want 3", got)
	}
	for i := 0; i < 3; i++ {
		access()
	}
	if got := reporter.count(); got != 3 {
		t.Errorf("%d reports after the change was read, want 3", got)
	}
	if seqnoReads == 0 {
		t.Error("the seqno was never read")
	}
}

// reportFunc is a Reporter from a function.
type reportFunc func() *lvm.Report

func (f reportFunc) Report(context.Context, []string) (*lvm.Report, error) { return f(), nil }

// PVs gives an lvcreate the devices of a local VG's PVs from the model,
// and none where a list could be wrong: a shared VG, a PV LVM misses.
func TestPVs(t *testing.T) {
	rep := &lvm.Report{VGs: []lvm.VG{
		{Name: "local", PVs: []string{"/dev/loop0", "/dev/loop1"}},
		{Name: "shared", LockType: "sanlock", PVs: []string{"/dev/vdb"}},
		{Name: "missing", PVs: []string{"/dev/loop2", "[unknown]"}},
		{Name: "none"},
	}}
	s := newTestStore(reportFunc(func() *lvm.Report { return rep }), &clock{now: lvmtest.T0}, Options{})
	if got := s.PVs("local"); got != nil {
		t.Errorf("before the first report: %q", got)
	}
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	for vg, want := range map[string][]string{
		"local": {"/dev/loop0", "/dev/loop1"}, "shared": nil, "missing": nil, "none": nil, "nosuch": nil,
	} {
		if got := s.PVs(vg); !slices.Equal(got, want) {
			t.Errorf("PVs(%q) = %q, want %q", vg, got, want)
		}
	}
}

// KeepFresh brings a change made behind snapfs's back into the model, and
// tells the listeners, though nothing asks for the model; while the change
// stamp stays the same, it reads LVM never.
func TestKeepFresh(t *testing.T) {
	l := lvmtest.New()
	c := &clock{now: lvmtest.T0}
	st := &stamper{stamp: "s1"}
	// With VGs configured, the first report is stamped already.
	s := newTestStore(l, c, Options{VGs: []string{"vg", "vg2"}, MaxAge: time.Second, Stamp: st.Stamp})
	told := make(chan *model.Tree, 4)
	s.OnReplace(func(_, cur *model.Tree) { told <- cur })
	if _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.KeepFresh(ctx, time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	// The first report read the stamp once; KeepFresh reads it again
	// once the model is past MaxAge, and then the model is current until
	// the clock moves again.
	c.advance(time.Hour)
	waitFor(t, "stamp read by KeepFresh", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.asked == 2
	})
	if n := l.ReportCount(); n != 1 {
		t.Fatalf("%d reports with the stamp unchanged, want 1 (the first)", n)
	}

	if err := l.Remove(t.Context(), "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	st.set("s2")
	c.advance(time.Hour)
	select {
	case cur := <-told:
		if cur.VG("vg").Origin("web").Child("snap1") != nil {
			t.Errorf("the model KeepFresh read still has snap1")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("KeepFresh told no new model after a change by hand")
	}
}
