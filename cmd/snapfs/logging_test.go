package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLogToTerminal(t *testing.T) {
	var buf bytes.Buffer
	log, _ := newLogger(&buf, slog.LevelInfo, false)
	log.Debug("hidden")
	log.Info("serving", "mountpoint", "/srv/snapfs")
	log.With("op", "mkdir").Warn("refused", "err", "EEXIST")
	want := regexp.MustCompile(`^time=\S+ level=INFO msg=serving mountpoint=/srv/snapfs
time=\S+ level=WARN msg=refused op=mkdir err=EEXIST
$`)
	if !want.MatchString(buf.String()) {
		t.Errorf("log:\n%s", buf.String())
	}
}

// Under systemd, journald adds the time, and reads the priority from the
// sd-daemon prefix.
func TestLogToJournal(t *testing.T) {
	var buf bytes.Buffer
	log, _ := newLogger(&buf, slog.LevelDebug, true)
	log.Debug("command", "argv", "lvm lvs")
	log.Info("serving")
	log.WithGroup("g").Warn("slow", "ms", 3)
	log.Error("failed", "err", "boom")
	want := `<7>level=DEBUG msg=command argv="lvm lvs"
<6>level=INFO msg=serving
<4>level=WARN msg=slow g.ms=3
<3>level=ERROR msg=failed err=boom
`
	if buf.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", buf.String(), want)
	}
}

type fakeSyslog struct{ lines []string }

func (f *fakeSyslog) Debug(m string) error   { return f.add("debug", m) }
func (f *fakeSyslog) Info(m string) error    { return f.add("info", m) }
func (f *fakeSyslog) Warning(m string) error { return f.add("warning", m) }
func (f *fakeSyslog) Err(m string) error     { return f.add("err", m) }
func (f *fakeSyslog) add(prio, m string) error {
	f.lines = append(f.lines, prio+": "+m)
	return nil
}

// A mount helper's daemon logs to syslog, and while it starts shows its
// warnings and errors on standard error too.
func TestLogToSyslog(t *testing.T) {
	var buf bytes.Buffer
	log, sink := newLogger(&buf, slog.LevelInfo, false)
	log.Info("started")
	sys := &fakeSyslog{}
	sink.useSyslog(sys, &buf)
	log.Info("mkdir", "path", "vg/web/a b")
	log.Warn("stale")
	sink.useSyslog(sys, nil)
	log.Error("lvcreate failed")
	log.Debug("hidden")
	if !regexp.MustCompile("^time=\\S+ level=INFO msg=started\nlevel=WARN msg=stale\n$").MatchString(buf.String()) {
		t.Errorf("standard error got:\n%s", buf.String())
	}
	want := []string{
		`info: level=INFO msg=mkdir path="vg/web/a b"`,
		"warning: level=WARN msg=stale",
		`err: level=ERROR msg="lvcreate failed"`,
	}
	if strings.Join(sys.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("syslog got:\n%s\nwant:\n%s", strings.Join(sys.lines, "\n"), strings.Join(want, "\n"))
	}
}

// JOURNAL_STREAM names the journal's stream by device and inode; a standard
// error redirected elsewhere does not match.
func TestStderrIsJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	other, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !stderrIsJournal(f) {
		t.Error("the stream JOURNAL_STREAM names is not recognized")
	}
	if stderrIsJournal(other) {
		t.Error("another file is taken for the journal")
	}
	t.Setenv("JOURNAL_STREAM", "")
	if stderrIsJournal(f) {
		t.Error("no JOURNAL_STREAM, yet the journal")
	}
	t.Setenv("JOURNAL_STREAM", "garbage")
	if stderrIsJournal(f) {
		t.Error("a malformed JOURNAL_STREAM is taken")
	}
}
