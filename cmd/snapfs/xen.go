package main

import (
	"context"
	"log/slog"
	"os/exec"
	"time"

	"github.com/snapfs/snapfs/fs"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/quiesce"
	"github.com/snapfs/snapfs/xen"
)

// xenBackend connects the tree to Xen over a xen.Client: the domains that
// use an LV (for the domu files and for decisions) and the pausing of them.
type xenBackend struct{ c *xen.Client }

var (
	_ fs.Domains  = xenBackend{}
	_ ops.Domains = xenBackend{}
	_ quiesce.Xen = xenBackend{}
)

// openXen returns the Xen backend, or nil when this host has no Xen: no xl
// binary, or an xl that fails (no hypervisor runs, or the toolstack is
// down). Then Xen features are off, with one warning here.
func openXen(cfg Config, runner xen.Runner, log *slog.Logger) *xenBackend {
	path, err := exec.LookPath(cfg.XL)
	if err != nil {
		log.Warn("Xen features off: no xl binary", "xl", cfg.XL, "err", err)
		return nil
	}
	// The command lines say "xl" as configured: the audit line reads as typed.
	c := xen.NewClient(runner, cfg.XL, nil, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.CommandTimeout))
	defer cancel()
	doms, err := c.Fresh(ctx)
	if err != nil {
		log.Warn("Xen features off: xl list fails (no Xen hypervisor, or its toolstack is not running)", "err", err)
		return nil
	}
	log.Info("Xen", "xl", path, "domains", len(doms))
	return &xenBackend{c}
}

// quiesceConfigured reports whether any origin is to be paused.
func quiesceConfigured(cfg Config) bool {
	if cfg.Quiesce == "pause" {
		return true
	}
	for _, o := range cfg.Origin {
		if o.Quiesce != nil && *o.Quiesce == "pause" {
			return true
		}
	}
	return false
}

func toFS(doms []xen.Domain) []model.Domain {
	out := make([]model.Domain, len(doms))
	for i, d := range doms {
		out[i] = model.Domain{Name: d.Name, ID: d.ID, State: d.State}
	}
	return out
}

func (x xenBackend) Using(ctx context.Context, major, minor int) ([]model.Domain, error) {
	doms, err := x.c.Using(ctx, xen.Device{Major: major, Minor: minor})
	return toFS(doms), err
}

func (x xenBackend) UsingNow(ctx context.Context, major, minor int) ([]model.Domain, error) {
	doms, err := x.c.UsingNow(ctx, xen.Device{Major: major, Minor: minor})
	return toFS(doms), err
}

func (x xenBackend) Pause(ctx context.Context, name string) error   { return x.c.Pause(ctx, name) }
func (x xenBackend) Unpause(ctx context.Context, name string) error { return x.c.Unpause(ctx, name) }

func (x xenBackend) Domain(ctx context.Context, name string) (model.Domain, bool, error) {
	doms, err := x.c.Fresh(ctx)
	if err != nil {
		return model.Domain{}, false, err
	}
	for _, d := range doms {
		if d.Name == name {
			return toFS([]xen.Domain{d})[0], true, nil
		}
	}
	return model.Domain{}, false, nil
}
