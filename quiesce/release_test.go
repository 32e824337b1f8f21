package quiesce

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/model"
)

// Two snapshots that need one domain at once pause it once; it runs again
// after the last of them is taken.
func TestOverlappingHolds(t *testing.T) {
	web := model.Domain{Name: "web", ID: 3, State: "running"}
	x := newFakeXen(web)
	h, state, _ := newHolder(t, x)
	ctx := context.Background()
	first, err := h.Hold(ctx, []model.Domain{web}, "vg/web/a")
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.Hold(ctx, []model.Domain{web}, "vg/web-data/b")
	if err != nil {
		t.Fatal(err)
	}
	first()
	first() // once only: it must not drop the second Hold's user
	if got := x.callLog(); got != "pause web" {
		t.Errorf("calls before the last release:\n%s", got)
	}
	if got := x.states(); got != "web=paused" {
		t.Errorf("before the last release: %s", got)
	}
	if left := records(t, state); len(left) != 1 {
		t.Errorf("records %v, want one", left)
	}
	second()
	if got := x.callLog(); got != "pause web\nunpause web" {
		t.Errorf("calls:\n%s", got)
	}
	if got := x.states(); got != "web=running" || len(records(t, state)) != 0 {
		t.Errorf("after the last release: %s, records %v", got, records(t, state))
	}
	third, err := h.Hold(ctx, []model.Domain{web}, "vg/web/c")
	if err != nil {
		t.Fatal(err)
	}
	third()
	if got := x.callLog(); got != "pause web\nunpause web\npause web\nunpause web" {
		t.Errorf("a Hold after the last release does not pause again:\n%s", got)
	}
}

// An unpause is tried three times; a domain still paused then keeps its
// record, for the next start to unpause it.
func TestUnpauseRetried(t *testing.T) {
	for _, tc := range []struct {
		failures    int
		wantUnpause int
		wantState   string
		wantRecords int
	}{
		{failures: 2, wantUnpause: 3, wantState: "web=running", wantRecords: 0},
		{failures: 3, wantUnpause: 3, wantState: "web=paused", wantRecords: 1},
	} {
		t.Run(fmt.Sprintf("%d failures", tc.failures), func(t *testing.T) {
			web := model.Domain{Name: "web", ID: 3, State: "running"}
			x := newFakeXen(web)
			x.failUnpause = tc.failures
			h, state, logs := newHolder(t, x)
			release, err := h.Hold(context.Background(), []model.Domain{web}, "vg/web/s")
			if err != nil {
				t.Fatal(err)
			}
			release()
			if n := strings.Count(x.callLog(), "unpause web"); n != tc.wantUnpause {
				t.Errorf("%d unpauses, want %d", n, tc.wantUnpause)
			}
			if got := x.states(); got != tc.wantState {
				t.Errorf("after: %s, want %s", got, tc.wantState)
			}
			if left := records(t, state); len(left) != tc.wantRecords {
				t.Fatalf("records %v, want %d", left, tc.wantRecords)
			}
			if tc.wantRecords == 0 {
				return
			}
			if !strings.Contains(logs.String(), "unpausing a domain failed: it may still be paused") {
				t.Errorf("no error logged:\n%s", logs)
			}
			next, _, _ := newHolderIn(state, x)
			if err := next.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := x.states(); got != "web=running" || len(records(t, state)) != 0 {
				t.Errorf("after Recover: %s, records %v", got, records(t, state))
			}
		})
	}
}

// An interrupted snapshot (its ctx cancelled) still unpauses its domains.
func TestReleaseAfterCancel(t *testing.T) {
	web := model.Domain{Name: "web", ID: 3, State: "running"}
	x := newFakeXen(web)
	h, state, _ := newHolder(t, x)
	ctx, cancel := context.WithCancel(context.Background())
	release, err := h.Hold(ctx, []model.Domain{web}, "vg/web/s")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	release()
	if got := x.states(); got != "web=running" || len(records(t, state)) != 0 {
		t.Errorf("after release: %s, records %v, calls:\n%s", got, records(t, state), x.callLog())
	}
}
