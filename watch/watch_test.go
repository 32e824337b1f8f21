package watch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/state"
)

// collected are the events the watch and the operations publish.
type collected struct {
	mu  sync.Mutex
	got []string
}

func (c *collected) Publish(e events.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.Time = time.Time{}
	c.got = append(c.got, strings.TrimSpace(strings.Replace(string(e.Line()), `"time":"0001-01-01T00:00:00Z",`, "", 1)))
}

func (c *collected) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.Join(c.got, "\n")
	c.got = nil
	return s
}

type fixture struct {
	lvm   *lvmtest.LVM
	dm    *lvmtest.DM
	store *state.Store
	w     *Watcher
	ev    *collected
	nowMu sync.Mutex // guards now
	now   time.Time
	logs  *bytes.Buffer
	ops   *ops.Ops
	opts  Options
}

// newFixture is the fake LVM (vg: 10 GiB, 5 GiB free, extents of 4 MiB;
// vg/snap1 a COW snapshot of 200 MiB of the 1 GiB vg/web; vg/pool a thin
// pool of 2 GiB with 64 KiB chunks) watched with cfg for every store.
func newFixture(t *testing.T, cfg guard.Config, minFree guard.Size) *fixture {
	t.Helper()
	fx := &fixture{lvm: lvmtest.New(), ev: &collected{}, now: lvmtest.T0, logs: &bytes.Buffer{}}
	fx.dm = &lvmtest.DM{LVM: fx.lvm}
	log := slog.New(slog.NewTextHandler(fx.logs, nil))
	// The store announces a new model from a goroutine of its own, which
	// reads the clock too.
	clock := func() time.Time {
		fx.nowMu.Lock()
		defer fx.nowMu.Unlock()
		return fx.now
	}
	fx.store = state.New(fx.lvm, state.Options{Logger: log, DM: fx.dm, MaxAge: time.Hour, Now: clock})
	operations := ops.New(fx.lvm, fx.store, ops.Options{Events: fx.ev, Logger: log, Now: clock})
	fx.store.OnReplace(operations.Announce)
	fx.lvm.Mu.Lock()
	fx.lvm.Find("vg", "snap1").KernelMajor, fx.lvm.Find("vg", "snap1").KernelMinor = 254, 2
	fx.lvm.Mu.Unlock()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	cfg.MinFree = minFree
	fx.opts = Options{
		Config:  func(string) guard.Config { return cfg },
		MinFree: func(string) guard.Size { return minFree },
		Events:  fx.ev, Logger: log, Now: clock,
	}
	fx.ops = operations
	fx.w = New(fx.store, fx.dm, operations, fx.opts)
	return fx
}

// cow sets snap1's COW store (200 MiB: 409600 sectors) to pct percent used.
func (fx *fixture) cow(pct int) {
	fx.dm.Set("vg-snap1", lvm.Target{Type: "snapshot", Params: fmt.Sprintf("%d/409600 16", 409600*pct/100)})
}

func (fx *fixture) tick(t *testing.T) {
	t.Helper()
	fx.w.Tick(context.Background())
	fx.nowMu.Lock()
	fx.now = fx.now.Add(time.Second)
	fx.nowMu.Unlock()
}

func (fx *fixture) calls() string {
	fx.lvm.Mu.Lock()
	defer fx.lvm.Mu.Unlock()
	return strings.Join(fx.lvm.Calls, "; ")
}

var defaults = guard.Config{ExtendAt: 80, WarnAt: 70, ExtendBy: guard.Size{Percent: 20}, ExtendMax: guard.Size{Percent: 100}}

// A COW store is watched: warned of at warn_at, extended at extend_at by
// extend_by through the change path, told of when it overflows.
func TestCOWStore(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	fx.cow(50)
	fx.tick(t)
	if got := fx.ev.take() + fx.calls(); got != "" {
		t.Fatalf("at 50%%: %q", got)
	}
	fx.cow(75)
	fx.tick(t)
	if got, want := fx.ev.take(), `{"event":"filling","path":"vg/web/snap1","allocated":75.00,"full_in":null}`; !strings.HasPrefix(got, `{"event":"filling","path":"vg/web/snap1","allocated":75.00,"full_in":`) {
		t.Errorf("at 75%%: %s, want %s", got, want)
	}
	fx.cow(85)
	fx.tick(t)
	// 20% of 200 MiB is 40 MiB: ten extents.
	if got, want := fx.calls(), "lvm lvextend --size +40960k vg/snap1"; got != want {
		t.Errorf("at 85%% LVM ran %q, want %q", got, want)
	}
	if got := fx.ev.take(); !strings.Contains(got, `{"event":"extended","path":"vg/web/snap1","from":209715200,"to":251658240,"by":"guard"}`) {
		t.Errorf("events of the extension:\n%s", got)
	}
	if fx.w.Extensions() != 1 {
		t.Errorf("%d extensions counted", fx.w.Extensions())
	}
	if !strings.Contains(fx.logs.String(), `op=extend path="vg/web/snap1: +40960k" uid=-1`) {
		t.Errorf("no audit line:\n%s", fx.logs.String())
	}
	fx.dm.Set("vg-snap1", lvm.Target{Type: "snapshot", Params: "Invalid"})
	fx.tick(t)
	if got, want := fx.ev.take(), `{"event":"invalid","path":"vg/web/snap1","allocated":100.00}`; got != want {
		t.Errorf("overflowed: %s, want %s", got, want)
	}
}

// extend_at = 0: the guard warns, and never extends.
func TestGuardOff(t *testing.T) {
	cfg := defaults
	cfg.ExtendAt = 0
	fx := newFixture(t, cfg, guard.Size{})
	fx.cow(50)
	fx.tick(t)
	fx.cow(99)
	fx.tick(t)
	if fx.calls() != "" {
		t.Errorf("with extend_at = 0, LVM ran %q", fx.calls())
	}
	if got := fx.ev.take(); !strings.HasPrefix(got, `{"event":"filling"`) {
		t.Errorf("events %q", got)
	}
}

// min_free: an extension that would cross it is not made, and says so
// once; a VG below it is told of once.
func TestMinFree(t *testing.T) {
	// 5 GiB free of 10 GiB: min_free 50% leaves nothing to extend with.
	fx := newFixture(t, defaults, guard.Size{Percent: 50})
	fx.cow(90)
	fx.tick(t)
	fx.tick(t)
	if fx.calls() != "" {
		t.Errorf("LVM ran %q across min_free", fx.calls())
	}
	if got, want := fx.ev.take(), `{"event":"low-space","path":"vg/web/snap1","free":5368709120}`; got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
	fx = newFixture(t, defaults, guard.Size{Bytes: 6 << 30})
	fx.cow(10)
	fx.tick(t)
	fx.tick(t)
	if got, want := fx.ev.take(), `{"event":"low-space","path":"vg","free":5368709120}`+"\n"+`{"event":"low-space","path":"vg2","free":536870912}`; got != want {
		t.Errorf("VGs below min_free:\n%s\nwant\n%s", got, want)
	}
	if got := fx.w.MinFreeBytes("vg"); got != 6<<30 {
		t.Errorf("MinFreeBytes %d", got)
	}
}

// A thin pool's data and metadata are watched and extended the same way,
// and their use is what the VG's status shows.
func TestThinPool(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	// Data: 29491 of 32768 chunks of 64 KiB (90%); metadata: 100 of 1024
	// blocks of 4 KiB.
	fx.dm.Set("vg-pool-tpool", lvm.Target{Type: "thin-pool", Params: "1 100/1024 29491/32768 - rw discard_passdown queue_if_no_space - 256"})
	fx.tick(t)
	// 20% of 2 GiB is 409.6 MiB: 103 extents.
	if got, want := fx.calls(), "lvm lvextend --size +421888k vg/pool"; got != want {
		t.Errorf("LVM ran %q, want %q", got, want)
	}
	data, meta, ok := fx.w.Pool("vg", "pool")
	if !ok || data.Hundredths != 9000 || meta.Hundredths != 977 {
		t.Errorf("pool use %v %v %v", data, meta, ok)
	}
}

// fill_rate and full_in come from the guard's readings: a store growing by
// 2 MiB a second fills its 200 MiB in so many seconds.
func TestRate(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	snap, err := fx.store.Lookup("uuid-002")
	if err != nil {
		t.Fatal(err)
	}
	if rate, fullIn := fx.w.Rate(snap); rate != 0 || fullIn >= 0 {
		t.Errorf("before any reading: %v %v", rate, fullIn)
	}
	for used := uint64(0); used <= 20<<20; used += 2 << 20 {
		fx.dm.Set("vg-snap1", lvm.Target{Type: "snapshot", Params: fmt.Sprintf("%d/409600 16", used/512)})
		fx.tick(t)
	}
	rate, fullIn := fx.w.Rate(snap)
	if rate != 2<<20 {
		t.Errorf("fill rate %v, want 2 MiB/s", rate)
	}
	if want := float64(180<<20) / float64(2<<20); fullIn < want-1.5 || fullIn > want+0.5 {
		t.Errorf("full in %v s, want about %v", fullIn, want)
	}
}

// The tick works out what to read once per model: a snapshot taken after
// the first tick is read from the next one on, and one removed is no
// longer read, nor its readings kept.
func TestModelChanges(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	fx.cow(50)
	fx.tick(t)
	if _, _, ok := fx.w.Numbers("uuid-002"); !ok {
		t.Fatal("snap1 not read at the first tick")
	}
	ctx := context.Background()
	if err := fx.lvm.CreateSnapshot(ctx, "vg", "web", "snap2", lvm.SizeSpec{Size: "100m"}); err != nil {
		t.Fatal(err)
	}
	fx.lvm.Mu.Lock()
	fx.lvm.Find("vg", "snap2").KernelMajor, fx.lvm.Find("vg", "snap2").KernelMinor = 254, 9
	fx.lvm.Mu.Unlock()
	fx.dm.Set("vg-snap2", lvm.Target{Type: "snapshot", Params: "180000/204800 16"}) // 88%
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	fx.lvm.Calls = nil
	fx.tick(t)
	// 20% of 100 MiB is 20 MiB: five extents.
	if got, want := fx.calls(), "lvm lvextend --size +20480k vg/snap2"; got != want {
		t.Errorf("after snap2 was taken LVM ran %q, want %q", got, want)
	}
	if err := fx.lvm.Remove(ctx, "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	fx.tick(t)
	if _, _, ok := fx.w.Numbers("uuid-002"); ok {
		t.Error("snap1's readings kept after it was removed")
	}
}

// snapshotDM is device-mapper that reads a snapshot's status without
// TableStatus, as lvm.DeviceMapper does, and counts those reads.
type snapshotDM struct {
	*lvmtest.DM
	reads int
}

func (d *snapshotDM) SnapshotStatus(name string) (lvm.SnapshotStatus, error) {
	d.reads++
	return lvm.ReadSnapshotStatus(d.DM, name)
}

// With a device-mapper that reads a snapshot's status on its own, the
// guard reads COW stores with it, and acts on them as through TableStatus.
func TestSnapshotStatuser(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	dm := &snapshotDM{DM: fx.dm}
	fx.w = New(fx.store, dm, fx.ops, fx.opts)
	fx.cow(85)
	fx.tick(t)
	if got, want := fx.calls(), "lvm lvextend --size +40960k vg/snap1"; got != want {
		t.Errorf("at 85%% LVM ran %q, want %q", got, want)
	}
	if dm.reads != 1 {
		t.Errorf("%d reads of SnapshotStatus in a tick over one snapshot", dm.reads)
	}
}

// The plan of a tick does not keep the model it was made for once the
// store has a new one: the next tick may be a long guard_interval away.
func TestPlanDropped(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	fx.cow(50)
	fx.tick(t)
	if fx.w.plan.Load() == nil {
		t.Fatal("no plan after a tick")
	}
	if err := fx.lvm.AddTag(context.Background(), "vg", "web", "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	// The store tells of a new model from a goroutine of its own.
	deadline := time.Now().Add(5 * time.Second)
	for fx.w.plan.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the plan still holds the old model 5 s after the store replaced it")
		}
		time.Sleep(time.Millisecond)
	}
	fx.tick(t)
	if p := fx.w.plan.Load(); p == nil || p.tree != mustCurrent(t, fx.store) {
		t.Error("the tick after did not plan for the new model")
	}
}

func mustCurrent(t *testing.T, store *state.Store) *model.Tree {
	t.Helper()
	tree, err := store.Current()
	if err != nil {
		t.Fatal(err)
	}
	return tree
}
