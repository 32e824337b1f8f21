//go:build vmguest && xenguest

// Xen checkpoints and revert on the real Xen host: a PV DomU with two disks
// (one given as /dev/mapper/...) whose init counts in memory and writes the
// count to its first disk every second.
package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startCounter creates DomU name with xvda and xvdb, running the counter
// (e2e/vm/mkdomu's snapfs_action=counter); destroyed when the test ends.
func startCounter(t *testing.T, name, xvda, xvdb, kernel, initrd string) {
	t.Helper()
	script := filepath.Join(repoRoot(t), "e2e", "vm", "xen-block")
	cfg := filepath.Join(t.TempDir(), name+".cfg")
	config := fmt.Sprintf(`name = %q
type = "pv"
kernel = %q
ramdisk = %q
extra = "console=hvc0 quiet snapfs_action=counter"
memory = 96
vcpus = 1
disk = [ "vdev=xvda, access=w, script=%s, target=%s", "vdev=xvdb, access=w, script=%s, target=%s" ]
`, name, kernel, initrd, script, xvda, script, xvdb)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "xl", "create", "-q", cfg)
	t.Cleanup(func() {
		if _, err := tryRun("xl", "list", name); err == nil {
			tryRun("xl", "destroy", name)
		}
	})
}

var counterRe = regexp.MustCompile(`counter (\d+)`)

// counter reads the count the DomU wrote on lv's first sector.
func counter(t *testing.T, lv string) int {
	t.Helper()
	out := mustSh(t, "dd if=/dev/"+lv+" bs=512 count=1 iflag=direct status=none | tr -d '\\0'")
	m := counterRe.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func waitCounter(t *testing.T, lv string, atLeast int) int {
	t.Helper()
	var n int
	waitFor(t, 60*time.Second, fmt.Sprintf("the counter on %s to reach %d", lv, atLeast), func() bool {
		n = counter(t, lv)
		return n >= atLeast
	})
	return n
}

// TestXenCheckpoint: a checkpoint with memory, more writes, revert: the
// domain runs again under its name, its disk is back at the checkpoint's
// count, and its memory is the checkpoint's (the count goes on from there,
// not from 1). Without memory the disks revert and the domain stays shut
// down. A domain with a disk that is no LV is refused, and nothing is made.
func TestXenCheckpoint(t *testing.T) {
	requireXen(t)
	kernel, initrd := domU(t)
	newVG(t, "xvg", 512)
	mustSh(t, "lvcreate -qq -L 32M -n root xvg && lvcreate -qq -L 32M -n data xvg")
	ckdir := t.TempDir()
	for _, memory := range []bool{true, false} {
		t.Run(fmt.Sprintf("memory %v", memory), func(t *testing.T) {
			d := startSnapfs(t, fmt.Sprintf("vgs = [\"xvg\"]\nsnapshot_size = \"8M\"\ncheckpoint_memory = %v\ncheckpoint_dir = %q\n", memory, ckdir))
			events := followEvents(t, d)
			startCounter(t, "counter", "/dev/xvg/root", "/dev/mapper/xvg-data", kernel, initrd)
			waitCounter(t, "xvg/root", 8)
			start := time.Now()
			mustSh(t, "mkdir "+d.path("xen/counter/before"))
			t.Logf("checkpoint (memory %v) took %v", memory, time.Since(start).Round(time.Millisecond))
			at := counter(t, "xvg/root.before")
			if at < 8 {
				t.Fatalf("the checkpoint's snapshot holds count %d", at)
			}
			if got := readFile(t, d.path("xen/counter/before/disks")); got != "xvg/root xvg/root.before\nxvg/data xvg/data.before\n" {
				t.Errorf("disks:\n%s", got)
			}
			status := readFile(t, d.path("xen/counter/before/status"))
			if !strings.Contains(status, "state: ready\n") || !strings.Contains(status, fmt.Sprintf("memory: %s\n", map[bool]string{true: "yes", false: "no"}[memory])) {
				t.Errorf("status:\n%s", status)
			}
			if got := readFile(t, d.path("xvg/root/root.before/status")); !strings.Contains(got, "\ncheckpoint: counter/before\n") {
				t.Errorf("the snapshot's status:\n%s", got)
			}
			if err := os.Remove(d.path("xvg/root/root.before")); errnoOf(err) != syscall.EBUSY {
				t.Errorf("rmdir of a checkpoint's snapshot: %v, want EBUSY", err)
			}
			if xlState(t, "counter") == "--p---" {
				t.Error("the domain stays paused after the checkpoint")
			}
			later := waitCounter(t, "xvg/root", at+8)

			start = time.Now()
			mustSh(t, "echo revert > "+d.path("xen/counter/before/ctl"))
			took := time.Since(start)
			if memory {
				// Restored from memory: the count goes on from the
				// checkpoint's, not from 1 and not from the later one.
				time.Sleep(3 * time.Second)
				n := counter(t, "xvg/root")
				t.Logf("revert with memory took %v; count %d at the checkpoint, %d before the revert, %d after", took.Round(time.Millisecond), at, later, n)
				if n < at || n >= later {
					t.Errorf("count %d after the revert: want it to go on from the checkpoint's %d (it was %d before)", n, at, later)
				}
				if _, err := tryRun("xl", "list", "counter"); err != nil {
					t.Error("the domain does not run after the revert")
				}
			} else {
				t.Logf("revert without memory took %v", took.Round(time.Millisecond))
				if _, err := tryRun("xl", "list", "counter"); err == nil {
					t.Error("without memory, the domain runs after the revert")
				}
				if n := counter(t, "xvg/root"); n != at {
					t.Errorf("count %d on the reverted disk, want the checkpoint's %d", n, at)
				}
			}
			waitFor(t, 60*time.Second, "the merges to end and the checkpoint to go", func() bool {
				_, err := os.Stat(d.path("xen/counter/before"))
				return os.IsNotExist(err)
			})
			if !events.has("checkpoint", "xen/counter/before") || !events.has("reverted", "xen/counter/before") {
				t.Errorf("events %s", events)
			}
			if _, err := tryRun("xl", "list", "counter"); err == nil {
				tryRun("xl", "destroy", "counter")
			}
		})
	}

	// A disk that is no LV: a loop device over a file.
	img := filepath.Join(t.TempDir(), "file.img")
	mustSh(t, "truncate -s 16M "+img)
	loop := strings.TrimSpace(mustSh(t, "losetup --find --show "+img))
	t.Cleanup(func() { tryRun("losetup", "-d", loop) })
	d := startSnapfs(t, fmt.Sprintf("vgs = [\"xvg\"]\ncheckpoint_dir = %q\n", ckdir))
	startCounter(t, "filedisk", "/dev/xvg/root", loop, kernel, initrd)
	before := lvNames(t, "xvg")
	if err := os.Mkdir(d.path("xen/filedisk/c"), 0o755); errnoOf(err) != syscall.EPERM {
		t.Errorf("checkpoint of a domain with a file-backed disk: %v, want EPERM", err)
	}
	if after := lvNames(t, "xvg"); after != before {
		t.Errorf("LVM changed: %q -> %q", before, after)
	}
	if entries, _ := os.ReadDir(filepath.Join(ckdir, "filedisk")); len(entries) != 0 {
		t.Errorf("checkpoint files left: %v", entries)
	}
}
