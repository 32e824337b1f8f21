package ops

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// published collects the events the operations publish.
type published struct {
	mu   sync.Mutex
	got  []events.Event
	seen chan struct{}
}

func (p *published) Publish(e events.Event) {
	p.mu.Lock()
	p.got = append(p.got, e)
	p.mu.Unlock()
	select {
	case p.seen <- struct{}{}:
	default:
	}
}

// lines returns the events as their JSON lines without the time, once n
// have come.
func (p *published) lines(t *testing.T, n int) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		if len(p.got) >= n {
			var out []string
			for _, e := range p.got {
				e.Time = time.Time{}
				out = append(out, strings.TrimSuffix(strings.Replace(string(e.Line()), `"time":"0001-01-01T00:00:00Z",`, "", 1), "\n"))
			}
			p.got = nil
			p.mu.Unlock()
			return strings.Join(out, "\n")
		}
		p.mu.Unlock()
		select {
		case <-p.seen:
		case <-deadline:
			t.Fatalf("%d events, want %d", len(p.got), n)
		}
	}
}

// Changes through snapfs, by a schedule and by hand are each told once,
// with who made them.
func TestAnnounce(t *testing.T) {
	pub := &published{seen: make(chan struct{}, 1)}
	fx := newFixture(t, Options{Events: pub})
	fx.store.OnReplace(fx.ops.Announce)
	ctx := context.Background()
	web := fx.entry(t, "vg/web")

	if _, err := fx.ops.Snapshot(ctx, web, "mine"); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"created","path":"vg/web/mine","by":"snapfs"}`; got != want {
		t.Errorf("mkdir:\n%s\nwant\n%s", got, want)
	}
	if _, err := fx.ops.Snapshot(WithActor(ctx, ActorSchedule), web, "auto"); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"created","path":"vg/web/auto","by":"schedule"}`; got != want {
		t.Errorf("scheduled:\n%s\nwant\n%s", got, want)
	}
	if err := fx.ops.Rename(ctx, fx.entry(t, "vg/web/mine"), "ours"); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"renamed","path":"vg/web/mine","by":"snapfs","to":"vg/web/ours"}`; got != want {
		t.Errorf("mv:\n%s\nwant\n%s", got, want)
	}
	if err := fx.ops.Control(ctx, fx.entry(t, "vg/web/ours"), []byte("extend 8M\n")); err != nil {
		t.Fatal(err)
	}
	if got := pub.lines(t, 1); !strings.HasPrefix(got, `{"event":"extended","path":"vg/web/ours","from":`) || !strings.HasSuffix(got, `"by":"snapfs"}`) {
		t.Errorf("extend: %s", got)
	}
	if err := fx.ops.Remove(ctx, fx.entry(t, "vg/web/ours")); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"removed","path":"vg/web/ours","by":"snapfs"}`; got != want {
		t.Errorf("rmdir:\n%s\nwant\n%s", got, want)
	}
	if err := fx.ops.Control(ctx, fx.entry(t, "vg/web/snap1"), []byte("merge\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"merge-started","path":"vg/web/snap1"}`; got != want {
		t.Errorf("merge:\n%s\nwant\n%s", got, want)
	}

	// By hand: LVM changes, and the next model shows it.
	fx.lvm.Mu.Lock()
	fx.lvm.Add(lvm.LV{Name: "byhand", VG: "vg", Attr: lvmtest.MustAttr("swi-a-s---"), Origin: "web", Size: lvmtest.Extent})
	fx.lvm.Mu.Unlock()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"created","path":"vg/web/byhand","by":"outside"}`; got != want {
		t.Errorf("by hand:\n%s\nwant\n%s", got, want)
	}
}

// A change LVM refused is told of by no event, and its expectation does
// not make a later change by hand of the same name look like snapfs's
// once it has expired.
func TestAnnounceRefusedAndExpired(t *testing.T) {
	pub := &published{seen: make(chan struct{}, 1)}
	now := lvmtest.T0
	var mu sync.Mutex
	fx := newFixture(t, Options{Events: pub, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	fx.store.OnReplace(fx.ops.Announce)
	fx.lvm.FailNext["lvcreate"] = lvmtest.CmdErr(lvm.ErrNoSpace, 5, []string{"lvm", "lvcreate"}, "insufficient free space")
	if _, err := fx.ops.Snapshot(context.Background(), fx.entry(t, "vg/web"), "late"); err == nil {
		t.Fatal("the lvcreate did not fail")
	}
	mu.Lock()
	now = now.Add(2 * expectTTL)
	mu.Unlock()
	fx.ops.expect(context.Background(), "other", "vg", "x") // ages out the refused one
	fx.lvm.Mu.Lock()
	fx.lvm.Add(lvm.LV{Name: "late", VG: "vg", Attr: lvmtest.MustAttr("swi-a-s---"), Origin: "web", Size: lvmtest.Extent})
	fx.lvm.Mu.Unlock()
	if _, err := fx.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	if got, want := pub.lines(t, 1), `{"event":"created","path":"vg/web/late","by":"outside"}`; got != want {
		t.Errorf("%s\nwant\n%s", got, want)
	}
}

// min_free: a mkdir whose COW store would take the VG below it is ENOSPC
// before LVM runs; one that leaves enough runs; a thin snapshot takes
// nothing from the VG.
func TestMkdirMinFree(t *testing.T) {
	// vg: 10 GiB, 5 GiB free; web is 1 GiB, so 20%ORIGIN is 205 MiB
	// (52 extents of 4 MiB: 218103808 bytes).
	for _, tc := range []struct {
		minFree   string
		origin    string
		wantErrno syscall.Errno
	}{
		{"0", "vg/web", 0},
		{"4G", "vg/web", 0},
		{"5G", "vg/web", syscall.ENOSPC},
		{"45%", "vg/web", 0},
		{"50%", "vg/web", syscall.ENOSPC},
		{"5G", "vg/db", 0},
	} {
		t.Run(tc.minFree+" "+tc.origin, func(t *testing.T) {
			size, err := guard.ParseMinFree(tc.minFree)
			if err != nil {
				t.Fatal(err)
			}
			fx := newFixture(t, Options{MinFree: func(string) guard.Size { return size }})
			_, err = fx.ops.Snapshot(t.Context(), fx.entry(t, tc.origin), "s")
			if got := Errno(err); got != tc.wantErrno {
				t.Fatalf("errno %v (%v), want %v", got, err, tc.wantErrno)
			}
			if tc.wantErrno != 0 && fx.calls() != "" {
				t.Errorf("LVM ran %q for a refused mkdir", fx.calls())
			}
		})
	}
}

// The guard's extensions run through the change path: audited, in whole
// KiB, announced with who and how much.
func TestExtendStoreAndPool(t *testing.T) {
	pub := &published{seen: make(chan struct{}, 1)}
	fx := newFixture(t, Options{Events: pub})
	ctx := WithActor(context.Background(), ActorGuard)
	if err := fx.ops.ExtendStore(ctx, fx.entry(t, "vg/web/snap1"), 8<<20); err != nil {
		t.Fatal(err)
	}
	pool := fx.entry(t, "vg/db").Pool()
	if err := fx.ops.ExtendPool(ctx, pool, 4<<20, false); err != nil {
		t.Fatal(err)
	}
	if err := fx.ops.ExtendPool(ctx, pool, 4<<20, true); err != nil {
		t.Fatal(err)
	}
	if got, want := fx.calls(), "lvm lvextend --size +8192k vg/snap1; lvm lvextend --size +4096k vg/pool; lvm lvextend --poolmetadatasize +4096k vg/pool"; got != want {
		t.Errorf("LVM ran %q, want %q", got, want)
	}
	got := pub.lines(t, 3)
	for _, want := range []string{
		`{"event":"extended","path":"vg/web/snap1","from":209715200,"to":218103808,"by":"guard"}`,
		`{"event":"extended","path":"vg","pool":"pool","part":"data","by":"guard","bytes":4194304}`,
		`{"event":"extended","path":"vg","pool":"pool","part":"metadata","by":"guard","bytes":4194304}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("events:\n%s\nlack %s", got, want)
		}
	}
	if log := fx.logs.String(); !strings.Contains(log, `op=extend path="vg/web/snap1: +8192k"`) {
		t.Errorf("no audit line for the guard's extension:\n%s", log)
	}
}
