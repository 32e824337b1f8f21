package main

import (
	"log/slog"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/metrics"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/retention"
	"github.com/snapfs/snapfs/schedule"
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

// metricsFile renders MOUNT/metrics from the current model, device-mapper
// (the tree's, or behind its cache of sizes), the guard's numbers and the
// counters.
func metricsFile(store *state.Store, w *watch.Watcher, broker *events.Broker, runner *lvm.ShellRunner) func(dm model.DeviceMapper) ([]byte, error) {
	return func(dm model.DeviceMapper) ([]byte, error) {
		t, err := store.Current()
		if err != nil {
			return nil, err
		}
		counters := metrics.Counters{GuardExtensions: w.Extensions(), LVMCommands: uint64(runner.Spawned() + runner.ShellCommands())}
		if broker != nil {
			counters.Events = broker.Published()
		}
		return metrics.Render(metrics.Input{
			Tree: t, DM: dm, MinFree: w.MinFreeBytes, Pools: w.Pool, Counters: counters, Held: ops.Held,
			Guard: func(uuid string) (metrics.GuardNumbers, bool) {
				rate, fullIn, ok := w.Numbers(uuid)
				return metrics.GuardNumbers{FillRate: rate, FullIn: fullIn}, ok
			},
		}), nil
	}
}

// scheduleOptions are the schedules' settings from the config: each
// origin's schedule and keep (the global ones by default), and the guard's
// prune_for_space with the [guard] min_free.
func scheduleOptions(cfg Config, dm model.DeviceMapper, log *slog.Logger) schedule.Options {
	minFree, _ := guard.ParseMinFree(cfg.Guard.MinFree)
	return schedule.Options{
		Plan: func(origin string) (schedule.Plan, bool) {
			every, keep, ok := cfg.ScheduleFor(origin)
			return schedule.Plan{Every: every, Keep: retention.Keep(keep)}, ok
		},
		PruneForSpace: cfg.Guard.PruneForSpace,
		MinFree:       func(string) guard.Size { return minFree },
		DM:            dm,
		Logger:        log,
	}
}
