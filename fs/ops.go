package fs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// change runs one change to LVM for a caller and writes its audit line:
// caller uid, operation, path, LVM command lines, result and duration. A
// failure is logged here, once, with LVM's own message; the caller gets the
// bare errno.
func (f *FS) change(ctx context.Context, op, path string, fn func(ctx context.Context) error) syscall.Errno {
	start := time.Now()
	// LVM must finish what it started even when the caller gives up (Ctrl-C
	// on mkdir): a killed lvcreate could leave a half-made LV behind.
	lctx, rec := lvm.WithRecorder(context.Background())
	err := fn(lctx)
	errno := toErrno(err)
	args := []any{"op", op, "path", path, "uid", callerUID(ctx), "lvm", rec.String(),
		"duration", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		args = append(args, "result", errnoName(errno), "err", err)
		f.log.Warn("change refused", args...)
	} else {
		args = append(args, "result", "ok")
		f.log.Info("change", args...)
	}
	return errno
}

func callerUID(ctx context.Context) int64 {
	if c, ok := fuse.FromContext(ctx); ok {
		return int64(c.Uid)
	}
	return -1
}

func errnoName(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return fmt.Sprintf("%s (%s)", errnoSymbol(e), e.Error())
}

func errnoSymbol(e syscall.Errno) string {
	switch e {
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EBUSY:
		return "EBUSY"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EIO:
		return "EIO"
	}
	return fmt.Sprintf("errno %d", int(e))
}

// lookupLV finds the LV with that UUID in the current model.
func (f *FS) lookupLV(uuid string) (*model.LVEntry, error) {
	t, err := f.current()
	if err != nil {
		return nil, err
	}
	e := t.LV(uuid)
	if e == nil {
		return nil, model.ErrGone
	}
	return e, nil
}

// snapshotSize is the COW size for a new snapshot of origin e: none for a
// thin origin, else the per-origin or global configured size.
func (f *FS) snapshotSize(e *model.LVEntry) lvm.SizeSpec {
	if e.IsThin() {
		return lvm.SizeSpec{}
	}
	if s, ok := f.opts.OriginSnapshotSize[e.LV.VG+"/"+e.LV.Name]; ok {
		return s
	}
	return f.opts.SnapshotSize
}

// takeSnapshot creates snapshot name of parent and returns it as the new
// model shows it.
func (f *FS) takeSnapshot(ctx context.Context, parent *model.LVEntry, name string) (*model.LVEntry, error) {
	vg := parent.LV.VG
	if parent.IsSnapshot() && !parent.IsThin() {
		return nil, fmt.Errorf("%s is a COW snapshot, which LVM cannot snapshot: %w", parent, errNotAllowed)
	}
	if model.IsFixedName(name, parent.FileNames(), model.ReservedFor(parent)) {
		return nil, fmt.Errorf("%q in %s: %w", name, parent, errFixedName)
	}
	if err := lvm.ValidateName(vg, name); err != nil {
		return nil, err
	}
	unlock := f.lockVG(vg)
	defer unlock()
	// With quiesce = "pause", the domains using the origin are paused for
	// the lvcreate only, and unpaused whatever it did, before anything else.
	resume, err := f.quiesce(ctx, parent, name)
	if err != nil {
		return nil, err
	}
	err = f.lvm.CreateSnapshot(ctx, vg, parent.LV.Name, name, f.snapshotSize(parent))
	resume()
	if err == nil {
		if e := f.addCreated(vg, parent, name); e != nil {
			return e, nil
		}
	}
	t, rerr := f.refresh(true)
	if err != nil {
		if !errors.Is(err, lvm.ErrExists) && rerr == nil {
			f.removeHalfMade(ctx, t, vg, name)
		}
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	v := t.VG(vg)
	if v == nil || v.LVByName(name) == nil {
		return nil, fmt.Errorf("lvcreate %s/%s succeeded but the LV is not in the report: %w", vg, name, lvm.ErrFailed)
	}
	return v.LVByName(name), nil
}

// removeHalfMade removes an LV that a failed lvcreate left behind, so a
// refused mkdir leaves LVM as it was. Before the failed command the name was
// free (else LVM would have said it exists), so an LV of that name now is
// ours.
func (f *FS) removeHalfMade(ctx context.Context, t *model.Tree, vg, name string) {
	v := t.VG(vg)
	if v == nil || !v.HasLV(name) {
		return
	}
	err := f.lvm.Remove(ctx, vg, name)
	f.log.Warn("removed the LV a failed lvcreate left behind", "lv", vg+"/"+name, "err", err)
	if _, rerr := f.refresh(true); rerr != nil {
		f.log.Error("reading LVM state", "err", rerr)
	}
}

// removeSnapshot removes snapshot e, unless it is a disk of a Xen domain
// that is not shut down.
func (f *FS) removeSnapshot(ctx context.Context, e *model.LVEntry) error {
	doms, err := f.domainsNow(ctx, e)
	if err != nil {
		// LVM still refuses an LV that a domain holds open.
		f.log.Warn("reading Xen domains for the rmdir guard; leaving it to LVM", "lv", e.String(), "err", err)
	}
	for _, d := range doms {
		if d.State != "shutdown" {
			return fmt.Errorf("%s is a disk of domain %s (%s): %w", e, d.Name, d.State, errDomainBusy)
		}
	}
	// The mounts of files/ hold the device open: unmount them first, or
	// refuse while a process uses them.
	release, err := f.holdFiles(e.LV.UUID)
	if err != nil {
		return err
	}
	defer release()
	unlock := f.lockVG(e.LV.VG)
	defer unlock()
	err = f.lvm.Remove(ctx, e.LV.VG, e.LV.Name)
	if err != nil {
		f.refreshAfterChange()
		return err
	}
	f.dropFiles(e.LV.UUID)
	// What lvremove did is known: the model drops the LV instead of
	// reading LVM again, which costs as much as the lvremove itself.
	f.forgetRemoved(e.LV.VG, e.LV.Name, e.LV.UUID)
	return nil
}

// forgetRemoved takes the LV vg/name that snapfs has just removed out of the
// model, as the next report would: the VG gets its extents back and counts
// one LV (and one snapshot) less, and an origin left without snapshots is a
// plain volume again. The model keeps its age, so it is read anew when it
// would have been anyway.
func (f *FS) forgetRemoved(vg, name, uuid string) {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	f.mu.Lock()
	old := f.tree
	f.mu.Unlock()
	if old == nil || len(old.VGs) == 0 || old.VG(vg) == nil || old.VG(vg).LVByName(name) == nil ||
		old.VG(vg).LVByName(name).LV.UUID != uuid {
		return // a report since the lvremove knows it already
	}
	next, ok := reportWithout(old.VGs[0].Report(), vg, uuid)
	if !ok {
		return
	}
	t := model.BuildTree(next, f.opts.VGs)
	f.mu.Lock()
	f.tree = t
	f.mu.Unlock()
	go f.invalidate(old, t)
}

// withoutOriginRoles drops the roles of a COW origin from an LV's lv_role.
func withoutOriginRoles(roles []string) []string {
	var kept []string
	for _, r := range roles {
		switch r {
		case "origin", "thickorigin", "multithickorigin":
		default:
			kept = append(kept, r)
		}
	}
	return kept
}

// renameSnapshot renames snapshot e within its origin.
func (f *FS) renameSnapshot(ctx context.Context, e *model.LVEntry, newName string) error {
	if model.IsFixedName(newName, e.Parent.FileNames(), model.ReservedFor(e.Parent)) {
		return fmt.Errorf("%q in %s: %w", newName, e.Parent, errFixedName)
	}
	if err := lvm.ValidateName(e.LV.VG, newName); err != nil {
		return err
	}
	if newName == e.LV.Name {
		return nil
	}
	unlock := f.lockVG(e.LV.VG)
	defer unlock()
	err := f.lvm.Rename(ctx, e.LV.VG, e.LV.Name, newName)
	f.refreshAfterChange()
	return err
}

// control applies one command written to a snapshot's ctl file.
func (f *FS) control(ctx context.Context, e *model.LVEntry, data []byte) error {
	cmd := strings.TrimSuffix(string(data), "\n")
	if strings.ContainsAny(cmd, "\n\x00") {
		return fmt.Errorf("ctl %s: one command per write: %w", e, errBadCommand)
	}
	words := strings.Fields(cmd)
	switch {
	case len(words) == 1 && words[0] == "merge":
		// LVM would delay the merge while files/ holds the snapshot open.
		release, err := f.holdFiles(e.LV.UUID)
		if err != nil {
			return err
		}
		defer release()
		unlock := f.lockVG(e.LV.VG)
		defer unlock()
		err = f.lvm.Merge(ctx, e.LV.VG, e.LV.Name)
		f.refreshAfterChange()
		return err
	case len(words) == 2 && words[0] == "extend":
		if e.IsThin() {
			return fmt.Errorf("ctl %s: a thin snapshot has no COW store to extend (extend its pool): %w", e, errBadCommand)
		}
		if err := lvm.ValidateSize(words[1]); err != nil {
			return fmt.Errorf("ctl %s: extend %q: %w", e, words[1], err)
		}
		unlock := f.lockVG(e.LV.VG)
		defer unlock()
		err := f.lvm.Extend(ctx, e.LV.VG, e.LV.Name, words[1])
		f.refreshAfterChange()
		return err
	}
	return fmt.Errorf("ctl %s: %q: %w", e, cmd, errBadCommand)
}

func (f *FS) refreshAfterChange() {
	if _, err := f.refresh(true); err != nil {
		f.log.Error("reading LVM state", "err", err)
	}
}
