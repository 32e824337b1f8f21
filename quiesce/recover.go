package quiesce

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

// pauseRecord is the file snapfs writes before it pauses a domain and
// removes once the domain runs again. A snapfs killed in between finds it
// when it starts again (Recover) and unpauses the domain.
//
// Its JSON and its file name, StateDir/paused/ID-PID-SEQ.json, are read by
// the next snapfs, which may be a newer binary: change neither.
type pauseRecord struct {
	Domain   string    `json:"domain"`
	ID       int       `json:"id"`
	Snapshot string    `json:"snapshot"` // why it was paused: VG/ORIGIN/NAME being taken
	PausedAt time.Time `json:"paused_at"`
	PID      int       `json:"pid"`

	path string
}

// recordSeq numbers the records of this process, so two pauses of one
// domain ID never share a file, even by two Holders on one StateDir.
var recordSeq atomic.Int64

// tempPrefix starts the name of a record being written; it is renamed into
// place once complete, so a reader never sees half a record.
const tempPrefix = ".record-"

// writeRecord writes the pause record of d, durably, before d is paused.
func (h *Holder) writeRecord(d model.Domain, why string) (*pauseRecord, error) {
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, fmt.Errorf("recording the pause of %s: %w", d.Name, err)
	}
	rec := &pauseRecord{Domain: d.Name, ID: d.ID, Snapshot: why, PausedAt: h.now(), PID: os.Getpid()}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	rec.path = filepath.Join(h.dir, fmt.Sprintf("%d-%d-%d.json", d.ID, os.Getpid(), recordSeq.Add(1)))
	tmp, err := os.CreateTemp(h.dir, tempPrefix+"*")
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

func (h *Holder) removeRecord(rec *pauseRecord) {
	if err := os.Remove(rec.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		h.log.Error("removing a pause record", "record", rec.path, "err", err)
	}
}

// Recover unpauses the domains that a snapfs killed while it held them
// paused left behind, as its records in StateDir say: a domain that still
// exists with the same ID and is paused is unpaused; the records of others
// are dropped. A record that cannot be read is left in place, and logged.
// Call it once at start, before serving. It returns an error only when the
// records cannot be listed.
func (h *Holder) Recover(ctx context.Context) error {
	entries, err := os.ReadDir(h.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pause records: %w", err)
	}
	var recs []*pauseRecord
	for _, ent := range entries {
		p := filepath.Join(h.dir, ent.Name())
		if strings.HasPrefix(ent.Name(), tempPrefix) {
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
			h.log.Error("unreadable pause record, left in place", "record", p, "err", err)
			continue
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].PausedAt.Before(recs[j].PausedAt) })
	for _, rec := range recs {
		h.recoverOne(ctx, rec)
	}
	return nil
}

func (h *Holder) recoverOne(ctx context.Context, rec *pauseRecord) {
	if h.xen == nil {
		h.log.Error("a domain paused by an earlier snapfs may still be paused, and Xen is off", "domain", rec.Domain, "record", rec.path)
		return
	}
	d, ok, err := h.xen.Domain(ctx, rec.Domain)
	switch {
	case err != nil:
		h.log.Error("cannot check a domain an earlier snapfs paused", "domain", rec.Domain, "record", rec.path, "err", err)
		return
	case !ok || d.ID != rec.ID:
		h.log.Info("a domain an earlier snapfs paused is gone", "domain", rec.Domain, "id", rec.ID)
		h.removeRecord(rec)
		return
	case d.State != "paused":
		h.log.Info("a domain an earlier snapfs paused runs already", "domain", rec.Domain, "state", d.State)
		h.removeRecord(rec)
		return
	}
	h.log.Warn("unpausing a domain an earlier snapfs paused and did not unpause", "domain", rec.Domain,
		"snapshot", rec.Snapshot, "pid", rec.PID)
	h.unpause(ctx, rec, "recovered after a restart")
}
