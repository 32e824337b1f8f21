//go:build vmguest

// snapfs as a mount helper, as an administrator of a Dom0 mounts it:
// mount -t fuse.snapfs and fstab, with the daemon that stays, logs to
// syslog and ends with umount.
package guest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// syslogListener serves /dev/log for the test, the way journald or rsyslog
// would, and collects what is logged there: a daemonized snapfs logs to
// syslog.
func syslogListener(t *testing.T) *syncBuffer {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64*1024)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			logs.Write(append(bytes.TrimRight(buf[:n], "\n"), '\n'))
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
		os.Remove("/dev/log")
		if t.Failed() {
			t.Logf("syslog:\n%s", logs.String())
		}
	})
	return logs
}

// snapfsPIDs returns the snapfs processes serving mnt.
func snapfsPIDs(mnt string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != "snapfs" {
			continue
		}
		for _, a := range args[1:] {
			if a == mnt {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// mountCount says how often dir is a mount point.
func mountCount(t *testing.T, dir string) int {
	t.Helper()
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != dir, false
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(mounts)
}

// checkDaemon checks the daemon a mount helper left: exactly one, in its
// own session, logging to syslog; it returns its pid.
func checkDaemon(t *testing.T, mnt string) int {
	t.Helper()
	pids := snapfsPIDs(mnt)
	if len(pids) != 1 {
		t.Fatalf("snapfs processes for %s: %v, want one daemon", mnt, pids)
	}
	stat := readFile(t, fmt.Sprintf("/proc/%d/stat", pids[0]))
	fields := strings.Fields(stat[strings.LastIndexByte(stat, ')')+2:])
	if sid := fields[3]; sid != strconv.Itoa(pids[0]) {
		t.Errorf("the daemon is not in a session of its own: sid %s, pid %d", sid, pids[0])
	}
	return pids[0]
}

// unmountEndsDaemon unmounts mnt with umount(8) and waits for the daemon to
// end, with its last log line in syslog.
func unmountEndsDaemon(t *testing.T, mnt string, pid int, syslog *syncBuffer) {
	t.Helper()
	last := "msg=unmounted mountpoint=" + mnt
	before := strings.Count(syslog.String(), last)
	mustSh(t, "umount "+mnt)
	waitFor(t, 20*time.Second, "the daemon to exit after umount", func() bool {
		return syscall.Kill(pid, 0) != nil
	})
	waitFor(t, 5*time.Second, "the daemon's last log line", func() bool {
		return strings.Count(syslog.String(), last) > before
	})
	if isMounted(mnt) {
		t.Errorf("%s is still mounted", mnt)
	}
}

// mountHelperSetup readies a run of snapfs as a mount helper: a VG with an
// origin, snapfs where mount.fuse3 looks for it, a syslog to catch the
// daemon's log, a config file and an empty mount point.
func mountHelperSetup(t *testing.T) (syslog *syncBuffer, cfg, mnt string) {
	t.Helper()
	_, cfg, mnt = webVGSetup(t)
	snapfsOnPath(t)
	return syslogListener(t), cfg, mnt
}

// webVGSetup makes VG e2e with LV web, and a fresh directory dir holding
// the config cfg (baseConfig) and an empty mount point mnt.
func webVGSetup(t *testing.T) (dir, cfg, mnt string) {
	t.Helper()
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	dir = t.TempDir()
	cfg = filepath.Join(dir, "snapfs.toml")
	writeFile(t, cfg, baseConfig)
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, cfg, mnt
}

// TestMountTypeSnapfs mounts with mount -t fuse.snapfs: mount returns once
// the tree serves, the daemon stays, umount ends it.
func TestMountTypeSnapfs(t *testing.T) {
	syslog, cfg, mnt := mountHelperSetup(t)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})

	// Quiet on success, like other mount helpers: the log is in syslog.
	// Warnings show on mount's standard error too; the one this VM gives
	// is that Xen features are off (xl is installed, no hypervisor runs).
	out := mustSh(t, "mount -t fuse.snapfs snapfs "+mnt+" -o config="+cfg)
	if rest := regexp.MustCompile(`(?m)^level=WARN msg="Xen features off: .*\n`).ReplaceAllString(out, ""); rest != "" {
		t.Errorf("mount printed %q", out)
	}
	// No waiting: the tree serves when mount returns.
	if got := mustSh(t, "ls "+mnt+"/e2e"); got != "status\nstatus.json\nweb\n" {
		t.Errorf("ls of the VG right after mount: %q", got)
	}
	if got := mustSh(t, "findmnt -n -o SOURCE,FSTYPE "+mnt); strings.Join(strings.Fields(got), " ") != "snapfs fuse.snapfs" {
		t.Errorf("findmnt: %q", got)
	}
	if opts := mustSh(t, "findmnt -n -o VFS-OPTIONS "+mnt); !strings.Contains(opts, "nosuid") || !strings.Contains(opts, "nodev") {
		t.Errorf("mount flags %q: nosuid,nodev must stay although mount.fuse3 passes dev,suid", opts)
	}
	pid := checkDaemon(t, mnt)
	mustSh(t, "mkdir "+mnt+"/e2e/web/s1")
	if got := lvNames(t, "e2e"); got != "s1 web" {
		t.Errorf("after mkdir, lvs shows %q", got)
	}
	mustSh(t, "rmdir "+mnt+"/e2e/web/s1")

	// A second mount on the same mount point is refused.
	if out, err := sh(t, "mount -t fuse.snapfs snapfs "+mnt+" -o config="+cfg); err == nil || !strings.Contains(out, "already mounted") {
		t.Errorf("second mount: %v %q", err, out)
	}
	if n := mountCount(t, mnt); n != 1 {
		t.Errorf("%s mounted %d times", mnt, n)
	}

	// A killed daemon leaves a stale mount; mount cleans it up, and says
	// so on its standard error.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed daemon to go", func() bool { return syscall.Kill(pid, 0) != nil })
	if out, err := sh(t, "ls "+mnt); err == nil || !strings.Contains(out, "Transport endpoint is not connected") {
		t.Errorf("after SIGKILL, ls of the mount point: %v %q", err, out)
	}
	if out := mustSh(t, "mount -t fuse.snapfs snapfs "+mnt+" -o config="+cfg); !strings.Contains(out, "level=WARN msg=\"unmounting a stale snapfs mount") {
		t.Errorf("mount over a stale mount printed %q", out)
	}
	if got := mustSh(t, "ls "+mnt+"/e2e"); got != "status\nstatus.json\nweb\n" {
		t.Errorf("ls of the VG after recovery: %q", got)
	}
	if n := mountCount(t, mnt); n != 1 {
		t.Errorf("after recovery, %s is mounted %d times", mnt, n)
	}
	pid = checkDaemon(t, mnt)

	unmountEndsDaemon(t, mnt, pid, syslog)
	logs := syslog.String()
	for _, want := range []string{"snapfs[", "msg=serving mountpoint=" + mnt, "op=mkdir", "op=rmdir"} {
		if !strings.Contains(logs, want) {
			t.Errorf("syslog lacks %q", want)
		}
	}
	if strings.Contains(logs, "time=") {
		t.Error("syslog lines carry a time of their own")
	}

	// ro is passed on to the kernel as a mount flag.
	mustSh(t, "mount -t fuse.snapfs snapfs "+mnt+" -o ro,config="+cfg)
	if out, err := sh(t, "mkdir "+mnt+"/e2e/web/s2"); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Errorf("mkdir on a read-only mount: %v %q", err, out)
	}
	unmountEndsDaemon(t, mnt, checkDaemon(t, mnt), syslog)

	// Failures come back from mount, with the daemon's error.
	for _, tc := range []struct{ opts, want string }{
		{"config=/nonexistent.toml", "/nonexistent.toml"},
		{"config=" + cfg + ",bogus", `unknown mount option "bogus"`},
	} {
		out, err := sh(t, "mount -t fuse.snapfs snapfs "+mnt+" -o "+tc.opts)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("mount -o %s: %v %q, want an error saying %q", tc.opts, err, out, tc.want)
		}
		if isMounted(mnt) || len(snapfsPIDs(mnt)) > 0 {
			t.Errorf("mount -o %s failed, yet left a mount or a daemon", tc.opts)
		}
	}
}

// TestFstab mounts the README's fstab line with mount -a.
func TestFstab(t *testing.T) {
	syslog, cfg, mnt := mountHelperSetup(t)
	// The VM's /etc is the host's, read-only: a modified copy of its
	// fstab is mounted over it.
	fstab := readFile(t, "/etc/fstab") + fmt.Sprintf("snapfs %s fuse.snapfs defaults,config=%s 0 0\n", mnt, cfg)
	fstabCopy := filepath.Join(t.TempDir(), "fstab")
	writeFile(t, fstabCopy, fstab)
	mustSh(t, "mount --bind "+fstabCopy+" /etc/fstab")
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		if err := syscall.Unmount("/etc/fstab", 0); err != nil {
			t.Errorf("unmount /etc/fstab: %v", err)
		}
	})

	mustSh(t, "mount -a -t fuse.snapfs")
	if got := mustSh(t, "ls "+mnt+"/e2e"); got != "status\nstatus.json\nweb\n" {
		t.Errorf("ls of the VG right after mount -a: %q", got)
	}
	pid := checkDaemon(t, mnt)
	// mount -a knows it is mounted: the source is fstab's.
	mustSh(t, "mount -a -t fuse.snapfs")
	if n := mountCount(t, mnt); n != 1 {
		t.Errorf("after a second mount -a, %s is mounted %d times", mnt, n)
	}
	if got := mustSh(t, "cat "+mnt+"/e2e/web/status"); !strings.Contains(got, "name: web\n") {
		t.Errorf("origin status: %q", got)
	}
	unmountEndsDaemon(t, mnt, pid, syslog)

	// mount MOUNTPOINT reads the line too.
	mustSh(t, "mount "+mnt)
	unmountEndsDaemon(t, mnt, checkDaemon(t, mnt), syslog)
}
