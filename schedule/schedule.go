// Package schedule carries out the schedules and the expiry of snapshots:
// every tick it takes the snapshot each scheduled origin is due
// (auto-YYYYMMDD-HHMMSS, tagged snapfs_auto, through the same path as
// mkdir), prunes the scheduled snapshots the retention policy lets go,
// removes those past their expiry, and, with prune_for_space, the oldest
// scheduled ones while a VG is below the guard's min_free. The decisions
// are package retention's (pure); every change goes through ops, with its
// audit line and event (created by "schedule", pruned, expired). A change
// that fails is logged there and tried again at the next tick: nothing here
// is fatal.
package schedule

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/internal/logonce"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/retention"
	"github.com/snapfs/snapfs/state"
)

// DefaultTick is how often the schedules and expiry are looked at: expiry
// comes within a minute of its time, a schedule's snapshot within a tick of
// its slot.
const DefaultTick = time.Second

// Plan is an origin's schedule: a snapshot every Every, the scheduled ones
// kept by Keep (zero: none pruned).
type Plan struct {
	Every time.Duration
	Keep  retention.Keep
}

// Options configure the schedules.
type Options struct {
	Tick time.Duration
	// Plan returns the schedule of origin "vg/lv"; false when it has none.
	Plan func(origin string) (Plan, bool)
	// PruneForSpace and MinFree: remove the oldest prunable scheduled
	// snapshots while a VG is below min_free.
	PruneForSpace bool
	MinFree       func(vg string) guard.Size
	DM            model.DeviceMapper // for the open count of a snapshot; may be nil
	Logger        *slog.Logger
	Now           func() time.Time
}

// Scheduler runs the schedules of one tree.
type Scheduler struct {
	opts  Options
	store *state.Store
	ops   *ops.Ops
	log   *slog.Logger
	warn  *logonce.Logger // a scheduled name taken is said once
}

// New returns the schedules over store's model, acting through operations.
func New(store *state.Store, operations *ops.Ops, opts Options) *Scheduler {
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Plan == nil {
		opts.Plan = func(string) (Plan, bool) { return Plan{}, false }
	}
	return &Scheduler{opts: opts, store: store, ops: operations, log: opts.Logger, warn: logonce.New(opts.Logger)}
}

// Run ticks until ctx is done. The first tick comes at once: a schedule
// missed while snapfs was stopped is caught up with one snapshot at start.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick takes what is due, prunes, expires, and frees space, once.
func (s *Scheduler) Tick(ctx context.Context) {
	tree, err := s.store.Settled()
	if err != nil {
		return
	}
	now := s.opts.Now()
	for _, v := range tree.VGs {
		for _, o := range v.Origins {
			// In a shared VG, the host where the origin is active takes
			// its snapshots and lets them go.
			if !o.LockedHere() {
				continue
			}
			if plan, ok := s.opts.Plan(o.LV.VG + "/" + o.LV.Name); ok {
				s.scheduled(ctx, now, o, plan)
			}
		}
	}
	// The model after the snapshots taken and pruned.
	if tree, err = s.store.Settled(); err != nil {
		return
	}
	s.expire(ctx, now, tree)
	// Checkpoints whose revert has ended go.
	s.ops.Reap()
	if s.opts.PruneForSpace && s.opts.MinFree != nil {
		s.pruneForSpace(ctx, tree)
	}
}

// scheduled takes origin o's due snapshot and prunes its scheduled ones.
func (s *Scheduler) scheduled(ctx context.Context, now time.Time, o *model.LVEntry, plan Plan) {
	ctx = ops.WithActor(ctx, ops.ActorSchedule)
	var last time.Time
	for _, e := range o.Snaps {
		if _, auto, _ := retention.ParseTags(e.LV.Tags); auto && e.LV.Time.After(last) {
			last = e.LV.Time
		}
	}
	if retention.Due(now, plan.Every, last) {
		name := retention.Name(now)
		err := s.ops.Change(ctx, "schedule", o.String()+"/"+name, func(ctx context.Context) error {
			_, err := s.ops.SnapshotTagged(ctx, o, name, retention.TagAuto)
			return err
		})
		if errors.Is(err, lvm.ErrExists) || errors.Is(err, ops.ErrFixedName) {
			// Two snapshots in one second, or a clock set back: the name
			// is taken. Skip the slot, and say so once.
			s.warn.Warn(o.String()+"/"+name, "a scheduled snapshot's name is taken: skipped", "origin", o.String(), "name", name)
		}
	}
	if plan.Keep == (retention.Keep{}) {
		return
	}
	cur, err := s.store.Lookup(o.LV.UUID)
	if err != nil {
		return
	}
	byName := map[string]*model.LVEntry{}
	var snaps []retention.Snapshot
	for _, e := range cur.Snaps {
		held, auto, _ := retention.ParseTags(e.LV.Tags)
		byName[e.LV.Name] = e
		snaps = append(snaps, retention.Snapshot{Name: e.LV.Name, Created: e.LV.Time, Auto: auto, Held: held, InUse: s.inUse(e)})
	}
	for _, name := range retention.Prune(snaps, plan.Keep) {
		// Refusals (a domain's disk, files/ in use) are logged by ops and
		// tried again next tick.
		_ = s.ops.RemoveFor(ctx, byName[name], events.Pruned, "retention")
	}
}

// expire removes every snapshot past its expiry time, hand-made ones too;
// held ones stay, and so do those in use, tried again next tick.
func (s *Scheduler) expire(ctx context.Context, now time.Time, tree *model.Tree) {
	checkpoints := map[string]bool{} // each expired checkpoint once
	for _, v := range tree.VGs {
		for _, e := range allSnapshots(v) {
			held, _, expires := retention.ParseTags(e.LV.Tags)
			if held || expires.IsZero() || !retention.Expired(expires, now) || s.inUse(e) || !e.LockedHere() {
				continue
			}
			if c := ops.CheckpointOf(e); c != "" {
				if !checkpoints[c] {
					checkpoints[c] = true
					s.ops.ExpireCheckpointOf(ctx, e)
				}
				continue
			}
			_ = s.ops.RemoveFor(ctx, e, events.Expired, "expiry")
		}
	}
}

// pruneForSpace removes the oldest prunable scheduled snapshots of each VG
// below min_free until it is above it again (or none is left to remove).
func (s *Scheduler) pruneForSpace(ctx context.Context, tree *model.Tree) {
	ctx = ops.WithActor(ctx, ops.ActorGuard)
	for _, v := range tree.VGs {
		minFree := s.opts.MinFree(v.VG.Name)
		if minFree.IsZero() {
			continue
		}
		want := minFree.Of(v.VG.Size)
		free := v.VG.Free
		if free >= want {
			continue
		}
		var candidates []*model.LVEntry
		for _, e := range allSnapshots(v) {
			held, auto, _ := retention.ParseTags(e.LV.Tags)
			if auto && !held && !s.inUse(e) && e.LV.Attr.IsCOWSnapshot() && e.LockedHere() {
				candidates = append(candidates, e)
			}
		}
		sort.Slice(candidates, func(i, j int) bool { return candidates[i].LV.Time.Before(candidates[j].LV.Time) })
		for _, e := range candidates {
			if free >= want {
				break
			}
			if s.ops.RemoveFor(ctx, e, events.Pruned, "low-space") == nil {
				free += e.LV.Size
			}
		}
	}
}

// inUse tells whether snapshot e must not be removed by a policy: open
// (mounted, held by a process or a domain) or merging.
func (s *Scheduler) inUse(e *model.LVEntry) bool {
	return e.IsMerging() || model.IsOpen(s.opts.DM, e)
}

func allSnapshots(v *model.VGEntry) []*model.LVEntry {
	var out []*model.LVEntry
	var walk func(e *model.LVEntry)
	walk = func(e *model.LVEntry) {
		for _, c := range e.Snaps {
			out = append(out, c)
			walk(c)
		}
	}
	for _, o := range v.Origins {
		walk(o)
	}
	return out
}
