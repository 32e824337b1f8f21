// Package events is what MOUNT/events streams: the events snapfs reports
// (a snapshot created, a COW store filling, a Xen checkpoint taken, ...),
// each encoded as one JSON line, and a Broker that hands every event
// published to every reader from the moment it subscribed, without ever
// letting a slow reader hold up the publisher. It knows nothing of FUSE or
// LVM: fs opens a Reader per open of MOUNT/events and serves its reads from
// it; whoever sees something happen calls Publish.
package events

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Names of the events, as SPEC lists them (the "event" key of a line).
const (
	Created      = "created"
	Removed      = "removed"
	Renamed      = "renamed"
	MergeStarted = "merge-started"
	Merged       = "merged"
	Filling      = "filling"
	Extended     = "extended"
	Invalid      = "invalid"
	LowSpace     = "low-space"
	Expired      = "expired"
	Pruned       = "pruned"
	Checkpoint   = "checkpoint"
	Reverted     = "reverted"

	// Lost is the line a reader gets in place of the lines it fell too
	// far behind to keep (see Broker); only the Broker writes it.
	Lost = "lost"
)

// Event is one line of MOUNT/events.
type Event struct {
	Time  time.Time
	Name  string // the "event" key
	Path  string // VG/ORIGIN/SNAPSHOT, VG, or xen/DOMAIN/CHECKPOINT
	Extra []Field
}

// Field is one further key of an event. Value is a string, a number (int,
// int64, uint64, float64, json.Number) or a bool; anything else is encoded
// by encoding/json, and a value it cannot encode (a NaN, an infinity, an
// invalid json.Number) is written as null, so that a line is always valid
// JSON.
type Field struct {
	Key   string
	Value any
}

// Line is the event as one JSON object and a newline: "time" (RFC 3339 in
// UTC, whole seconds), "event", "path", then the Extra fields in their
// order. Keys are not repeated: an Extra key equal to time, event or path,
// or to an earlier Extra key, is dropped, because JSON leaves the meaning
// of a repeated key to each parser.
func (e Event) Line() []byte {
	var w lineWriter
	w.enc = json.NewEncoder(&w.scratch)
	w.enc.SetEscapeHTML(false)
	w.buf.WriteString(`{"time":`)
	w.value(e.Time.UTC().Format(time.RFC3339))
	w.buf.WriteString(`,"event":`)
	w.value(e.Name)
	w.buf.WriteString(`,"path":`)
	w.value(e.Path)
	seen := map[string]bool{"time": true, "event": true, "path": true}
	for _, f := range e.Extra {
		if seen[f.Key] {
			continue
		}
		seen[f.Key] = true
		w.buf.WriteByte(',')
		w.value(f.Key)
		w.buf.WriteByte(':')
		w.value(f.Value)
	}
	w.buf.WriteString("}\n")
	return w.buf.Bytes()
}

// lineWriter builds a line, one JSON value after another.
type lineWriter struct {
	buf     bytes.Buffer
	scratch bytes.Buffer // one value, encoded
	enc     *json.Encoder
}

// value appends v as JSON. HTML characters are left as they are: the line
// is read by people and scripts, never embedded in a page.
func (w *lineWriter) value(v any) {
	w.scratch.Reset()
	if err := w.enc.Encode(v); err != nil {
		w.buf.WriteString("null")
		return
	}
	w.buf.Write(bytes.TrimSuffix(w.scratch.Bytes(), []byte("\n")))
}

// lostLine is what a reader gets in place of count lines it lost: exactly
// {"event":"lost","count":N}, with no time or path, as SPEC shows it.
func lostLine(count int) []byte {
	return []byte(`{"event":"` + Lost + `","count":` + strconv.Itoa(count) + "}\n")
}
