//go:build vmguest && xenguest

// End-to-end scenarios on a real Xen host: run in dom0 (e2e/vm/run --xen)
// by e2e.TestXen, with the helpers of snapfs_test.go. PV DomUs boot the
// dom0's kernel and a busybox initramfs (e2e/vm/mkdomu) from disks that are
// LVs, and snapfs, mounted in dom0, is checked with shell tools.
package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func requireXen(t *testing.T) {
	t.Helper()
	if os.Getenv("SNAPFS_XEN") != "1" {
		t.Fatal("not in a Xen dom0: run these tests through e2e.TestXen (e2e/vm/run --xen)")
	}
	run(t, "xl", "list")
}

// domU makes what PV DomUs boot from, once per test.
func domU(t *testing.T) (kernel, initrd string) {
	t.Helper()
	dir := t.TempDir()
	out := strings.Fields(run(t, filepath.Join(repoRoot(t), "e2e", "vm", "mkdomu"), dir))
	if len(out) != 2 {
		t.Fatalf("mkdomu printed %q", out)
	}
	return out[0], out[1]
}

// startDomain creates PV DomU name with disk as its xvda, and destroys it
// when the test ends (before the VG goes: register it after newVG). The
// disk's hotplug script is e2e/vm/xen-block, which does what Xen's own does
// for a block device, faster.
func startDomain(t *testing.T, name, disk, kernel, initrd string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), name+".cfg")
	config := fmt.Sprintf(`name = %q
type = "pv"
kernel = %q
ramdisk = %q
extra = "console=hvc0 quiet"
memory = 96
vcpus = 1
disk = [ "vdev=xvda, access=w, script=%s, target=%s" ]
`, name, kernel, initrd, filepath.Join(repoRoot(t), "e2e", "vm", "xen-block"), disk)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run(t, "xl", "create", "-q", cfg)
	t.Logf("xl create %s (disk %s): %v", name, disk, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if _, err := tryRun("xl", "list", name); err == nil {
			if _, err := tryRun("xl", "destroy", name); err != nil {
				t.Error(err)
			}
		}
	})
}

// xlState returns the state letters of domain name, as xl list shows them.
func xlState(t *testing.T, name string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(run(t, "xl", "list", name)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	return f[len(f)-2]
}

// waitMatch waits until file's content matches re, and returns it.
func waitMatch(t *testing.T, file, re string) string {
	t.Helper()
	pattern := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil && pattern.Match(b) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q (%v), want a match for %q", file, b, err, re)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestXenDomU runs the README's Dom0 session against real Xen: a DomU whose
// disk is a clone (a snapshot of a base LV made with mkdir), one configured
// with the /dev/mapper spelling of its origin, pause, rmdir refused while a
// domain runs, a quiesced mkdir, a merge delayed by the running domain.
func TestXenDomU(t *testing.T) {
	requireXen(t)
	kernel, initrd := domU(t)
	newVG(t, "xvg", 512)
	mustSh(t, "lvcreate -qq -L 32M -n base xvg && lvcreate -qq -L 32M -n web xvg")
	d := startSnapfs(t, `vgs = ["xvg"]
snapshot_size = "8M"

[origin."xvg/web"]
quiesce = "pause"
`)
	if strings.Contains(d.logs.String(), "Xen features off") {
		t.Fatalf("snapfs did not find Xen:\n%s", d.logs.String())
	}

	// A clone of the base LV, made with mkdir, is the disk of DomU clone1.
	clone := d.path("xvg/base/clone1")
	mustSh(t, "mkdir "+clone)
	if got := readFile(t, clone+"/domu"); got != "" {
		t.Errorf("domu of an unused snapshot: %q", got)
	}
	startDomain(t, "clone1", "/dev/xvg/clone1", kernel, initrd)
	// The web origin's DomU names it by its /dev/mapper path.
	startDomain(t, "webdom", "/dev/mapper/xvg-web", kernel, initrd)

	t.Run("domu", func(t *testing.T) {
		waitMatch(t, clone+"/domu", `^clone1 (running|blocked)\n$`)
		waitMatch(t, d.path("xvg/web/domu"), `^webdom (running|blocked)\n$`)
		if got := readFile(t, d.path("xvg/base/domu")); got != "" {
			t.Errorf("the base LV is no domain's disk, yet its domu is %q", got)
		}
		waitMatch(t, clone+"/status", `(?m)^domu: clone1 (running|blocked)$`)
		waitMatch(t, d.path("xvg/web/status.json"), `"domu":"webdom (running|blocked)"`)
	})

	t.Run("pause", func(t *testing.T) {
		run(t, "xl", "pause", "clone1")
		waitMatch(t, clone+"/domu", `^clone1 paused\n$`)
		run(t, "xl", "unpause", "clone1")
		waitMatch(t, clone+"/domu", `^clone1 (running|blocked)\n$`)
	})

	t.Run("rmdir refused", func(t *testing.T) {
		err := syscall.Rmdir(clone)
		if errnoOf(err) != syscall.EBUSY {
			t.Fatalf("rmdir of clone1's disk: %v, want EBUSY", err)
		}
		if got := lvNames(t, "xvg"); got != "base clone1 web" {
			t.Errorf("LVM changed: %s", got)
		}
		if !strings.Contains(d.logs.String(), "is a disk of domain clone1") {
			t.Errorf("the refusal does not name the domain:\n%s", d.logs.String())
		}
	})

	t.Run("quiesced mkdir", func(t *testing.T) {
		mustSh(t, "mkdir "+d.path("xvg/web/quiet"))
		if got := lvsField(t, "xvg/quiet", "origin"); got != "web" {
			t.Errorf("lvs origin of the snapshot: %q", got)
		}
		if state := xlState(t, "webdom"); strings.Contains(state, "p") {
			t.Errorf("webdom is left paused: %s", state)
		}
		logs := d.logs.String()
		for _, want := range []string{"xl pause webdom", "lvcreate --config devices/global_filter=[", scanFilter("xvg"), "] --snapshot --name quiet", "xl unpause webdom", `msg="domain unpaused" domain=webdom paused_for=`} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
		if entries, err := os.ReadDir("/run/snapfs/paused"); err != nil || len(entries) != 0 {
			t.Errorf("pause records left: %v %v", entries, err)
		}
		// The snapshot's merge waits while the domain holds the origin open.
		mustSh(t, "echo merge > "+d.path("xvg/web/quiet/ctl"))
		waitMatch(t, d.path("xvg/web/quiet/state"), `^merge-pending\n$`)
	})

	t.Run("destroy", func(t *testing.T) {
		run(t, "xl", "destroy", "clone1")
		waitMatch(t, clone+"/domu", `^$`)
		mustSh(t, "rmdir "+clone)
		if got := lvNames(t, "xvg"); strings.Contains(got, "clone1") {
			t.Errorf("after rmdir lvs shows %s", got)
		}
	})
}

// TestXenKilledWhilePaused kills snapfs (SIGKILL) while a quiesced mkdir
// holds the origin's domain paused, as a crash or an OOM kill would: the
// domain stays paused, and the next snapfs unpauses it as it starts, from
// the record under /run/snapfs.
func TestXenKilledWhilePaused(t *testing.T) {
	requireXen(t)
	kernel, initrd := domU(t)
	newVG(t, "kvg", 256)
	mustSh(t, "lvcreate -qq -L 32M -n web kvg")
	config := `vgs = ["kvg"]
snapshot_size = "8M"

[origin."kvg/web"]
quiesce = "pause"
`
	first := startSnapfs(t, config)
	startDomain(t, "killdom", "/dev/kvg/web", kernel, initrd)
	waitMatch(t, first.path("kvg/web/domu"), `^killdom (running|blocked)\n$`)

	// The VG's lock, held here, keeps snapfs's lvcreate waiting while
	// killdom is paused, so that the kill comes while it is paused: with
	// the lvcreate free to run, a loaded machine has seen snapfs unpause
	// killdom between the test's xl list and its kill. flock -o: the lock
	// goes with the flock process.
	holder := exec.Command("flock", "-o", "/run/lock/lvm/V_kvg", "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	release := func() { _ = holder.Process.Kill(); _ = holder.Wait() }
	t.Cleanup(release)
	waitFor(t, 10*time.Second, "the test to hold kvg's lock", func() bool {
		_, err := sh(t, "flock -n /run/lock/lvm/V_kvg true")
		return err != nil
	})
	mkdir := exec.Command("mkdir", first.path("kvg/web/crash"))
	if err := mkdir.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the quiesced mkdir to pause killdom", func() bool {
		return strings.Contains(xlState(t, "killdom"), "p")
	})
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	release()
	<-first.done
	first.done <- nil // for the cleanup's stop: the kill was the test's
	_ = mkdir.Wait()  // the kernel ends its request when snapfs dies
	// What the kill left: a stale mount, and LVM's lvcreate, which ran on.
	if err := syscall.Unmount(first.mnt, syscall.MNT_DETACH); err != nil {
		t.Errorf("unmounting the killed snapfs's mount: %v", err)
	}
	waitFor(t, 120*time.Second, "the orphaned lvcreate to end", func() bool {
		out, _ := sh(t, "pgrep -x lvcreate; pgrep -f 'lvm lvcreate'")
		return strings.TrimSpace(out) == ""
	})
	if state := xlState(t, "killdom"); !strings.Contains(state, "p") {
		t.Fatalf("killdom is %s after the kill: the scenario needs it paused", state)
	}

	second := startSnapfs(t, config)
	if state := xlState(t, "killdom"); strings.Contains(state, "p") {
		t.Errorf("killdom is still paused (%s) once the next snapfs serves", state)
	}
	if logs := second.logs.String(); !strings.Contains(logs, `msg="unpausing a domain an earlier snapfs paused and did not unpause" domain=killdom`) {
		t.Errorf("the next snapfs does not say it unpaused killdom:\n%s", logs)
	}
	if entries, err := os.ReadDir("/run/snapfs/paused"); err != nil || len(entries) != 0 {
		t.Errorf("pause records left: %v %v", entries, err)
	}
}
