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
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/state"
	"golang.org/x/sys/unix"
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
	now   time.Time
	logs  *bytes.Buffer
}

// newFixture is the fake LVM (vg: 10 GiB, 5 GiB free, extents of 4 MiB;
// vg/snap1 a COW snapshot of 200 MiB of the 1 GiB vg/web; vg/pool a thin
// pool of 2 GiB with 64 KiB chunks) watched with cfg for every store.
func newFixture(t *testing.T, cfg guard.Config, minFree guard.Size) *fixture {
	t.Helper()
	fx := &fixture{lvm: lvmtest.New(), ev: &collected{}, now: lvmtest.T0, logs: &bytes.Buffer{}}
	fx.dm = &lvmtest.DM{LVM: fx.lvm}
	log := slog.New(slog.NewTextHandler(fx.logs, nil))
	clock := func() time.Time { return fx.now }
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
	fx.w = New(fx.store, fx.dm, operations, Options{
		Config:  func(string) guard.Config { return cfg },
		MinFree: func(string) guard.Size { return minFree },
		Events:  fx.ev, Logger: log, Now: clock,
	})
	return fx
}

// cow sets snap1's COW store (200 MiB: 409600 sectors) to pct percent used.
func (fx *fixture) cow(pct int) {
	fx.dm.Set("vg-snap1", lvm.Target{Type: "snapshot", Params: fmt.Sprintf("%d/409600 16", 409600*pct/100)})
}

func (fx *fixture) tick(t *testing.T) {
	t.Helper()
	fx.w.Tick(context.Background())
	fx.now = fx.now.Add(time.Second)
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

// countingDM counts the status reads of each device.
type countingDM struct {
	*lvmtest.DM
	mu    sync.Mutex
	reads map[string]int
}

func (d *countingDM) TableStatus(name string) ([]lvm.Target, error) {
	d.mu.Lock()
	d.reads[name]++
	d.mu.Unlock()
	return d.DM.TableStatus(name)
}

func (d *countingDM) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads[name]
}

// With the I/O counts of the devices, a COW store is read only when a
// write or discard to its origin or itself may have changed it (counts
// moved, or a request in flight), when the model changed, and every
// FullEvery ticks; meanwhile its last reading stands. A store that fills
// is acted on in the tick its writes show in.
func TestReadsWhatIOMayHaveChanged(t *testing.T) {
	fx := newFixture(t, defaults, guard.Size{})
	fx.lvm.Mu.Lock()
	fx.lvm.Find("vg", "web").KernelMajor, fx.lvm.Find("vg", "web").KernelMinor = 254, 1
	fx.lvm.Mu.Unlock()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	dm := &countingDM{DM: fx.dm, reads: map[string]int{}}
	fx.w.dm = dm
	web, snap := unix.Mkdev(254, 1), unix.Mkdev(254, 2)
	counts := map[uint64]lvm.IOCounts{web: {Writes: 10}, snap: {}, unix.Mkdev(7, 0): {Writes: 3}}
	var countsErr error
	fx.w.opts.IOCounts = func() (map[uint64]lvm.IOCounts, error) { return counts, countsErr }
	reads := 0
	expect := func(what string, want int) {
		t.Helper()
		reads += want
		if got := dm.count("vg-snap1"); got != reads {
			t.Errorf("%s: %d reads of vg-snap1 in all, want %d", what, got, reads)
			reads = got
		}
	}

	fx.cow(50)
	fx.tick(t)
	expect("the first tick", 1)
	// Until its turn comes, at most FullEvery ticks after the last read.
	idle := 0
	for ; idle < FullEvery && dm.count("vg-snap1") == reads; idle++ {
		fx.tick(t)
	}
	if idle == FullEvery || idle < 2 {
		t.Errorf("no I/O: read again after %d ticks, want 2 to %d", idle, FullEvery)
	}
	reads = dm.count("vg-snap1")
	fx.tick(t)
	expect("no I/O, the tick after", 0)

	// Writes to the origin fill the store past extend_at: read and
	// extended in the same tick.
	counts[web] = lvm.IOCounts{Writes: 500}
	fx.cow(85)
	fx.tick(t)
	expect("writes to the origin", 1)
	if got, want := fx.calls(), "lvm lvextend --size +40960k vg/snap1"; got != want {
		t.Errorf("at 85%% LVM ran %q, want %q", got, want)
	}
	// The extension changed the model: read.
	fx.cow(71)
	fx.tick(t)
	expect("a new model", 1)
	fx.tick(t)
	expect("nothing since", 0)
	// A write in flight to the snapshot itself, then done.
	counts[snap] = lvm.IOCounts{InFlight: 1}
	fx.tick(t)
	fx.tick(t)
	expect("a write in flight, two ticks", 2)
	counts[snap] = lvm.IOCounts{Writes: 1}
	fx.tick(t)
	expect("the write done", 1)
	counts[snap] = lvm.IOCounts{Writes: 1, Discards: 1}
	fx.tick(t)
	expect("a discard", 1)
	// Without counts, every tick reads.
	countsErr = fmt.Errorf("no /proc/diskstats")
	fx.tick(t)
	fx.tick(t)
	expect("no counts", 2)
	countsErr = nil
	delete(counts, web)
	fx.tick(t)
	fx.tick(t)
	expect("no counts for the origin's device", 2)
}
