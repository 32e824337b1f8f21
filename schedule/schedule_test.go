package schedule

import (
	"bytes"
	"context"
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
	"github.com/snapfs/snapfs/retention"
	"github.com/snapfs/snapfs/state"
)

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

// has waits (up to a bound only a failing test reaches) for the event
// line: the store tells its listeners from a goroutine of its own.
func (c *collected) has(line string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		for _, l := range c.got {
			if l == line {
				c.mu.Unlock()
				return true
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *collected) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.got, "\n")
}

type fixture struct {
	lvm   *lvmtest.LVM
	store *state.Store
	ops   *ops.Ops
	s     *Scheduler
	ev    *collected
	logs  *bytes.Buffer
	mu    sync.Mutex
	now   time.Time
}

func (fx *fixture) clock() time.Time {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.now
}

func (fx *fixture) advance(d time.Duration) {
	fx.mu.Lock()
	fx.now = fx.now.Add(d)
	fx.mu.Unlock()
}

// newFixture schedules vg/web with plan, over the fake LVM whose LVs are
// made at the fixture's clock.
func newFixture(t *testing.T, plan Plan, opts Options) *fixture {
	t.Helper()
	fx := &fixture{lvm: lvmtest.New(), ev: &collected{}, logs: &bytes.Buffer{}, now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	fx.lvm.Now = fx.clock
	log := slog.New(slog.NewTextHandler(fx.logs, nil))
	fx.store = state.New(fx.lvm, state.Options{Logger: log, Now: fx.clock})
	fx.ops = ops.New(fx.lvm, fx.store, ops.Options{SnapshotSize: lvm.SizeSpec{Size: "8M"}, Events: fx.ev, Logger: log, Now: fx.clock})
	fx.store.OnReplace(fx.ops.Announce)
	opts.Plan = func(origin string) (Plan, bool) { return plan, origin == "vg/web" }
	opts.Logger, opts.Now = log, fx.clock
	fx.s = New(fx.store, fx.ops, opts)
	return fx
}

func (fx *fixture) tick(t *testing.T) {
	t.Helper()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	fx.s.Tick(context.Background())
}

func (fx *fixture) names() string { return strings.Join(fx.lvm.Names("vg"), " ") }

// Every 10 s a snapshot auto-YYYYMMDD-HHMMSS tagged snapfs_auto; keep last
// 3 leaves the three newest and every hand-made one.
func TestScheduleAndKeepLast(t *testing.T) {
	fx := newFixture(t, Plan{Every: 10 * time.Second, Keep: retention.Keep{Last: 3}}, Options{})
	for i := 0; i < 6; i++ {
		fx.tick(t)
		fx.tick(t) // a second tick in the same slot takes nothing
		fx.advance(10 * time.Second)
	}
	want := "auto-20261206-120030 auto-20261206-120040 auto-20261206-120050 db dbsnap pool pool_tdata pool_tmeta snap1 status web"
	if got := fx.names(); got != want {
		t.Errorf("LVs %s\nwant %s", got, want)
	}
	if lv := fx.lvm.Find("vg", "auto-20261206-120050"); lv == nil || strings.Join(lv.Tags, ",") != retention.TagAuto {
		t.Errorf("the scheduled snapshot's tags: %+v", lv)
	}
	if !fx.ev.has(`{"event":"created","path":"vg/web/auto-20261206-120000","by":"schedule"}`) ||
		!fx.ev.has(`{"event":"pruned","path":"vg/web/auto-20261206-120000","by":"schedule","reason":"retention"}`) {
		t.Errorf("events:\n%s", fx.ev)
	}
	if !strings.Contains(strings.Join(fx.lvm.Calls, "\n"), "lvm lvcreate --snapshot --name auto-20261206-120000 --size 8M --addtag snapfs_auto vg/web") {
		t.Errorf("calls:\n%s", strings.Join(fx.lvm.Calls, "\n"))
	}
}

// A held scheduled snapshot survives pruning; once released it goes.
func TestHeldSurvivesPruning(t *testing.T) {
	fx := newFixture(t, Plan{Every: 10 * time.Second, Keep: retention.Keep{Last: 1}}, Options{})
	fx.tick(t)
	first := fx.lvm.Find("vg", "auto-20261206-120000")
	if first == nil {
		t.Fatal("no first scheduled snapshot")
	}
	e, err := fx.store.Refresh(true)
	if err != nil {
		t.Fatal(err)
	}
	snap := e.VG("vg").Origin("web").Child("auto-20261206-120000")
	if err := fx.ops.Control(context.Background(), snap, []byte("hold\n")); err != nil {
		t.Fatal(err)
	}
	fx.advance(10 * time.Second)
	fx.tick(t)
	if fx.lvm.Find("vg", "auto-20261206-120000") == nil {
		t.Fatal("the held snapshot was pruned")
	}
	e, _ = fx.store.Refresh(true)
	snap = e.VG("vg").Origin("web").Child("auto-20261206-120000")
	if err := fx.ops.Remove(context.Background(), snap); ops.Errno(err) != 16 { // EBUSY
		t.Errorf("rmdir of a held snapshot: %v", err)
	}
	if err := fx.ops.Control(context.Background(), snap, []byte("release\n")); err != nil {
		t.Fatal(err)
	}
	fx.tick(t)
	if fx.lvm.Find("vg", "auto-20261206-120000") != nil {
		t.Error("the released snapshot was not pruned")
	}
}

// Expiry removes any snapshot, hand-made too, once its time has come; a
// held one stays. expire with a bad WHEN changes no tag.
func TestExpiry(t *testing.T) {
	fx := newFixture(t, Plan{}, Options{})
	tree, err := fx.store.Refresh(true)
	if err != nil {
		t.Fatal(err)
	}
	snap := tree.VG("vg").Origin("web").Child("snap1")
	for _, bad := range []string{"expire\n", "expire soon\n", "expire -5m\n", "expire 2020-01-01T00:00:00Z\n", "expire 1h later\n"} {
		if err := fx.ops.Control(context.Background(), snap, []byte(bad)); ops.Errno(err) != 22 { // EINVAL
			t.Errorf("%q: %v, want EINVAL", bad, err)
		}
	}
	if lv := fx.lvm.Find("vg", "snap1"); len(lv.Tags) != 0 {
		t.Fatalf("tags after bad expires: %v", lv.Tags)
	}
	if err := fx.ops.Control(context.Background(), snap, []byte("expire 20s\n")); err != nil {
		t.Fatal(err)
	}
	fx.tick(t)
	if fx.lvm.Find("vg", "snap1") == nil {
		t.Fatal("removed before its time")
	}
	fx.advance(21 * time.Second)
	fx.tick(t)
	if fx.lvm.Find("vg", "snap1") != nil {
		t.Error("not removed after its time")
	}
	if !fx.ev.has(`{"event":"expired","path":"vg/web/snap1","by":"snapfs","reason":"expiry"}`) {
		t.Errorf("events:\n%s", fx.ev)
	}
}

// A new expiry replaces the old tag; never removes it.
func TestExpireReplaces(t *testing.T) {
	fx := newFixture(t, Plan{}, Options{})
	for _, when := range []string{"1h", "2h", "never"} {
		tree, err := fx.store.Refresh(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.ops.Control(context.Background(), tree.VG("vg").Origin("web").Child("snap1"), []byte("expire "+when+"\n")); err != nil {
			t.Fatal(err)
		}
		tags := fx.lvm.Find("vg", "snap1").Tags
		want := []string{retention.ExpiresTag(fx.now.Add(2 * time.Hour))}
		switch when {
		case "1h":
			want = []string{retention.ExpiresTag(fx.now.Add(time.Hour))}
		case "never":
			want = nil
		}
		if strings.Join(tags, ",") != strings.Join(want, ",") {
			t.Errorf("expire %s: tags %v, want %v", when, tags, want)
		}
	}
}

// prune_for_space removes the oldest scheduled snapshots, not held ones,
// while the VG is below min_free.
func TestPruneForSpace(t *testing.T) {
	minFree := guard.Size{Bytes: 5<<30 - 8<<20} // room for one scheduled snapshot
	fx := newFixture(t, Plan{Every: 10 * time.Second}, Options{PruneForSpace: true, MinFree: func(string) guard.Size { return minFree }})
	fx.tick(t)
	fx.advance(10 * time.Second)
	fx.tick(t)
	fx.tick(t)
	if got := fx.names(); strings.Contains(got, "auto-20261206-120000") || !strings.Contains(got, "auto-20261206-120010") {
		t.Errorf("LVs %s: the oldest scheduled snapshot should be gone, the newest kept", got)
	}
	if !fx.ev.has(`{"event":"pruned","path":"vg/web/auto-20261206-120000","by":"guard","reason":"low-space"}`) {
		t.Errorf("events:\n%s", fx.ev)
	}
}

// A scheduled name that exists already is skipped with one warning.
func TestNameTaken(t *testing.T) {
	fx := newFixture(t, Plan{Every: 10 * time.Second}, Options{})
	fx.lvm.Mu.Lock()
	fx.lvm.Add(lvm.LV{Name: "auto-20261206-120000", VG: "vg", Attr: lvmtest.MustAttr("-wi-a-----"), Size: 4 << 20})
	fx.lvm.Mu.Unlock()
	for i := 0; i < 3; i++ {
		fx.tick(t)
	}
	if n := strings.Count(fx.logs.String(), "a scheduled snapshot's name is taken"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, fx.logs.String())
	}
}

// In a shared VG the schedules act on the host where the origin is active:
// elsewhere they take nothing and let nothing go, expired or not, and log
// no refusal every tick.
func TestSharedActsWhereActive(t *testing.T) {
	for _, activeHere := range []bool{true, false} {
		fx := newFixture(t, Plan{Every: 10 * time.Second, Keep: retention.Keep{Last: 1}}, Options{})
		fx.lvm.Mu.Lock()
		fx.lvm.VG("vg").LockType = "sanlock"
		snap := fx.lvm.Find("vg", "snap1")
		snap.Tags = []string{retention.ExpiresTag(fx.now.Add(-time.Second))}
		if !activeHere {
			fx.lvm.Find("vg", "web").Attr = lvmtest.MustAttr("owi---s---")
			snap.Attr = lvmtest.MustAttr("swi---s---")
		}
		fx.lvm.Mu.Unlock()
		for i := 0; i < 3; i++ {
			fx.tick(t)
			fx.advance(10 * time.Second)
		}
		calls := strings.Join(fx.lvm.Calls, "\n")
		changed := strings.Contains(calls, "lvcreate") || strings.Contains(calls, "lvremove")
		if changed != activeHere {
			t.Errorf("active here %v: LVM changed %v:\n%s", activeHere, changed, calls)
		}
		if gone := fx.lvm.Find("vg", "snap1") == nil; gone != activeHere {
			t.Errorf("active here %v: expired snap1 removed %v", activeHere, gone)
		}
		if !activeHere && strings.Contains(fx.logs.String(), "EBUSY") {
			t.Errorf("refusals logged where the origin is not active:\n%s", fx.logs)
		}
	}
}
