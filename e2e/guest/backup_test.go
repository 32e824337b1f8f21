//go:build vmguest

// Backups from snapshots against real LVM: a snapshot's image is its block
// device, byte for byte, and files/ its filesystem, mounted read-only by the
// kernel on first look, for ext4 and XFS origins that are mounted and change
// after the snapshot, for a whole-disk image with partitions, and for a thin
// snapshot that has to be activated first. The README's backup commands run
// on them: cmp, dd, qemu-img convert, tar, rsync.
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

	"github.com/moby/sys/mountinfo"
)

const backupConfig = baseConfig + "files_idle = \"3s\"\n"

// mountsUnder lists the mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mounts {
		if m.Mountpoint != dir {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// mountOf returns "TYPE OPTIONS" of the snapshot's filesystem on dir, or "":
// the options of the mount and then those of its file system, which
// together are what /proc/mounts shows. Through the gate (an overlay on
// dir), that is the mount on the overlay's staging directory.
func mountOf(t *testing.T, dir string) string {
	t.Helper()
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		t.Fatal(err)
	}
	var top *mountinfo.Info
	for _, m := range mounts {
		if m.Mountpoint == dir {
			top = m // the last one is on top
		}
	}
	if top == nil {
		return ""
	}
	if top.FSType == "overlay" {
		// The gate: the snapshot's own mount is the overlay's last layer,
		// on its staging directory.
		var lower string
		for _, o := range strings.Split(top.VFSOptions, ",") {
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				lower = v
			}
		}
		layers := strings.Split(lower, ":")
		for _, m := range mounts {
			if m.Mountpoint == layers[len(layers)-1] {
				return m.FSType + " " + m.Options + "," + m.VFSOptions
			}
		}
		t.Fatalf("no mount on the staging directory of the overlay on %s: %s", dir, lower)
	}
	return top.FSType + " " + top.Options + "," + top.VFSOptions
}

// checkCleanExit registers, before snapfs starts, a check that runs after
// it stopped: no mount under its mount point and no loop device over the
// VG's LVs are left. It returns the function that names the mount point.
func checkCleanExit(t *testing.T, vg string) func(mnt string) {
	t.Helper()
	var mnt string
	t.Cleanup(func() {
		if mnt == "" {
			return
		}
		if got := mountsUnder(t, mnt); len(got) > 0 {
			t.Errorf("mounts left after snapfs exited: %v", got)
		}
		if out, _ := sh(t, "losetup -a | grep -e /dev/mapper/"+vg+"- -e /dev/"+vg+"/ -e /dev/dm-"); out != "" {
			t.Errorf("loop devices left after snapfs exited:\n%s", out)
		}
	})
	return func(m string) { mnt = m }
}

// mountOrigin mounts LV on a fresh directory until the test ends.
func mountOrigin(t *testing.T, lv string, opts ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := ""
	if len(opts) > 0 {
		args = "-o " + strings.Join(opts, ",") + " "
	}
	mustSh(t, "mount "+args+"/dev/"+lv+" "+dir)
	t.Cleanup(func() {
		if out, err := sh(t, "umount "+dir); err != nil {
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// populate writes the tree the backup tests expect to find in the snapshot.
func populate(t *testing.T, root string) {
	t.Helper()
	mustSh(t, "mkdir -p "+root+"/etc "+root+"/data && echo before > "+root+"/etc/version && "+
		"echo keep me > "+root+"/data/keep && dd if=/dev/urandom of="+root+"/data/blob bs=1M count=3 status=none && sync")
}

// change changes the origin after the snapshot.
func change(t *testing.T, root string) {
	t.Helper()
	mustSh(t, "echo after > "+root+"/etc/version && rm "+root+"/data/keep && "+
		"dd if=/dev/urandom of="+root+"/data/blob bs=1M count=3 conv=notrunc status=none && sync")
}

// checkSnapshotFiles checks files/ of snapshot dir against what populate
// wrote, with the backup tools, and image against the device; with qcow,
// qemu-img converts the image too.
func checkSnapshotFiles(t *testing.T, d *daemon, snap, device string, qcow bool, fstype string, wantOpts ...string) {
	t.Helper()
	files := d.path(snap + "/files")
	if got := mustSh(t, "cat "+files+"/etc/version "+files+"/data/keep"); got != "before\nkeep me\n" {
		t.Errorf("files/ shows %q, want the content from before the change", got)
	}
	opts := mountOf(t, files)
	// Through the gate, files/ is root's only (no admin_group here).
	if got := mustSh(t, "stat -c %A "+files); got != "drwx------\n" {
		t.Errorf("files/ mode %q, want the gate's drwx------", got)
	}
	if !strings.HasPrefix(opts, fstype+" ro,") {
		t.Errorf("files/ is mounted as %q, want %s read-only", opts, fstype)
	}
	for _, o := range wantOpts {
		if !strings.Contains(opts, o) {
			t.Errorf("files/ is mounted as %q, without %s", opts, o)
		}
	}
	if out := mustSh(t, "ls "+files+"/"); !strings.Contains(out, "data\netc\n") {
		t.Errorf("ls files/: %q", out)
	}
	if got := mustSh(t, "tar -C "+files+" -c . | tar -t | sort | grep -v lost+found"); got != "./\n./data/\n./data/blob\n./data/keep\n./etc/\n./etc/version\n" {
		t.Errorf("tar of files/ lists:\n%s", got)
	}
	dest := t.TempDir()
	mustSh(t, "rsync -a "+files+"/ "+dest+"/ && diff -r "+files+" "+dest)

	// image is the snapshot's device byte for byte; qemu-img converts it.
	img := d.path(snap + "/image")
	if got, want := mustSh(t, "stat -c %s "+img), mustSh(t, "blockdev --getsize64 "+device); got != want {
		t.Errorf("image is %s bytes, the device %s", got, want)
	}
	mustSh(t, "cmp "+img+" "+device)
	if qcow {
		out := filepath.Join(t.TempDir(), "snap.qcow2")
		mustSh(t, "qemu-img convert -O qcow2 "+img+" "+out+" && qemu-img compare -q "+out+" "+device)
	}
}

// TestBackupExt4 backs up a snapshot of a mounted ext4 origin that changed
// afterwards; files/ goes when idle and before rmdir, which a shell inside
// it refuses.
func TestBackupExt4(t *testing.T) {
	newVG(t, "e2e", 512)
	mustSh(t, "lvcreate -qq -L 64M -n web e2e && mkfs.ext4 -q /dev/e2e/web")
	origin := mountOrigin(t, "e2e/web")
	populate(t, origin)
	cleanExit := checkCleanExit(t, "e2e")
	d := startSnapfs(t, backupConfig)
	cleanExit(d.mnt)

	mustSh(t, "mkdir "+d.path("e2e/web/nightly"))
	change(t, origin)
	snap := d.path("e2e/web/nightly")
	// Looking at the snapshot mounts nothing.
	mustSh(t, "stat "+snap+" "+snap+"/files >/dev/null && ls -l "+snap+" >/dev/null")
	if got := mountsUnder(t, d.mnt); len(got) > 0 {
		t.Fatalf("a stat mounted %v", got)
	}
	checkSnapshotFiles(t, d, "e2e/web/nightly", "/dev/e2e/nightly", true, "ext4", "norecovery")

	// Idle, files/ is unmounted after files_idle (3s).
	waitFor(t, 30*time.Second, "the idle files/ to be unmounted", func() bool { return mountOf(t, snap+"/files") == "" })
	// The line is logged right after the unmount.
	waitFor(t, 10*time.Second, "the log line of the idle unmount", func() bool {
		return strings.Contains(d.logs.String(), "unmounted idle files/")
	})

	// A shell inside files/ keeps it mounted and refuses rmdir.
	shell := exec.Command("bash", "-c", "cd "+snap+"/files/etc && exec sleep 600")
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { shell.Process.Kill(); shell.Wait() }()
	waitFor(t, 30*time.Second, "the shell's cd to mount files/", func() bool { return mountOf(t, snap+"/files") != "" })
	time.Sleep(500 * time.Millisecond)
	before := lvNames(t, "e2e")
	if err := syscall.Rmdir(snap); errnoOf(err) != syscall.EBUSY {
		t.Errorf("rmdir with a shell in files/: %v, want EBUSY", err)
	}
	if after := lvNames(t, "e2e"); after != before {
		t.Errorf("LVM changed: %q -> %q", before, after)
	}
	if mountOf(t, snap+"/files") == "" {
		t.Error("the refused rmdir unmounted files/")
	}
	shell.Process.Kill()
	shell.Wait()
	time.Sleep(6 * time.Second) // past files_idle: rmdir must unmount a live mount itself
	mustSh(t, "ls "+snap+"/files/etc >/dev/null")
	mustSh(t, "rmdir "+snap)
	if got := lvNames(t, "e2e"); got != "web" {
		t.Errorf("after rmdir lvs shows %q", got)
	}
	if got := mountsUnder(t, d.mnt); len(got) > 0 {
		t.Errorf("mounts left after rmdir: %v", got)
	}
}

// TestBackupXFS backs up a snapshot of a mounted XFS origin: the snapshot
// has the origin's UUID, so it mounts only with nouuid, and its log is not
// replayed (norecovery) since the snapshot is read-only.
func TestBackupXFS(t *testing.T) {
	newVG(t, "e2e", 1024)
	mustSh(t, "lvcreate -qq -L 300M -n db e2e && mkfs.xfs -q /dev/e2e/db")
	origin := mountOrigin(t, "e2e/db")
	populate(t, origin)
	cleanExit := checkCleanExit(t, "e2e")
	d := startSnapfs(t, backupConfig)
	cleanExit(d.mnt)

	mustSh(t, "mkdir "+d.path("e2e/db/before"))
	change(t, origin)
	// (Not through qemu-img: 300 MB, the least mkfs.xfs makes, take long
	// under emulation, and the ext4 test does it.)
	checkSnapshotFiles(t, d, "e2e/db/before", "/dev/e2e/before", false, "xfs", "norecovery", "nouuid")
	// merge unmounts files/ first.
	mustSh(t, "ls "+d.path("e2e/db/before/files/")+" >/dev/null")
	if mountOf(t, d.path("e2e/db/before/files")) == "" {
		t.Fatal("files/ not mounted")
	}
	mustSh(t, "umount "+origin) // else LVM delays the merge
	mustSh(t, "echo merge > "+d.path("e2e/db/before/ctl"))
	if got := mountsUnder(t, d.mnt); len(got) > 0 {
		t.Errorf("mounts left after merge: %v", got)
	}
	waitFor(t, 120*time.Second, "the merged snapshot to disappear", func() bool {
		_, err := os.Stat(d.path("e2e/db/before"))
		return os.IsNotExist(err)
	})
	mustSh(t, "mount /dev/e2e/db "+origin)
	if got := mustSh(t, "cat "+origin+"/etc/version"); got != "before\n" {
		t.Errorf("origin after merge: %q", got)
	}
}

// TestBackupPartitioned shows a whole-disk image, as a Xen DomU's disk
// holds one: each partition with a filesystem is a directory of files/.
func TestBackupPartitioned(t *testing.T) {
	newVG(t, "e2e", 512)
	mustSh(t, "lvcreate -qq -L 64M -n domu-disk e2e")
	mustSh(t, "printf 'label: dos\\nsize=24MiB, type=83\\nsize=16MiB, type=c\\ntype=82\\n' | sfdisk -q --no-reread --no-tell-kernel /dev/e2e/domu-disk")
	loop := strings.TrimSpace(mustSh(t, "losetup --find --show --partscan /dev/e2e/domu-disk"))
	mnt := t.TempDir()
	mustSh(t, fmt.Sprintf("mkfs.ext4 -q %[1]sp1 && mkfs.vfat %[1]sp2 >/dev/null && mkswap %[1]sp3 >/dev/null && "+
		"mount %[1]sp1 %[2]s && echo root > %[2]s/hello && umount %[2]s && "+
		"mount %[1]sp2 %[2]s && echo boot > %[2]s/HELLO.TXT && umount %[2]s && losetup -d %[1]s", loop, mnt))
	cleanExit := checkCleanExit(t, "e2e")
	d := startSnapfs(t, backupConfig)
	cleanExit(d.mnt)

	mustSh(t, "mkdir "+d.path("e2e/domu-disk/snap"))
	files := d.path("e2e/domu-disk/snap/files")
	if got := mustSh(t, "ls "+files); got != "p1\np2\n" {
		t.Errorf("ls files: %q, want p1 and p2 (p3 is swap)", got)
	}
	if got := mustSh(t, "cat "+files+"/p1/hello "+files+"/p2/HELLO.TXT"); got != "root\nboot\n" {
		t.Errorf("partition contents: %q", got)
	}
	if opts := mountOf(t, files+"/p1"); !strings.HasPrefix(opts, "ext4 ro,") {
		t.Errorf("p1 mounted as %q", opts)
	}
	// FAT has no owners: its own options gate it, as root's.
	if opts := mountOf(t, files+"/p2"); !strings.HasPrefix(opts, "vfat ro,") || !strings.Contains(opts, "fmask=0177") || !strings.Contains(opts, "dmask=0077") {
		t.Errorf("p2 mounted as %q", opts)
	}
	if got := mustSh(t, "tar -C "+files+"/p1 -c . | tar -t | sort | grep -v lost+found"); got != "./\n./hello\n" {
		t.Errorf("tar of files/p1: %q", got)
	}
	if logs := d.logs.String(); !strings.Contains(logs, "p1=ext4 p2=vfat") || !strings.Contains(logs, "p3: swap space") {
		t.Errorf("the log does not say what files/ shows and leaves out:\n%s", logs)
	}
	mustSh(t, "cmp "+d.path("e2e/domu-disk/snap/image")+" /dev/e2e/snap")

	// rmdir unmounts both partitions and lets the loop device go.
	mustSh(t, "rmdir "+d.path("e2e/domu-disk/snap"))
	if got := mountsUnder(t, d.mnt); len(got) > 0 {
		t.Errorf("mounts left after rmdir: %v", got)
	}
	if got := lvNames(t, "e2e"); got != "domu-disk" {
		t.Errorf("lvs after rmdir: %q", got)
	}
}

// TestBackupThinSnapshot: a thin snapshot is created with activation
// skipped; looking into files/ activates it, and state says so.
func TestBackupThinSnapshot(t *testing.T) {
	newVG(t, "e2e", 512)
	mustSh(t, "lvcreate -qq -L 128M -T e2e/pool && lvcreate -qq -V 64M -T e2e/pool -n thin && mkfs.ext4 -q /dev/e2e/thin")
	origin := mountOrigin(t, "e2e/thin")
	populate(t, origin)
	cleanExit := checkCleanExit(t, "e2e")
	d := startSnapfs(t, backupConfig)
	cleanExit(d.mnt)

	mustSh(t, "mkdir "+d.path("e2e/thin/ts"))
	change(t, origin)
	if got := readFile(t, d.path("e2e/thin/ts/state")); got != "inactive\n" {
		t.Fatalf("state of a new thin snapshot: %q", got)
	}
	if got := mustSh(t, "cat "+d.path("e2e/thin/ts/files/etc/version")); got != "before\n" {
		t.Errorf("files/etc/version = %q", got)
	}
	if got := readFile(t, d.path("e2e/thin/ts/state")); got != "active\n" {
		t.Errorf("state after looking into files/: %q", got)
	}
	// The activation, with the scan filter (the audit log quotes it).
	activation := regexp.MustCompile(`lvm="lvm lvchange --config devices/global_filter=\[\\"` + regexp.QuoteMeta(scanFilter("e2e")) + `\\"\] -ay -K e2e/ts"`)
	if !activation.MatchString(d.logs.String()) {
		t.Errorf("no activation in the audit log:\n%s", d.logs.String())
	}
	checkSnapshotFiles(t, d, "e2e/thin/ts", "/dev/e2e/ts", false, "ext4", "norecovery")
}

// TestBackupNoFilesystem: files/ of a snapshot without a filesystem is
// empty, and the log says why.
func TestBackupNoFilesystem(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 16M -n raw e2e && dd if=/dev/urandom of=/dev/e2e/raw bs=1M count=16 status=none")
	d := startSnapfs(t, backupConfig)
	mustSh(t, "mkdir "+d.path("e2e/raw/s"))
	if got := mustSh(t, "ls -A "+d.path("e2e/raw/s/files")); got != "" {
		t.Errorf("files/ lists %q", got)
	}
	if !strings.Contains(d.logs.String(), "files/ is empty") {
		t.Errorf("the log does not say why files/ is empty:\n%s", d.logs.String())
	}
	mustSh(t, "cmp "+d.path("e2e/raw/s/image")+" /dev/e2e/s")
}

// TestBackupExitWhileBusy: SIGTERM with a shell inside files/ still ends
// snapfs with nothing of it left in /proc/mounts.
func TestBackupExitWhileBusy(t *testing.T) {
	newVG(t, "e2e", 256)
	mustSh(t, "lvcreate -qq -L 32M -n web e2e && mkfs.ext4 -q /dev/e2e/web")
	cleanExit := checkCleanExit(t, "e2e")
	d := startSnapfs(t, backupConfig)
	cleanExit(d.mnt)
	mustSh(t, "mkdir "+d.path("e2e/web/s"))
	shell := exec.Command("bash", "-c", "cd "+d.path("e2e/web/s/files")+" && exec sleep 600")
	said := &syncBuffer{}
	shell.Stdout, shell.Stderr = said, said
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		shell.Process.Kill()
		shell.Wait()
		if t.Failed() {
			t.Logf("the shell (cd into files/) said %q", said.String())
		}
	}()
	waitFor(t, 30*time.Second, "the shell's cd to mount files/", func() bool { return len(mountsUnder(t, d.mnt)) == 1 })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "snapfs to exit", func() bool { return syscall.Kill(d.cmd.Process.Pid, 0) != nil })
	if got := mountsUnder(t, d.mnt); len(got) > 0 || isMounted(d.mnt) {
		t.Errorf("after SIGTERM with a shell in files/: mounts %v, tree mounted %v", got, isMounted(d.mnt))
	}
}
