//go:build vmguest

// End-to-end scenarios: the freshly built snapfs ($SNAPFS_BIN) mounted on a
// real VG (a loop file) inside the VM, driven with real shell tools and
// checked against what LVM itself reports.
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
	for _, want := range []string{"op=mkdir", "op=rename", "op=ctl", "op=rmdir", "lvm lvcreate --config devices/global_filter=[", scanFilter("e2e"), "] --snapshot --name before-upgrade --extents 20%ORIGIN e2e/web", "uid=0"} {
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

	// The guest's files: one of uid 1001, a user of this host too.
	content := filepath.Join(t.TempDir(), "content")
	mustSh(t, "mkdir -p "+content+"/home/guest && echo key > "+content+"/home/guest/key && echo private > "+content+"/home/guest/private"+
		" && chmod 0644 "+content+"/home/guest/key && chmod 0600 "+content+"/home/guest/private && chown -R 1001:1001 "+content+"/home/guest"+
		" && mkfs.ext4 -q -F -d "+content+" /dev/e2e/web")

	d := startSnapfs(t, baseConfig+"allow_other = true\nadmin_group = \"snapadm\"\n")
	reachable(t, d)
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

	// A snapshot's data: its image and its files/, whose files belong to
	// the guest's users, one of them with the uid of a user of this host.
	mustSh(t, "mkdir "+d.path("e2e/web/data"))
	snap := d.path("e2e/web/data")
	for _, tc := range []struct {
		who      string
		uid, gid int
		line     string
		allowed  bool
	}{
		{"the guest file's owner's uid", 1001, 1001, "head -c 512 " + snap + "/image | wc -c", false},
		{"the guest file's owner's uid", 1001, 1001, "ls " + snap + "/files", false},
		{"the guest file's owner's uid", 1001, 1001, "cat " + snap + "/files/home/guest/key", false},
		{"an admin_group member", 1000, 4242, "head -c 512 " + snap + "/image | wc -c", true},
		{"an admin_group member", 1000, 4242, "cat " + snap + "/files/home/guest/key", true},
		{"an admin_group member", 1000, 4242, "cat " + snap + "/files/home/guest/private", false},
	} {
		out, err := as(tc.uid, tc.gid, tc.line)
		denied := strings.Contains(out, "Permission denied")
		if denied == tc.allowed || (tc.allowed && err != nil) {
			t.Errorf("%s ran %q: %v %q; allowed: %v", tc.who, tc.line, err, out, tc.allowed)
		}
	}
	if got := mustSh(t, "stat -c '%A %u %g' "+snap+"/image "+snap+"/files"); got != "-r--r----- 0 4242\ndrwxr-x--- 0 4242\n" {
		t.Errorf("modes of image and files/:\n%s", got)
	}

	// Without admin_group, only root reads a snapshot's data.
	d.stop(t)
	d1 := startSnapfs(t, baseConfig+"allow_other = true\n")
	reachable(t, d1)
	for _, line := range []string{"ls " + d1.path("e2e/web/data/files"), "head -c 1 " + d1.path("e2e/web/data/image")} {
		if out, err := as(1000, 4242, line); !strings.Contains(out, "Permission denied") {
			t.Errorf("without admin_group, %q: %v %q", line, err, out)
		}
	}
	if got := mustSh(t, "cat "+d1.path("e2e/web/data/files/home/guest/private")); got != "private\n" {
		t.Errorf("root reads files/: %q", got)
	}
	d1.stop(t)

	// Without allow_other, other users see nothing.
	d2 := startSnapfs(t, baseConfig)
	if out, err := as(1000, 4242, "ls "+d2.mnt); err == nil {
		t.Errorf("other user listed a mount without allow_other: %q", out)
	}
}

// as runs a shell line as another user, with one group.
func as(uid, gid int, line string) (string, error) {
	cmd := exec.Command("bash", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// reachable lets other users reach d's mount point: t.TempDir makes 0700
// directories, which would refuse them before snapfs could.
func reachable(t *testing.T, d *daemon) {
	t.Helper()
	for dir := filepath.Dir(d.mnt); dir != "/tmp" && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
