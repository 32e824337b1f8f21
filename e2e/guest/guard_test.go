//go:build vmguest

// The guard against real device-mapper: COW stores and thin pools filling
// under writes, the events a reader started before sees, min_free, and a
// snapfs killed while it extends.
package guest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// eventLog follows MOUNT/events with cat, as an administrator would, and
// keeps the events it printed.
type eventLog struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen []map[string]any
}

func followEvents(t *testing.T, d *daemon) *eventLog {
	t.Helper()
	l := &eventLog{cmd: exec.Command("cat", d.path("events"))}
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = map[string]any{"event": "UNPARSABLE", "line": sc.Text()}
			}
			l.mu.Lock()
			l.seen = append(l.seen, e)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { l.cmd.Process.Kill(); l.cmd.Wait() })
	// snapfs subscribes the reader when cat opens the file.
	waitFor(t, 10*time.Second, "cat to open the events", func() bool {
		out, _ := sh(t, fmt.Sprintf("ls -l /proc/%d/fd", l.cmd.Process.Pid))
		return strings.Contains(out, d.path("events"))
	})
	return l
}

// has tells whether an event of that name and path came.
func (l *eventLog) has(name, path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.seen {
		if e["event"] == name && e["path"] == path {
			return true
		}
	}
	return false
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := json.Marshal(l.seen)
	return string(b)
}

// writeOrigin writes mib MiB of random data to the start of LV lv, one MiB
// a pause apart (direct, so that the snapshot's COW store takes it at once).
func writeOrigin(t *testing.T, lv string, mib int, pause time.Duration) {
	t.Helper()
	for i := 0; i < mib; i++ {
		mustSh(t, fmt.Sprintf("dd if=/dev/urandom of=/dev/%s bs=1M count=1 seek=%d oflag=direct conv=notrunc status=none", lv, i))
		time.Sleep(pause)
	}
}

func lvBytes(t *testing.T, lv string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(lvsField(t, lv, "lv_size", "--units", "b", "--nosuffix"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// guardConfig extends a store at half full by its own size: an 8 MiB store
// written at 2 MiB a second has two seconds to grow, enough under
// emulation.
const guardConfig = baseConfig + "snapshot_size = \"8M\"\n[guard]\nextend_at = 50\nwarn_at = 40\nextend_by = \"100%\"\n"

// TestGuardExtends: an 8 MiB COW snapshot of a 64 MiB origin, the origin
// written with 32 MiB at 2 MiB a second. With the guard on, the snapshot
// ends active with its store grown, and a reader started before saw
// filling and extended; with extend_at = 0 the same writes make it invalid,
// and the reader sees that.
func TestGuardExtends(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		wantState    string
		wantEvents   []string
	}{
		{"on", guardConfig, "active\n", []string{"filling", "extended"}},
		{"off", baseConfig + "snapshot_size = \"8M\"\n[guard]\nextend_at = 0\n", "invalid\n", []string{"filling", "invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newVG(t, "e2e", 256)
			mustSh(t, "lvcreate -qq -L 64M -n web e2e")
			d := startSnapfs(t, tc.config)
			events := followEvents(t, d)
			mustSh(t, "mkdir "+d.path("e2e/web/s"))
			start := time.Now()
			writeOrigin(t, "e2e/web", 32, 500*time.Millisecond)
			t.Logf("wrote 32 MiB in %v", time.Since(start).Round(time.Millisecond))
			waitFor(t, 10*time.Second, "the guard's last reading", func() bool {
				return readFile(t, d.path("e2e/web/s/state")) == tc.wantState
			})
			for _, name := range tc.wantEvents {
				waitFor(t, 10*time.Second, "the event "+name, func() bool { return events.has(name, "e2e/web/s") })
			}
			size := lvBytes(t, "e2e/s")
			t.Logf("COW store %d MiB; events %s", size>>20, events)
			if tc.name == "on" && size <= 32<<20 {
				t.Errorf("COW store of %d bytes after 32 MiB written", size)
			}
			if tc.name == "off" && size != 8<<20 {
				t.Errorf("with the guard off the store grew to %d bytes", size)
			}
			if tc.name == "on" && !strings.Contains(d.logs.String(), "msg=change op=extend path=\"e2e/web/s: +") {
				t.Errorf("no audit line for the extensions:\n%s", d.logs.String())
			}
		})
	}
}

// TestGuardMinFree: an extension that would take the VG below min_free is
// not made; a low-space event and the log say why.
func TestGuardMinFree(t *testing.T) {
	// 128 MiB VG (31 extents of 4 MiB after the metadata): 64 MiB origin, 8
	// MiB store; min_free 52M leaves 4 MiB free for the guard: not enough
	// for the 8 MiB extend_by.
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 64M -n web e2e")
	d := startSnapfs(t, guardConfig+"min_free = \"52M\"\n")
	events := followEvents(t, d)
	mustSh(t, "mkdir "+d.path("e2e/web/s"))
	writeOrigin(t, "e2e/web", 6, 500*time.Millisecond)
	waitFor(t, 10*time.Second, "the low-space event", func() bool { return events.has("low-space", "e2e/web/s") })
	if size := lvBytes(t, "e2e/s"); size != 8<<20 {
		t.Errorf("the store was extended to %d bytes across min_free", size)
	}
	if !strings.Contains(d.logs.String(), `msg="the guard cannot extend a store: the VG would go below min_free" store=e2e/web/s`) {
		t.Errorf("the log does not say why:\n%s", d.logs.String())
	}
	// mkdir would cross min_free too: ENOSPC, LVM unchanged.
	before := lvNames(t, "e2e")
	if err := os.Mkdir(d.path("e2e/web/t"), 0o755); errnoOf(err) != syscall.ENOSPC {
		t.Errorf("mkdir below min_free: %v, want ENOSPC", err)
	}
	if after := lvNames(t, "e2e"); after != before {
		t.Errorf("LVM changed: %q -> %q", before, after)
	}
}

// TestGuardThinPool: a thin pool near full has its data extended the same
// way, and the VG's status follows lvs Data%.
func TestGuardThinPool(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 16M -T e2e/pool && lvcreate -qq -V 64M -T e2e/pool -n thin")
	d := startSnapfs(t, guardConfig)
	events := followEvents(t, d)
	writeOrigin(t, "e2e/thin", 12, 500*time.Millisecond)
	waitFor(t, 15*time.Second, "the pool's extension", func() bool { return lvBytes(t, "e2e/pool") > 16<<20 })
	waitFor(t, 10*time.Second, "the extended event", func() bool { return events.has("extended", "e2e") })
	// The status shows the pool's use as lvs does (both read the kernel).
	var data string
	waitFor(t, 10*time.Second, "the VG status to agree with lvs", func() bool {
		data = lvsField(t, "e2e/pool", "data_percent")
		return strings.Contains(readFile(t, d.path("e2e/status")), "pool.pool.data: "+data+"\n")
	})
	t.Logf("pool %d MiB, Data%% %s", lvBytes(t, "e2e/pool")>>20, data)
}

// TestGuardEventsByHand: snapshots taken and removed by hand show in the
// events, by "outside", within 2 s.
func TestGuardEventsByHand(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	d := startSnapfs(t, baseConfig)
	events := followEvents(t, d)
	mustSh(t, "lvcreate -qq -s -L 8M -n byhand e2e/web")
	waitFor(t, 5*time.Second, "the created event", func() bool { return events.has("created", "e2e/web/byhand") })
	mustSh(t, "lvremove -qq -y e2e/byhand")
	waitFor(t, 5*time.Second, "the removed event", func() bool { return events.has("removed", "e2e/web/byhand") })
	if got := events.String(); !strings.Contains(got, `"by":"outside"`) {
		t.Errorf("events %s", got)
	}

	// Ctrl-C ends cat at once; 100 readers opened and closed leave no
	// descriptor behind.
	start := time.Now()
	events.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- events.cmd.Wait() }()
	select {
	case <-done:
		t.Logf("cat events ended %v after SIGINT", time.Since(start).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Error("cat events did not end within a second of SIGINT")
	}
	_, before := fdCount(t, d.cmd.Process.Pid)
	for i := 0; i < 100; i++ {
		f, err := os.Open(d.path("events"))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	waitFor(t, 10*time.Second, "the readers' descriptors to go", func() bool {
		_, after := fdCount(t, d.cmd.Process.Pid)
		return after == before
	})
}

// TestGuardKilledWhileExtending kills snapfs while its lvextend runs; the
// next snapfs shows what LVM shows, and its guard carries on.
func TestGuardKilledWhileExtending(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 64M -n web e2e && lvcreate -qq -s -L 8M -n s e2e/web")
	cfg, mnt := wrapperConfig(t, `[ "$1" = lvextend ] && sleep 3`, strings.TrimPrefix(guardConfig, baseConfig))
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	killed := foreground(t, mnt, cfg)
	writeOrigin(t, "e2e/web", 5, 0)
	waitFor(t, 20*time.Second, "the guard's lvextend to start", func() bool {
		_, err := sh(t, "pgrep -f 'lvm(-wrapper)? lvextend'")
		return err == nil
	})
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-killed.done
	waitFor(t, 60*time.Second, "lvextend to end", func() bool {
		_, err := sh(t, "pgrep -f 'lvm(-wrapper)? lvextend'")
		return err != nil
	})
	d := foreground(t, mnt, cfg)
	t.Cleanup(func() { d.stop(t) })
	want := lvsField(t, "e2e/s", "lv_size", "--units", "b", "--nosuffix")
	if got := readFile(t, d.path("e2e/web/s/status")); !strings.Contains(got, "\ncow_size: "+want+"\n") {
		t.Errorf("status after a killed extension, lvs lv_size %s:\n%s", want, got)
	}
	treeAgreesWithLVM(t, d, "e2e", "web")
	// The guard carries on: more writes grow the store again.
	before := lvBytes(t, "e2e/s")
	writeOrigin(t, "e2e/web", 16, 500*time.Millisecond)
	waitFor(t, 30*time.Second, "the restarted guard to extend", func() bool { return lvBytes(t, "e2e/s") > before })
	if got := readFile(t, d.path("e2e/web/s/state")); got != "active\n" {
		t.Errorf("state %q", got)
	}
}
