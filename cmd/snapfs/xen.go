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

// checkpointXen is Xen for checkpoints (ops.Xen) and for MOUNT/xen
// (fs.XenDomains): domains with their disks, save, restore, destroy.
type checkpointXen struct{ c *xen.Client }

var (
	_ ops.Xen       = checkpointXen{}
	_ fs.XenDomains = checkpointXen{}
)

// toXenDomain is d as checkpoints need it: its disks' device numbers and
// how many disks it has (xen.Client.Disks counts the ones without a device
// of dom0 too).
func (x checkpointXen) toXenDomain(ctx context.Context, d xen.Domain) ops.XenDomain {
	out := ops.XenDomain{Domain: model.Domain{Name: d.Name, ID: d.ID, State: d.State}}
	devs, total, err := x.c.Disks(ctx, d.Name)
	if err != nil {
		devs, total = d.Disks, len(d.Disks)
	}
	for _, dev := range devs {
		out.Devices = append(out.Devices, [2]int{dev.Major, dev.Minor})
	}
	out.Disks = total
	return out
}

func (x checkpointXen) List(ctx context.Context) ([]ops.XenDomain, error) {
	doms, err := x.c.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var out []ops.XenDomain
	for _, d := range doms {
		if d.ID == 0 || d.Name == "Domain-0" {
			continue
		}
		out = append(out, ops.XenDomain{Domain: model.Domain{Name: d.Name, ID: d.ID, State: d.State}, Devices: devices(d.Disks), Disks: len(d.Disks)})
	}
	return out, nil
}

func devices(ds []xen.Device) [][2]int {
	var out [][2]int
	for _, d := range ds {
		out = append(out, [2]int{d.Major, d.Minor})
	}
	return out
}

func (x checkpointXen) Domain(ctx context.Context, name string) (ops.XenDomain, bool, error) {
	doms, err := x.c.Fresh(ctx)
	if err != nil {
		return ops.XenDomain{}, false, err
	}
	for _, d := range doms {
		if d.Name == name {
			return x.toXenDomain(ctx, d), true, nil
		}
	}
	return ops.XenDomain{}, false, nil
}

func (x checkpointXen) Save(ctx context.Context, name, file string) error {
	return x.c.Save(ctx, name, file)
}
func (x checkpointXen) Restore(ctx context.Context, file string) error {
	return x.c.Restore(ctx, file, false)
}
func (x checkpointXen) Destroy(ctx context.Context, name string) error { return x.c.Destroy(ctx, name) }
func (x checkpointXen) Pause(ctx context.Context, name string) error   { return x.c.Pause(ctx, name) }
func (x checkpointXen) Unpause(ctx context.Context, name string) error { return x.c.Unpause(ctx, name) }
