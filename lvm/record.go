package lvm

import (
	"context"
	"strings"
	"sync"
)

// Recorder collects the command lines run on behalf of one operation, so the
// caller can write them into one audit line.
type Recorder struct {
	mu    sync.Mutex
	lines []string
}

type recorderKey struct{}

// WithRecorder returns a context whose commands are recorded in the returned
// Recorder by runners that call Record (ExecRunner does not; the daemon
// wraps it in one that does).
func WithRecorder(ctx context.Context) (context.Context, *Recorder) {
	r := &Recorder{}
	return context.WithValue(ctx, recorderKey{}, r), r
}

// Record notes argv as run within ctx, if ctx carries a Recorder.
func Record(ctx context.Context, argv []string) {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.lines = append(r.lines, strings.Join(argv, " "))
	r.mu.Unlock()
}

// String returns the recorded command lines joined by "; ".
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "; ")
}
