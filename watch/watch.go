// Package watch is the guard at work. Every interval it reads each COW
// snapshot and thin pool of the model by device-mapper status (an ioctl, no
// process), asks the guard's policy (package guard, pure) what to do, and
// does it through the operations (ops): the same serialised change path as
// mkdir, with an audit line and an event for each extension, and the events
// filling, invalid and low-space. It also tells what the status files and
// metrics show of it: fill rates, min_free, and the use of thin pools.
package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/state"
)

// DefaultInterval is guard_interval's default.
const DefaultInterval = time.Second

// Options configure the watch.
type Options struct {
	// Interval is how often device-mapper status is read (guard_interval).
	Interval time.Duration
	// Config is the guard's settings for "vg/lv": a snapshot's origin, or a
	// thin pool; its MinFree is what an extension must leave free.
	Config func(lv string) guard.Config
	// MinFree is the guard's min_free of a VG, for the event when the VG
	// goes below it and for its status.
	MinFree func(vg string) guard.Size
	// Events gets filling, invalid and low-space; may be nil.
	Events ops.Publisher
	Logger *slog.Logger
	Now    func() time.Time // time.Now when nil
}

// Watcher watches the stores of one tree.
type Watcher struct {
	opts  Options
	store *state.Store
	dm    model.DeviceMapper
	ops   *ops.Ops
	log   *slog.Logger

	mu     sync.Mutex // guards stores and lowVG
	stores map[string]*watched
	lowVG  map[string]bool // VGs below min_free: one low-space event each time

	tickMu sync.Mutex // one tick at a time; guards tick
	tick   uint64     // ticks so far: a store read in this one is kept
	// plan is what the last tick read, and in which model; dropped when
	// the store has a new model, so that it does not hold the old one
	// until the next tick (guard_interval may be long).
	plan atomic.Pointer[plan]

	extensions atomic.Uint64
}

// watched is what the watch keeps of one store: the guard's state and the
// last reading.
type watched struct {
	st   guard.State
	last guard.Store
	tick uint64 // the last tick that read it
}

// New returns a watch over store's model, reading dm and acting through
// operations.
func New(store *state.Store, dm model.DeviceMapper, operations *ops.Ops, opts Options) *Watcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Config == nil {
		opts.Config = func(string) guard.Config { return guard.Config{} }
	}
	if opts.MinFree == nil {
		opts.MinFree = func(string) guard.Size { return guard.Size{} }
	}
	w := &Watcher{opts: opts, store: store, dm: dm, ops: operations, log: opts.Logger,
		stores: map[string]*watched{}, lowVG: map[string]bool{}}
	store.OnReplace(func(_, _ *model.Tree) { w.plan.Store(nil) })
	return w
}

// Run watches every interval until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Tick(ctx)
		}
	}
}

// Tick reads every store once and acts on what the guard decides. Changes
// (extensions) run in turn, each through ops, under its VG's lock.
func (w *Watcher) Tick(ctx context.Context) {
	if w.dm == nil {
		return
	}
	tree, err := w.store.Settled()
	if err != nil {
		return
	}
	w.tickMu.Lock()
	defer w.tickMu.Unlock()
	p := w.planOf(tree)
	w.tick++
	now := w.opts.Now()
	for _, v := range p.vgs {
		vg := guard.VG{Size: v.v.VG.Size, Free: v.v.VG.Free}
		w.checkVG(v.v.VG.Name, vg)
		// The snapshots of one origin share its config: asked once.
		var cfg guard.Config
		cfgOf := ""
		for _, sp := range v.snaps {
			cow, ok := w.readCOW(v.v, sp)
			if !ok {
				continue
			}
			if sp.cfgKey != cfgOf {
				cfg, cfgOf = w.opts.Config(sp.cfgKey), sp.cfgKey
			}
			s := sp.s
			w.decide(ctx, now, s.LV.UUID, s.String, cow, &vg, cfg,
				func(ctx context.Context, bytes uint64) error { return w.ops.ExtendStore(ctx, s, bytes) })
		}
		for _, pp := range v.pools {
			p := pp.p
			data, meta, ok := w.readPool(p)
			if !ok {
				continue
			}
			cfg := w.opts.Config(pp.cfgKey)
			for _, part := range []struct {
				key, suffix string
				store       guard.Store
				meta        bool
			}{{pp.dataKey, "/data", data, false}, {pp.metaKey, "/metadata", meta, true}} {
				path := func() string { return pp.cfgKey + part.suffix }
				w.decide(ctx, now, part.key, path, part.store, &vg, cfg,
					func(ctx context.Context, bytes uint64) error { return w.ops.ExtendPool(ctx, p, bytes, part.meta) })
			}
		}
	}
	w.forget()
}

// plan is what a tick reads in one model: worked out once per model, not
// each second (the model changes with LVM, far less often than the guard
// reads).
type plan struct {
	tree *model.Tree
	vgs  []vgPlan
}

// vgPlan is what a tick reads in one VG.
type vgPlan struct {
	v     *model.VGEntry
	snaps []snapPlan // COW snapshots, those of one origin together
	pools []poolPlan
}

// poolPlan is one thin pool the guard watches: its data and its metadata,
// each a store of its own.
type poolPlan struct {
	p                *model.LVEntry
	dataKey, metaKey string // "UUID/data", "UUID/metadata": the stores' keys
	cfgKey           string // "vg/pool", the guard's config's key
}

// snapPlan is one COW snapshot the guard watches.
type snapPlan struct {
	s      *model.LVEntry
	dmName string // its device-mapper device
	cfgKey string // "vg/origin", the guard's config's key
}

// planOf returns the plan of tree, the last one when tree is its model.
func (w *Watcher) planOf(tree *model.Tree) *plan {
	if p := w.plan.Load(); p != nil && p.tree == tree {
		return p
	}
	p := &plan{tree: tree}
	for _, v := range tree.VGs {
		vp := vgPlan{v: v}
		for _, pool := range v.Pools() {
			vp.pools = append(vp.pools, poolPlan{p: pool, dataKey: pool.LV.UUID + "/data", metaKey: pool.LV.UUID + "/metadata",
				cfgKey: pool.LV.VG + "/" + pool.LV.Name})
		}
		for _, o := range v.Origins {
			for _, s := range snapshots(o) {
				vp.snaps = append(vp.snaps, snapPlan{s: s, dmName: lvm.DMName(s.LV.VG, s.LV.Name), cfgKey: s.LV.VG + "/" + s.LV.Origin})
			}
		}
		p.vgs = append(p.vgs, vp)
	}
	w.plan.Store(p)
	return p
}

// snapshots returns the COW snapshots at and below e, which the guard
// watches (thin snapshots have no store of their own: their pool's is).
func snapshots(e *model.LVEntry) []*model.LVEntry {
	var out []*model.LVEntry
	for _, s := range e.Snaps {
		if s.LV.Attr.IsCOWSnapshot() && !s.IsMerging() && model.HasDevice(s) {
			out = append(out, s)
		}
		out = append(out, snapshots(s)...)
	}
	return out
}

// decide asks the guard about one store and acts on the answer: events,
// and an extension through extend, whose success takes its bytes from vg's
// free space for the stores after it in this tick. What only an action
// needs (the store's path, its use in percent, when it will be full) is
// worked out only for one: every store is judged every second.
func (w *Watcher) decide(ctx context.Context, now time.Time, key string, pathOf func() string, s guard.Store, vg *guard.VG, cfg guard.Config,
	extend func(ctx context.Context, bytes uint64) error) {
	w.mu.Lock()
	ws := w.stores[key]
	if ws == nil {
		ws = &watched{}
		w.stores[key] = ws
	}
	ws.tick = w.tick
	act := guard.Decide(now, s, *vg, cfg, &ws.st)
	lastSize := ws.last.Size
	ws.last = s
	fullIn := -1.0
	if act.Filling {
		fullIn = ws.st.FullIn(now, s)
	}
	w.mu.Unlock()
	if act == (guard.Action{}) {
		return
	}

	path := pathOf()
	used := percent(s.Used, s.Size)
	switch {
	case act.Invalid:
		// An invalid store tells no size: say the last one read.
		w.log.Error("the guard found a COW store full: the snapshot is lost", "store", path, "size", lastSize)
		w.publish(events.Invalid, path, events.Field{Key: "allocated", Value: json.Number("100.00")})
	case act.Filling:
		w.log.Warn("the guard finds a store filling", "store", path, "allocated", used, "full_in", fullIn)
		w.publish(events.Filling, path, events.Field{Key: "allocated", Value: used}, events.Field{Key: "full_in", Value: seconds(fullIn)})
	}
	if act.LowSpace {
		w.log.Warn("the guard cannot extend a store: the VG would go below min_free", "store", path,
			"allocated", used, "vg_free", vg.Free)
		w.publish(events.LowSpace, path, events.Field{Key: "free", Value: vg.Free})
	}
	if act.Capped {
		w.log.Info("the guard does not extend a store past extend_max", "store", path, "size", s.Size)
	}
	if act.Extend == 0 {
		return
	}
	if err := extend(ops.WithActor(ctx, ops.ActorGuard), act.Extend); err != nil {
		// ops logged the audit line with LVM's message; the next tick
		// tries again.
		return
	}
	vg.Free -= min(vg.Free, act.Extend)
	w.extensions.Add(1)
}

// checkVG publishes low-space when VG vg goes below min_free, once until it
// is above again.
func (w *Watcher) checkVG(name string, vg guard.VG) {
	minFree := w.opts.MinFree(name)
	low := !minFree.IsZero() && vg.Free < minFree.Of(vg.Size)
	w.mu.Lock()
	was := w.lowVG[name]
	w.lowVG[name] = low
	w.mu.Unlock()
	if low && !was {
		w.log.Warn("a VG is below min_free", "vg", name, "free", vg.Free, "min_free", minFree.Of(vg.Size))
		w.publish(events.LowSpace, name, events.Field{Key: "free", Value: vg.Free})
	}
}

// readCOW reads snapshot sp's COW store from device-mapper.
func (w *Watcher) readCOW(v *model.VGEntry, sp snapPlan) (guard.Store, bool) {
	st, ok := w.snapshotStatus(sp.dmName)
	if !ok || st.Unknown {
		return guard.Store{}, false
	}
	s := sp.s
	return guard.Store{
		Used: st.UsedBytes(), Size: st.Total * 512, Invalid: st.Invalid || st.Overflow,
		OriginSize: s.LV.OriginSize, ChunkSize: s.LV.ChunkSize, ExtentSize: v.VG.ExtentSize,
	}, true
}

// snapshotStatus reads the status of COW snapshot device name.
func (w *Watcher) snapshotStatus(name string) (lvm.SnapshotStatus, bool) {
	st, err := lvm.ReadSnapshotStatus(w.dm, name)
	return st, err == nil
}

// readPool reads thin pool p's data and metadata from device-mapper: its
// pool device (-tpool) when it has thin volumes, else its own.
func (w *Watcher) readPool(p *model.LVEntry) (data, meta guard.Store, ok bool) {
	st, ok := w.poolStatus(p.LV.VG, p.LV.Name)
	if !ok {
		return data, meta, false
	}
	extent := p.VG.VG.ExtentSize
	du, dt := st.DataBytes(p.LV.ChunkSize)
	mu, mt := st.MetadataBytes()
	failed := st.Fail || st.Error
	return guard.Store{Used: du, Size: dt, Invalid: failed, ExtentSize: extent},
		guard.Store{Used: mu, Size: mt, Invalid: failed, ExtentSize: extent}, true
}

func (w *Watcher) poolStatus(vg, pool string) (lvm.ThinPoolStatus, bool) {
	// -tpool is a layer suffix: it follows the escaped name.
	for _, dev := range []string{lvm.DMName(vg, pool) + "-tpool", lvm.DMName(vg, pool)} {
		targets, err := w.dm.TableStatus(dev)
		if err != nil || len(targets) == 0 || targets[0].Type != "thin-pool" {
			continue
		}
		if st, err := lvm.ParseThinPoolStatus(targets[0].Params); err == nil {
			return st, true
		}
	}
	return lvm.ThinPoolStatus{}, false
}

// forget drops what it kept of stores the last tick did not read: gone,
// or with no status to read.
func (w *Watcher) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, ws := range w.stores {
		if ws.tick != w.tick {
			delete(w.stores, k)
		}
	}
}

func (w *Watcher) publish(name, path string, extra ...events.Field) {
	if w.opts.Events != nil {
		w.opts.Events.Publish(events.Event{Time: w.opts.Now(), Name: name, Path: path, Extra: extra})
	}
}

// percent is used of size in percent, two decimals, as a JSON number.
func percent(used, size uint64) json.Number {
	if size == 0 {
		return json.Number("0.00")
	}
	return json.Number(fmt.Sprintf("%.2f", float64(used)*100/float64(size)))
}

// seconds is a full_in for an event: whole seconds, or null when the store
// is not growing.
func seconds(s float64) any {
	if s < 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return nil
	}
	return int64(math.Round(s))
}

// Rate is how fast snapshot e's COW store has grown over the last minute,
// in bytes a second, and the seconds until it is full at that rate
// (negative when not growing): the status files' fill_rate and full_in.
func (w *Watcher) Rate(e *model.LVEntry) (fillRate, fullIn float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.stores[e.LV.UUID]
	if ws == nil {
		return 0, -1
	}
	now := w.opts.Now()
	return ws.st.FillRate(now), ws.st.FullIn(now, ws.last)
}

// Numbers are Rate's by the LV's UUID, for the metrics; ok is false for a
// snapshot the watch has not read.
func (w *Watcher) Numbers(uuid string) (fillRate, fullIn float64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.stores[uuid]
	if ws == nil {
		return 0, -1, false
	}
	now := w.opts.Now()
	return ws.st.FillRate(now), ws.st.FullIn(now, ws.last), true
}

// MinFreeBytes is the guard's min_free of VG vg in bytes, for its status.
func (w *Watcher) MinFreeBytes(vg string) uint64 {
	tree, err := w.store.Current()
	if err != nil || tree.VG(vg) == nil {
		return 0
	}
	return w.opts.MinFree(vg).Of(tree.VG(vg).VG.Size)
}

// Pool is the use of thin pool pool of VG vg, read from device-mapper now:
// the VG status's pool.NAME.data and pool.NAME.metadata.
func (w *Watcher) Pool(vg, pool string) (data, metadata lvm.Percent, ok bool) {
	if w.dm == nil {
		return data, metadata, false
	}
	st, ok := w.poolStatus(vg, pool)
	if !ok {
		return data, metadata, false
	}
	return st.DataPercent(), st.MetadataPercent(), true
}

// Extensions is how many extensions the guard made.
func (w *Watcher) Extensions() uint64 { return w.extensions.Load() }

// Extras are the watch's numbers for the status files.
func (w *Watcher) Extras() model.Extras {
	return model.Extras{Rate: w.Rate, MinFree: w.MinFreeBytes, Pool: w.Pool}
}
