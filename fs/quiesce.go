package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/snapfs/snapfs/model"
)

// DefaultStateDir is where snapfs records the domains it has paused.
const DefaultStateDir = "/run/snapfs"

// pauseRecord is the file snapfs writes before it pauses a domain and
// removes once the domain runs again. A snapfs killed in between finds it
// when it starts again (Recover) and unpauses the domain.
type pauseRecord struct {
	Domain   string    `json:"domain"`
	ID       int       `json:"id"`
	Snapshot string    `json:"snapshot"` // VG/ORIGIN/NAME being taken
	PausedAt time.Time `json:"paused_at"`
	PID      int       `json:"pid"`

	path string
}

// heldPause is a domain snapfs holds paused, and how many snapshots wait
// for it: two origins of one domain snapshotted at once pause it once.
type heldPause struct {
	record *pauseRecord
	users  int
}

var recordSeq atomic.Int64

func (f *FS) pauseDir() string { return filepath.Join(f.opts.StateDir, "paused") }

// quiesceFor reports whether the domains using origin e are paused while
// it is snapshotted.
func (f *FS) quiesceFor(e *model.LVEntry) bool {
	if q, ok := f.opts.OriginQuiesce[e.LV.VG+"/"+e.LV.Name]; ok {
		return q
	}
	return f.opts.Quiesce
}

// quiesce pauses the domains using origin e, when so configured, and returns
// the function that unpauses them, to be called once whether the snapshot
// was taken or not. Only running or blocked domains are paused: one paused
// by someone else, shut down or dying is left as it is. A pause that fails
// unpauses those already paused and refuses the snapshot.
func (f *FS) quiesce(ctx context.Context, e *model.LVEntry, snapshot string) (resume func(), err error) {
	resume = func() {}
	q := f.opts.Quiescer
	if q == nil || f.domains == nil || !f.quiesceFor(e) {
		return resume, nil
	}
	doms, err := f.domainsNow(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("quiesce %s: %w", e, err)
	}
	what := e.LV.VG + "/" + e.LV.Name + "/" + snapshot
	var held []string
	resume = func() {
		for i := len(held) - 1; i >= 0; i-- {
			f.release(ctx, held[i])
		}
	}
	for _, d := range doms {
		ok, err := f.hold(ctx, d, what)
		if err != nil {
			resume()
			return nil, fmt.Errorf("quiesce %s: %w", e, err)
		}
		if ok {
			held = append(held, d.Name)
		}
	}
	return resume, nil
}

// hold pauses domain d for snapshot what and reports whether snapfs holds it
// paused now: false when it is not running (shut down, or paused by someone
// else). A domain snapfs holds paused already gets one more user.
func (f *FS) hold(ctx context.Context, d model.Domain, what string) (bool, error) {
	f.pauseMu.Lock()
	defer f.pauseMu.Unlock()
	if h := f.paused[d.Name]; h != nil {
		h.users++
		return true, nil
	}
	if d.State != "running" && d.State != "blocked" {
		f.log.Info("quiesce: domain not running, not paused", "domain", d.Name, "state", d.State, "snapshot", what)
		return false, nil
	}
	// The record comes first: if snapfs dies at any point after xl pause
	// started, the next snapfs finds it.
	rec, err := f.writeRecord(d, what)
	if err != nil {
		return false, err
	}
	if err := f.opts.Quiescer.Pause(ctx, d.Name); err != nil {
		// Did it pause anyway (a timeout after the fact)? Then it is ours to
		// unpause.
		if now, ok, lerr := f.opts.Quiescer.Domain(ctx, d.Name); lerr != nil || !ok || now.ID != d.ID || now.State != "paused" {
			f.removeRecord(rec)
			return false, fmt.Errorf("pausing domain %s: %w", d.Name, err)
		}
		f.log.Warn("xl pause failed, yet the domain is paused", "domain", d.Name, "err", err)
	}
	f.paused[d.Name] = &heldPause{record: rec, users: 1}
	return true, nil
}

// release drops one user of a domain snapfs holds paused, and unpauses it
// when it was the last.
func (f *FS) release(ctx context.Context, name string) {
	f.pauseMu.Lock()
	defer f.pauseMu.Unlock()
	h := f.paused[name]
	if h == nil {
		return
	}
	if h.users--; h.users > 0 {
		return
	}
	delete(f.paused, name)
	f.unpause(ctx, h.record, "snapshot taken")
}

// unpause unpauses the domain of rec, trying three times, logs how long it
// was paused, and removes the record. A record whose domain could not be
// unpaused stays, for the next start (Recover) to try again.
func (f *FS) unpause(ctx context.Context, rec *pauseRecord, why string) {
	var err error
	for try := 0; try < 3; try++ {
		if try > 0 {
			time.Sleep(time.Second)
		}
		if err = f.opts.Quiescer.Unpause(ctx, rec.Domain); err == nil {
			break
		}
	}
	pausedFor := time.Since(rec.PausedAt).Round(time.Millisecond)
	if err != nil {
		f.log.Error("unpausing a domain failed: it may still be paused", "domain", rec.Domain,
			"paused_for", pausedFor, "snapshot", rec.Snapshot, "record", rec.path, "err", err)
		return
	}
	f.log.Info("domain unpaused", "domain", rec.Domain, "paused_for", pausedFor, "snapshot", rec.Snapshot, "why", why)
	f.removeRecord(rec)
}

// writeRecord writes the pause record of d, durably, before d is paused.
func (f *FS) writeRecord(d model.Domain, what string) (*pauseRecord, error) {
	dir := f.pauseDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recording the pause of %s: %w", d.Name, err)
	}
	rec := &pauseRecord{Domain: d.Name, ID: d.ID, Snapshot: what, PausedAt: time.Now(), PID: os.Getpid()}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	rec.path = filepath.Join(dir, fmt.Sprintf("%d-%d-%d.json", d.ID, os.Getpid(), recordSeq.Add(1)))
	tmp, err := os.CreateTemp(dir, ".record-*")
	if err == nil {
		_, err = tmp.Write(append(data, '\n'))
		if serr := tmp.Sync(); err == nil {
			err = serr
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), rec.path)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("recording the pause of %s: %w", d.Name, err)
	}
	return rec, nil
}

func (f *FS) removeRecord(rec *pauseRecord) {
	if err := os.Remove(rec.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.log.Error("removing a pause record", "record", rec.path, "err", err)
	}
}

// Recover unpauses the domains that a snapfs killed while it held them
// paused left behind, as its records in StateDir say: a domain that still
// exists with the same ID and is paused is unpaused; the records of others
// are dropped. Call it once at start, before serving. It returns an error
// only when the records cannot be read.
func (f *FS) Recover(ctx context.Context) error {
	dir := f.pauseDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pause records: %w", err)
	}
	var recs []*pauseRecord
	for _, ent := range entries {
		p := filepath.Join(dir, ent.Name())
		if strings.HasPrefix(ent.Name(), ".record-") {
			os.Remove(p) // never renamed into place: its pause never began
			continue
		}
		if !strings.HasSuffix(ent.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(p)
		rec := &pauseRecord{path: p}
		if err == nil {
			err = json.Unmarshal(data, rec)
		}
		if err != nil || rec.Domain == "" {
			f.log.Error("unreadable pause record, left in place", "record", p, "err", err)
			continue
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].PausedAt.Before(recs[j].PausedAt) })
	for _, rec := range recs {
		f.recoverOne(ctx, rec)
	}
	return nil
}

func (f *FS) recoverOne(ctx context.Context, rec *pauseRecord) {
	q := f.opts.Quiescer
	if q == nil {
		f.log.Error("a domain paused by an earlier snapfs may still be paused, and Xen is off", "domain", rec.Domain, "record", rec.path)
		return
	}
	d, ok, err := q.Domain(ctx, rec.Domain)
	switch {
	case err != nil:
		f.log.Error("cannot check a domain an earlier snapfs paused", "domain", rec.Domain, "record", rec.path, "err", err)
		return
	case !ok || d.ID != rec.ID:
		f.log.Info("a domain an earlier snapfs paused is gone", "domain", rec.Domain, "id", rec.ID)
		f.removeRecord(rec)
		return
	case d.State != "paused":
		f.log.Info("a domain an earlier snapfs paused runs already", "domain", rec.Domain, "state", d.State)
		f.removeRecord(rec)
		return
	}
	f.log.Warn("unpausing a domain an earlier snapfs paused and did not unpause", "domain", rec.Domain,
		"snapshot", rec.Snapshot, "pid", rec.PID)
	f.unpause(ctx, rec, "recovered after a restart")
}
