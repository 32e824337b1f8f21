// Package ops carries out the changes the tree allows: take, remove and
// rename a snapshot, merge or extend it through ctl, and activate one whose
// image or files/ is opened. Each runs under its VG's lock, pauses the Xen
// domains of its origin when so configured, leaves LVM as it was when it
// fails, and updates the model (state) after. Change writes the audit line
// of every change, with the errno (Errno, the one map of errors to errno)
// its result is. ops knows nothing of FUSE.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/retention"
	"github.com/snapfs/snapfs/state"
)

// LVM is what the operations run in LVM. *lvm.Client implements it.
type LVM interface {
	// CreateSnapshot makes the snapshot with tags, when given (--addtag).
	CreateSnapshot(ctx context.Context, vg, origin, name string, size lvm.SizeSpec, tags ...string) error
	Remove(ctx context.Context, vg, name string) error
	Rename(ctx context.Context, vg, oldName, newName string) error
	Merge(ctx context.Context, vg, name string) error
	Extend(ctx context.Context, vg, name, size string) error
	// Activate activates an LV even when it is flagged to skip activation,
	// as thin snapshots are (lvchange -ay -K).
	Activate(ctx context.Context, vg, name string) error
	// PollVG restarts LVM's polling of the merges under way in a VG.
	PollVG(ctx context.Context, vg string) error
	// AddTag and DelTag add and remove an LV's tag (lvchange --addtag,
	// --deltag): holds, expiry and the schedule's mark.
	AddTag(ctx context.Context, vg, name, tag string) error
	DelTag(ctx context.Context, vg, name, tag string) error
	// ExtendPoolMetadata grows a thin pool's metadata.
	ExtendPoolMetadata(ctx context.Context, vg, pool, size string) error
}

// Domains tells which Xen domains use a block device now, for decisions:
// the rmdir guard and quiesce.
type Domains interface {
	UsingNow(ctx context.Context, major, minor int) ([]model.Domain, error)
}

// Quiescer holds Xen domains paused while a snapshot is taken.
// *quiesce.Holder implements it.
type Quiescer interface {
	Hold(ctx context.Context, domains []model.Domain, why string) (release func(), err error)
}

// Files unmounts a snapshot's files/ before a change that needs its device
// closed, and forgets a removed snapshot. *snapmount.Manager implements it.
type Files interface {
	Hold(uuid string) (release func(), err error)
	Drop(uuid string)
}

// Options configure the operations and name the parts they use.
type Options struct {
	// SnapshotSize is the COW size of a snapshot taken with mkdir.
	SnapshotSize lvm.SizeSpec
	// OriginSnapshotSize overrides SnapshotSize per origin, keyed "vg/lv".
	OriginSnapshotSize map[string]lvm.SizeSpec
	// Quiesce pauses the Xen domains that use an origin while its snapshot
	// is taken (quiesce = "pause"); OriginQuiesce overrides it per origin,
	// keyed "vg/lv".
	Quiesce       bool
	OriginQuiesce map[string]bool

	// DM reads a snapshot's live state (to tell an inactive one); may be nil.
	DM model.DeviceMapper
	// Domains, Quiescer and Files may be nil: no Xen, no files/.
	Domains  Domains
	Quiescer Quiescer
	Files    Files
	// MinFree, when set, is the guard's min_free for snapshots of an
	// origin ("vg/lv"): a mkdir that would take the VG below it is ENOSPC.
	MinFree func(origin string) guard.Size
	// Xen and Checkpoints, when set, take Xen checkpoints;
	// CheckpointMemory saves the domain's memory with them.
	Xen              Xen
	Checkpoints      *checkpoint.Store
	CheckpointMemory bool
	// Events, when set, gets the events of the changes (Announce, and the
	// extensions); Now is its clock (time.Now when nil).
	Events Publisher
	Now    func() time.Time
	Logger *slog.Logger
}

// Ops carries out the changes.
type Ops struct {
	opts  Options
	lvm   LVM
	store *state.Store
	log   *slog.Logger

	locksMu sync.Mutex // guards locks
	locks   map[string]*sync.Mutex

	expected expectations // the changes snapfs is making, for their events

	revertsMu sync.Mutex      // guards reverts
	reverts   map[string]bool // "DOMAIN/NAME" of the reverts under way here, which Reap leaves alone
}

// New returns the operations on l, keeping store's model current.
func New(l LVM, store *state.Store, opts Options) *Ops {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Ops{opts: opts, lvm: l, store: store, log: opts.Logger, locks: map[string]*sync.Mutex{},
		reverts:  map[string]bool{},
		expected: expectations{m: map[string]expectation{}, now: opts.Now, sink: opts.Events}}
}

type callerKey struct{}

// WithCaller returns ctx carrying the user ID of the process a change is
// made for, which its audit line names. A change without one is snapfs's
// own (uid -1).
func WithCaller(ctx context.Context, uid int64) context.Context {
	return context.WithValue(ctx, callerKey{}, uid)
}

func callerOf(ctx context.Context) int64 {
	if uid, ok := ctx.Value(callerKey{}).(int64); ok {
		return uid
	}
	return -1
}

// Change runs one change to LVM for the caller of ctx (WithCaller) and
// writes its audit line: caller uid, operation, path, LVM command lines,
// result and duration. A failure is logged here, once, with LVM's own
// message; the error is returned as fn returned it.
func (o *Ops) Change(ctx context.Context, op, path string, fn func(ctx context.Context) error) error {
	uid := callerOf(ctx)
	// Reads meanwhile are answered from the model as it was (state).
	defer o.store.BeginChange()()
	start := time.Now()
	// LVM must finish what it started even when the caller gives up (Ctrl-C
	// on mkdir): a killed lvcreate could leave a half-made LV behind.
	lctx, rec := lvm.WithRecorder(context.WithoutCancel(ctx))
	err := fn(lctx)
	args := []any{"op", op, "path", path, "uid", uid, "lvm", rec.String(),
		"duration", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		args = append(args, "result", ErrnoName(Errno(err)), "err", err)
		o.log.Warn("change refused", args...)
	} else {
		args = append(args, "result", "ok")
		o.log.Info("change", args...)
	}
	return err
}

// lockVG serializes changes to one volume group.
func (o *Ops) lockVG(vg string) func() {
	o.locksMu.Lock()
	l := o.locks[vg]
	if l == nil {
		l = &sync.Mutex{}
		o.locks[vg] = l
	}
	o.locksMu.Unlock()
	l.Lock()
	return l.Unlock
}

// run runs one LVM command on VG vg under the VG's lock, and reads LVM
// again after it, whatever it did.
func (o *Ops) run(vg string, command func() error) error {
	unlock := o.lockVG(vg)
	defer unlock()
	err := command()
	o.refresh()
	return err
}

func (o *Ops) refresh() {
	if _, err := o.store.Refresh(true); err != nil {
		o.log.Error("reading LVM state", "err", err)
	}
}

// holdFiles unmounts e's files/ and keeps it unmounted until release.
func (o *Ops) holdFiles(e *model.LVEntry) (release func(), err error) {
	if o.opts.Files == nil {
		return func() {}, nil
	}
	return o.opts.Files.Hold(e.LV.UUID)
}

// snapshotSize is the COW size for a new snapshot of origin e: none for a
// thin origin, else the per-origin or global configured size.
func (o *Ops) snapshotSize(e *model.LVEntry) lvm.SizeSpec {
	if e.IsThin() {
		return lvm.SizeSpec{}
	}
	if s, ok := o.opts.OriginSnapshotSize[e.LV.VG+"/"+e.LV.Name]; ok {
		return s
	}
	return o.opts.SnapshotSize
}

// CheckName refuses a snapshot name that LVM would reject or that is a fixed
// name of parent's directory, before anything runs.
func CheckName(parent *model.LVEntry, name string) error {
	if model.IsFixedName(name, parent.FileNames(), model.ReservedFor(parent)) {
		return fmt.Errorf("%q in %s: %w", name, parent, ErrFixedName)
	}
	return lvm.ValidateName(parent.LV.VG, name)
}

// Snapshot takes snapshot name of parent and returns it as the new model
// shows it.
func (o *Ops) Snapshot(ctx context.Context, parent *model.LVEntry, name string) (*model.LVEntry, error) {
	return o.snapshot(ctx, parent, name, nil)
}

func (o *Ops) snapshot(ctx context.Context, parent *model.LVEntry, name string, tags []string) (*model.LVEntry, error) {
	vg := parent.LV.VG
	if parent.IsSnapshot() && !parent.IsThin() {
		return nil, fmt.Errorf("%s is a COW snapshot, which LVM cannot snapshot: %w", parent, ErrNotAllowed)
	}
	if err := CheckName(parent, name); err != nil {
		return nil, err
	}
	size := o.snapshotSize(parent)
	if err := o.checkMinFree(parent, size); err != nil {
		return nil, err
	}
	start := time.Now()
	unlock := o.lockVG(vg)
	defer unlock()
	locked := time.Now()
	// With quiesce = "pause", the domains using the origin are paused for
	// the lvcreate only, and unpaused whatever it did, before anything else.
	resume, err := o.quiesce(ctx, parent, name)
	if err != nil {
		return nil, err
	}
	o.expect(ctx, model.ChangeCreated, vg, name)
	err = o.lvm.CreateSnapshot(ctx, vg, parent.LV.Name, name, size, tags...)
	resume()
	created := time.Now()
	// A tagged snapshot enters the model from a report: what AddCreated
	// reads (device-mapper, the metadata backup's snapshot) has no tags,
	// and a scheduled snapshot seen without its mark would be taken again.
	if err == nil && len(tags) == 0 {
		if e := o.store.AddCreated(vg, parent, name); e != nil {
			// The steps of a mkdir, for the trace in README's Performance.
			o.log.Debug("snapshot taken", "lv", vg+"/"+name, "lock_wait", locked.Sub(start),
				"lvcreate", created.Sub(locked), "model", time.Since(created))
			return e, nil
		}
	}
	t, rerr := o.store.Refresh(true)
	if err != nil {
		if !errors.Is(err, lvm.ErrExists) && rerr == nil {
			o.removeHalfMade(ctx, t, vg, name)
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
func (o *Ops) removeHalfMade(ctx context.Context, t *model.Tree, vg, name string) {
	v := t.VG(vg)
	if v == nil || !v.HasLV(name) {
		return
	}
	err := o.lvm.Remove(ctx, vg, name)
	o.log.Warn("removed the LV a failed lvcreate left behind", "lv", vg+"/"+name, "err", err)
	o.refresh()
}

// quiesce pauses the domains using origin e, when so configured, and
// returns the function that unpauses them, to be called once whether the
// snapshot was taken or not.
func (o *Ops) quiesce(ctx context.Context, e *model.LVEntry, snapshot string) (resume func(), err error) {
	if o.opts.Quiescer == nil || o.opts.Domains == nil || !o.quiesceFor(e) {
		return func() {}, nil
	}
	doms, err := o.domainsNow(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("quiesce %s: %w", e, err)
	}
	resume, err = o.opts.Quiescer.Hold(ctx, doms, e.LV.VG+"/"+e.LV.Name+"/"+snapshot)
	if err != nil {
		return nil, fmt.Errorf("quiesce %s: %w", e, err)
	}
	return resume, nil
}

// quiesceFor reports whether the domains using origin e are paused while
// it is snapshotted.
func (o *Ops) quiesceFor(e *model.LVEntry) bool {
	if q, ok := o.opts.OriginQuiesce[e.LV.VG+"/"+e.LV.Name]; ok {
		return q
	}
	return o.opts.Quiesce
}

// domainsNow returns the Xen domains using e as Xen shows them now. ctx
// records the xl command in the audit line.
func (o *Ops) domainsNow(ctx context.Context, e *model.LVEntry) ([]model.Domain, error) {
	if o.opts.Domains == nil || !model.HasDevice(e) {
		return nil, nil
	}
	return o.opts.Domains.UsingNow(ctx, e.LV.KernelMajor, e.LV.KernelMinor)
}

// Remove removes snapshot e, unless it is held, belongs to a Xen
// checkpoint, or is a disk of a Xen domain that is not shut down.
func (o *Ops) Remove(ctx context.Context, e *model.LVEntry) error {
	if c := CheckpointOf(e); c != "" {
		return fmt.Errorf("%s belongs to checkpoint xen/%s (rmdir xen/%s removes it): %w", e, c, c, ErrCheckpointOwned)
	}
	return o.removeOwned(ctx, e)
}

// removeOwned is Remove of a snapshot whatever checkpoint it belongs to: for
// the checkpoint itself.
func (o *Ops) removeOwned(ctx context.Context, e *model.LVEntry) error {
	if Held(e) {
		return fmt.Errorf("%s is held (tag %s; echo release > ctl lets it go): %w", e, retention.TagHold, ErrHeld)
	}
	if err := lockedHere(e); err != nil {
		return err
	}
	start := time.Now()
	doms, err := o.domainsNow(ctx, e)
	if err != nil {
		// LVM still refuses an LV that a domain holds open.
		o.log.Warn("reading Xen domains for the rmdir guard; leaving it to LVM", "lv", e.String(), "err", err)
	}
	for _, d := range doms {
		if d.State != "shutdown" {
			return fmt.Errorf("%s is a disk of domain %s (%s): %w", e, d.Name, d.State, ErrDomainBusy)
		}
	}
	// The mounts of files/ hold the device open: unmount them first, or
	// refuse while a process uses them.
	release, err := o.holdFiles(e)
	if err != nil {
		return err
	}
	defer release()
	checked := time.Now()
	unlock := o.lockVG(e.LV.VG)
	defer unlock()
	locked := time.Now()
	o.expect(ctx, model.ChangeRemoved, e.LV.VG, e.LV.Name)
	if err := o.lvm.Remove(ctx, e.LV.VG, e.LV.Name); err != nil {
		o.refresh()
		return err
	}
	removed := time.Now()
	if o.opts.Files != nil {
		o.opts.Files.Drop(e.LV.UUID)
	}
	// What lvremove did is known: the model drops the LV instead of
	// reading LVM again, which costs as much as the lvremove itself.
	o.store.ForgetRemoved(e.LV.VG, e.LV.Name, e.LV.UUID)
	// The steps of an rmdir, for the trace in README's Performance.
	o.log.Debug("snapshot removed", "lv", e.LV.VG+"/"+e.LV.Name, "checks", checked.Sub(start),
		"lock_wait", locked.Sub(checked), "lvremove", removed.Sub(locked), "model", time.Since(removed))
	return nil
}

// Rename renames snapshot e within its origin.
func (o *Ops) Rename(ctx context.Context, e *model.LVEntry, newName string) error {
	if c := CheckpointOf(e); c != "" {
		return fmt.Errorf("%s belongs to checkpoint xen/%s: %w", e, c, ErrCheckpointOwned)
	}
	if err := CheckName(e.Parent, newName); err != nil {
		return err
	}
	if newName == e.LV.Name {
		return nil
	}
	if err := lockedHere(e); err != nil {
		return err
	}
	return o.run(e.LV.VG, func() error {
		o.expect(ctx, model.ChangeRenamed, e.LV.VG, newName)
		return o.lvm.Rename(ctx, e.LV.VG, e.LV.Name, newName)
	})
}

// Control applies one command written to a snapshot's ctl file.
func (o *Ops) Control(ctx context.Context, e *model.LVEntry, data []byte) error {
	cmd := strings.TrimSuffix(string(data), "\n")
	if strings.ContainsAny(cmd, "\n\x00") {
		return fmt.Errorf("ctl %s: one command per write: %w", e, ErrBadCommand)
	}
	words := strings.Fields(cmd)
	switch {
	case len(words) == 1 && (words[0] == "hold" || words[0] == "release"):
		return o.setHold(ctx, e, words[0] == "hold")
	case len(words) >= 2 && words[0] == "expire":
		return o.expire(ctx, e, strings.Join(words[1:], " "))
	case len(words) == 1 && words[0] == "merge":
		if err := lockedHere(e); err != nil {
			return err
		}
		// LVM would delay the merge while files/ holds the snapshot open.
		release, err := o.holdFiles(e)
		if err != nil {
			return err
		}
		defer release()
		return o.run(e.LV.VG, func() error { return o.lvm.Merge(ctx, e.LV.VG, e.LV.Name) })
	case len(words) == 2 && words[0] == "extend":
		if e.IsThin() {
			return fmt.Errorf("ctl %s: a thin snapshot has no COW store to extend (extend its pool): %w", e, ErrBadCommand)
		}
		if err := lvm.ValidateSize(words[1]); err != nil {
			return fmt.Errorf("ctl %s: extend %q: %w", e, words[1], err)
		}
		return o.extend(ctx, e, words[1])
	}
	return fmt.Errorf("ctl %s: %q: %w", e, cmd, ErrBadCommand)
}

// ResumeMerges restarts LVM's polling of the merges under way, once, at
// start: a snapfs killed while lvconvert --merge ran took the command's
// output with it, and LVM's background poller, which removes the merged
// snapshot at the end, may never have started. Each VG with a COW
// snapshot merging gets `vgchange --poll y`, an audited change of snapfs's
// own.
func (o *Ops) ResumeMerges(ctx context.Context) {
	t, err := o.store.Current()
	if err != nil {
		return
	}
	for _, v := range t.VGs {
		merging := ""
		for _, org := range v.Origins {
			for _, s := range org.Snaps {
				if s.IsMerging() && s.LV.Attr.IsCOWSnapshot() && s.LockedHere() {
					merging = s.String()
				}
			}
		}
		if merging == "" {
			continue
		}
		vg := v.VG.Name
		_ = o.Change(ctx, "resume-merge", merging, func(ctx context.Context) error {
			return o.run(vg, func() error { return o.lvm.PollVG(ctx, vg) })
		})
	}
}

// isInactive tells whether snapshot e has no device now.
func (o *Ops) isInactive(e *model.LVEntry) bool {
	return model.SnapshotStatus(o.opts.DM, e).State == model.StateInactive
}

// Device returns the block device of snapshot uuid, activating the
// snapshot first when it is inactive, as an audited change. LVM creates
// thin snapshots with activation skipped, so image and files/ activate one
// on first use (lvchange -ay -K), and its state reads active from then on.
func (o *Ops) Device(ctx context.Context, uuid string) (string, error) {
	e, err := o.store.Lookup(uuid)
	if err != nil {
		return "", err
	}
	if err := lockedHere(e); err != nil {
		o.log.Warn("refused: the snapshot's image and files/ are not to be used here", "snapshot", e.String(), "err", err)
		return "", err
	}
	if !o.isInactive(e) {
		return model.LVPath(e), nil
	}
	if org := e.Parent; e.LV.Attr.IsCOWSnapshot() && org != nil && !org.LV.Attr.Active() {
		err := fmt.Errorf("%s: its origin is not active, and activating the snapshot would activate the origin too "+
			"(and start a merge pending on it); lvchange -ay %s/%s activates it: %w", e, org.LV.VG, org.LV.Name, ErrOriginInactive)
		o.log.Warn("refused: the snapshot's image and files/ are not to be used here", "snapshot", e.String(), "err", err)
		return "", err
	}
	err = o.Change(ctx, "activate", e.String(), func(ctx context.Context) error {
		return o.run(e.LV.VG, func() error {
			cur, err := o.store.Lookup(uuid)
			if err != nil {
				return err
			}
			if !o.isInactive(cur) {
				return nil // activated meanwhile
			}
			return o.lvm.Activate(ctx, cur.LV.VG, cur.LV.Name)
		})
	})
	if err != nil {
		return "", err
	}
	if cur, err := o.store.Lookup(uuid); err == nil {
		e = cur
	}
	return model.LVPath(e), nil
}
