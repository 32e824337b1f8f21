// Package logonce logs a warning once per key, for conditions that would
// otherwise repeat at every access (an LV hidden by a fixed name, Xen not
// answering), so that the log says each once.
package logonce

import (
	"log/slog"
	"sync"
)

// Logger logs each key's first warning only.
type Logger struct {
	log *slog.Logger

	mu   sync.Mutex // guards seen
	seen map[string]bool
}

// New returns a Logger writing to log.
func New(log *slog.Logger) *Logger { return &Logger{log: log, seen: map[string]bool{}} }

// Warn logs msg with args at warning level, unless key was warned of before.
func (l *Logger) Warn(key, msg string, args ...any) {
	l.mu.Lock()
	seen := l.seen[key]
	l.seen[key] = true
	l.mu.Unlock()
	if !seen {
		l.log.Warn(msg, args...)
	}
}
