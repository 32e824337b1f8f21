package quiesce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapfs/snapfs/model"
)

func TestHoldPausesOnlyRunningDomains(t *testing.T) {
	for _, tc := range []struct {
		name       string
		doms       []model.Domain
		wantDuring string // states while held
		wantCalls  string // after release
		wantLog    string // by the fake clock, each reading 500ms on
	}{{
		name:       "running",
		doms:       []model.Domain{{Name: "web", ID: 3, State: "running"}},
		wantDuring: "web=paused",
		wantCalls:  "pause web\nunpause web",
		wantLog:    `msg="domain unpaused" domain=web paused_for=500ms`,
	}, {
		name:       "blocked",
		doms:       []model.Domain{{Name: "backup", ID: 9, State: "blocked"}},
		wantDuring: "backup=paused",
		wantCalls:  "pause backup\nunpause backup",
		wantLog:    `msg="domain unpaused" domain=backup paused_for=500ms`,
	}, {
		name:       "paused by someone else",
		doms:       []model.Domain{{Name: "web", ID: 3, State: "paused"}},
		wantDuring: "web=paused",
	}, {
		name:       "shut down",
		doms:       []model.Domain{{Name: "web", ID: 3, State: "shutdown"}},
		wantDuring: "web=shutdown",
	}, {
		name: "several, unpaused in reverse",
		doms: []model.Domain{
			{Name: "web", ID: 3, State: "running"},
			{Name: "db", ID: 4, State: "blocked"},
			{Name: "old", ID: 5, State: "dying"},
		},
		wantDuring: "db=paused old=dying web=paused",
		wantCalls:  "pause web\npause db\nunpause db\nunpause web",
		wantLog:    `msg="domain unpaused" domain=web paused_for=1.5s`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			x := newFakeXen(tc.doms...)
			before := x.states()
			h, state, logs := newHolder(t, x)
			release, err := h.Hold(context.Background(), tc.doms, "vg/web/nightly")
			if err != nil {
				t.Fatal(err)
			}
			if got := x.states(); got != tc.wantDuring {
				t.Errorf("while held: %s, want %s", got, tc.wantDuring)
			}
			release()
			if got := x.callLog(); got != tc.wantCalls {
				t.Errorf("calls:\n%s\nwant\n%s", got, tc.wantCalls)
			}
			if got := x.states(); got != before {
				t.Errorf("after release: %s, want %s", got, before)
			}
			if left := records(t, state); len(left) != 0 {
				t.Errorf("records left: %v", left)
			}
			release()
			if got := x.callLog(); got != tc.wantCalls {
				t.Errorf("a second release called xl again:\n%s", got)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %s:\n%s", tc.wantLog, logs)
			}
		})
	}
}

// The record is on disk, complete and in the format older snapfs binaries
// read, before xl pause starts.
func TestRecordWrittenBeforePause(t *testing.T) {
	x := newFakeXen(model.Domain{Name: "web", ID: 3, State: "running"})
	h, state, _ := newHolder(t, x)
	seen := false
	x.onPause = func(name string) {
		seen = true
		files, _ := filepath.Glob(filepath.Join(state, "paused", "*.json"))
		if len(files) != 1 {
			t.Fatalf("at xl pause, records %v, want one", files)
		}
		if want := regexp.MustCompile(fmt.Sprintf(`^3-%d-\d+\.json$`, os.Getpid())); !want.MatchString(filepath.Base(files[0])) {
			t.Errorf("record named %s, want %s", filepath.Base(files[0]), want)
		}
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatalf("record %q: %v", data, err)
		}
		want := map[string]any{"domain": "web", "id": 3.0, "snapshot": "vg/web/nightly",
			"paused_at": "2026-11-01T10:00:00Z", "pid": float64(os.Getpid())}
		if fmt.Sprint(rec) != fmt.Sprint(want) {
			t.Errorf("record %v, want %v", rec, want)
		}
	}
	release, err := h.Hold(context.Background(), []model.Domain{{Name: "web", ID: 3, State: "running"}}, "vg/web/nightly")
	if err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatal("web was not paused")
	}
	if left := records(t, state); len(left) != 1 {
		t.Errorf("while web is paused, records %v, want one", left)
	}
	release()
	if left := records(t, state); len(left) != 0 {
		t.Errorf("records left: %v", left)
	}
}

func TestPauseFails(t *testing.T) {
	refused := errors.New("xl pause db: libxl: error: cannot pause")
	for _, tc := range []struct {
		name      string
		setup     func(x *fakeXen)
		wantErr   bool
		wantCalls string // after release
		wantAfter string // states after release; both running when empty
		wantLog   string
	}{{
		name:      "refused",
		setup:     func(x *fakeXen) { x.failPause["db"] = refused },
		wantErr:   true,
		wantCalls: "pause web\npause db\nunpause web",
	}, {
		name: "refused, and Xen cannot tell",
		setup: func(x *fakeXen) {
			x.failPause["db"] = refused
			x.domainErr = errors.New("xl list: timed out")
		},
		wantErr:   true,
		wantCalls: "pause web\npause db\nunpause web",
	}, {
		name:      "failed, yet paused",
		setup:     func(x *fakeXen) { x.pauseAnyway["db"] = refused },
		wantCalls: "pause web\npause db\nunpause db\nunpause web",
		wantLog:   `msg="xl pause failed, yet the domain is paused" domain=db`,
	}, {
		// Paused, but not the domain snapfs meant to pause: not ours.
		name: "failed, and another domain of that name paused",
		setup: func(x *fakeXen) {
			x.pauseAnyway["db"] = refused
			x.reborn["db"] = 14
		},
		wantErr:   true,
		wantCalls: "pause web\npause db\nunpause web",
		wantAfter: "db=paused web=running",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			doms := []model.Domain{{Name: "web", ID: 3, State: "running"}, {Name: "db", ID: 4, State: "running"}}
			x := newFakeXen(doms...)
			tc.setup(x)
			h, state, logs := newHolder(t, x)
			release, err := h.Hold(context.Background(), doms, "vg/shared/s")
			if tc.wantErr {
				if !errors.Is(err, refused) || !strings.Contains(err.Error(), "pausing domain db") {
					t.Errorf("Hold: %v, want %v wrapped", err, refused)
				}
				if left := records(t, state); len(left) != 0 {
					t.Errorf("records left: %v", left)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if got := x.states(); got != "db=paused web=paused" {
					t.Errorf("while held: %s", got)
				}
				if left := records(t, state); len(left) != 2 {
					t.Errorf("records %v, want two", left)
				}
			}
			release()
			if got := x.callLog(); got != tc.wantCalls {
				t.Errorf("calls:\n%s\nwant\n%s", got, tc.wantCalls)
			}
			wantAfter := tc.wantAfter
			if wantAfter == "" {
				wantAfter = "db=running web=running"
			}
			if got := x.states(); got != wantAfter {
				t.Errorf("after: %s, want %s", got, wantAfter)
			}
			if left := records(t, state); len(left) != 0 {
				t.Errorf("records left: %v", left)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %s:\n%s", tc.wantLog, logs)
			}
		})
	}
}

// Holds of one domain from many goroutines: while any holds it, it is
// paused, and it runs when all have released it.
func TestHoldConcurrent(t *testing.T) {
	web := model.Domain{Name: "web", ID: 3, State: "running"}
	x := newFakeXen(web)
	h, state, _ := newHolder(t, x)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				release, err := h.Hold(context.Background(), []model.Domain{web}, fmt.Sprintf("vg/web/s%d-%d", g, i))
				if err != nil {
					t.Error(err)
					return
				}
				if got := x.states(); got != "web=paused" {
					t.Errorf("while held: %s", got)
				}
				release()
			}
		}()
	}
	wg.Wait()
	if got := x.states(); got != "web=running" || len(records(t, state)) != 0 {
		t.Errorf("after: %s, records %v", got, records(t, state))
	}
	counts := map[string]int{}
	for _, call := range strings.Split(x.callLog(), "\n") {
		counts[call]++
	}
	if counts["pause web"] == 0 || counts["pause web"] != counts["unpause web"] {
		t.Errorf("%d pauses, %d unpauses", counts["pause web"], counts["unpause web"])
	}
}

func TestHoldWithoutXen(t *testing.T) {
	h, state, _ := newHolder(t, nil)
	release, err := h.Hold(context.Background(), []model.Domain{{Name: "web", ID: 3, State: "running"}}, "vg/web/s")
	if err != nil || release == nil {
		t.Fatalf("Hold: %v, release nil: %v", err, release == nil)
	}
	release()
	if left := records(t, state); len(left) != 0 {
		t.Errorf("records without Xen: %v", left)
	}
}

func TestNewDefaults(t *testing.T) {
	h := New(nil, Options{})
	if h.dir != "/run/snapfs/paused" || h.retryDelay != time.Second || h.log != slog.Default() || h.now == nil {
		t.Errorf("defaults: dir %s, retry delay %v, log default %v, now %v", h.dir, h.retryDelay, h.log == slog.Default(), h.now != nil)
	}
}
