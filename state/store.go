// Package state keeps the current model of the tree: it reads LVM's report
// when the model is too old, trusts the model longer while LVM's change stamp
// (metadata backups, /dev/mapper) says nothing changed, catches the model up
// from the metadata backups when only COW snapshots came or went, and takes
// in snapfs's own changes without another report. Every new model goes in at
// one place (replace), which tells its listener (fs, to invalidate the
// kernel's caches). The backup reader, the /dev/mapper reader and the clock
// are injected, so that every decision is tested without LVM and without
// sleeping.
package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapfs/snapfs/internal/logonce"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// Reporter reads LVM's state: one report of the whole of it. *lvm.Client
// implements it.
type Reporter interface {
	Report(ctx context.Context, vgs []string) (*lvm.Report, error)
}

// DefaultTrustAge is how long an unchanged change stamp keeps the model
// current at most when the stamp could not read the metadata seqno of
// every VG from its PVs: a change LVM made without touching what the stamp
// then looks at (metadata backups turned off for one command) shows after
// this long, and the report that reads it.
const DefaultTrustAge = time.Minute

// Options configure the store. Zero values take the defaults.
type Options struct {
	// VGs limits the model to these volume groups; empty means all.
	VGs []string
	// MaxAge is how old the model may be before an access refreshes it;
	// a second when zero.
	MaxAge time.Duration
	// StaleGrace is how much older than MaxAge the model may be and still
	// answer an access, while it is read again in the background; an access
	// to an older model waits for the new report. MaxAge when zero. A walk
	// of the tree is then answered from memory throughout, however long it
	// takes, and reads LVM at most once a MaxAge in the background.
	StaleGrace time.Duration
	// Stamp, when set, tells without running LVM whether LVM may have
	// changed anything since it returned the same stamp: a model older than
	// MaxAge whose stamp is unchanged stays current, up to TrustAge. ok is
	// false when it cannot tell. lvm.ChangeStamp is the real one.
	Stamp func(vgs []string) (stamp string, ok bool)
	// TrustAge bounds how long an unchanged stamp keeps a model current
	// when the stamp lacks the seqno of a VG; DefaultTrustAge when zero.
	// An access past it starts a report in the background and gets the
	// model meanwhile: the stamp still vouches for all it looks at.
	TrustAge time.Duration
	// Seqno reads the name and metadata seqno of the VG whose PV device
	// is (lvm.MetadataSeqno when nil). The stamp holds each VG's seqno as
	// its PVs say: LVM writes a new one with every change of the VG's
	// metadata, a change made with backups off or on another host (of a
	// VG shared by several) too. A stamp with the seqnos of all VGs sees
	// every change, and trusts an unchanged model however old; a shared
	// VG's seqno it must have.
	Seqno func(device string) (vg string, seqno int, err error)
	// WaitLVM waits while an LVM command is in the middle of a change of
	// one of VGs vgs (holds the VG's lock), for at most LockWait,
	// and tells whether one was. A catch-up that meets a change half done
	// (the devices changed, the backup not yet written) waits for it and
	// tries again, rather than read LVM with a report, which would wait for
	// the same lock and then read every LV. lvm.WaitVGsUnlocked in
	// lvm.DefaultLockDir when nil.
	WaitLVM func(ctx context.Context, vgs []string) (waited bool)
	// BackupDir is where LVM writes its metadata backups (lvm.conf
	// backup/backup_dir); lvm.DefaultBackupDir when empty.
	BackupDir string
	// DM tells what snapfs's own lvcreate made, and what a catch-up found
	// new, without a report; nil (or one without Status) turns that off.
	DM     model.DeviceMapper
	Logger *slog.Logger

	// For tests: the clock (time.Now), the metadata backup reader
	// (lvm.ReadBackup), the VGs that have a backup (the names in
	// BackupDir), and the device names in /dev/mapper.
	Now         func() time.Time
	ReadBackup  func(dir, vg string) (*lvm.Backup, error)
	BackupNames func(dir string) ([]string, error)
	MapperNames func() ([]string, error)
}

// Store holds the current model.
type Store struct {
	opts Options
	lvm  Reporter
	log  *slog.Logger
	warn *logonce.Logger

	refreshMu sync.Mutex   // one report or catch-up at a time; guards base
	base      *baseline    // what the model was read from besides the report
	refreshBG atomic.Bool  // a background refresh runs
	changes   atomic.Int32 // changes of snapfs's own in flight (BeginChange)

	mu        sync.Mutex  // guards the model, its ages and its listener below
	tree      *model.Tree // nil until the first report
	taken     time.Time   // when the model was last known current
	read      time.Time   // when LVM was last read for it
	stamp     string      // the change stamp taken just before that read; "" when none
	onReplace []func(old, cur *model.Tree)
	// told hands each replacement to the listeners in order, one at a
	// time; a goroutine drains it.
	told chan [2]*model.Tree
}

// New returns a store that reads LVM through r. It holds no model until the
// first access or Refresh.
func New(r Reporter, opts Options) *Store {
	if opts.MaxAge <= 0 {
		opts.MaxAge = time.Second
	}
	if opts.StaleGrace <= 0 {
		opts.StaleGrace = opts.MaxAge
	}
	if opts.TrustAge <= 0 {
		opts.TrustAge = DefaultTrustAge
	}
	if opts.BackupDir == "" {
		opts.BackupDir = lvm.DefaultBackupDir
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadBackup == nil {
		opts.ReadBackup = lvm.ReadBackup
	}
	if opts.BackupNames == nil {
		opts.BackupNames = backupNames
	}
	if opts.Seqno == nil {
		opts.Seqno = lvm.MetadataSeqno
	}
	if opts.WaitLVM == nil {
		opts.WaitLVM = waitLVM
	}
	if opts.MapperNames == nil {
		opts.MapperNames = func() ([]string, error) { return dirNames("/dev/mapper") }
	}
	return &Store{opts: opts, lvm: r, log: opts.Logger, warn: logonce.New(opts.Logger)}
}

func (s *Store) now() time.Time                  { return s.opts.Now() }
func (s *Store) since(t time.Time) time.Duration { return s.now().Sub(t) }

// Current returns the model, refreshed when it is older than MaxAge: in the
// background while it is younger than MaxAge+StaleGrace (the access gets the
// model as it is), else at once. While a change of snapfs's own is in
// flight, an access never waits for a report, nor starts one: LVM answers
// it only once the change is done (one lvm shell, or the VG's lock), and
// the model is what LVM showed before the change began, which the change's
// own end replaces.
func (s *Store) Current() (*model.Tree, error) { return s.current(false) }

// Settled is Current for the periodic ticks of the guard and the schedules:
// an unchanged change stamp keeps the model current however old it is.
// TrustAge is for changes that touch nothing the stamp looks at, which an
// access sees within a minute; the ticks, which come every second whether
// anyone looks or not, would otherwise make an idle snapfs read LVM every
// TrustAge.
func (s *Store) Settled() (*model.Tree, error) { return s.current(true) }

func (s *Store) current(settled bool) (*model.Tree, error) {
	s.mu.Lock()
	t, taken := s.tree, s.taken
	s.mu.Unlock()
	age := s.since(taken)
	if t != nil && age < s.opts.MaxAge {
		return t, nil
	}
	// LVM is not read while the change runs: what it shows is half done (a
	// new snapshot's device before its backup, a removed one's backup before
	// its device is gone), which a catch-up refuses, and the report it falls
	// back on would run in the lvm shell after the change, whose end then
	// waits for it to put the change in the model.
	if t != nil && s.changes.Load() > 0 {
		return t, nil
	}
	if t != nil {
		if same, trusted := s.unchanged(settled); same {
			if !trusted {
				// Past TrustAge LVM is read again, for what the stamp
				// cannot see; meanwhile the stamp still vouches for
				// everything it looks at, so no access waits for that
				// report (with 5,000 LVs, seconds a walk would stall).
				s.refreshInBackground()
			}
			return t, nil
		}
	}
	if t != nil && age < s.opts.MaxAge+s.opts.StaleGrace {
		s.refreshInBackground()
		return t, nil
	}
	return s.Refresh(false)
}

// KeepFresh calls Settled every interval until ctx is done, so that a
// change made behind snapfs's back reaches the model, and the store's
// listeners, within interval and one report even when nothing asks for the
// model: fs lets the kernel cache the tree and corrects the cache from the
// listeners, and the guard's tick may be longer than a second. A tick that
// finds the model younger than MaxAge (the guard's tick came first) costs
// nothing; one that finds the change stamp unchanged, reading it.
func (s *Store) KeepFresh(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Refresh logs a failure, and keeps the old model.
			s.Settled()
		}
	}
}

// BeginChange says that a change of snapfs's own starts, for Current; the
// returned function says that it has ended. ops calls it for every change.
func (s *Store) BeginChange() (end func()) {
	s.changes.Add(1)
	var once sync.Once
	return func() { once.Do(func() { s.changes.Add(-1) }) }
}

// Lookup finds the LV with that UUID in the current model; model.ErrGone
// when it is not there.
func (s *Store) Lookup(uuid string) (*model.LVEntry, error) {
	t, err := s.Current()
	if err != nil {
		return nil, err
	}
	e := t.LV(uuid)
	if e == nil {
		return nil, model.ErrGone
	}
	return e, nil
}

// Path returns the directory of LV uuid in the tree, "vg/origin/snapshot",
// relative to the mount point; model.ErrGone when it is not in the model.
func (s *Store) Path(uuid string) (string, error) {
	e, err := s.Lookup(uuid)
	if err != nil {
		return "", err
	}
	return e.String(), nil
}

// unchanged tells whether the change stamp says that LVM has changed
// nothing since the model was read (same), and whether the model may then
// count as current from now (trusted: a tick's access, a stamp with the
// seqno of every VG, or the model read less than TrustAge ago), which it
// then does.
func (s *Store) unchanged(settled bool) (same, trusted bool) {
	if s.opts.Stamp == nil {
		return false, false
	}
	s.mu.Lock()
	t, stamp, read := s.tree, s.stamp, s.read
	s.mu.Unlock()
	if t == nil || stamp == "" {
		return false, false
	}
	now, ok := s.takeStamp(t)
	if !ok || now != stamp {
		return false, false
	}
	if !settled && !complete(now) && s.since(read) >= s.opts.TrustAge {
		return true, false
	}
	s.mu.Lock()
	if s.tree == t {
		s.taken = s.now()
	}
	s.mu.Unlock()
	return true, true
}

// takeStamp returns the change stamp for model t: Stamp's, and the
// metadata seqno of each VG of t, read from its PVs.
func (s *Store) takeStamp(t *model.Tree) (string, bool) {
	stamp, ok := s.localStamp(t, s.stampVGs(t))
	if !ok {
		return "", false
	}
	return s.withSeqnos(stamp, t, s.pvSeqno)
}

// localStamp is Stamp of VGs vgs but the shared ones of model t: their
// changes show in their seqno, and this host may have no metadata backup
// of a shared VG at all (one created on another host, and not changed
// here since).
func (s *Store) localStamp(t *model.Tree, vgs []string) (string, bool) {
	if t != nil {
		vgs = slices.DeleteFunc(slices.Clone(vgs), func(name string) bool {
			v := t.VG(name)
			return v != nil && v.VG.Shared()
		})
	}
	return s.opts.Stamp(vgs)
}

// withSeqnos appends to stamp the metadata seqno of each VG of t, as
// seqno tells it. A shared VG must have one: another host's change shows
// nowhere else on this one. A local VG without one gets "?", and the
// stamp is not complete: it sees a change of that VG only through its
// metadata backup and /dev/mapper, up to TrustAge.
func (s *Store) withSeqnos(stamp string, t *model.Tree, seqno func(*lvm.VG) (int, bool)) (string, bool) {
	if t == nil {
		return stamp, true
	}
	for _, v := range t.VGs {
		n, ok := seqno(&v.VG)
		switch {
		case ok && n > 0:
			stamp += v.VG.Name + "=" + strconv.Itoa(n) + ";"
		case v.VG.Shared():
			return "", false
		default:
			stamp += v.VG.Name + unknownSeqno
		}
	}
	return stamp, true
}

// unknownSeqno marks in a stamp a VG whose seqno could not be read. No VG
// name holds '=' or '?'.
const unknownSeqno = "=?;"

// complete tells whether stamp holds the seqno of every VG it covers.
func complete(stamp string) bool { return !strings.Contains(stamp, unknownSeqno) }

// reportedSeqno is a VG's seqno as a report gave it, the metadata a model
// read from it shows, whatever the PVs hold by now: for the stamp stored
// with that model. ok only when the PVs tell one too, as the stamps taken
// later must show the same VG alike.
func (s *Store) reportedSeqno(v *lvm.VG) (int, bool) {
	if !v.Shared() {
		if _, ok := s.pvSeqno(v); !ok {
			return 0, false
		}
	}
	return v.Seqno, v.Seqno > 0
}

// pvSeqnos reads the metadata seqno of each VG of t from its PVs: those
// it could read, by VG name.
func (s *Store) pvSeqnos(t *model.Tree) map[string]int {
	seqnos := map[string]int{}
	if t == nil {
		return seqnos
	}
	for _, v := range t.VGs {
		if n, ok := s.pvSeqno(&v.VG); ok {
			seqnos[v.VG.Name] = n
		}
	}
	return seqnos
}

// seqnoIn is withSeqnos's seqno from seqnos, read once by pvSeqnos.
func seqnoIn(seqnos map[string]int) func(*lvm.VG) (int, bool) {
	return func(v *lvm.VG) (int, bool) {
		n, ok := seqnos[v.Name]
		return n, ok
	}
}

// pvSeqno reads the metadata seqno of VG vg from the first of its PVs
// that tells it; ok is false when none does.
func (s *Store) pvSeqno(vg *lvm.VG) (seqno int, ok bool) {
	for _, pv := range vg.PVs {
		name, n, err := s.opts.Seqno(pv)
		if err == nil && name == vg.Name {
			return n, true
		}
		if err == nil {
			err = fmt.Errorf("%s holds the metadata of VG %s", pv, name)
		}
		s.warn.Warn("seqno:"+pv, "cannot read a VG's metadata seqno from its PV; changes made without a metadata backup here show only with reports", "vg", vg.Name, "pv", pv, "err", err)
	}
	return 0, false
}

// stampVGs are the VGs whose changes the stamp must see: those configured,
// else those in the model.
func (s *Store) stampVGs(t *model.Tree) []string {
	if len(s.opts.VGs) > 0 {
		return s.opts.VGs
	}
	if t == nil {
		return nil
	}
	names := make([]string, 0, len(t.VGs))
	for _, v := range t.VGs {
		names = append(names, v.VG.Name)
	}
	return names
}

// tryCatchUp catches model old up with the seqnos read from the PVs now
// and stamp, Stamp's part of the change stamp taken before; nil when it
// cannot. The caller holds refreshMu.
func (s *Store) tryCatchUp(old *model.Tree, stamp string, read time.Time) *model.Tree {
	// The seqnos, read now, are those the backups must show for a
	// catch-up. Without all of them, a change made with backups off shows
	// in no backup: past TrustAge only a report will do.
	seqnos := s.pvSeqnos(old)
	full, ok := s.withSeqnos(stamp, old, seqnoIn(seqnos))
	if !ok || (!complete(full) && s.since(read) >= s.opts.TrustAge) {
		return nil
	}
	return s.catchUp(old, full, seqnos)
}

// ownChangeRuns tells whether a change of snapfs's own began after this
// refresh's access found none: what a catch-up then meets half done is
// most likely that change, whose end updates the model. A report now
// would run after it in the lvm shell, and the change's end wait for it;
// so would waiting for the VG's lock, which the change holds. The refresh
// then keeps model old, as an access during the change does (current).
func (s *Store) ownChangeRuns(old *model.Tree) bool {
	if old == nil || s.changes.Load() == 0 {
		return false
	}
	s.log.Debug("not reading LVM: a change of snapfs's own runs")
	return true
}

// LockWait is the longest a refresh waits for an LVM command's change of a
// VG to end (WaitLVM) before it reads LVM with a report, which waits on.
const LockWait = time.Minute

// waitLVM is the default WaitLVM.
func waitLVM(ctx context.Context, vgs []string) bool {
	ctx, cancel := context.WithTimeout(ctx, LockWait)
	defer cancel()
	waited, _ := lvm.WaitVGsUnlocked(ctx, lvm.DefaultLockDir, vgs)
	return waited
}

// refreshInBackground starts a refresh unless one runs already.
func (s *Store) refreshInBackground() {
	if !s.refreshBG.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.refreshBG.Store(false)
		// Refresh logs a failure, and keeps the old model.
		s.Refresh(false)
	}()
}

// Refresh reads LVM again. A caller that waited for a refresh that started
// after it asked reuses that one's result, so a burst of accesses costs one
// report. With force, the model is read anew even if it is young (after a
// change snapfs made). A failed report keeps the old model, when there is
// one, and logs why.
func (s *Store) Refresh(force bool) (*model.Tree, error) {
	asked := s.now()
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()

	s.mu.Lock()
	old, taken, read := s.tree, s.taken, s.read
	s.mu.Unlock()
	if old != nil && (taken.After(asked) || (!force && s.since(taken) < s.opts.MaxAge)) {
		return old, nil
	}
	// An access that found no change of snapfs's own in flight, and then
	// waited here for another refresh, may find one now.
	if !force && s.ownChangeRuns(old) {
		return old, nil
	}

	// LVM commands never get a FUSE request's context: an interrupted ls
	// must not kill a report other callers wait for.
	ctx := context.Background()
	// The model is LVM as of now, when it is read from: a change LVM
	// finishes while the report runs may not be in it, so a caller that
	// asked after this moment must not take it for fresh.
	started := s.now()
	// The stamp is taken before the report: a change made while LVM
	// reports changes it again.
	stamp, stampOK, stamped := "", false, s.stampVGs(old)
	if s.opts.Stamp != nil {
		stamp, stampOK = s.localStamp(old, stamped)
	}
	if !force && stampOK && s.vgSetUnchanged() {
		if t := s.tryCatchUp(old, stamp, read); t != nil {
			return t, nil
		}
		if s.ownChangeRuns(old) {
			return old, nil
		}
		if s.opts.WaitLVM(ctx, stamped) {
			// LVM was changing a VG: what the catch-up saw was half
			// done. Once it is done, the backup shows all of it.
			s.log.Debug("reading LVM: waited for LVM's change of a VG to end", "took", s.since(started))
			if stamp, stampOK = s.localStamp(old, stamped); stampOK {
				if t := s.tryCatchUp(old, stamp, read); t != nil {
					return t, nil
				}
			}
		}
		if s.ownChangeRuns(old) {
			return old, nil
		}
	}
	r, err := s.lvm.Report(ctx, s.opts.VGs)
	if err != nil && r != nil && errors.Is(err, lvm.ErrNotFound) {
		// A configured VG is missing: LVM reports the others, and they are
		// shown rather than none.
		s.warn.Warn("vgs:"+err.Error(), "a configured volume group is missing", "err", err)
		err = nil
	}
	if err != nil {
		s.log.Error("reading LVM state", "err", err)
		if old != nil {
			return old, nil
		}
		return nil, err
	}
	t := model.BuildTree(r, s.opts.VGs)
	if stampOK && strings.Join(s.stampVGs(t), "/") != strings.Join(stamped, "/") {
		stampOK = false // the VGs changed: the stamp looked at others
	}
	if stampOK {
		// The seqnos are those the report shows: the PVs saying another
		// later on is a change the model lacks.
		stamp, stampOK = s.withSeqnos(stamp, t, s.reportedSeqno)
	}
	if !stampOK {
		stamp = ""
	}
	s.base = nil
	if stampOK {
		s.base = s.readBaseline(r)
	}
	s.replace(t, started, stamp)
	s.log.Debug("model read from a report", "took", s.since(started))
	for _, name := range t.Hidden {
		s.warn.Warn("hidden:"+name, "LV left out: its name is a fixed file name of the directory it would appear in", "lv", name)
	}
	return t, nil
}

// replace makes t the model; the caller holds refreshMu. A non-zero readAt
// says t was read from LVM (a report, or a catch-up from what LVM wrote)
// as of readAt, when the reading began, which makes it current from then,
// with the change stamp taken before; a zero readAt says t is snapfs's own
// change applied to the model, which keeps the model's age, so it is read
// anew when it would have been anyway. OnReplace learns of it.
func (s *Store) replace(t *model.Tree, readAt time.Time, stamp string) {
	s.mu.Lock()
	old := s.tree
	s.tree = t
	if !readAt.IsZero() {
		s.taken, s.read, s.stamp = readAt, readAt, stamp
	}
	if old != nil && old != t && len(s.onReplace) > 0 {
		if s.told == nil {
			s.told = make(chan [2]*model.Tree, 64)
			go s.tell(s.told, s.onReplace)
		}
		s.told <- [2]*model.Tree{old, t}
	}
	s.mu.Unlock()
}

// tell hands the replacements to the listeners, in order. The caller of
// replace holds refreshMu, so replacements come one at a time, and a
// listener's events come in the order of the models.
func (s *Store) tell(told <-chan [2]*model.Tree, listeners []func(old, cur *model.Tree)) {
	for pair := range told {
		for _, fn := range listeners {
			fn(pair[0], pair[1])
		}
	}
}

// PVs returns the devices of the PVs of VG vg as the model shows them,
// without refreshing it (for lvm.Client's Devices), or nil when the model
// has no such VG, the VG is shared (another host may add a PV to it), or
// LVM misses one of its PVs.
func (s *Store) PVs(vg string) []string {
	t := s.model()
	if t == nil {
		return nil
	}
	v := t.VG(vg)
	if v == nil || v.VG.Shared() || len(v.VG.PVs) == 0 {
		return nil
	}
	for _, pv := range v.VG.PVs {
		if !strings.HasPrefix(pv, "/") {
			return nil // "[unknown]", LVM's name for a PV it misses
		}
	}
	return slices.Clone(v.VG.PVs)
}

// model returns the model as it is, without refreshing it.
func (s *Store) model() *model.Tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree
}

func backupNames(dir string) ([]string, error) {
	names, err := dirNames(dir)
	if err != nil {
		return nil, err
	}
	kept := names[:0]
	for _, n := range names {
		// LVM writes a backup as a temporary .lvm_* file first.
		if !strings.HasPrefix(n, ".") {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

func dirNames(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(es))
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names, nil
}

// OnReplace adds a function told of each new model, with the old one, in
// a goroutine of its own (never inside a FUSE call), in the order of the
// models: fs tells the kernel what vanished or moved, ops announces the
// changes as events.
func (s *Store) OnReplace(fn func(old, cur *model.Tree)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReplace = append(s.onReplace, fn)
}
