//go:build vmguest

// Schedules, retention, holds and expiry against real LVM: short intervals
// so that the run stays short.
package guest

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// autoSnapshots lists the VG's snapshots tagged snapfs_auto, sorted.
func autoSnapshots(t *testing.T, vg string) []string {
	t.Helper()
	var names []string
	for _, line := range strings.Split(mustSh(t, "lvs --noheadings -o lv_name,tags "+vg), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.Contains(f[1], "snapfs_auto") {
			names = append(names, f[0])
		}
	}
	sort.Strings(names)
	return names
}

const scheduleConfig = baseConfig + "snapshot_size = \"4M\"\n[origin.\"e2e/web\"]\nschedule = \"10s\"\nkeep = { last = 3 }\n"

// TestScheduleKeepLast: schedule = "10s" with keep = { last = 3 } leaves the
// three newest scheduled snapshots and every hand-made one; a held one
// survives pruning and rmdir (EBUSY), and goes after release; tags survive
// a restart of snapfs.
func TestScheduleKeepLast(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e && lvcreate -qq -s -L 4M -n mine e2e/web")
	cfg, mnt := configAndMount(t, scheduleConfig)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	d := foreground(t, mnt, cfg)
	events := followEvents(t, d)
	waitFor(t, 30*time.Second, "the first scheduled snapshot", func() bool { return len(autoSnapshots(t, "e2e")) >= 1 })
	first := autoSnapshots(t, "e2e")[0]
	if got := readFile(t, d.path("e2e/web/"+first+"/status")); !strings.Contains(got, "\nauto: yes\n") || !strings.Contains(got, "\nheld: no\n") {
		t.Errorf("status of %s:\n%s", first, got)
	}
	mustSh(t, "echo hold > "+d.path("e2e/web/"+first+"/ctl"))
	if got := readFile(t, d.path("e2e/web/"+first+"/status")); !strings.Contains(got, "\nheld: yes\n") {
		t.Errorf("status after hold:\n%s", got)
	}
	// Five more slots: the held one and the three newest stay.
	waitFor(t, 90*time.Second, "six scheduled snapshots", func() bool {
		return strings.Count(events.String(), `"by":"schedule","event":"created"`) >= 6
	})
	waitFor(t, 15*time.Second, "the pruning", func() bool { return len(autoSnapshots(t, "e2e")) == 4 })
	autos := autoSnapshots(t, "e2e")
	if autos[0] != first {
		t.Errorf("scheduled snapshots %v: the held %s was pruned", autos, first)
	}
	if !strings.Contains(lvNames(t, "e2e"), "mine") {
		t.Errorf("the hand-made snapshot was pruned: %s", lvNames(t, "e2e"))
	}
	if err := os.Remove(d.path("e2e/web/" + first)); errnoOf(err) != syscall.EBUSY {
		t.Errorf("rmdir of a held snapshot: %v, want EBUSY", err)
	}
	// snapfs's log reaches the test through a pipe, after the reply.
	waitFor(t, 10*time.Second, "the log to say it is held", func() bool {
		return strings.Contains(d.logs.String(), "is held (tag snapfs_hold")
	})
	if !strings.Contains(events.String(), `"event":"pruned"`) {
		t.Errorf("no pruned event: %s", events)
	}

	// Tags survive a restart of snapfs: the hold is still there.
	d.stop(t)
	d = foreground(t, mnt, cfg)
	t.Cleanup(func() { d.stop(t) })
	if got := readFile(t, d.path("e2e/web/"+first+"/status")); !strings.Contains(got, "\nheld: yes\n") {
		t.Errorf("status after a restart:\n%s", got)
	}
	mustSh(t, "echo release > "+d.path("e2e/web/"+first+"/ctl"))
	waitFor(t, 20*time.Second, "the released snapshot to be pruned", func() bool {
		_, err := os.Stat(d.path("e2e/web/" + first))
		return os.IsNotExist(err)
	})
	if got := mustSh(t, "lvs --noheadings -o lv_name,tags e2e"); !strings.Contains(got, "snapfs_auto") {
		t.Errorf("lvs -o lv_name,tags:\n%s", got)
	}
}

// TestExpire: expire 20s removes a hand-made snapshot about 20 s later,
// with the event expired; a bad WHEN is EINVAL and changes no tag.
func TestExpire(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e && lvcreate -qq -s -L 4M -n old e2e/web")
	d := startSnapfs(t, baseConfig)
	events := followEvents(t, d)
	ctl := d.path("e2e/web/old/ctl")
	for _, bad := range []string{"expire", "expire soon", "expire 2020-01-01T00:00:00Z", "expire 20s now"} {
		if err := os.WriteFile(ctl, []byte(bad+"\n"), 0); errnoOf(err) != syscall.EINVAL {
			t.Errorf("%q: %v, want EINVAL", bad, err)
		}
	}
	if got := lvsField(t, "e2e/old", "tags"); got != "" {
		t.Fatalf("tags after refused expires: %q", got)
	}
	start := time.Now()
	mustSh(t, "echo 'expire 20s' > "+ctl)
	if got := lvsField(t, "e2e/old", "tags"); !strings.HasPrefix(got, "snapfs_expires_") {
		t.Errorf("tags %q", got)
	}
	waitFor(t, 90*time.Second, "the expired snapshot to go", func() bool { return !strings.Contains(lvNames(t, "e2e"), "old") })
	took := time.Since(start)
	t.Logf("removed %v after expire 20s", took.Round(time.Second))
	if took < 19*time.Second {
		t.Errorf("removed after %v, before its time", took)
	}
	waitFor(t, 10*time.Second, "the expired event", func() bool { return events.has("expired", "e2e/web/old") })
}

// TestScheduleCatchUp: a restart after missed slots takes one catch-up
// snapshot, not one per slot.
func TestScheduleCatchUp(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	cfg, mnt := configAndMount(t, scheduleConfig)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	// Each start comes just after a slot begins (slots of 10 s, aligned
	// to the clock): its first tick catches up once, and the next slot is
	// seconds away, so no slot's snapshot is in flight at the stop and
	// none comes beside the catch-up.
	afterSlotStart(10 * time.Second)
	d := foreground(t, mnt, cfg)
	waitFor(t, 30*time.Second, "the first scheduled snapshot", func() bool { return len(autoSnapshots(t, "e2e")) == 1 })
	d.stop(t)
	time.Sleep(25 * time.Second) // two slots missed
	before := len(autoSnapshots(t, "e2e"))
	afterSlotStart(10 * time.Second)
	d = foreground(t, mnt, cfg)
	t.Cleanup(func() { d.stop(t) })
	// The first tick catches up: one snapshot, not one per missed slot.
	waitFor(t, 10*time.Second, "the catch-up snapshot", func() bool { return len(autoSnapshots(t, "e2e")) > before })
	if got := len(autoSnapshots(t, "e2e")); got != before+1 {
		t.Errorf("%d scheduled snapshots after the restart, want %d (one catch-up)", got, before+1)
	}
}

// afterSlotStart sleeps until half a second after the next start of a
// schedule slot of every: slots start where Unix time is a multiple of it.
func afterSlotStart(every time.Duration) {
	now := time.Now()
	time.Sleep(now.Truncate(every).Add(every + 500*time.Millisecond).Sub(now))
}

// configAndMount writes config to a fresh directory and makes an empty mount
// point beside it.
func configAndMount(t *testing.T, config string) (cfg, mnt string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "snapfs.toml")
	writeFile(t, cfg, config)
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg, mnt
}
