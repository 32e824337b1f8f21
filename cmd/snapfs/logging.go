package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The log: slog's text format, one line per record, on standard error. Under
// systemd, when standard error is the journal, lines carry the journal's
// priority prefix ("<6>") instead of a time, which the journal adds itself.
// The daemon of a mount helper logs to syslog (/dev/log), again without a
// time, and until the mount serves also shows its warnings and errors on the
// standard error of whoever ran mount.

// syslogWriter is what logSink needs of *syslog.Writer.
type syslogWriter interface {
	Debug(m string) error
	Info(m string) error
	Warning(m string) error
	Err(m string) error
}

// logSink receives the formatted lines of a logHandler.
type logSink struct {
	mu      sync.Mutex
	w       io.Writer
	journal bool         // w is the journal: priority prefixes, no time
	syslog  syslogWriter // when set, lines go here instead of w
	tee     io.Writer    // with syslog: where warnings and errors go too
	level   slog.Level   // of the record being written; guarded by mu
}

// omitTime says whether the time is left out, because journald or syslog
// add their own. Called with mu held, from inside Handle.
func (s *logSink) omitTime() bool { return s.journal || s.syslog != nil }

// Write writes one formatted record; mu is held by logHandler.Handle.
func (s *logSink) Write(p []byte) (int, error) {
	if s.syslog != nil {
		line := strings.TrimSuffix(string(p), "\n")
		var err error
		switch {
		case s.level < slog.LevelInfo:
			err = s.syslog.Debug(line)
		case s.level < slog.LevelWarn:
			err = s.syslog.Info(line)
		case s.level < slog.LevelError:
			err = s.syslog.Warning(line)
		default:
			err = s.syslog.Err(line)
		}
		if s.tee != nil && s.level >= slog.LevelWarn {
			s.tee.Write(p)
		}
		return len(p), err
	}
	if s.journal {
		// sd-daemon(3) priorities: 3 err, 4 warning, 6 info, 7 debug.
		prio := 3
		switch {
		case s.level < slog.LevelInfo:
			prio = 7
		case s.level < slog.LevelWarn:
			prio = 6
		case s.level < slog.LevelError:
			prio = 4
		}
		if _, err := fmt.Fprintf(s.w, "<%d>%s", prio, p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.w.Write(p)
}

// useSyslog sends all further lines to w, and warnings and errors also to
// tee, unless it is nil.
func (s *logSink) useSyslog(w syslogWriter, tee io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syslog, s.tee = w, tee
}

// logHandler is a slog.TextHandler writing into a logSink, which it tells
// the level of each record.
type logHandler struct {
	sink  *logSink
	inner slog.Handler
}

// newLogger returns a logger writing to w at the given level, and its sink.
// With journal, w is the journal's stream (see stderrIsJournal).
func newLogger(w io.Writer, level slog.Leveler, journal bool) (*slog.Logger, *logSink) {
	sink := &logSink{w: w, journal: journal}
	inner := slog.NewTextHandler(sink, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 && sink.omitTime() {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(&logHandler{sink: sink, inner: inner}), sink
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.level = r.Level
	return h.inner.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{sink: h.sink, inner: h.inner.WithAttrs(attrs)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{sink: h.sink, inner: h.inner.WithGroup(name)}
}

// stderrIsJournal says whether f is connected to the journal: systemd sets
// JOURNAL_STREAM to the device and inode numbers of the stream it gives a
// service, and a match means f is still that stream (not redirected).
func stderrIsJournal(f *os.File) bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	wantDev, err1 := strconv.ParseUint(dev, 10, 64)
	wantIno, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Dev == wantDev && st.Ino == wantIno
}
