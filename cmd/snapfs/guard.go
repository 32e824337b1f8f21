package main

import (
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/metrics"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/state"
	"github.com/snapfs/snapfs/watch"
)

// guardConfig is the guard's settings for lv ("vg/lv": an origin, or a
// thin pool): the [guard] table with the origin's overrides. The values
// were checked when the config was read (by the same parsers), so they
// parse.
func guardConfig(cfg Config, lv string) guard.Config {
	g := cfg.GuardFor(lv)
	by, _ := guard.ParseExtendBy(g.ExtendBy)
	max, _ := guard.ParseExtendMax(g.ExtendMax)
	minFree, _ := guard.ParseMinFree(g.MinFree)
	return guard.Config{ExtendAt: g.ExtendAt, WarnAt: g.WarnAt, ExtendBy: by, ExtendMax: max, MinFree: minFree}
}

// watchOptions are the guard's watch settings from the config. The VG's own
// min_free (its status, its low-space event) is the [guard] table's.
func watchOptions(cfg Config, published ops.Publisher, log *slog.Logger) watch.Options {
	minFree, _ := guard.ParseMinFree(cfg.Guard.MinFree)
	return watch.Options{
		Interval: time.Duration(cfg.Guard.GuardInterval),
		Config:   func(lv string) guard.Config { return guardConfig(cfg, lv) },
		MinFree:  func(string) guard.Size { return minFree },
		Events:   published,
		Logger:   log,
	}
}

// metricsFile renders MOUNT/metrics from the current model, device-mapper,
// the guard's numbers and the counters.
func metricsFile(store *state.Store, dm model.DeviceMapper, w *watch.Watcher, broker *events.Broker, runner *lvm.ShellRunner) func() ([]byte, error) {
	return func() ([]byte, error) {
		t, err := store.Current()
		if err != nil {
			return nil, err
		}
		counters := metrics.Counters{GuardExtensions: w.Extensions(), LVMCommands: uint64(runner.Spawned() + runner.ShellCommands())}
		if broker != nil {
			counters.Events = broker.Published()
		}
		return metrics.Render(metrics.Input{
			Tree: t, DM: dm, MinFree: w.MinFreeBytes, Pools: w.Pool, Counters: counters,
			Guard: func(uuid string) (metrics.GuardNumbers, bool) {
				rate, fullIn, ok := w.Numbers(uuid)
				return metrics.GuardNumbers{FillRate: rate, FullIn: fullIn}, ok
			},
		}), nil
	}
}

// warnNotYet logs, at start, the keys the config accepts for features this
// snapfs does not carry out yet (schedules and retention), so that nobody
// counts on snapshots that are not taken.
func warnNotYet(cfg Config, log *slog.Logger) {
	var keys []string
	if cfg.Schedule != nil || cfg.Keep != nil {
		keys = append(keys, "schedule/keep")
	}
	for name, o := range cfg.Origin {
		if o.Schedule != nil || o.Keep != nil {
			keys = append(keys, "origin."+name+" schedule/keep")
		}
	}
	if cfg.Guard.PruneForSpace {
		keys = append(keys, "guard.prune_for_space")
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		log.Warn("configured but not carried out by this version: no snapshot is taken or pruned on a schedule", "keys", strings.Join(keys, ", "))
	}
}
