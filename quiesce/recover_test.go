package quiesce

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/model"
)

// Records as the snapfs binaries before this package wrote them.
const (
	webRecord = `{"domain":"web","id":3,"snapshot":"vg/web/killed","paused_at":"2026-11-01T10:00:05Z","pid":4242}` + "\n"
	dbRecord  = `{"domain":"db","id":4,"snapshot":"vg/db/killed","paused_at":"2026-11-01T10:00:00Z","pid":4242}` + "\n"
)

func TestRecover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     map[string]string // in StateDir/paused
		doms      []model.Domain
		domainErr error
		wantCalls string
		wantState string
		wantLeft  string // files left, space-separated
		wantLog   string
	}{{
		name:      "paused, same ID",
		files:     map[string]string{"3-4242-1.json": webRecord},
		doms:      []model.Domain{{Name: "web", ID: 3, State: "paused"}},
		wantCalls: "unpause web",
		wantState: "web=running",
		wantLog:   `msg="domain unpaused" domain=web`,
	}, {
		name:    "gone",
		files:   map[string]string{"3-4242-1.json": webRecord},
		wantLog: "a domain an earlier snapfs paused is gone",
	}, {
		name:      "a new domain of that name",
		files:     map[string]string{"3-4242-1.json": webRecord},
		doms:      []model.Domain{{Name: "web", ID: 8, State: "paused"}},
		wantState: "web=paused",
		wantLog:   "a domain an earlier snapfs paused is gone",
	}, {
		name:      "runs already",
		files:     map[string]string{"3-4242-1.json": webRecord},
		doms:      []model.Domain{{Name: "web", ID: 3, State: "running"}},
		wantState: "web=running",
		wantLog:   "a domain an earlier snapfs paused runs already",
	}, {
		name:  "oldest first",
		files: map[string]string{"3-4242-1.json": webRecord, "4-4242-2.json": dbRecord},
		doms: []model.Domain{
			{Name: "web", ID: 3, State: "paused"},
			{Name: "db", ID: 4, State: "paused"},
		},
		wantCalls: "unpause db\nunpause web",
		wantState: "db=running web=running",
	}, {
		name:  "never renamed into place",
		files: map[string]string{".record-123456": `{"domain":"web"`},
		doms:  []model.Domain{{Name: "web", ID: 3, State: "paused"}},
		// Paused by someone else: that pause never began.
		wantState: "web=paused",
	}, {
		name:      "unreadable",
		files:     map[string]string{"3-4242-1.json": `{"domain":"web",`},
		doms:      []model.Domain{{Name: "web", ID: 3, State: "paused"}},
		wantState: "web=paused",
		wantLeft:  "3-4242-1.json",
		wantLog:   "unreadable pause record, left in place",
	}, {
		name:     "no domain",
		files:    map[string]string{"3-4242-1.json": `{"id":3}`},
		wantLeft: "3-4242-1.json",
		wantLog:  "unreadable pause record, left in place",
	}, {
		name:     "not a record",
		files:    map[string]string{"README": "hello"},
		wantLeft: "README",
	}, {
		name:      "Xen cannot tell",
		files:     map[string]string{"3-4242-1.json": webRecord},
		doms:      []model.Domain{{Name: "web", ID: 3, State: "paused"}},
		domainErr: errors.New("xl list: timed out"),
		wantState: "web=paused",
		wantLeft:  "3-4242-1.json",
		wantLog:   "cannot check a domain an earlier snapfs paused",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			x := newFakeXen(tc.doms...)
			x.domainErr = tc.domainErr
			h, state, logs := newHolder(t, x)
			writeRecords(t, state, tc.files)
			if err := h.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := x.callLog(); got != tc.wantCalls {
				t.Errorf("calls:\n%s\nwant\n%s", got, tc.wantCalls)
			}
			if got := x.states(); got != tc.wantState {
				t.Errorf("after: %s, want %s", got, tc.wantState)
			}
			if got := strings.Join(records(t, state), " "); got != tc.wantLeft {
				t.Errorf("files left: %q, want %q", got, tc.wantLeft)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %s:\n%s", tc.wantLog, logs)
			}
		})
	}
}

func TestRecoverWithoutXen(t *testing.T) {
	h, state, logs := newHolder(t, nil)
	writeRecords(t, state, map[string]string{"3-4242-1.json": webRecord})
	if err := h.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(records(t, state), " "); got != "3-4242-1.json" {
		t.Errorf("files left: %q", got)
	}
	if !strings.Contains(logs.String(), "and Xen is off") {
		t.Errorf("no error logged:\n%s", logs)
	}
}

func TestRecoverNoRecords(t *testing.T) {
	h, _, _ := newHolder(t, newFakeXen())
	if err := h.Recover(context.Background()); err != nil {
		t.Errorf("Recover without a records directory: %v", err)
	}
}

func TestRecoverUnlistable(t *testing.T) {
	h, state, _ := newHolder(t, newFakeXen())
	if err := os.WriteFile(filepath.Join(state, "paused"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Recover(context.Background()); err == nil || !strings.Contains(err.Error(), "reading pause records") {
		t.Errorf("Recover: %v, want an error", err)
	}
}

func writeRecords(t *testing.T, stateDir string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(stateDir, "paused")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
