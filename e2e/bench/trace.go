package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// traceChanges traces one mkdir and one rmdir in VG vg of lvs LVs as the
// bench times them: each after the same change through snapfs and the
// other by hand (lvcreate -s, lvremove). It restarts snapfs with -debug,
// which logs every FUSE request, every LVM command with its duration and
// the steps of a mkdir and an rmdir, and adds to b.traces what snapfs
// logged from the start of the change by hand to a little after the end
// of the traced process, each line with its time from that process's
// start (negative before it): a refresh of the model that the change by
// hand set off, and that the traced process then waits for, shows with
// its reason. snapfs is left running with -debug; the snapshots it made
// are removed.
func (b *bench) traceChanges(vg string, lvs int) error {
	b.stopSnapfs()
	if err := b.startSnapfs(vg, "-debug"); err != nil {
		return err
	}
	origin := filepath.Join(b.mnt, vg, "o0000")
	warm, traced := filepath.Join(origin, "t0"), filepath.Join(origin, "t1")
	if err := sh("mkdir", warm); err != nil {
		return err
	}
	seen, since := logSize(b.logPath), time.Now()
	if err := sh("lvcreate", "--snapshot", "--size", snapSize, "--name", "tb", vg+"/o0000"); err != nil {
		return err
	}
	if err := b.traceOne(vg, lvs, "mkdir", traced, "a mkdir and an lvcreate -s by hand", seen, since); err != nil {
		return err
	}
	if err := sh("rmdir", warm); err != nil {
		return err
	}
	seen, since = logSize(b.logPath), time.Now()
	if err := sh("lvremove", "--yes", vg+"/tb"); err != nil {
		return err
	}
	return b.traceOne(vg, lvs, "rmdir", traced, "an rmdir and an lvremove by hand", seen, since)
}

// traceCat traces one cat of allocated as the bench times it, 1.1 s after
// the last request (the kernel's one-second attributes of the file, and
// the model's age, past), with snapfs restarted with -debug; a first cat
// reads the model.
func (b *bench) traceCat() error {
	b.stopSnapfs()
	if err := b.startSnapfs(vgName, "-debug"); err != nil {
		return err
	}
	file := filepath.Join(b.mnt, vgName, "o0001", "s0001", "allocated")
	if err := sh("cat", file); err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond)
	return b.traceOne(vgName, b.lvs, "cat", file, "1.1 s without a request", logSize(b.logPath), time.Now())
}

// traceOne runs cmd on dir, as traceChanges traces it, and adds the trace
// to b.traces: what snapfs logged from since (at log offset seen, the
// start of the change by hand) on.
func (b *bench) traceOne(vg string, lvs int, cmd, dir, after string, seen int, since time.Time) error {
	start := time.Now()
	took, err := timed(cmd, dir)
	if err != nil {
		return err
	}
	// What snapfs does at once after its reply shows too.
	time.Sleep(200 * time.Millisecond)
	log := logSince(b.logPath, seen)
	var t strings.Builder
	fmt.Fprintf(&t, "%s traced in VG %s (%d LVs), after %s; snapfs -debug since the change by hand, times from the start of the %s process:\n\n", cmd, vg, lvs, after, cmd)
	lines := traceLines(log, since, start)
	before := 0 // lines logged before the start, with negative times
	for before < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[before]), "-") {
		before++
	}
	lines = slices.Insert(lines, before, fmt.Sprintf("%9s  bench: starts %s %s", "0 ms", cmd, dir))
	for _, line := range lines {
		t.WriteString(line + "\n")
	}
	fmt.Fprintf(&t, "%9s  bench: %s has exited\n", ms(took), cmd)
	b.traces = append(b.traces, t.String())
	return nil
}

// logLineRe is a line of snapfs's log: slog's text format.
var logLineRe = regexp.MustCompile(`^time=(\S+) level=\S+ msg=("(?:[^"\\]|\\.)*"|\S+)(.*)$`)

// traceLines formats the lines snapfs logged from since on: the time from
// start (negative before it), the message and its attributes, cut at 240
// characters (a command line with the filter that skips the LVs' devices
// fits). Lines before since, and the bench's own stats lines, are left
// out.
func traceLines(log []byte, since, start time.Time) []string {
	var lines []string
	for _, line := range bytes.Split(log, []byte("\n")) {
		m := logLineRe.FindSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, string(m[1]))
		if err != nil || at.Before(since.Truncate(time.Millisecond)) {
			continue
		}
		msg := string(m[2])
		if u, err := strconv.Unquote(msg); err == nil {
			msg = u
		}
		if msg == "stats" {
			continue
		}
		text := msg + string(m[3])
		if len(text) > 240 {
			text = text[:237] + "..."
		}
		lines = append(lines, fmt.Sprintf("%9s  %s", fmt.Sprintf("%d ms", at.Sub(start).Milliseconds()), text))
	}
	return lines
}
