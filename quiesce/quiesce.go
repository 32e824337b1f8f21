// Package quiesce pauses the Xen domains that use a logical volume while a
// snapshot of it is taken, so that they send it no writes meanwhile, and
// unpauses them afterwards.
//
// Every pause is recorded in a file before xl pause runs and the file is
// removed once the domain runs again, so a snapfs killed in between leaves
// a record behind; Recover, called when snapfs starts again, unpauses the
// domains such records name.
package quiesce

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/snapfs/snapfs/model"
)

// DefaultStateDir is where snapfs records the domains it has paused.
const DefaultStateDir = "/run/snapfs"

// Xen pauses and unpauses domains by name and tells a domain's state now.
// cmd/snapfs adapts a *xen.Client to it.
type Xen interface {
	Pause(ctx context.Context, name string) error
	Unpause(ctx context.Context, name string) error
	// Domain returns the domain named name as it is now; false when there
	// is none.
	Domain(ctx context.Context, name string) (model.Domain, bool, error)
}

// Options configures a Holder. The zero value is usable.
type Options struct {
	// StateDir holds the pause records, in StateDir/paused;
	// DefaultStateDir when empty. It must survive snapfs, not the host: a
	// domain does not stay paused across a reboot.
	StateDir string
	// Logger gets the pauses and unpauses; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock of the records' paused_at and of the paused_for
	// the logs report; time.Now when nil.
	Now func() time.Time
	// RetryDelay is the wait between tries of an unpause; time.Second when
	// zero. A negative RetryDelay tries again at once, for tests.
	RetryDelay time.Duration
}

// unpauseTries is how many times an unpause is tried before the domain is
// left paused, with its record, for Recover.
const unpauseTries = 3

// Holder pauses domains for snapshots and unpauses them once the last
// snapshot that needed them is taken.
type Holder struct {
	xen        Xen
	dir        string // StateDir/paused
	log        *slog.Logger
	now        func() time.Time
	retryDelay time.Duration

	// mu guards held, and nothing else. It stays locked across xl pause
	// and xl unpause, so that a domain's pause and its entry in held change
	// together: a second Hold of a domain being paused waits for that pause
	// to end, and never reports held a domain whose pause then fails.
	mu   sync.Mutex
	held map[string]*heldPause // domains this Holder holds paused, by name
}

// heldPause is a domain snapfs holds paused, and how many snapshots wait
// for it: two origins of one domain snapshotted at once pause it once.
type heldPause struct {
	record *pauseRecord
	users  int
}

// New returns a Holder that pauses domains through x. With a nil x (Xen is
// off) Hold pauses nothing and Recover only logs the records it finds.
func New(x Xen, opts Options) *Holder {
	h := &Holder{
		xen:        x,
		dir:        filepath.Join(opts.StateDir, "paused"),
		log:        opts.Logger,
		now:        opts.Now,
		retryDelay: opts.RetryDelay,
		held:       make(map[string]*heldPause),
	}
	if opts.StateDir == "" {
		h.dir = filepath.Join(DefaultStateDir, "paused")
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.retryDelay == 0 {
		h.retryDelay = time.Second
	}
	return h
}

// Hold pauses those of domains that run (running or blocked) for why, the
// snapshot being taken ("vg/web/nightly"), and returns release, which
// unpauses them, in reverse order, to be called whether the snapshot was
// taken or not; calls after the first do nothing. A domain paused by
// someone else, shut down or dying is left as it is. A domain another Hold
// holds paused gets one more user and is unpaused after its last release.
//
// Each domain is recorded in StateDir before it is paused. A pause that
// fails releases the domains already paused and returns the error, with a
// release that does nothing.
func (h *Holder) Hold(ctx context.Context, domains []model.Domain, why string) (release func(), err error) {
	if h.xen == nil {
		return func() {}, nil
	}
	// The unpauses must run even when ctx is cancelled (an interrupted
	// mkdir): xl unpause under a cancelled ctx would fail and leave the
	// domain paused until the next start. Values, such as the audit
	// recorder, are kept.
	bg := context.WithoutCancel(ctx)
	var held []string
	var once sync.Once
	release = func() {
		once.Do(func() {
			for i := len(held) - 1; i >= 0; i-- {
				h.release(bg, held[i])
			}
		})
	}
	for _, d := range domains {
		ok, err := h.hold(ctx, d, why)
		if err != nil {
			release()
			return func() {}, err
		}
		if ok {
			held = append(held, d.Name)
		}
	}
	return release, nil
}

// hold pauses domain d for why and reports whether snapfs holds it paused
// now: false when it is not running (shut down, or paused by someone else).
// A domain snapfs holds paused already gets one more user.
func (h *Holder) hold(ctx context.Context, d model.Domain, why string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hp := h.held[d.Name]; hp != nil {
		hp.users++
		return true, nil
	}
	if d.State != "running" && d.State != "blocked" {
		h.log.Info("quiesce: domain not running, not paused", "domain", d.Name, "state", d.State, "snapshot", why)
		return false, nil
	}
	// The record comes first: if snapfs dies at any point after xl pause
	// started, the next snapfs finds it.
	rec, err := h.writeRecord(d, why)
	if err != nil {
		return false, err
	}
	if err := h.xen.Pause(ctx, d.Name); err != nil {
		// Did it pause anyway (a timeout after the fact)? Then it is ours to
		// unpause. The look must not fail for ctx having been cancelled:
		// that is what the timeout may have been.
		now, ok, lerr := h.xen.Domain(context.WithoutCancel(ctx), d.Name)
		if lerr != nil || !ok || now.ID != d.ID || now.State != "paused" {
			h.removeRecord(rec)
			return false, fmt.Errorf("pausing domain %s: %w", d.Name, err)
		}
		h.log.Warn("xl pause failed, yet the domain is paused", "domain", d.Name, "err", err)
	}
	h.held[d.Name] = &heldPause{record: rec, users: 1}
	return true, nil
}

// release drops one user of a domain snapfs holds paused, and unpauses it
// when it was the last.
func (h *Holder) release(ctx context.Context, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp := h.held[name]
	if hp == nil {
		return
	}
	if hp.users--; hp.users > 0 {
		return
	}
	delete(h.held, name)
	h.unpause(ctx, hp.record, "snapshot taken")
}

// unpause unpauses the domain of rec, trying three times, logs how long it
// was paused, and removes the record. A record whose domain could not be
// unpaused stays, for the next start (Recover) to try again.
func (h *Holder) unpause(ctx context.Context, rec *pauseRecord, why string) {
	var err error
	for try := 0; try < unpauseTries; try++ {
		if try > 0 && h.retryDelay > 0 {
			time.Sleep(h.retryDelay)
		}
		if err = h.xen.Unpause(ctx, rec.Domain); err == nil {
			break
		}
	}
	pausedFor := h.now().Sub(rec.PausedAt).Round(time.Millisecond)
	if err != nil {
		h.log.Error("unpausing a domain failed: it may still be paused", "domain", rec.Domain,
			"paused_for", pausedFor, "snapshot", rec.Snapshot, "record", rec.path, "err", err)
		return
	}
	h.log.Info("domain unpaused", "domain", rec.Domain, "paused_for", pausedFor, "snapshot", rec.Snapshot, "why", why)
	h.removeRecord(rec)
}
