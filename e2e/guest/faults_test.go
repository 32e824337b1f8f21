//go:build vmguest

// Faults: a change that hangs in LVM, snapfs killed in the middle of a
// change, a storm of changes with readers, and descriptors or mounts left
// behind by a long run. Each must leave LVM and the tree agreeing.
package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wrapperConfig writes an lvm wrapper script (the body runs before
// "exec lvm $@") and a config that uses it, and makes an empty mount point.
func wrapperConfig(t *testing.T, body, extra string) (cfg, mnt string) {
	t.Helper()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "lvm-wrapper")
	writeFile(t, wrapper, "#!/bin/sh\n"+body+"\nexec lvm \"$@\"\n")
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "snapfs.toml")
	writeFile(t, cfg, baseConfig+fmt.Sprintf("lvm = %q\n", wrapper)+extra)
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg, mnt
}

// TestReadsDuringHungChange: an lvcreate that holds the VG's lock and hangs,
// as a slow lvcreate on a busy VG does, keeps every report waiting. Reads of
// the tree meanwhile are answered from the model, at once: they never wait
// for the change, whose mkdir ends only at command_timeout (and, after it,
// up to lvm.DefaultKillDelay for the pipes of the wrapper's sleep).
func TestReadsDuringHungChange(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e && lvcreate -qq -L 16M -n other e2e && lvcreate -qq -s -L 8M -n s1 e2e/web && mkdir -p /run/lock/lvm")
	// flock -o: the lock goes with the flock process when snapfs kills it
	// at the timeout, not with its sleep.
	cfg, mnt := wrapperConfig(t, `[ "$1" = lvcreate ] && exec flock -o /run/lock/lvm/V_e2e sleep 60`, "command_timeout = \"12s\"\n")
	d := foreground(t, mnt, cfg)
	t.Cleanup(func() { d.stop(t) })
	before := lvNames(t, "e2e")
	if got := readFile(t, d.path("e2e/web/s1/state")); got != "active\n" {
		t.Fatalf("state before: %q", got)
	}

	mkdirDone := make(chan error, 1)
	go func() { mkdirDone <- os.Mkdir(d.path("e2e/web/late"), 0o755) }()
	waitFor(t, 10*time.Second, "the hung lvcreate to hold the VG's lock", func() bool {
		_, err := sh(t, "flock -n /run/lock/lvm/V_e2e true")
		return err != nil
	})
	// Past the model's age and grace: without a change in flight, a read
	// would now wait for a report, which waits for the lock.
	time.Sleep(3 * time.Second)
	// Not a listing of e2e/web itself: the kernel holds the directory of a
	// mkdir locked until the mkdir returns (VFS, before snapfs hears of
	// it). Paths through it are walked without that lock.
	for _, read := range []string{"cat e2e/web/s1/allocated", "ls e2e", "cat e2e/status", "cat e2e/web/s1/status", "ls -l e2e/web/s1", "ls e2e/other", "cat e2e/other/status"} {
		start := time.Now()
		out, err := sh(t, "cd "+d.mnt+" && "+read)
		took := time.Since(start)
		select {
		case err := <-mkdirDone:
			t.Fatalf("%s took %v: it waited for the change, whose mkdir ended meanwhile (%v)", read, took, err)
		default:
		}
		if err != nil {
			t.Errorf("%s during the hung lvcreate: %v\n%s", read, err, out)
		}
		t.Logf("%s during the hung lvcreate: %v", read, took.Round(time.Millisecond))
	}
	if err := <-mkdirDone; errnoOf(err) != syscall.ETIMEDOUT {
		t.Errorf("mkdir with the hung lvcreate: %v, want ETIMEDOUT", err)
	}
	if after := lvNames(t, "e2e"); after != before {
		t.Errorf("LVM changed: %q -> %q", before, after)
	}
}

// TestKilledDuringChange kills snapfs with SIGKILL while LVM carries out a
// mkdir, a merge and an extend; LVM finishes what it started, and the next
// snapfs on the same mount point shows what LVM shows.
func TestKilledDuringChange(t *testing.T) {
	for _, tc := range []struct {
		op, command, shell string
		check              func(t *testing.T, d *daemon)
	}{
		{"mkdir", "lvcreate", "mkdir e2e/web/made", func(t *testing.T, d *daemon) {
			if got := lvNames(t, "e2e"); got != "made s1 web" && got != "s1 web" {
				t.Errorf("LVs after a killed mkdir: %s", got)
			}
		}},
		{"merge", "lvconvert", "echo merge > e2e/web/s1/ctl", func(t *testing.T, d *daemon) {
			waitFor(t, 60*time.Second, "the merge to end", func() bool { return !strings.Contains(lvNames(t, "e2e"), "s1") })
			if got := mustSh(t, "ls "+d.path("e2e/web")); strings.Contains(got, "s1") {
				t.Errorf("the merged snapshot is still in the tree: %q", got)
			}
		}},
		{"extend", "lvextend", "echo 'extend 8M' > e2e/web/s1/ctl", func(t *testing.T, d *daemon) {
			want := lvsField(t, "e2e/s1", "lv_size", "--units", "b", "--nosuffix")
			if got := readFile(t, d.path("e2e/web/s1/status")); !strings.Contains(got, "\ncow_size: "+want+"\n") {
				t.Errorf("status after a killed extend, lvs lv_size %s:\n%s", want, got)
			}
			if want != "16777216" {
				t.Errorf("lv_size %s after the extend LVM finished, want 16 MiB", want)
			}
		}},
	} {
		t.Run(tc.op, func(t *testing.T) {
			newVG(t, "e2e", 128)
			mustSh(t, "lvcreate -qq -L 32M -n web e2e && lvcreate -qq -s -L 8M -n s1 e2e/web")
			cfg, mnt := wrapperConfig(t, fmt.Sprintf(`[ "$1" = %s ] && sleep 3`, tc.command), "")
			t.Cleanup(func() {
				if isMounted(mnt) {
					_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
				}
			})
			killed := foreground(t, mnt, cfg)
			change := exec.Command("bash", "-c", "cd "+mnt+" && "+tc.shell)
			if err := change.Start(); err != nil {
				t.Fatal(err)
			}
			// The wrapper runs as "lvm-wrapper COMMAND", then execs "lvm COMMAND".
			running := "pgrep -f 'lvm(-wrapper)? " + tc.command + "'"
			waitFor(t, 10*time.Second, tc.command+" to start", func() bool {
				_, err := sh(t, running)
				return err == nil
			})
			if err := killed.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-killed.done
			err := change.Wait()
			t.Logf("%s when snapfs was killed: %v", tc.shell, err)
			// LVM carries on without snapfs, and ends.
			waitFor(t, 60*time.Second, tc.command+" to end", func() bool {
				_, err := sh(t, running)
				return err != nil
			})
			d := foreground(t, mnt, cfg)
			t.Cleanup(func() { d.stop(t) })
			tc.check(t, d)
			treeAgreesWithLVM(t, d, "e2e", "web")
		})
	}
}

// treeAgreesWithLVM checks that the snapshots of vg/origin in the tree are
// those lvs shows (merging ones included, as [name] in lvs -a).
func treeAgreesWithLVM(t *testing.T, d *daemon, vg, origin string) {
	t.Helper()
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(mustSh(t, "lvs -a --noheadings -o lv_name,origin "+vg)), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == origin {
			want = append(want, strings.Trim(f[0], "[]"))
		}
	}
	sort.Strings(want)
	var got []string
	entries, err := os.ReadDir(d.path(vg + "/" + origin))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			got = append(got, e.Name())
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("snapshots of %s/%s: tree %v, lvs %v", vg, origin, got, want)
	}
}

// TestChangeStorm runs 40 changes at once on four origins, mkdir, mv,
// extend and rmdir, while two walkers read the tree: every change succeeds,
// no read fails, and the tree and LVM agree at the end. LV names are the
// VG's: each snapshot's name starts with its origin's.
func TestChangeStorm(t *testing.T) {
	newVG(t, "e2e", 512)
	origins := []string{"a", "b", "c", "d"}
	for _, o := range origins {
		mustSh(t, "lvcreate -qq -L 16M -n "+o+" e2e")
	}
	d := startSnapfs(t, baseConfig+"snapshot_size = \"8M\"\n")
	stop := make(chan struct{})
	var walkers sync.WaitGroup
	var walkErrs sync.Map
	for _, line := range []string{"ls -lR " + d.path("e2e") + " >/dev/null", "cat " + d.path("e2e") + "/*/*/allocated >/dev/null"} {
		walkers.Add(1)
		go func() {
			defer walkers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A snapshot removed between the listing and the read is
				// fine; anything else is not.
				if out, err := exec.Command("bash", "-c", line).CombinedOutput(); err != nil &&
					!strings.Contains(string(out), "No such file or directory") {
					walkErrs.Store(line, string(out))
				}
			}
		}()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for _, o := range origins {
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				base := d.path("e2e/" + o + "/" + o + strconv.Itoa(i))
				steps := []func() error{
					func() error { return os.Mkdir(base, 0o755) },
					func() error { return os.Rename(base, base+"-r") },
					func() error { return os.WriteFile(base+"-r/ctl", []byte("extend 4M\n"), 0o200) },
				}
				if i == 0 {
					steps = append(steps, func() error { return os.Remove(base + "-r") })
				}
				for _, step := range steps {
					if err := step(); err != nil {
						errs <- fmt.Errorf("%s: %w", base, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	walkers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	walkErrs.Range(func(k, v any) bool {
		t.Errorf("walker %s: %s", k, v)
		return true
	})
	for _, o := range origins {
		treeAgreesWithLVM(t, d, "e2e", o)
	}
	if got, want := lvNames(t, "e2e"), "a a1-r a2-r b b1-r b2-r c c1-r c2-r d d1-r d2-r"; got != want {
		t.Errorf("LVs after the storm: %s, want %s", got, want)
	}
}

// fdCount is how many descriptors process pid has open: pipes, and all
// others.
func fdCount(t *testing.T, pid int) (pipes, others int) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if target, _ := os.Readlink(filepath.Join(dir, e.Name())); strings.HasPrefix(target, "pipe:") {
			pipes++
		} else {
			others++
		}
	}
	return pipes, others
}

// TestNoLeaks: rounds of opens and reads of every kind of file, of images
// and of files/ leave snapfs with as many descriptors as after the first
// round (but for go-fuse's pool of pipes, bounded by the reads in flight),
// and snapfs leaves no mount and no loop device behind when it stops.
func TestNoLeaks(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	makeFS(t, "e2e/web", "leak")
	for _, s := range []string{"s1", "s2", "s3"} {
		mustSh(t, "lvcreate -qq -s -L 8M -n "+s+" e2e/web")
	}
	loopsBefore := mustSh(t, "losetup -a | sort")
	d := startSnapfs(t, baseConfig+"files_idle = \"1s\"\n")
	pid := d.cmd.Process.Pid
	round := func() {
		for i := 0; i < 100; i++ {
			for _, f := range []string{"status", "status.json", "allocated", "state", "origin", "domu"} {
				readFile(t, d.path("e2e/web/s"+strconv.Itoa(i%3+1)+"/"+f))
			}
		}
		for _, s := range []string{"s1", "s2", "s3"} {
			mustSh(t, "head -c 1M "+d.path("e2e/web/"+s+"/image")+" >/dev/null")
			if got := mustSh(t, "cat "+d.path("e2e/web/"+s+"/files/hello")); got != "leak\n" {
				t.Fatalf("files/hello of %s: %q", s, got)
			}
		}
		waitFor(t, 30*time.Second, "files/ to be unmounted when idle", func() bool {
			return !strings.Contains(mustSh(t, "cat /proc/self/mountinfo"), d.mnt+"/e2e/web/s")
		})
	}
	round()
	firstPipes, first := fdCount(t, pid)
	for i := 0; i < 3; i++ {
		round()
	}
	// go-fuse keeps the pipes of spliced image reads in a pool, which grows
	// to the most reads the kernel sent at once (its readahead window),
	// never by a pipe per read: a round reads 3 MiB of images in 1 MiB
	// requests, and opens 1,800 status files and 3 files/ mounts.
	pipes, others := fdCount(t, pid)
	if others != first || pipes > firstPipes+2*8 {
		out, _ := sh(t, fmt.Sprintf("ls -l /proc/%d/fd", pid))
		t.Errorf("snapfs has %d descriptors and %d pipe ends after three more rounds, %d and %d after the first:\n%s",
			others, pipes, first, firstPipes, out)
	}
	d.stop(t)
	if out := mustSh(t, "cat /proc/self/mountinfo"); strings.Contains(out, d.mnt) || strings.Contains(out, "/run/snapfs/files/") {
		t.Errorf("mounts left under %s or /run/snapfs/files:\n%s", d.mnt, out)
	}
	if after := mustSh(t, "losetup -a | sort"); after != loopsBefore {
		t.Errorf("loop devices before snapfs:\n%s\nafter it stopped:\n%s", loopsBefore, after)
	}
}

// TestUnmountAfterBrowsing: umount of the tree fails while a snapshot's
// files/ is mounted inside it; SIGUSR2 has snapfs unmount every files/
// nothing uses (a shell inside one keeps it), and umount then works.
func TestUnmountAfterBrowsing(t *testing.T) {
	_, cfg, mnt := webVGSetup(t)
	makeFS(t, "e2e/web", "browsed")
	mustSh(t, "lvcreate -qq -s -L 8M -n s1 e2e/web")
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	d := foreground(t, mnt, cfg)
	t.Cleanup(func() { d.stop(t) })
	if got := mustSh(t, "cat "+d.path("e2e/web/s1/files/hello")); got != "browsed\n" {
		t.Fatalf("files/hello: %q", got)
	}
	if out, err := sh(t, "umount "+mnt); err == nil || !strings.Contains(out, "busy") {
		t.Fatalf("umount with files/ mounted: %v %q, want target is busy", err, out)
	}

	// A shell inside files/ keeps it: SIGUSR2 says so, umount still fails.
	shell := exec.Command("sleep", "600")
	shell.Dir = d.path("e2e/web/s1/files")
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { shell.Process.Kill(); shell.Wait() }()
	if err := d.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the SIGUSR2 log line", func() bool {
		return strings.Contains(d.logs.String(), `msg="SIGUSR2: files/ left mounted, in use" snapshots=e2e/web/s1`)
	})
	if _, err := sh(t, "umount "+mnt); err == nil {
		t.Fatal("umount worked with a shell inside files/")
	}

	shell.Process.Kill()
	shell.Wait()
	if err := d.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the SIGUSR2 log line", func() bool {
		return strings.Contains(d.logs.String(), `msg="SIGUSR2: no files/ mounted"`)
	})
	if out, err := sh(t, "umount "+mnt); err != nil {
		t.Fatalf("umount after SIGUSR2: %v %s", err, out)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("snapfs after umount: %v", err)
		}
		d.stopped = true
	case <-time.After(30 * time.Second):
		t.Error("snapfs did not exit after umount")
	}
}
