package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// ErrCheckpointOwned is a snapshot that belongs to a Xen checkpoint: rmdir
// or mv of it alone is EBUSY; the checkpoint removes it.
var ErrCheckpointOwned = errors.New("the snapshot belongs to a Xen checkpoint")

// XenDomain is a Xen domain as checkpoints need it: its state, and the
// block devices of its disks (major, minor), with how many disks it has in
// all (a disk that is no block device of dom0 has no device).
type XenDomain struct {
	model.Domain
	Devices [][2]int
	Disks   int
}

// Xen is what checkpoints run of Xen's toolstack.
type Xen interface {
	// Domain returns domain name as it is now; false when there is none.
	Domain(ctx context.Context, name string) (XenDomain, bool, error)
	Save(ctx context.Context, name, file string) error
	Restore(ctx context.Context, file string) error
	Destroy(ctx context.Context, name string) error
	Pause(ctx context.Context, name string) error
	Unpause(ctx context.Context, name string) error
}

// checkpointOf returns the checkpoint snapshot e belongs to, if any.
func checkpointOf(e *model.LVEntry) (domain, name string, ok bool) {
	for _, tag := range e.LV.Tags {
		if d, n, ok := checkpoint.ParseTag(tag); ok {
			return d, n, true
		}
	}
	return "", "", false
}

// CheckpointOf is checkpointOf as the status file shows it: "DOMAIN/NAME",
// or "" when the snapshot belongs to none.
func CheckpointOf(e *model.LVEntry) string {
	if d, n, ok := checkpointOf(e); ok {
		return d + "/" + n
	}
	return ""
}

// Checkpoint takes checkpoint name of Xen domain domain: with memory
// (checkpoint_memory) `xl save -p` (the guest suspended cleanly, its memory
// saved, the domain left paused), else `xl pause`; one snapshot ORIGIN.NAME
// of each disk, tagged with the checkpoint; then `xl unpause`. Every disk
// must be an LV the tree shows (else ErrNotAllowed, nothing done). Any
// failure undoes every step before it and returns that step's error.
func (o *Ops) Checkpoint(ctx context.Context, domain, name string) (err error) {
	x, store := o.opts.Xen, o.opts.Checkpoints
	if x == nil || store == nil {
		return fmt.Errorf("checkpoints need Xen: %w", ErrNotAllowed)
	}
	if err := checkpoint.ValidDomain(domain); err != nil {
		return fmt.Errorf("domain %q: %v: %w", domain, err, model.ErrGone)
	}
	d, ok, err := x.Domain(ctx, domain)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("domain %s: %w", domain, model.ErrGone)
	}
	origins, err := o.domainOrigins(d)
	if err != nil {
		return err
	}
	disks := make([]checkpoint.Disk, len(origins))
	for i, e := range origins {
		disks[i] = checkpoint.Disk{VG: e.LV.VG, Origin: e.LV.Name, Snapshot: checkpoint.SnapshotName(e.LV.Name, name)}
	}
	if err := checkpoint.CheckName(name, disks); err != nil {
		return fmt.Errorf("checkpoint %s/%s: %v: %w", domain, name, err, lvm.ErrInvalidName)
	}
	for i, e := range origins {
		if e.VG.HasLV(disks[i].Snapshot) {
			return fmt.Errorf("checkpoint %s/%s: %s/%s exists: %w", domain, name, e.LV.VG, disks[i].Snapshot, lvm.ErrExists)
		}
	}
	rec := checkpoint.Record{Domain: domain, Name: name, Created: o.opts.Now().UTC(), Memory: o.opts.CheckpointMemory,
		Phase: checkpoint.Taking, Disks: disks, PID: os.Getpid()}
	if err := store.Create(rec); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("checkpoint %s/%s: %w", domain, name, lvm.ErrExists)
		}
		return err
	}
	var made []*model.LVEntry
	paused := false
	defer func() {
		if err == nil {
			return
		}
		// Undo, newest first: the snapshots, the domain's pause, the record
		// and the memory image.
		for i := len(made) - 1; i >= 0; i-- {
			if rerr := o.removeOwned(ctx, made[i]); rerr != nil {
				o.log.Error("undoing a checkpoint: removing its snapshot", "snapshot", made[i].String(), "err", rerr)
			}
		}
		if paused {
			if uerr := x.Unpause(ctx, domain); uerr != nil {
				o.log.Error("undoing a checkpoint: unpausing the domain", "domain", domain, "err", uerr)
			}
		}
		if rerr := store.Remove(domain, name); rerr != nil {
			o.log.Error("undoing a checkpoint: removing its record", "checkpoint", domain+"/"+name, "err", rerr)
		}
	}()
	if rec.Memory {
		err = x.Save(ctx, domain, store.MemoryPath(domain, name))
		// A save that failed may have left the domain paused: unpause it.
		paused = true
		if err != nil {
			return err
		}
	} else if d.State == "running" || d.State == "blocked" {
		if err = x.Pause(ctx, domain); err != nil {
			return err
		}
		paused = true
	}
	for _, e := range origins {
		var s *model.LVEntry
		s, err = o.snapshot(ctx, e, checkpoint.SnapshotName(e.LV.Name, name), []string{checkpoint.Tag(domain, name)})
		if err != nil {
			return err
		}
		made = append(made, s)
	}
	if paused {
		if err = x.Unpause(ctx, domain); err != nil {
			return err
		}
		paused = false
	}
	rec.Phase = checkpoint.Ready
	if err = store.Update(rec); err != nil {
		return err
	}
	o.publish(events.Event{Name: events.Checkpoint, Path: "xen/" + domain + "/" + name,
		Extra: []events.Field{{Key: "domain", Value: domain}, {Key: "by", Value: actorOf(ctx)}}})
	return nil
}

// domainOrigins returns the LVs domain d's disks are, in the order of its
// disks: every one must be an LV the tree shows.
func (o *Ops) domainOrigins(d XenDomain) ([]*model.LVEntry, error) {
	if d.Disks == 0 || len(d.Devices) != d.Disks {
		return nil, fmt.Errorf("domain %s has %d disks, %d of them block devices of dom0: every disk must be an LV the tree shows: %w",
			d.Name, d.Disks, len(d.Devices), ErrNotAllowed)
	}
	t, err := o.store.Current()
	if err != nil {
		return nil, err
	}
	var out []*model.LVEntry
	for _, dev := range d.Devices {
		e := lvByDevice(t, dev)
		if e == nil || e.IsSnapshot() && !e.IsThin() {
			return nil, fmt.Errorf("domain %s: disk %d:%d is not an LV the tree shows: %w", d.Name, dev[0], dev[1], ErrNotAllowed)
		}
		if slices.Contains(out, e) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func lvByDevice(t *model.Tree, dev [2]int) *model.LVEntry {
	for _, v := range t.VGs {
		for _, o := range v.Origins {
			if o.LV.KernelMajor == dev[0] && o.LV.KernelMinor == dev[1] {
				return o
			}
		}
	}
	return nil
}

// checkpointSnapshots returns the snapshots of checkpoint rec as the model
// shows them now (those LVM has removed after their merge are missing).
func (o *Ops) checkpointSnapshots(rec checkpoint.Record) ([]*model.LVEntry, error) {
	t, err := o.store.Current()
	if err != nil {
		return nil, err
	}
	var out []*model.LVEntry
	for _, d := range rec.Disks {
		if v := t.VG(d.VG); v != nil {
			if e := v.LVByName(d.Snapshot); e != nil && e.IsSnapshot() {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// Revert brings domain back to checkpoint name: it checks that every
// snapshot is whole and can merge (not invalid, not merging, its origin
// open by nothing but the domain), then destroys the domain, merges every
// snapshot (LVM finishes in the background), and restores the domain from
// the memory image when there is one, so that it runs as it was at the
// checkpoint; without one it stays shut down. The checkpoint reads
// "reverting" until the merges end, then it is gone (Reap).
func (o *Ops) Revert(ctx context.Context, domain, name string) error {
	x, store := o.opts.Xen, o.opts.Checkpoints
	if x == nil || store == nil {
		return fmt.Errorf("checkpoints need Xen: %w", ErrNotAllowed)
	}
	if !o.beginRevert(domain, name) {
		return fmt.Errorf("checkpoint %s/%s is reverting: %w", domain, name, lvm.ErrInUse)
	}
	defer o.endRevert(domain, name)
	rec, err := store.Get(domain, name)
	if err != nil {
		return fmt.Errorf("checkpoint %s/%s: %v: %w", domain, name, err, model.ErrGone)
	}
	if rec.Phase != checkpoint.Ready {
		return fmt.Errorf("checkpoint %s/%s is %s: %w", domain, name, rec.Phase, lvm.ErrInUse)
	}
	snaps, err := o.checkpointSnapshots(rec)
	if err != nil {
		return err
	}
	if len(snaps) != len(rec.Disks) {
		return fmt.Errorf("checkpoint %s/%s: %d of its %d snapshots are left: %w", domain, name, len(snaps), len(rec.Disks), lvm.ErrInUse)
	}
	for _, s := range snaps {
		st := model.SnapshotStatus(o.opts.DM, s)
		if st.State == model.StateInvalid || s.IsMerging() {
			return fmt.Errorf("checkpoint %s/%s: snapshot %s is %s: %w", domain, name, s, st.State, lvm.ErrInUse)
		}
		if err := lockedHere(s); err != nil {
			return fmt.Errorf("checkpoint %s/%s: %w", domain, name, err)
		}
		if n := o.openCount(s.Parent); n > 1 {
			return fmt.Errorf("checkpoint %s/%s: origin %s is open %d times, more than by the domain: %w", domain, name, s.Parent, n, lvm.ErrInUse)
		}
	}
	if _, ok, err := x.Domain(ctx, domain); err != nil {
		return err
	} else if ok {
		if err := x.Destroy(ctx, domain); err != nil {
			return err
		}
	}
	rec.Phase = checkpoint.Reverting
	if err := store.Update(rec); err != nil {
		return err
	}
	for _, s := range snaps {
		if err := o.run(s.LV.VG, func() error { return o.lvm.Merge(ctx, s.LV.VG, s.LV.Name) }); err != nil {
			// The domain stays shut down: its disks are not all back.
			return fmt.Errorf("checkpoint %s/%s: merge of %s: %w", domain, name, s, err)
		}
	}
	if rec.Memory {
		if err := x.Restore(ctx, store.MemoryPath(domain, name)); err != nil {
			return err
		}
	}
	o.publish(events.Event{Name: events.Reverted, Path: "xen/" + domain + "/" + name,
		Extra: []events.Field{{Key: "domain", Value: domain}, {Key: "by", Value: actorOf(ctx)}}})
	return nil
}

// openCount is how many times e's device is open, from device-mapper; 0
// when it cannot tell.
func (o *Ops) openCount(e *model.LVEntry) int {
	if ds, ok := o.opts.DM.(model.DeviceStatuser); ok && model.HasDevice(e) {
		if st, err := ds.Status(lvm.DMName(e.LV.VG, e.LV.Name)); err == nil {
			return int(st.OpenCount)
		}
	}
	return 0
}

// RemoveCheckpoint removes checkpoint name of domain: its snapshots (EBUSY
// while one is in use or held) and its memory image.
func (o *Ops) RemoveCheckpoint(ctx context.Context, domain, name string) error {
	store := o.opts.Checkpoints
	if store == nil {
		return fmt.Errorf("checkpoints need Xen: %w", ErrNotAllowed)
	}
	rec, err := store.Get(domain, name)
	if err != nil {
		return fmt.Errorf("checkpoint %s/%s: %v: %w", domain, name, err, model.ErrGone)
	}
	if rec.Phase == checkpoint.Reverting {
		return fmt.Errorf("checkpoint %s/%s is reverting: %w", domain, name, lvm.ErrInUse)
	}
	snaps, err := o.checkpointSnapshots(rec)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if err := o.removeOwned(ctx, s); err != nil {
			return err
		}
	}
	return store.Remove(domain, name)
}

// CheckpointControl applies one ctl command to checkpoint name of domain:
// revert, or hold, release and expire for all of its snapshots.
func (o *Ops) CheckpointControl(ctx context.Context, domain, name string, data []byte) error {
	cmd := string(data)
	if len(cmd) > 0 && cmd[len(cmd)-1] == '\n' {
		cmd = cmd[:len(cmd)-1]
	}
	if cmd == "revert" {
		return o.Revert(ctx, domain, name)
	}
	rec, err := o.opts.Checkpoints.Get(domain, name)
	if err != nil {
		return fmt.Errorf("checkpoint %s/%s: %v: %w", domain, name, err, model.ErrGone)
	}
	snaps, err := o.checkpointSnapshots(rec)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if err := o.Control(ctx, s, data); err != nil {
			return err
		}
	}
	return nil
}

// beginRevert marks checkpoint name of domain as being reverted here, so
// that Reap keeps its record and memory image until the revert has
// restored the domain: small merges end before xl restore reads the image.
// False when a revert of it is under way already.
func (o *Ops) beginRevert(domain, name string) bool {
	o.revertsMu.Lock()
	defer o.revertsMu.Unlock()
	key := domain + "/" + name
	if o.reverts[key] {
		return false
	}
	o.reverts[key] = true
	return true
}

func (o *Ops) endRevert(domain, name string) {
	o.revertsMu.Lock()
	defer o.revertsMu.Unlock()
	delete(o.reverts, domain+"/"+name)
}

func (o *Ops) reverting(domain, name string) bool {
	o.revertsMu.Lock()
	defer o.revertsMu.Unlock()
	return o.reverts[domain+"/"+name]
}

// Reap forgets the checkpoints whose revert has ended (LVM removed every
// merged snapshot, and the domain was restored), with their memory images.
func (o *Ops) Reap() {
	store := o.opts.Checkpoints
	if store == nil {
		return
	}
	recs, _ := store.List()
	for _, rec := range recs {
		if rec.Phase != checkpoint.Reverting || o.reverting(rec.Domain, rec.Name) {
			continue
		}
		if snaps, err := o.checkpointSnapshots(rec); err == nil && len(snaps) == 0 {
			if err := store.Remove(rec.Domain, rec.Name); err == nil {
				o.log.Info("a checkpoint's revert has ended", "checkpoint", rec.Domain+"/"+rec.Name)
			}
		}
	}
}

// RecoverCheckpoints, at start, finishes what a killed snapfs left: a
// checkpoint still "taking" is undone (its snapshots removed, its domain
// unpaused, its record and memory image deleted), a revert under way is
// carried on (the merges not started yet are started, and the domain is
// restored from its memory image when it is not running). Each is logged.
func (o *Ops) RecoverCheckpoints(ctx context.Context) {
	x, store := o.opts.Xen, o.opts.Checkpoints
	if x == nil || store == nil {
		return
	}
	// Directories a crash left half-made or half-removed go first.
	if err := store.Sweep(); err != nil {
		o.log.Error("sweeping the checkpoint directory", "err", err)
	}
	recs, errs := store.List()
	for _, err := range errs {
		o.log.Error("an unreadable checkpoint record", "err", err)
	}
	for _, rec := range recs {
		what := rec.Domain + "/" + rec.Name
		switch rec.Phase {
		case checkpoint.Taking:
			o.log.Warn("undoing a checkpoint an earlier snapfs left half-taken", "checkpoint", what)
			snaps, _ := o.checkpointSnapshots(rec)
			for _, s := range snaps {
				if err := o.removeOwned(ctx, s); err != nil {
					o.log.Error("undoing a half-taken checkpoint: removing its snapshot", "snapshot", s.String(), "err", err)
				}
			}
			if d, ok, err := x.Domain(ctx, rec.Domain); err == nil && ok && d.State == "paused" {
				if err := x.Unpause(ctx, rec.Domain); err != nil {
					o.log.Error("undoing a half-taken checkpoint: unpausing the domain", "domain", rec.Domain, "err", err)
				}
			}
			if err := store.Remove(rec.Domain, rec.Name); err != nil {
				o.log.Error("undoing a half-taken checkpoint: removing its record", "checkpoint", what, "err", err)
			}
		case checkpoint.Reverting:
			o.log.Warn("carrying on a revert an earlier snapfs left", "checkpoint", what)
			if !o.beginRevert(rec.Domain, rec.Name) {
				continue
			}
			snaps, _ := o.checkpointSnapshots(rec)
			for _, s := range snaps {
				if !s.IsMerging() {
					if err := o.run(s.LV.VG, func() error { return o.lvm.Merge(ctx, s.LV.VG, s.LV.Name) }); err != nil {
						o.log.Error("carrying on a revert: merging", "snapshot", s.String(), "err", err)
					}
				}
			}
			if _, ok, err := x.Domain(ctx, rec.Domain); err == nil && !ok && rec.Memory {
				if err := x.Restore(ctx, store.MemoryPath(rec.Domain, rec.Name)); err != nil {
					o.log.Error("carrying on a revert: restoring the domain", "domain", rec.Domain, "err", err)
				}
			}
			o.endRevert(rec.Domain, rec.Name)
		}
	}
}

// ExpireCheckpointOf removes the whole checkpoint snapshot e belongs to,
// when its expiry has come (the schedule's expiry finds its snapshots);
// false when e belongs to none.
func (o *Ops) ExpireCheckpointOf(ctx context.Context, e *model.LVEntry) bool {
	d, n, ok := checkpointOf(e)
	if !ok {
		return false
	}
	_ = o.Change(ctx, events.Expired, "xen/"+d+"/"+n, func(ctx context.Context) error {
		return o.RemoveCheckpoint(ctx, d, n)
	})
	return true
}
