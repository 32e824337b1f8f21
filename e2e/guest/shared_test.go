//go:build vmguest && sharedguest

// A volume group shared by two hosts through lvmlockd and sanlock, with a
// snapfs on each: run by e2e.TestShared in two VMs at once that share one
// disk (/dev/vda) and a rendezvous directory (SNAPFS_RENDEZVOUS, read-write
// over 9p), one with SNAPFS_HOST_ID=1, the other with 2. TestShared is one
// scenario in two halves: each step says which host does it, and the hosts
// wait for each other through files in the rendezvous directory.
package guest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

const (
	sharedVG = "svg"
	// A fixed size, so that the bare LVM commands recorded below are the
	// ones snapfs runs.
	// A command that hangs fails the step in half a minute rather than
	// the default two.
	sharedConfig = "vgs = [\"svg\"]\nsnapshot_size = \"8M\"\ncommand_timeout = \"30s\"\n"
	// How long one operation on the mount may take before the test gives
	// up on it: beyond snapfs's command_timeout.
	opLimit = 90 * time.Second
	// What the polling of a barrier file and of a directory may add to a
	// latency measured through them (100 ms each), and then some.
	pollAllowance = 300 * time.Millisecond
	// LVM's words when another host holds the lock (testdata/lvm/errors/
	// shared-lvcreate-active-remotely).
	lockedByOther = "LV locked by other host: svg/base"
	// snapfs's words when it refuses before LVM runs (ops.lockedHere).
	notActiveHere = "svg/base is not active on this host"
)

// noLock is what LVM says when this host has not started the VG's
// lockspace: a process says the first, an lvm shell that has read the VG
// (as snapfs's has, for its report) the second
// (testdata/lvm/errors/shared-*lvcreate-no-lockspace*).
var noLock = []string{"Cannot access VG svg due to failed lock.", "No space for sanlock lock, extend the internal lvmlock LV."}

// TestShared: host 1 creates the shared VG with an origin active on it; a
// mkdir on host 1 shows on host 2 within 2 s plus one report; before host
// 2's lockspace is started its mkdir is ENOLCK; with the lockspace started,
// every change of an LV whose lock host 1 holds is EBUSY on host 2, and so
// is reading its image or files; once host 1 lets go of the origin, host 2
// takes it and snapshots it, and host 1 sees that and is refused in turn.
// Every refusal leaves LVM as it was. At the end, the trees of both hosts
// and lvs on both agree. On the way, the bare LVM commands behind each
// refusal are recorded (see recordLVM).
func TestShared(t *testing.T) {
	h := newSharedHost(t)
	defer h.summary()
	defer func() {
		// Before any cleanup, which may take long: the other host must
		// stop waiting for this one at once.
		if t.Failed() {
			h.markFailed()
		}
	}()

	h.begin("lock daemons")
	h.startLocking()

	var d *daemon
	if h.id == 1 {
		h.begin("vgcreate --shared")
		run(t, "vgcreate", "--shared", sharedVG, "/dev/vda")
		h.begin("origin and snapfs")
		// lvcreate activates them exclusively here. s2 is for host 2's
		// rmdir. The origin rec and its snapshots are for the bare LVM
		// commands that host 2 records: each has its own snapshot, and
		// none touches base, since LVM lets some of them through
		// (lvremove, lvrename, a merge that makes its origin "merging").
		run(t, "lvcreate", "-qq", "-L", "64M", "-n", "base", sharedVG)
		run(t, "mkfs.ext4", "-q", "-F", "/dev/"+sharedVG+"/base")
		run(t, "lvcreate", "-qq", "-s", "-L", "8M", "-n", "s2", sharedVG+"/base")
		run(t, "lvcreate", "-qq", "-L", "8M", "-n", "rec", sharedVG)
		for _, name := range []string{"rec-ext", "rec-merge", "rec-mv", "rec-rm"} {
			run(t, "lvcreate", "-qq", "-s", "-L", "4M", "-n", name, sharedVG+"/rec")
		}
		d = startSnapfs(t, sharedConfig)
		h.checkShared(d)
		h.signal("vg-ready", "")

		h.begin("wait for host 2's lockspace")
		h.await("locked", 5*time.Minute)

		h.begin("mkdir s1")
		if err := h.do(d, "mkdir s1", func() error { return os.Mkdir(d.path("svg/base/s1"), 0o755) }); err != nil {
			t.Fatalf("mkdir of a snapshot of an origin active here: %v\n%s", err, d.logs.String())
		}
		h.signal("s1-made", "")

		h.begin("wait for host 2's refusals")
		h.await("refusals-done", 5*time.Minute)

		h.begin("hand base over")
		h.removeRecordOrigin()
		// Deactivating the origin deactivates its snapshots and gives up
		// their lock, which is the origin's.
		run(t, "lvchange", "-an", sharedVG+"/base")
		h.signal("base-released", "")

		h.begin("see host 2's snapshot")
		h.await("h2-made", 3*time.Minute)
		h.latency(d, "svg/base/h2", "host 2's mkdir of h2")

		h.begin("refusals on host 1")
		before := lvmState(t)
		h.refused(d, "mkdir of an origin active on host 2", syscall.EBUSY, []string{lockedByOther}, before, func() error {
			return os.Mkdir(d.path("svg/base/h1late"), 0o755)
		})
		h.refused(d, "rmdir of a snapshot active on host 2", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			return syscall.Rmdir(d.path("svg/base/h2"))
		})
	} else {
		h.begin("wait for host 1's VG")
		h.await("vg-ready", 5*time.Minute)

		h.begin("before lockstart")
		// The VG is on the disk and host 1 holds its lockspace; this host
		// has not started it: it reads the VG without a lock.
		d = startSnapfs(t, sharedConfig)
		waitFor(t, 30*time.Second, "the shared VG in host 2's tree before lockstart", func() bool {
			_, err := os.Stat(d.path("svg/base/s2"))
			return err == nil
		})
		h.recordLVM("lvcreate-no-lockspace", "lvm", "lvcreate", "--snapshot", "--name", "early", "--size", "8M", sharedVG+"/rec")
		h.recordLVM("lvremove-no-lockspace", "lvm", "lvremove", "--yes", sharedVG+"/rec-rm")
		lvcreateEarly := []string{"lvm", "lvcreate", "--snapshot", "--name", "early", "--size", "8M", sharedVG + "/rec"}
		h.recordShell("shell-lvcreate-no-lockspace", nil, lvcreateEarly...)
		h.recordShell("shell-lvcreate-no-lockspace-after-report", []string{"lvm", "fullreport", sharedVG}, lvcreateEarly...)
		before := lvmState(t)
		h.refused(d, "mkdir before the lockspace is started", syscall.ENOLCK, noLock, before, func() error {
			return os.Mkdir(d.path("svg/base/early"), 0o755)
		})

		h.begin("lockstart")
		h.lockstart()
		h.signal("locked", "")

		h.begin("see host 1's mkdir")
		h.await("s1-made", 3*time.Minute)
		h.latency(d, "svg/base/s1", "host 1's mkdir of s1")

		h.begin("refusals on host 2")
		// The origins and their snapshots are active on host 1, which
		// holds their lock (a snapshot's is its origin's): first what LVM
		// itself says, on rec and its snapshots. lvchange -ay -K, which
		// snapfs runs to activate a snapshot for image and files/, asks
		// first whether to activate the origin too: once as snapfs runs
		// it (its lvm shell would wait for the answer), once with --yes.
		h.recordLVM("lvcreate-active-remotely", "lvm", "lvcreate", "--snapshot", "--name", "h2early", "--size", "8M", sharedVG+"/rec")
		h.recordLVM("lvchange-active-remotely", "lvm", "lvchange", "-aey", sharedVG+"/rec")
		h.recordLVM("activate-snapshot-active-remotely", "lvm", "lvchange", "-ay", "-K", sharedVG+"/rec-ext")
		h.recordLVM("activate-snapshot-yes-active-remotely", "lvm", "lvchange", "-ay", "-K", "--yes", sharedVG+"/rec-ext")
		h.recordLVM("lvextend-active-remotely", "lvm", "lvextend", "--size", "+8M", sharedVG+"/rec-ext")
		h.recordLVM("merge-active-remotely", "lvm", "lvconvert", "--merge", "--background", sharedVG+"/rec-merge")
		h.recordLVM("lvrename-active-remotely", "lvm", "lvrename", sharedVG, "rec-mv", "rec-mv2")
		h.recordLVM("lvremove-active-remotely", "lvm", "lvremove", "--yes", sharedVG+"/rec-rm")

		// Then snapfs, the least harmful first, should it let one through.
		before = lvmState(t)
		s1 := d.path("svg/base/s1")
		h.refused(d, "mkdir of an origin active on host 1", syscall.EBUSY, []string{lockedByOther}, before, func() error {
			return os.Mkdir(d.path("svg/base/h2early"), 0o755)
		})
		h.refused(d, "reading the image of a snapshot active on host 1", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			f, err := os.Open(s1 + "/image")
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Read(make([]byte, 4096))
			return err
		})
		h.refused(d, "listing files/ of a snapshot active on host 1", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			_, err := os.ReadDir(s1 + "/files")
			return err
		})
		h.refused(d, "extend of a snapshot active on host 1", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			return os.WriteFile(s1+"/ctl", []byte("extend 8M\n"), 0)
		})
		h.refused(d, "merge of a snapshot active on host 1", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			return os.WriteFile(s1+"/ctl", []byte("merge\n"), 0)
		})
		h.refused(d, "mv of a snapshot active on host 1", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			return os.Rename(s1, d.path("svg/base/s1x"))
		})
		h.refused(d, "rmdir of a snapshot active on host 1", syscall.EBUSY, []string{notActiveHere}, before, func() error {
			return syscall.Rmdir(d.path("svg/base/s2"))
		})
		h.signal("refusals-done", "")

		h.begin("take base over")
		h.await("base-released", 3*time.Minute)
		run(t, "lvchange", "-aey", sharedVG+"/base")
		if err := h.do(d, "mkdir h2", func() error { return os.Mkdir(d.path("svg/base/h2"), 0o755) }); err != nil {
			t.Fatalf("mkdir of a snapshot of an origin that host 1 let go of and this host activated: %v\n%s", err, d.logs.String())
		}
		h.signal("h2-made", "")
	}

	h.begin("final comparison")
	h.compareFinal(d)
}

// sharedHost is this VM's half of TestShared.
type sharedHost struct {
	t    *testing.T
	id   int    // this host's SNAPFS_HOST_ID, and its sanlock host_id
	peer int    // the other's
	dir  string // the rendezvous directory

	phase      string
	phaseStart time.Time
	phases     []string // "NAME DURATION" of each phase that ended
}

func newSharedHost(t *testing.T) *sharedHost {
	t.Helper()
	h := &sharedHost{t: t, dir: os.Getenv("SNAPFS_RENDEZVOUS")}
	switch os.Getenv("SNAPFS_HOST_ID") {
	case "1":
		h.id, h.peer = 1, 2
	case "2":
		h.id, h.peer = 2, 1
	default:
		t.Fatalf("SNAPFS_HOST_ID is %q, want 1 or 2: run this test through e2e.TestShared", os.Getenv("SNAPFS_HOST_ID"))
	}
	if h.dir == "" {
		t.Fatal("SNAPFS_RENDEZVOUS is not set: run this test through e2e.TestShared")
	}
	return h
}

// begin ends the current phase, logging how long it took, and starts the
// next.
func (h *sharedHost) begin(phase string) {
	h.t.Helper()
	h.end()
	h.phase, h.phaseStart = phase, time.Now()
	h.t.Logf("host %d: phase %q", h.id, phase)
}

func (h *sharedHost) end() {
	if h.phase == "" {
		return
	}
	took := time.Since(h.phaseStart).Round(100 * time.Millisecond)
	h.phases = append(h.phases, fmt.Sprintf("%s %v", h.phase, took))
	h.t.Logf("host %d: phase %q took %v", h.id, h.phase, took)
	h.phase = ""
}

// summary logs the time of every phase, the last one included.
func (h *sharedHost) summary() {
	h.end()
	h.t.Logf("host %d: phases: %s", h.id, strings.Join(h.phases, ", "))
}

// The barrier: host N signals that it reached step NAME with a file
// hostN-NAME in the rendezvous directory, and the other polls for it. A
// host that fails writes failed-hostN (and so does e2e.TestShared when a
// VM fails), which ends the other's waiting at once.

// writeRendezvous writes a file of the rendezvous directory through a
// rename, so that the other host never reads half of it.
func (h *sharedHost) writeRendezvous(name, content string) error {
	tmp := filepath.Join(h.dir, fmt.Sprintf(".%s.host%d.tmp", name, h.id))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(h.dir, name))
}

// signal tells the other host that this one reached step name.
func (h *sharedHost) signal(name, content string) {
	h.t.Helper()
	if err := h.writeRendezvous(fmt.Sprintf("host%d-%s", h.id, name), content); err != nil {
		h.t.Fatalf("signalling %q to host %d: %v", name, h.peer, err)
	}
}

// await waits until the other host signals name and returns what it wrote;
// it fails the test when the other host has failed, or after limit.
func (h *sharedHost) await(name string, limit time.Duration) string {
	h.t.Helper()
	file := filepath.Join(h.dir, fmt.Sprintf("host%d-%s", h.peer, name))
	failed := filepath.Join(h.dir, fmt.Sprintf("failed-host%d", h.peer))
	start := time.Now()
	for {
		if b, err := os.ReadFile(file); err == nil {
			h.t.Logf("host %d: host %d signalled %q after %v of waiting", h.id, h.peer, name, time.Since(start).Round(100*time.Millisecond))
			return string(b)
		}
		if b, err := os.ReadFile(failed); err == nil {
			h.t.Fatalf("host %d failed while host %d waited for it to signal %q: %s", h.peer, h.id, name, b)
		}
		if time.Since(start) > limit {
			h.t.Fatalf("host %d: timed out after %v waiting for host %d to signal %q (no %s)", h.id, limit, h.peer, name, file)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// markFailed tells the other host that this one failed.
func (h *sharedHost) markFailed() {
	msg := fmt.Sprintf("host %d failed in phase %q; see its log\n", h.id, h.phase)
	if err := h.writeRendezvous(fmt.Sprintf("failed-host%d", h.id), msg); err != nil {
		h.t.Logf("writing the failure marker: %v", err)
	}
}

// startLocking configures LVM for lvmlockd with this host's sanlock
// host_id and starts sanlock (without a watchdog) and lvmlockd. When the
// test ends, after snapfs has stopped, it deactivates what is active here,
// stops the lockspace and both daemons, so that the VM powers off cleanly.
func (h *sharedHost) startLocking() {
	t := h.t
	t.Helper()
	// guest-init's lvm.conf, for LVM without udev, with lvmlockd on.
	conf, err := os.ReadFile("/etc/lvm/lvm.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(conf, []byte("global {\n")) {
		t.Fatalf("/etc/lvm/lvm.conf has no global section to add use_lvmlockd to:\n%s", conf)
	}
	conf = bytes.Replace(conf, []byte("global {\n"), []byte("global {\n\tuse_lvmlockd = 1\n"), 1)
	conf = fmt.Appendf(conf, "local {\n\thost_id = %d\n}\n", h.id)
	if err := os.WriteFile("/etc/lvm/lvm.conf", conf, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/run/sanlock", "/run/lvm"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(h.stopLocking)
	run(t, "sanlock", "daemon", "-w", "0", "-U", "root", "-G", "root")
	waitFor(t, 30*time.Second, "sanlock's socket", func() bool {
		_, err := os.Stat("/run/sanlock/sanlock.sock")
		return err == nil
	})
	run(t, "lvmlockd", "-g", "sanlock")
	waitFor(t, 30*time.Second, "lvmlockd's socket", func() bool {
		_, err := os.Stat("/run/lvm/lvmlockd.socket")
		return err == nil
	})
}

// stopLocking undoes startLocking; with a failed test it first logs what
// the lock daemons know.
func (h *sharedHost) stopLocking() {
	t := h.t
	start := time.Now()
	if t.Failed() {
		for _, argv := range [][]string{{"sanlock", "client", "status"}, {"lvmlockctl", "--info"}, {"lvs", "-a", "-o", "+lv_active_locally,lv_active_exclusively", sharedVG}} {
			out, err := runFor(30*time.Second, argv...)
			t.Logf("host %d: %s: %v\n%s", h.id, strings.Join(argv, " "), err, out)
		}
	}
	for _, argv := range [][]string{
		{"vgchange", "-an", sharedVG},
		{"vgchange", "--lockstop", sharedVG},
		{"lvmlockctl", "--quit"},
		{"sanlock", "client", "shutdown", "-f", "1"},
	} {
		if out, err := runFor(time.Minute, argv...); err != nil {
			t.Logf("host %d: %s: %v\n%s", h.id, strings.Join(argv, " "), err, out)
		}
	}
	t.Logf("host %d: stopping the lockspace and the lock daemons took %v", h.id, time.Since(start).Round(100*time.Millisecond))
}

// runFor runs argv with a time limit and returns its combined output.
func runFor(limit time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// lockstart starts the VG's lockspace on this host and waits until sanlock
// has joined it. Without udev the first vgchange --lockstart fails: lvmlockd
// looks for the lock LV's device node before LVM has made it (exit 5,
// "prepare_lockspace_san stat error"); the next one works. Joining then
// takes sanlock from one second to half a minute.
func (h *sharedHost) lockstart() {
	t := h.t
	t.Helper()
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var out string
		if out, err = runFor(2*time.Minute, "vgchange", "--lockstart", sharedVG); err == nil {
			t.Logf("host %d: vgchange --lockstart worked at attempt %d", h.id, attempt)
			break
		}
		t.Logf("host %d: vgchange --lockstart, attempt %d: %v\n%s", h.id, attempt, err, out)
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("vgchange --lockstart %s failed five times", sharedVG)
	}
	start := time.Now()
	lockspace := "lvm_" + sharedVG + ":" + strconv.Itoa(h.id) + ":"
	var status string
	for {
		status, err = runFor(30*time.Second, "sanlock", "client", "status")
		if err == nil && joined(status, lockspace) {
			break
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("sanlock has not joined lockspace %s within 2m after vgchange --lockstart: %v\n%s", lockspace, err, status)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("host %d: sanlock joined the lockspace %v after vgchange --lockstart", h.id, time.Since(start).Round(100*time.Millisecond))
}

// joined tells whether sanlock client status shows this host in the
// lockspace, done adding: "s lvm_svg:2:/dev/mapper/svg-lvmlock:0", with
// " ADD" at the end while it is still joining.
func joined(status, lockspace string) bool {
	for _, line := range strings.Split(status, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "s" && strings.HasPrefix(fields[1], lockspace) {
			return len(fields) == 2
		}
	}
	return false
}

// checkShared checks the VG's status file names its lock type.
func (h *sharedHost) checkShared(d *daemon) {
	h.t.Helper()
	b, err := os.ReadFile(d.path(sharedVG + "/status"))
	if err != nil {
		h.t.Errorf("reading the shared VG's status: %v", err)
		return
	}
	if !strings.Contains(string(b), "\nshared: sanlock\n") {
		h.t.Errorf("the shared VG's status lacks \"shared: sanlock\":\n%s", b)
	}
}

// latency waits for path to show in this host's tree, after the other host
// signalled that it made it, and checks that it took at most 2 s plus one
// report (an lvs, timed right after) plus what the polling adds.
func (h *sharedHost) latency(d *daemon, path, what string) {
	t := h.t
	t.Helper()
	start := time.Now()
	for {
		if _, err := os.Stat(d.path(path)); err == nil {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("%s did not show in host %d's tree (%s) within a minute\n%s", what, h.id, path, d.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	lvsStart := time.Now()
	out := run(t, "lvs", "--noheadings", "-o", "lv_name", sharedVG)
	report := time.Since(lvsStart)
	name := filepath.Base(path)
	if !strings.Contains(" "+strings.Join(strings.Fields(out), " ")+" ", " "+name+" ") {
		t.Errorf("lvs on host %d does not show %s, which its tree shows:\n%s", h.id, name, out)
	}
	limit := 2*time.Second + report + pollAllowance
	t.Logf("host %d: %s showed in the tree %v after the barrier (limit %v: 2s + one lvs %v + polling %v)",
		h.id, what, took.Round(10*time.Millisecond), limit.Round(10*time.Millisecond), report.Round(10*time.Millisecond), pollAllowance)
	if took > limit {
		t.Errorf("%s took %v to show on host %d, want at most %v (2s + one lvs, %v, + %v for polling)", what, took, h.id, limit, report, pollAllowance)
	}
}

// lvmState is what LVM says of the shared VG on this host: every LV with
// its attributes (whether it is active here among them), size, origin and
// tags, and the VG's device-mapper devices here. A refused operation
// leaves it as it was.
func lvmState(t *testing.T) string {
	t.Helper()
	lvs := run(t, "lvs", "-a", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_name,lv_attr,lv_size,origin,lv_tags", sharedVG)
	var dm []string
	for _, line := range strings.Split(run(t, "dmsetup", "ls"), "\n") {
		if strings.HasPrefix(line, sharedVG+"-") {
			dm = append(dm, strings.Fields(line)[0])
		}
	}
	sort.Strings(dm)
	return lvs + "dm: " + strings.Join(dm, " ") + "\n"
}

// unchanged checks that LVM is as it was before what.
func (h *sharedHost) unchanged(what, before string) {
	h.t.Helper()
	if after := lvmState(h.t); after != before {
		h.t.Errorf("%s changed LVM on host %d:\nbefore:\n%s\nafter:\n%s", what, h.id, before, after)
	}
}

// do runs op, an operation on the mount, and fails the test when it takes
// longer than opLimit, with what the processes wait on and snapfs's log.
func (h *sharedHost) do(d *daemon, what string, op func() error) error {
	h.t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-time.After(opLimit):
		ps, _ := runFor(30*time.Second, "ps", "-eo", "pid,stat,wchan:32,args")
		h.t.Fatalf("host %d: %s hung for %v; processes:\n%s\nsnapfs log:\n%s", h.id, what, opLimit, ps, d.logs.String())
		return nil
	}
}

// refused checks that op fails with want and leaves LVM as before, and
// that snapfs logged why, one of lvmSays (LVM's message, or snapfs's own
// when it refused before LVM ran), unless that is empty.
func (h *sharedHost) refused(d *daemon, what string, want syscall.Errno, lvmSays []string, before string, op func() error) {
	h.t.Helper()
	start := time.Now()
	err := h.do(d, what, op)
	took := time.Since(start).Round(10 * time.Millisecond)
	if got := errnoOf(err); got != want {
		h.t.Errorf("host %d: %s: got %v (errno %d), want %v (errno %d)", h.id, what, err, int(got), want, int(want))
	} else {
		h.t.Logf("host %d: %s: %v, as it should be (%v)", h.id, what, err, took)
	}
	h.unchanged(what, before)
	logged := len(lvmSays) == 0
	for _, msg := range lvmSays {
		logged = logged || strings.Contains(d.logs.String(), msg)
	}
	if !logged {
		h.t.Errorf("host %d: %s: snapfs's log lacks LVM's message (one of %q)", h.id, what, lvmSays)
	}
}

// recordLVM runs an LVM command as snapfs runs it ("lvm CMD ARGS...") and
// keeps its argv (one argument a line), stdout (when any), stderr and exit
// status in the rendezvous directory as lvm-errors/shared-NAME.*, the format
// of testdata/lvm/errors: e2e.TestShared copies them there when
// SNAPFS_SHARED_RECORD says so (make record-shared). They are the lock
// failures that snapfs classifies as EBUSY or ENOLCK, and what LVM lets
// through on a host that does not hold the lock, which snapfs must refuse
// itself.
func (h *sharedHost) recordLVM(name string, argv ...string) {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exit := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	h.writeRecording(name, argv, stdout.Bytes(), stderr.String(), exit)
}

// writeRecording writes one recorded command into the rendezvous
// directory, as lvm-errors/shared-NAME.*.
func (h *sharedHost) writeRecording(name string, argv []string, stdout []byte, stderr string, exit int) {
	t := h.t
	t.Helper()
	dir := filepath.Join(h.dir, "lvm-errors")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "shared-"+name)
	files := map[string]string{
		".argv":   strings.Join(argv, "\n") + "\n",
		".stderr": stderr,
		".exit":   strconv.Itoa(exit) + "\n",
	}
	if len(stdout) > 0 {
		files[".stdout"] = string(stdout)
	}
	for ext, content := range files {
		if err := os.WriteFile(base+ext, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("host %d: recorded shared-%s: %s: exit %d\n%s%s", h.id, name, strings.Join(argv, " "), exit, stdout, stderr)
	if exit == 0 {
		// Not this test's failure: LVM's own checks are what they are,
		// and snapfs must make up for them.
		t.Logf("host %d: NOTE: LVM let %s through, though host %d holds the lock", h.id, strings.Join(argv, " "), h.peer)
	}
}

// recordShell runs one LVM command in an lvm shell, as snapfs runs its
// commands (lvm.ShellRunner, with snapfs's profile), after the command
// first when it is not nil, and records it like recordLVM: the shell's
// messages for it as the stderr lines (indented as LVM indents them on
// stderr) and the exit status it reports for it. Before the lockspace is
// started, snapfs's shell has said other words than a process.
func (h *sharedHost) recordShell(name string, first []string, argv ...string) {
	t := h.t
	t.Helper()
	shell := &lvm.ShellRunner{Timeout: time.Minute, Fallback: &lvm.ExecRunner{}}
	defer shell.Close()
	if err := shell.Start(); err != nil {
		t.Fatalf("starting an lvm shell: %v", err)
	}
	if first != nil {
		if _, err := shell.Run(context.Background(), first...); err != nil {
			t.Logf("host %d: %s in an lvm shell: %v", h.id, strings.Join(first, " "), err)
		}
	}
	// What the shell answers on its report descriptor is JSON, not what
	// the command prints as a process: it is left out.
	_, err := shell.Run(context.Background(), argv...)
	exit, stderr := 0, ""
	var ce *lvm.CommandError
	switch {
	case errors.As(err, &ce):
		exit = ce.ExitCode
		for _, line := range strings.Split(ce.Message, "\n") {
			if line != "" {
				stderr += "  " + line + "\n"
			}
		}
	case err != nil:
		t.Fatalf("%s in an lvm shell: %v", strings.Join(argv, " "), err)
	}
	h.writeRecording(name, argv, nil, stderr, exit)
}

// removeRecordOrigin removes, on host 1, the origin rec with what is left
// of its snapshots, under whatever name: LVM let host 2 rename one and start
// the merge of another (on the next activation of rec), which would leave
// lvs and the tree disagreeing (lvs hides a merging snapshot).
func (h *sharedHost) removeRecordOrigin() {
	t := h.t
	t.Helper()
	lv := sharedVG + "/rec"
	if out, err := tryRun("lvremove", "--yes", "--force", lv); err != nil {
		t.Logf("host %d: removing rec: %v\n%s", h.id, err, out)
		if out, err := tryRun("lvchange", "-an", lv); err != nil {
			t.Logf("host %d: deactivating rec: %v\n%s", h.id, err, out)
		}
		if out, err := tryRun("lvremove", "--yes", "--force", lv); err != nil {
			t.Errorf("host %d: cannot remove rec, the origin of the recordings: %v\n%s", h.id, err, out)
		}
	}
}

// tree lists the shared VG as this host's snapfs shows it: "ORIGIN/" for
// each origin and "ORIGIN/SNAPSHOT" for each snapshot, sorted.
func tree(t *testing.T, d *daemon) []string {
	t.Helper()
	origins, err := os.ReadDir(d.path(sharedVG))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range origins {
		if !o.IsDir() {
			continue
		}
		lines = append(lines, o.Name()+"/")
		snaps, err := os.ReadDir(d.path(sharedVG + "/" + o.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			if s.IsDir() {
				lines = append(lines, o.Name()+"/"+s.Name())
			}
		}
	}
	sort.Strings(lines)
	return lines
}

// lvsTree lists the shared VG as lvs shows it, in the form of tree.
func lvsTree(t *testing.T) []string {
	t.Helper()
	var lines []string
	out := run(t, "lvs", "--noheadings", "--separator", ",", "-o", "lv_name,origin", sharedVG)
	for _, line := range strings.Split(out, "\n") {
		name, origin, _ := strings.Cut(strings.TrimSpace(line), ",")
		switch {
		case name == "":
		case origin == "":
			lines = append(lines, name+"/")
		default:
			lines = append(lines, origin+"/"+name)
		}
	}
	sort.Strings(lines)
	return lines
}

// compareFinal checks that this host's tree agrees with lvs here, and with
// the tree and lvs of the other host, which it gets through the rendezvous
// directory. Host 1 goes first, after its last step, and host 2 waits for
// it: the last changes of either are then at most 2 s plus one report old
// on the other, which is what the tree is given to catch up.
func (h *sharedHost) compareFinal(d *daemon) {
	t := h.t
	t.Helper()
	var theirs string
	if h.id == 2 {
		theirs = h.await("final", 5*time.Minute)
	}
	h.checkShared(d)
	var mine, lvs string
	start := time.Now()
	for {
		lvsStart := time.Now()
		lvs = strings.Join(lvsTree(t), "\n")
		report := time.Since(lvsStart)
		mine = strings.Join(tree(t, d), "\n")
		if mine == lvs {
			break
		}
		if limit := 2*time.Second + report + pollAllowance; time.Since(start) > limit {
			t.Errorf("host %d: the tree and lvs disagree for more than %v (2s + one lvs + polling):\ntree:\n%s\nlvs:\n%s",
				h.id, limit.Round(10*time.Millisecond), mine, lvs)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("host %d: final tree: %s", h.id, strings.ReplaceAll(mine, "\n", " "))
	h.signal("final", mine+"\n--\n"+lvs)
	if h.id == 1 {
		theirs = h.await("final", 5*time.Minute)
	}
	theirTree, theirLVS, _ := strings.Cut(theirs, "\n--\n")
	if theirTree != mine {
		t.Errorf("the trees of host %d and host %d disagree:\nhost %d:\n%s\nhost %d:\n%s", h.id, h.peer, h.id, mine, h.peer, theirTree)
	}
	if theirLVS != lvs {
		t.Errorf("lvs on host %d and host %d disagree:\nhost %d:\n%s\nhost %d:\n%s", h.id, h.peer, h.id, lvs, h.peer, theirLVS)
	}
}
