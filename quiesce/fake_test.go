package quiesce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapfs/snapfs/model"
)

// fakeXen is a Xen host with xl pause and unpause counting as Xen counts:
// a domain paused twice runs again after the second unpause only. It logs
// its pauses and unpauses, and fails them on demand.
type fakeXen struct {
	mu    sync.Mutex
	doms  map[string]*fakeDomain
	calls []string
	// failPause fails the pause of a domain, which stays as it was.
	failPause map[string]error
	// pauseAnyway pauses a domain, then fails as xl does when it times out
	// after the fact.
	pauseAnyway map[string]error
	// reborn gives a domain a new ID as it is paused: it was destroyed and
	// another of its name made meanwhile.
	reborn map[string]int
	// failUnpause makes this many unpauses fail.
	failUnpause int
	// domainErr makes Domain fail.
	domainErr error
	// onPause runs at each pause, before the domain is paused.
	onPause func(name string)
}

type fakeDomain struct {
	model.Domain
	pauses int
	before string // the state before the first pause
}

func newFakeXen(doms ...model.Domain) *fakeXen {
	x := &fakeXen{doms: map[string]*fakeDomain{}, failPause: map[string]error{},
		pauseAnyway: map[string]error{}, reborn: map[string]int{}}
	for _, d := range doms {
		fd := &fakeDomain{Domain: d}
		if d.State == "paused" {
			fd.pauses, fd.before = 1, "running"
		}
		x.doms[d.Name] = fd
	}
	return x
}

func (x *fakeXen) Pause(ctx context.Context, name string) error {
	x.mu.Lock()
	x.calls = append(x.calls, "pause "+name)
	hook := x.onPause
	x.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("xl pause %s: %w", name, err)
	}
	if hook != nil {
		hook(name)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.failPause[name]; err != nil {
		return err
	}
	d := x.doms[name]
	if d == nil {
		return fmt.Errorf("xl pause %s: %s is an invalid domain identifier (rc=-6)", name, name)
	}
	if d.pauses == 0 {
		d.before = d.State
	}
	d.pauses++
	d.State = "paused"
	if id, ok := x.reborn[name]; ok {
		d.ID = id
	}
	return x.pauseAnyway[name]
}

func (x *fakeXen) Unpause(ctx context.Context, name string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.calls = append(x.calls, "unpause "+name)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("xl unpause %s: %w", name, err)
	}
	if x.failUnpause > 0 {
		x.failUnpause--
		return errors.New("xl unpause: timed out")
	}
	d := x.doms[name]
	if d == nil {
		return fmt.Errorf("xl unpause %s: %s is an invalid domain identifier (rc=-6)", name, name)
	}
	if d.pauses == 0 {
		return fmt.Errorf("xl unpause %s: libxl: error: unpausing domain %d: Invalid argument", name, d.ID)
	}
	if d.pauses--; d.pauses == 0 {
		d.State = d.before
	}
	return nil
}

func (x *fakeXen) Domain(ctx context.Context, name string) (model.Domain, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.domainErr != nil {
		return model.Domain{}, false, x.domainErr
	}
	if d := x.doms[name]; d != nil {
		return d.Domain, true, nil
	}
	return model.Domain{}, false, nil
}

// states returns every domain's state, as "name=state" sorted by name.
func (x *fakeXen) states() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for name, d := range x.doms {
		out = append(out, name+"="+d.State)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// callLog returns the pauses and unpauses so far, one a line.
func (x *fakeXen) callLog() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return strings.Join(x.calls, "\n")
}

// logBuffer collects a Holder's log lines; its goroutines may log at once.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start is when the fake clock starts; each reading of it is 500ms later
// than the one before.
var start = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// newHolder returns a Holder on x with a state directory of its own, a
// fake clock and no waits between unpause tries.
func newHolder(t *testing.T, x Xen) (h *Holder, stateDir string, logs *logBuffer) {
	t.Helper()
	stateDir = t.TempDir()
	return newHolderIn(stateDir, x)
}

func newHolderIn(stateDir string, x Xen) (*Holder, string, *logBuffer) {
	logs := &logBuffer{}
	var ticks atomic.Int64
	h := New(x, Options{
		StateDir:   stateDir,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
		Now:        func() time.Time { return start.Add(time.Duration(ticks.Add(1)-1) * 500 * time.Millisecond) },
		RetryDelay: -1,
	})
	return h, stateDir, logs
}

// records lists the files in the records' directory, sorted.
func records(t *testing.T, stateDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(stateDir, "paused"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
