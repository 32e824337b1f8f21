//go:build vmguest

// End-to-end scenarios: the freshly built snapfs ($SNAPFS_BIN) mounted on a
// real VG (a loop file) inside the VM, driven with real shell tools and
// checked against what LVM itself reports.
package guest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// daemon is one running snapfs.
type daemon struct {
	mnt  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSnapfs mounts snapfs with the given TOML config on a fresh directory
// and waits until it serves; it is stopped with SIGTERM at the end of the
// test, which must end it with status 0 and leave no mount behind.
func startSnapfs(t *testing.T, config string) *daemon {
	t.Helper()
	bin := os.Getenv("SNAPFS_BIN")
	if bin == "" {
		t.Fatal("SNAPFS_BIN is not set: run these tests through e2e.TestVM")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "snapfs.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{mnt: filepath.Join(dir, "mnt"), logs: &syncBuffer{}, done: make(chan error, 1)}
	if err := os.Mkdir(d.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, "-config", cfg, d.mnt)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	waitFor(t, 30*time.Second, "snapfs to serve", func() bool {
		return isMounted(d.mnt) && strings.Contains(d.logs.String(), "msg=serving")
	})
	return d
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("snapfs exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		// Leave a trace of where it hangs: its goroutines (SIGQUIT makes the
		// Go runtime print them) and what the processes wait on.
		ps, _ := exec.Command("bash", "-c", fmt.Sprintf("ps -eo pid,stat,wchan:32,args; "+
			"for t in /proc/%d/task/*; do echo \"== $t $(cat $t/syscall)\"; cat $t/stack; done", d.cmd.Process.Pid)).CombinedOutput()
		_ = d.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(2 * time.Second)
		_ = d.cmd.Process.Kill()
		t.Errorf("snapfs did not exit within 30s of SIGTERM; processes:\n%s", ps)
	}
	if isMounted(d.mnt) {
		t.Errorf("%s is still mounted after snapfs exited", d.mnt)
		_ = syscall.Unmount(d.mnt, syscall.MNT_DETACH)
	}
	if t.Failed() {
		t.Logf("snapfs log:\n%s", d.logs.String())
	}
}

func (d *daemon) path(p string) string { return filepath.Join(d.mnt, p) }

func isMounted(dir string) bool {
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	return err == nil && len(mounts) > 0
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sh runs one shell line, as an administrator would type it, and returns
// its combined output and error.
func sh(t *testing.T, line string) (string, error) {
	t.Helper()
	out, err := exec.Command("bash", "-c", line).CombinedOutput()
	return string(out), err
}

func mustSh(t *testing.T, line string) string {
	t.Helper()
	out, err := sh(t, line)
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return out
}

// newVG makes a VG on a fresh loop file, removed at the end of the test.
func newVG(t *testing.T, name string, sizeMB int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), name+".img")
	mustSh(t, fmt.Sprintf("truncate -s %dM %s", sizeMB, img))
	loop := strings.TrimSpace(mustSh(t, "losetup --find --show "+img))
	mustSh(t, fmt.Sprintf("pvcreate -qq %s && vgcreate -qq %s %s", loop, name, loop))
	t.Cleanup(func() {
		if out, err := sh(t, fmt.Sprintf("vgremove -qq -f %s; losetup -d %s", name, loop)); err != nil {
			t.Logf("cleanup of %s: %v\n%s", name, err, out)
		}
	})
}

// lvNames lists the VG's LVs as lvs -a shows them, hidden ones included.
func lvNames(t *testing.T, vg string) string {
	t.Helper()
	out := mustSh(t, "lvs -a --noheadings -o lv_name "+vg)
	names := strings.Fields(out)
	sort.Strings(names)
	return strings.Join(names, " ")
}

// lvsField reads one field of one LV from lvs.
func lvsField(t *testing.T, lv, field string, extra ...string) string {
	t.Helper()
	args := append([]string{"--noheadings", "-o", field}, extra...)
	out, err := exec.Command("lvs", append(args, lv)...).CombinedOutput()
	if err != nil {
		t.Fatalf("lvs %s: %v\n%s", lv, err, out)
	}
	return strings.TrimSpace(string(out))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// makeFS puts an ext4 filesystem holding a file "hello" with content on LV.
func makeFS(t *testing.T, lv, content string) {
	t.Helper()
	mnt := t.TempDir()
	mustSh(t, fmt.Sprintf("mkfs.ext4 -q -F /dev/%s && mount /dev/%s %s && echo %s > %s/hello && umount %s",
		lv, lv, mnt, content, mnt, mnt))
}

// fileOn reads "hello" from the filesystem on LV.
func fileOn(t *testing.T, lv string) string {
	t.Helper()
	mnt := t.TempDir()
	return mustSh(t, fmt.Sprintf("mount -o ro /dev/%s %s && cat %s/hello; umount %s", lv, mnt, mnt, mnt))
}

const baseConfig = "vgs = [\"e2e\"]\n"

// TestSnapshotLifecycle walks the README's session: take a snapshot, read
// its files, rename it, extend it, remove it.
func TestSnapshotLifecycle(t *testing.T) {
	newVG(t, "e2e", 512)
	mustSh(t, "lvcreate -qq -L 64M -n web e2e && lvcreate -qq -L 32M -n db e2e")
	d := startSnapfs(t, baseConfig)

	if got := mustSh(t, "ls "+d.mnt+"/e2e"); got != "db\nstatus\nstatus.json\nweb\n" {
		t.Fatalf("ls of the VG: %q", got)
	}
	mustSh(t, "mkdir "+d.path("e2e/web/before-upgrade"))
	if got := lvsField(t, "e2e/before-upgrade", "origin"); got != "web" {
		t.Fatalf("lvs origin of the new snapshot = %q", got)
	}
	// The default size is 20%ORIGIN: the same COW size as by hand.
	mustSh(t, "lvcreate -qq -s -l 20%ORIGIN -n byhand e2e/web")
	want := lvsField(t, "e2e/byhand", "lv_size", "--units", "b", "--nosuffix")
	mustSh(t, "lvremove -qq -y e2e/byhand")
	if got := lvsField(t, "e2e/before-upgrade", "lv_size", "--units", "b", "--nosuffix"); got != want {
		t.Errorf("snapshot size %q, lvcreate -l 20%%ORIGIN by hand gives %q", got, want)
	}
	snap := d.path("e2e/web/before-upgrade")
	if got := mustSh(t, "cat "+snap+"/origin "+snap+"/state"); got != "e2e/web\nactive\n" {
		t.Errorf("origin and state: %q", got)
	}
	status := readFile(t, snap+"/status")
	for _, key := range []string{"name", "vg", "origin", "uuid", "path", "created", "state", "active", "open",
		"size", "cow_size", "cow_used", "allocated", "chunk_size", "domu"} {
		if !strings.Contains(status, "\n"+key+": ") && !strings.HasPrefix(status, key+": ") {
			t.Errorf("status lacks %s:\n%s", key, status)
		}
	}
	if want := "cow_size: " + lvsField(t, "e2e/before-upgrade", "lv_size", "--units", "b", "--nosuffix") + "\n"; !strings.Contains(status, want) {
		t.Errorf("status cow_size differs from lvs LSize (%q):\n%s", want, status)
	}
	if want := "uuid: " + lvsField(t, "e2e/before-upgrade", "lv_uuid") + "\n"; !strings.Contains(status, want) {
		t.Errorf("status uuid differs from lvs (%q):\n%s", want, status)
	}

	// The directory carries lv_time, so ls -lt orders snapshots by age.
	created, err := time.Parse("2006-01-02 15:04:05 -0700", lvsField(t, "e2e/before-upgrade", "lv_time"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(created) {
		t.Errorf("mtime %v, lv_time %v", fi.ModTime(), created)
	}

	// allocated equals lvs Snap% after writes to the origin.
	mustSh(t, "dd if=/dev/urandom of=/dev/e2e/web bs=1M count=3 seek=5 oflag=direct status=none")
	got := strings.TrimSpace(readFile(t, snap+"/allocated"))
	if want := lvsField(t, "e2e/before-upgrade", "snap_percent"); got != want || got == "0.00" {
		t.Errorf("allocated = %q, lvs Snap%% = %q", got, want)
	}

	mustSh(t, "mv "+snap+" "+d.path("e2e/web/pre-upgrade"))
	if got := lvNames(t, "e2e"); got != "db pre-upgrade web" {
		t.Errorf("after mv, lvs shows %q", got)
	}
	snap = d.path("e2e/web/pre-upgrade")

	before, _ := strconv.ParseUint(lvsField(t, "e2e/pre-upgrade", "lv_size", "--units", "b", "--nosuffix"), 10, 64)
	mustSh(t, "echo 'extend 8M' > "+snap+"/ctl")
	after, _ := strconv.ParseUint(lvsField(t, "e2e/pre-upgrade", "lv_size", "--units", "b", "--nosuffix"), 10, 64)
	if before == 0 || after != before+8<<20 {
		t.Errorf("extend 8M: %d -> %d bytes", before, after)
	}

	mustSh(t, "rmdir "+snap)
	if got := lvNames(t, "e2e"); got != "db web" {
		t.Errorf("after rmdir, lvs shows %q", got)
	}
	if _, err := os.Stat(snap); !os.IsNotExist(err) {
		t.Errorf("removed snapshot still shown: %v", err)
	}
	logs := d.logs.String()
	for _, want := range []string{"op=mkdir", "op=rename", "op=ctl", "op=rmdir", "lvm lvcreate --snapshot --name before-upgrade --extents 20%ORIGIN e2e/web", "uid=0"} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs)
		}
	}
}

// TestRefusals checks every error row of SPEC against real LVM: the errno,
// LVM left exactly as it was, and LVM's own message in the log.
func TestRefusals(t *testing.T) {
	newVG(t, "e2e", 256)
	// LVM caps a COW store at what the origin can need, and cuts a %ORIGIN
	// size down to the free space: only an absolute size larger than the
	// free space, of an origin that large, runs out of it.
	mustSh(t, "lvcreate -qq -L 32M -n web e2e && lvcreate -qq -L 32M -n db e2e && lvcreate -qq -L 128M -n big e2e")
	mustSh(t, "lvcreate -qq -s -L 8M -n snap1 e2e/web")
	d := startSnapfs(t, baseConfig+"[origin.\"e2e/big\"]\nsnapshot_size = \"100M\"\n")

	holdOpen := func(dev string) func() {
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		return func() { f.Close() }
	}
	tests := []struct {
		name  string
		op    func() error
		errno syscall.Errno
		log   string // LVM's own words, when LVM refused
	}{
		{"name taken", func() error { return os.Mkdir(d.path("e2e/web/snap1"), 0o755) }, syscall.EEXIST, ""},
		{"name taken by another origin", func() error { return os.Mkdir(d.path("e2e/web/db"), 0o755) }, syscall.EEXIST, "already exists in volume group"},
		{"fixed file name", func() error { return os.Mkdir(d.path("e2e/web/status"), 0o755) }, syscall.EEXIST, ""},
		{"reserved prefix", func() error { return os.Mkdir(d.path("e2e/web/snapshot0"), 0o755) }, syscall.EINVAL, ""},
		{"reserved substring", func() error { return os.Mkdir(d.path("e2e/web/x_rimage"), 0o755) }, syscall.EINVAL, ""},
		{"leading dash", func() error { return os.Mkdir(d.path("e2e/web/-y"), 0o755) }, syscall.EINVAL, ""},
		{"bad character", func() error { return os.Mkdir(d.path("e2e/web/a:b"), 0o755) }, syscall.EINVAL, ""},
		{"too long", func() error { return os.Mkdir(d.path("e2e/web/"+strings.Repeat("n", 125)), 0o755) }, syscall.EINVAL, ""},
		{"no space", func() error { return os.Mkdir(d.path("e2e/big/huge"), 0o755) }, syscall.ENOSPC, "insufficient free space"},
		{"mkdir in VG", func() error { return os.Mkdir(d.path("e2e/newlv"), 0o755) }, syscall.EPERM, ""},
		{"mkdir at root", func() error { return os.Mkdir(d.path("newvg"), 0o755) }, syscall.EPERM, ""},
		{"mkdir in COW snapshot", func() error { return os.Mkdir(d.path("e2e/web/snap1/x"), 0o755) }, syscall.EPERM, ""},
		{"rmdir origin", func() error { return syscall.Rmdir(d.path("e2e/web")) }, syscall.EPERM, ""},
		{"rmdir VG", func() error { return syscall.Rmdir(d.path("e2e")) }, syscall.EPERM, ""},
		{"rename across origins", func() error { return os.Rename(d.path("e2e/web/snap1"), d.path("e2e/db/snap1")) }, syscall.EPERM, ""},
		{"rename onto existing LV", func() error { return os.Rename(d.path("e2e/web/snap1"), d.path("e2e/web/db")) }, syscall.EEXIST, "already exists"},
		{"write a status file", func() error { return os.WriteFile(d.path("e2e/web/snap1/state"), []byte("x"), 0) }, syscall.EPERM, ""},
		{"create a file", func() error { return os.WriteFile(d.path("e2e/web/notes"), []byte("x"), 0o644) }, syscall.EPERM, ""},
		{"remove a file", func() error { return syscall.Unlink(d.path("e2e/web/snap1/origin")) }, syscall.EPERM, ""},
		{"unknown ctl command", func() error { return os.WriteFile(d.path("e2e/web/snap1/ctl"), []byte("explode\n"), 0) }, syscall.EINVAL, ""},
		{"bad extend size", func() error { return os.WriteFile(d.path("e2e/web/snap1/ctl"), []byte("extend lots\n"), 0) }, syscall.EINVAL, ""},
		{"read ctl", func() error { _, err := os.ReadFile(d.path("e2e/web/snap1/ctl")); return err }, syscall.EACCES, ""},
		{"remove an open snapshot", func() error {
			defer holdOpen("/dev/e2e/snap1")()
			return syscall.Rmdir(d.path("e2e/web/snap1"))
		}, syscall.EBUSY, "in use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := mustSh(t, "lvs -a --noheadings -o lv_name,lv_attr,lv_size,origin e2e")
			err := tc.op()
			if errnoOf(err) != tc.errno {
				t.Errorf("got %v, want %v (%d)", err, tc.errno, tc.errno)
			}
			if after := mustSh(t, "lvs -a --noheadings -o lv_name,lv_attr,lv_size,origin e2e"); after != before {
				t.Errorf("LVM changed:\n%s->\n%s", before, after)
			}
			if tc.log != "" && !strings.Contains(d.logs.String(), tc.log) {
				t.Errorf("log lacks LVM's message %q", tc.log)
			}
		})
	}
	// The shell tools an administrator uses say the same.
	if out, err := sh(t, "mkdir "+d.path("e2e/web/snap1")); err == nil || !strings.Contains(out, "File exists") {
		t.Errorf("mkdir of a taken name: %v %q", err, out)
	}
	if out, err := sh(t, "echo bogus > "+d.path("e2e/web/snap1/ctl")); err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("echo bogus > ctl: %v %q", err, out)
	}
}

// TestTimeout runs snapfs with an lvm whose lvcreate hangs: mkdir gets
// ETIMEDOUT and no LV stays behind.
func TestTimeout(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	slow := filepath.Join(t.TempDir(), "slowlvm")
	script := "#!/bin/sh\n[ \"$1\" = lvcreate ] && exec sleep 120\nexec lvm \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The timeout bounds every command, reports too: leave them room on a
	// loaded machine, and hang lvcreate far longer.
	d := startSnapfs(t, baseConfig+fmt.Sprintf("lvm = %q\ncommand_timeout = \"20s\"\n", slow))
	before := lvNames(t, "e2e")
	if err := os.Mkdir(d.path("e2e/web/late"), 0o755); errnoOf(err) != syscall.ETIMEDOUT {
		t.Errorf("mkdir with a hanging lvcreate: %v, want ETIMEDOUT", err)
	}
	if after := lvNames(t, "e2e"); after != before {
		t.Errorf("LVM changed: %q -> %q", before, after)
	}
}

// TestMergeRevertsOrigin merges a snapshot back: the origin's data is what
// it was when the snapshot was taken, and the snapshot disappears.
func TestMergeRevertsOrigin(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 32M -n web e2e")
	makeFS(t, "e2e/web", "v1")
	d := startSnapfs(t, baseConfig)
	mustSh(t, "mkdir "+d.path("e2e/web/good"))
	makeFS(t, "e2e/web", "v2") // the origin changes: a new filesystem even
	if got := fileOn(t, "e2e/web"); got != "v2\n" {
		t.Fatalf("origin before merge: %q", got)
	}
	mustSh(t, "echo merge > "+d.path("e2e/web/good/ctl"))
	// The directory stays until LVM removes the snapshot.
	waitFor(t, 60*time.Second, "the merged snapshot to disappear", func() bool {
		_, err := os.Stat(d.path("e2e/web/good"))
		return os.IsNotExist(err)
	})
	if got := lvNames(t, "e2e"); got != "web" {
		t.Errorf("after merge lvs shows %q", got)
	}
	if got := fileOn(t, "e2e/web"); got != "v1\n" {
		t.Errorf("origin after merge holds %q, want v1", got)
	}
}

// TestMergePending merges a snapshot whose origin is in use: LVM delays
// the merge, state says merge-pending, and the merge runs when the origin
// is next activated.
func TestMergePending(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 32M -n web e2e")
	makeFS(t, "e2e/web", "v1")
	d := startSnapfs(t, baseConfig)
	mustSh(t, "mkdir "+d.path("e2e/web/good"))
	mnt := t.TempDir()
	mustSh(t, "mount /dev/e2e/web "+mnt)
	mustSh(t, "echo merge > "+d.path("e2e/web/good/ctl"))
	waitFor(t, 5*time.Second, "state merge-pending", func() bool {
		b, _ := os.ReadFile(d.path("e2e/web/good/state"))
		return string(b) == "merge-pending\n"
	})
	// lvs -a shows the merging snapshot as [good]; snapfs keeps showing it.
	if got := mustSh(t, "ls "+d.path("e2e/web")); !strings.Contains(got, "good") {
		t.Errorf("merge-pending snapshot not listed: %q", got)
	}
	mustSh(t, "umount "+mnt+" && lvchange -an e2e/web && lvchange -ay e2e/web")
	waitFor(t, 60*time.Second, "the merged snapshot to disappear", func() bool {
		_, err := os.Stat(d.path("e2e/web/good"))
		return os.IsNotExist(err)
	})
}

// TestInvalidSnapshot overflows a snapshot's COW store.
func TestInvalidSnapshot(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 64M -n web e2e")
	d := startSnapfs(t, baseConfig+"snapshot_size = \"4M\"\n")
	mustSh(t, "mkdir "+d.path("e2e/web/tiny"))
	mustSh(t, "dd if=/dev/urandom of=/dev/e2e/web bs=1M count=16 oflag=direct status=none")
	waitFor(t, 10*time.Second, "state invalid", func() bool {
		b, _ := os.ReadFile(d.path("e2e/web/tiny/state"))
		return string(b) == "invalid\n"
	})
	if got := readFile(t, d.path("e2e/web/tiny/allocated")); got != "100.00\n" {
		t.Errorf("allocated of an invalid snapshot = %q", got)
	}
	if attr := lvsField(t, "e2e/tiny", "lv_attr"); attr[4] != 'I' {
		t.Errorf("lvs attr %q: LVM does not think it invalid", attr)
	}
}

// TestThinSnapshots takes thin snapshots without a size, and a snapshot of
// a thin snapshot inside its directory.
func TestThinSnapshots(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 64M -T e2e/pool && lvcreate -qq -V 32M -T e2e/pool -n thin1")
	d := startSnapfs(t, baseConfig)
	if got := mustSh(t, "ls "+d.mnt+"/e2e"); got != "status\nstatus.json\nthin1\n" {
		t.Errorf("thin pool or internal LVs shown: %q", got)
	}
	mustSh(t, "mkdir "+d.path("e2e/thin1/ts1"))
	if got := lvsField(t, "e2e/ts1", "origin"); got != "thin1" {
		t.Errorf("origin of ts1 = %q", got)
	}
	if got := lvsField(t, "e2e/ts1", "pool_lv"); got != "pool" {
		t.Errorf("ts1 is not a thin snapshot in pool: pool_lv %q", got)
	}
	if got := readFile(t, d.path("e2e/thin1/ts1/state")); got != "inactive\n" {
		t.Errorf("state of a new thin snapshot (activation skipped) = %q", got)
	}
	mustSh(t, "mkdir "+d.path("e2e/thin1/ts1/ts2"))
	if got := readFile(t, d.path("e2e/thin1/ts1/ts2/origin")); got != "e2e/ts1\n" {
		t.Errorf("origin of ts2 = %q", got)
	}
	// An active thin volume's allocated equals lvs Data%.
	mustSh(t, "lvchange -ay -K e2e/ts2 && dd if=/dev/urandom of=/dev/e2e/ts2 bs=1M count=2 oflag=direct status=none")
	if got, want := strings.TrimSpace(readFile(t, d.path("e2e/thin1/ts1/ts2/allocated"))), lvsField(t, "e2e/ts2", "data_percent"); got != want {
		t.Errorf("allocated %q, lvs Data%% %q", got, want)
	}
	mustSh(t, "rmdir "+d.path("e2e/thin1/ts1/ts2")+" && rmdir "+d.path("e2e/thin1/ts1"))
	if got := lvNames(t, "e2e"); strings.Contains(got, "ts") {
		t.Errorf("thin snapshots remain: %q", got)
	}
}

// TestOutsideChanges makes and removes snapshots with lvcreate and lvremove
// by hand: snapfs shows both within two seconds, cached entries included.
func TestOutsideChanges(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e && lvcreate -qq -s -L 4M -n old e2e/web")
	d := startSnapfs(t, baseConfig)
	if _, err := os.Stat(d.path("e2e/web/old/state")); err != nil {
		t.Fatal(err) // now cached by the kernel
	}
	// snapfs promises 2 s of staleness plus the time LVM takes to answer
	// one report, which it cannot make shorter: measure that here.
	reportStart := time.Now()
	mustSh(t, "lvm fullreport e2e >/dev/null")
	report := time.Since(reportStart)
	mustSh(t, "lvcreate -qq -s -L 4M -n byhand e2e/web && lvremove -qq -y e2e/old")
	start := time.Now()
	waitFor(t, 10*time.Second+report, "outside changes", func() bool {
		_, errNew := os.Stat(d.path("e2e/web/byhand"))
		_, errOld := os.Stat(d.path("e2e/web/old"))
		return errNew == nil && os.IsNotExist(errOld)
	})
	if took := time.Since(start); took > 2*time.Second+report {
		t.Errorf("outside changes took %v to show, want at most 2s + one report (%v)", took, report)
	}
}

// TestOutsideChangesCaughtUp: snapshots taken and removed by hand enter
// and leave the model without a report (snapfs reads the metadata backups
// and device-mapper), with the values lvs shows; a rename by hand, which
// that cannot vouch for, is read from LVM.
func TestOutsideChangesCaughtUp(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	d := startSnapfs(t, baseConfig)
	mustSh(t, "ls "+d.path("e2e/web")+" >/dev/null")
	before := d.lvmCommands(t)

	mustSh(t, "lvcreate -qq -s -L 4M -c 16k -n byhand e2e/web")
	status := d.path("e2e/web/byhand/status")
	waitFor(t, 10*time.Second, "the snapshot made by hand", func() bool { _, err := os.Stat(status); return err == nil })
	got := readFile(t, status)
	for field, lvs := range map[string]string{
		"uuid":       lvsField(t, "e2e/byhand", "lv_uuid"),
		"origin":     "e2e/web",
		"cow_size":   lvsField(t, "e2e/byhand", "lv_size", "--units", "b", "--nosuffix"),
		"chunk_size": lvsField(t, "e2e/byhand", "chunk_size", "--units", "b", "--nosuffix"),
		"allocated":  lvsField(t, "e2e/byhand", "snap_percent"),
	} {
		if want := field + ": " + lvs + "\n"; !strings.Contains(got, want) {
			t.Errorf("status lacks %q (as lvs says):\n%s", want, got)
		}
	}
	want := "free: " + strings.TrimSpace(mustSh(t, "vgs --noheadings --units b --nosuffix -o vg_free e2e")) + "\n"
	if vg := readFile(t, d.path("e2e/status")); !strings.Contains(vg, want) {
		t.Errorf("VG status after the lvcreate by hand lacks %q:\n%s", want, vg)
	}
	mustSh(t, "lvremove -qq -y e2e/byhand")
	waitFor(t, 10*time.Second, "the snapshot removed by hand to go", func() bool { _, err := os.Stat(status); return os.IsNotExist(err) })
	if n := d.lvmCommands(t) - before; n != 0 {
		t.Errorf("snapfs ran %d LVM commands for a snapshot taken and removed by hand, want none:\n%s", n, d.logs.String())
	}

	// A snapshot made and renamed at once is a new snapshot of the new
	// name; renaming one that snapfs shows already is not caught up.
	mustSh(t, "lvcreate -qq -s -L 4M -n s2 e2e/web && lvrename -qq e2e s2 s3")
	waitFor(t, 10*time.Second, "the snapshot made and renamed by hand", func() bool { _, err := os.Stat(d.path("e2e/web/s3")); return err == nil })
	if n := d.lvmCommands(t) - before; n != 0 {
		t.Errorf("snapfs ran %d LVM commands for a snapshot made and renamed by hand, want none", n)
	}
	mustSh(t, "lvrename -qq e2e s3 s4")
	waitFor(t, 10*time.Second, "the snapshot renamed by hand", func() bool { _, err := os.Stat(d.path("e2e/web/s4")); return err == nil })
	if n := d.lvmCommands(t) - before; n != 1 {
		t.Errorf("snapfs ran %d LVM commands after a rename by hand, want 1 report", n)
	}
	if _, err := os.Stat(d.path("e2e/web/s3")); !os.IsNotExist(err) {
		t.Errorf("the old name after the rename: %v", err)
	}
}

// lvmCommands asks snapfs (SIGUSR1) how many LVM commands it has run: the
// processes it started and the commands it ran in its lvm shell.
func (d *daemon) lvmCommands(t *testing.T) int {
	t.Helper()
	re := regexp.MustCompile(`msg=stats lvm_processes=(\d+) lvm_shell_commands=(\d+)`)
	seen := len(re.FindAllStringSubmatch(d.logs.String(), -1))
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var n int
	waitFor(t, 10*time.Second, "the stats line", func() bool {
		all := re.FindAllStringSubmatch(d.logs.String(), -1)
		if len(all) <= seen {
			return false
		}
		last := all[len(all)-1]
		p, _ := strconv.Atoi(last[1])
		c, _ := strconv.Atoi(last[2])
		n = p + c
		return true
	})
	return n
}

// TestConcurrentMkdir: two mkdir of one name at once give one snapshot and
// one EEXIST.
func TestConcurrentMkdir(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	d := startSnapfs(t, baseConfig)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = os.Mkdir(d.path("e2e/web/twin"), 0o755)
		}(i)
	}
	wg.Wait()
	codes := []string{fmt.Sprint(errs[0]), fmt.Sprint(errs[1])}
	sort.Strings(codes)
	if codes[0] != "<nil>" || errnoOf(errs[0])+errnoOf(errs[1]) != syscall.EEXIST {
		t.Errorf("two mkdir of one name: %v", codes)
	}
	if got := lvNames(t, "e2e"); got != "twin web" {
		t.Errorf("lvs shows %q", got)
	}
}

// TestPermissions: with admin_group, its members may take and remove
// snapshots; other users may look but not change; without allow_other,
// other users see nothing.
func TestPermissions(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	// The VM's /etc is read-only: bind a copy of /etc/group with the group.
	group := filepath.Join(t.TempDir(), "group")
	mustSh(t, "cp /etc/group "+group+" && echo snapadm:x:4242:1000 >> "+group+" && mount --bind "+group+" /etc/group")
	t.Cleanup(func() { sh(t, "umount /etc/group") })

	d := startSnapfs(t, baseConfig+"allow_other = true\nadmin_group = \"snapadm\"\n")
	// t.TempDir makes 0700 directories: let the other users reach the mount.
	for dir := filepath.Dir(d.mnt); dir != "/tmp" && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	as := func(uid, gid int, line string) (string, error) {
		cmd := exec.Command("bash", "-c", line)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := as(1000, 4242, "mkdir "+d.path("e2e/web/by-admin")); err != nil {
		t.Fatalf("admin group member cannot mkdir: %v %s", err, out)
	}
	if out, err := as(1001, 1001, "mkdir "+d.path("e2e/web/by-other")); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("non-member mkdir: %v %q", err, out)
	}
	if out, err := as(1001, 1001, "cat "+d.path("e2e/web/by-admin/state")); err != nil || out != "inactive\n" && out != "active\n" {
		t.Errorf("non-member read: %v %q", err, out)
	}
	if out, err := as(1000, 4242, "echo 'extend 4M' > "+d.path("e2e/web/by-admin/ctl")+" && rmdir "+d.path("e2e/web/by-admin")); err != nil {
		t.Errorf("admin group member cannot extend and remove: %v %s", err, out)
	}
	if !strings.Contains(d.logs.String(), "uid=1000") {
		t.Errorf("audit lines lack the caller's uid:\n%s", d.logs.String())
	}

	// Without allow_other, other users see nothing.
	d2 := startSnapfs(t, baseConfig)
	if out, err := as(1000, 4242, "ls "+d2.mnt); err == nil {
		t.Errorf("other user listed a mount without allow_other: %q", out)
	}
}

// TestSignalDuringStartup stops snapfs the moment its mount appears, before
// it logs that it serves: it must still unmount and exit 0.
func TestSignalDuringStartup(t *testing.T) {
	newVG(t, "e2e", 64)
	bin := os.Getenv("SNAPFS_BIN")
	for i := 0; i < 3; i++ {
		mnt := t.TempDir()
		cmd := exec.Command(bin, mnt)
		var logs syncBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the mount", func() bool { return isMounted(mnt) })
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit after an early SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("snapfs hung after an early SIGTERM:\n%s", logs.String())
		}
		if isMounted(mnt) {
			t.Errorf("%s still mounted after an early SIGTERM", mnt)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	}
}

// TestVersionAndConfigErrors checks the command line.
func TestVersionAndConfigErrors(t *testing.T) {
	bin := os.Getenv("SNAPFS_BIN")
	if out := mustSh(t, bin+" -version"); !strings.HasPrefix(out, "snapfs ") {
		t.Errorf("-version: %q", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("vgs = [\"e2e\"]\nsnapshot_sise = \"2G\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := sh(t, bin+" -config "+bad+" "+t.TempDir())
	if err == nil || !strings.Contains(out, "line 2") || !strings.Contains(out, "snapshot_sise") {
		t.Errorf("unknown key: %v %q", err, out)
	}
	if out, err := sh(t, bin+" -config /nonexistent.toml "+t.TempDir()); err == nil {
		t.Errorf("a missing -config file was accepted: %q", out)
	}
}
