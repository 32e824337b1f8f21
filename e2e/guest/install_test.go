//go:build vmguest

// Installation scenarios, as an administrator of a Dom0 meets snapfs: make
// install, the systemd unit, the man pages, mount -t fuse.snapfs and fstab,
// -check-config, and a snapfs that was killed and is started again.
package guest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// buildDir is where e2e.TestVM built snapfs and the man pages on the host
// (make man OUT=.build): make install installs from there.
func buildDir(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("SNAPFS_BIN")
	if bin == "" {
		t.Fatal("SNAPFS_BIN is not set: run these tests through e2e.TestVM")
	}
	dir := filepath.Dir(bin)
	for _, f := range []string{"snapfs", "snapfs.8", "snapfs.toml.5"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%v: build snapfs and its man pages on the host first (make build man OUT=%s); e2e.TestVM does", err, dir)
		}
	}
	return dir
}

// makeInstall runs make install into a fresh DESTDIR, from what the host
// built: the VM cannot build, the checkout is read-only here.
func makeInstall(t *testing.T, dest string, vars ...string) string {
	t.Helper()
	args := append([]string{"-C", repoRoot(t), "install", "OUT=" + buildDir(t), "DESTDIR=" + dest}, vars...)
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// installedFiles lists the files below dir with their modes.
func installedFiles(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	files := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(path, dir)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestInstallLayout: make install honours DESTDIR and PREFIX, fills the
// paths into the unit, and never replaces an existing /etc/snapfs.toml.
func TestInstallLayout(t *testing.T) {
	dest := t.TempDir()
	out := makeInstall(t, dest)
	want := map[string]fs.FileMode{
		"/usr/local/sbin/snapfs":                       0o755,
		"/usr/local/share/man/man8/snapfs.8":           0o644,
		"/usr/local/share/man/man5/snapfs.toml.5":      0o644,
		"/usr/local/lib/systemd/system/snapfs.service": 0o644,
		"/etc/snapfs.toml":                             0o644,
		"/etc/lvm/profile/snapfs.profile":              0o644,
	}
	got := installedFiles(t, dest)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("make install DESTDIR=%s installed\n%v\nwant\n%v\n%s", dest, got, want, out)
	}
	if a, b := readFile(t, os.Getenv("SNAPFS_BIN")), readFile(t, dest+"/usr/local/sbin/snapfs"); a != b {
		t.Error("the installed binary is not the one built")
	}
	if a, b := readFile(t, repoRoot(t)+"/dist/snapfs.toml"), readFile(t, dest+"/etc/snapfs.toml"); a != b {
		t.Error("/etc/snapfs.toml is not dist/snapfs.toml")
	}
	unit := readFile(t, dest+"/usr/local/lib/systemd/system/snapfs.service")
	if !strings.Contains(unit, "\nExecStart=/usr/local/sbin/snapfs -config /etc/snapfs.toml ${SNAPFS_MOUNTPOINT}\n") || strings.Contains(unit, "@SBINDIR@") || strings.Contains(unit, "@SYSCONFDIR@") {
		t.Errorf("unit paths not filled in:\n%s", unit)
	}
	mustSh(t, os.Getenv("SNAPFS_BIN")+" -check-config "+dest+"/etc/snapfs.toml")

	// A second install keeps the administrator's config.
	mine := "vgs = [\"vg\"]\n"
	if err := os.WriteFile(dest+"/etc/snapfs.toml", []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	out = makeInstall(t, dest)
	if got := readFile(t, dest+"/etc/snapfs.toml"); got != mine {
		t.Errorf("make install replaced an existing /etc/snapfs.toml:\n%s", got)
	}
	if !strings.Contains(out, "keeping "+dest+"/etc/snapfs.toml") {
		t.Errorf("make install does not say it kept the config:\n%s", out)
	}

	dest = t.TempDir()
	makeInstall(t, dest, "PREFIX=/usr")
	for _, f := range []string{"/usr/sbin/snapfs", "/usr/share/man/man8/snapfs.8", "/usr/share/man/man5/snapfs.toml.5", "/usr/lib/systemd/system/snapfs.service", "/etc/snapfs.toml"} {
		if _, err := os.Stat(dest + f); err != nil {
			t.Errorf("PREFIX=/usr: %v", err)
		}
	}
	if unit := readFile(t, dest+"/usr/lib/systemd/system/snapfs.service"); !strings.Contains(unit, "\nExecStart=/usr/sbin/snapfs ") {
		t.Errorf("PREFIX=/usr: unit runs another binary:\n%s", unit)
	}
}

// snapfsOnPath puts the binary under test in /usr/local/sbin, in a tmpfs
// over the host's read-only directory, until the test ends. mount(8) runs
// helpers without PATH, so mount.fuse3's shell looks in its default path,
// where /usr/local/sbin comes first.
func snapfsOnPath(t *testing.T) {
	t.Helper()
	mustSh(t, "mount -t tmpfs -o mode=0755 snapfs-test /usr/local/sbin && install -m 0755 "+os.Getenv("SNAPFS_BIN")+" /usr/local/sbin/snapfs")
	t.Cleanup(func() {
		if err := syscall.Unmount("/usr/local/sbin", 0); err != nil {
			t.Errorf("unmount /usr/local/sbin: %v", err)
		}
	})
}

// TestInstallUnitVerifies runs systemd-analyze verify on the installed unit,
// which checks its syntax, the binaries it runs and its man pages, and
// systemd-analyze security on its sandbox.
func TestInstallUnitVerifies(t *testing.T) {
	dest := t.TempDir()
	makeInstall(t, dest)
	snapfsOnPath(t)
	unit := dest + "/usr/local/lib/systemd/system/snapfs.service"
	out, err := sh(t, "MANPATH="+dest+"/usr/local/share/man systemd-analyze verify "+unit)
	if err != nil || strings.Contains(out, "snapfs.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// An exposure of 5.0 ("MEDIUM") or more fails: the sandbox has got
	// weaker. See the unit for what it must leave open, and why.
	out, err = sh(t, "systemd-analyze security --offline=true --threshold=49 "+unit)
	if err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
	if i := strings.Index(out, "Overall exposure level"); i >= 0 {
		t.Log(strings.TrimSpace(out[i:]))
	}
}

// TestInstallManPages renders both man pages with man -l and groff's
// warnings on.
func TestInstallManPages(t *testing.T) {
	dest := t.TempDir()
	makeInstall(t, dest)
	for page, sections := range map[string][]string{
		"man8/snapfs.8":      {"NAME", "SYNOPSIS", "OPTIONS", "MOUNT OPTIONS", "THE TREE", "FILES", "ERRORS", "EXAMPLES"},
		"man5/snapfs.toml.5": {"NAME", "KEYS", "snapshot_size", "command_timeout", "EXAMPLE"},
	} {
		cmd := exec.Command("man", "--warnings", "-l", dest+"/usr/local/share/man/"+page)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("man -l %s: %v\n%s", page, err, stderr.String())
		}
		for _, s := range sections {
			if !strings.Contains(stdout.String(), "\n"+s) && !strings.Contains(stdout.String(), " "+s) {
				t.Errorf("man -l %s shows no %s:\n%s", page, s, stdout.String())
			}
		}
	}
}

// TestCheckConfig: -check-config exits 0 on a good file and 1 on a bad
// one, naming the key and the line.
func TestCheckConfig(t *testing.T) {
	bin := os.Getenv("SNAPFS_BIN")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	writeFile(t, good, "vgs = [\"e2e\"]\nsnapshot_size = \"10%ORIGIN\"\nadmin_group = \"disk\"\n\n[origin.\"e2e/web\"]\nquiesce = \"pause\"\n")
	if out := mustSh(t, bin+" -check-config "+good); out != good+": valid\n" {
		t.Errorf("good file: %q", out)
	}
	mustSh(t, bin+" -check-config "+repoRoot(t)+"/dist/snapfs.toml")
	for name, tc := range map[string]struct {
		content string
		want    []string
	}{
		"unknown key": {"vgs = [\"e2e\"]\n\nsnapshot_sise = \"2G\"\n", []string{"line 3", "key snapshot_sise", "unknown key"}},
		"bad value":   {"vgs = [\"e2e\"]\n[origin.\"e2e/web\"]\nquiesce = \"freeze\"\n", []string{"line 3", "quiesce", "freeze"}},
		"no group":    {"admin_group = \"nosuchgroup\"\n", []string{"line 1", "key admin_group", "nosuchgroup"}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".toml")
		writeFile(t, path, tc.content)
		out, err := sh(t, bin+" -check-config "+path)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit status 1", name, err)
		}
		for _, w := range append(tc.want, path) {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %q", name, out, w)
			}
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

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

// foreground starts snapfs in the foreground, as systemd does, on mnt, and
// waits until it serves. Nothing stops it at the end of the test.
func foreground(t *testing.T, mnt, cfg string, env ...string) *daemon {
	t.Helper()
	d := &daemon{mnt: mnt, logs: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(os.Getenv("SNAPFS_BIN"), "-config", cfg, mnt)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	waitFor(t, 20*time.Second, "snapfs to serve", func() bool {
		return strings.Contains(d.logs.String(), "msg=serving")
	})
	return d
}

// TestStaleMountRecovered kills snapfs with SIGKILL, which leaves its mount
// behind ("Transport endpoint is not connected"); the next snapfs on that
// mount point cleans it up, says so, and serves.
func TestStaleMountRecovered(t *testing.T) {
	_, cfg, mnt := webVGSetup(t)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})

	killed := foreground(t, mnt, cfg)
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-killed.done
	out, err := sh(t, "ls "+mnt)
	if err == nil || !strings.Contains(out, "Transport endpoint is not connected") {
		t.Fatalf("after SIGKILL, ls of the mount point: %v %q", err, out)
	}
	// The unit's ExecStartPre runs mkdir -p here, which fails once the
	// kernel no longer answers stat from its cache: the unit ignores that.
	if out, err := sh(t, "mkdir -p "+mnt); err != nil {
		t.Logf("mkdir -p on the stale mount: %v %s", err, out)
	}

	d := foreground(t, mnt, cfg)
	t.Cleanup(func() { d.stop(t) })
	logs := d.logs.String()
	if !strings.Contains(logs, `level=WARN msg="unmounting a stale snapfs mount left by a snapfs that is gone" mountpoint=`+mnt) ||
		!strings.Contains(logs, "transport endpoint is not connected") {
		t.Errorf("no log line about the stale mount:\n%s", logs)
	}
	if got := mustSh(t, "ls "+mnt+"/e2e"); got != "status\nstatus.json\nweb\n" {
		t.Errorf("ls of the VG after recovery: %q", got)
	}
	if n := mountCount(t, mnt); n != 1 {
		t.Errorf("%s mounted %d times", mnt, n)
	}
}

// TestSystemdReadiness plays systemd for a Type=notify service: snapfs
// sends READY=1 on NOTIFY_SOCKET once the tree serves, and logs in the
// journal's format when its standard error is the JOURNAL_STREAM.
func TestSystemdReadiness(t *testing.T) {
	dir, cfg, mnt := webVGSetup(t)
	notify := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	journal, err := os.Create(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer journal.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(journal.Fd()), &st); err != nil {
		t.Fatal(err)
	}

	d := &daemon{mnt: mnt, logs: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(os.Getenv("SNAPFS_BIN"), "-config", cfg, mnt)
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	d.cmd.Stdout, d.cmd.Stderr = journal, journal
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("journal:\n%s", readFile(t, journal.Name()))
		}
	})

	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification from snapfs: %v", err)
	}
	// No waiting: the tree serves when READY=1 arrives.
	entries, err := os.ReadDir(mnt + "/e2e")
	if err != nil || len(entries) != 3 {
		t.Errorf("ls of the VG when READY=1 arrived: %v %v", entries, err)
	}
	if msg := string(buf[:n]); !strings.HasPrefix(msg, "READY=1\n") || !strings.Contains(msg, "STATUS=serving "+mnt) {
		t.Errorf("notification %q", msg)
	}
	waitFor(t, 5*time.Second, "the serving line", func() bool {
		return strings.Contains(readFile(t, journal.Name()), "msg=serving")
	})
	logs := readFile(t, journal.Name())
	if !strings.Contains(logs, "<6>level=INFO msg=serving mountpoint="+mnt) || strings.Contains(logs, "time=") {
		t.Errorf("not in the journal's format:\n%s", logs)
	}
}

// TestSystemdUnit runs the installed unit under a real systemd: PID 1 of a
// PID namespace of its own, with private /tmp and /run (systemd-tmpfiles
// empties /tmp at boot). It checks that Type=notify readiness comes, that
// the mount is seen outside the service's sandbox, that LVM works inside
// it, and that stopping unmounts.
func TestSystemdUnit(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	snapfsOnPath(t)
	// /var/tmp, unlike /tmp, is shared with systemd's namespace.
	dir, err := os.MkdirTemp("/var/tmp", "snapfs-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	mnt := filepath.Join(dir, "mnt")
	makeInstall(t, filepath.Join(dir, "dest"), "SYSCONFDIR="+dir)
	writeFile(t, filepath.Join(dir, "snapfs.toml"), baseConfig)
	unit := filepath.Join(dir, "dest/usr/local/lib/systemd/system/snapfs.service")
	dropIn := filepath.Join(dir, "mountpoint.conf")
	writeFile(t, dropIn, "[Service]\nEnvironment=SNAPFS_MOUNTPOINT="+mnt+"\n")

	cgroup2, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cgroup2) == 0 {
		mustSh(t, "mount -t cgroup2 cgroup2 /sys/fs/cgroup")
	}
	// Its log goes to its journal and the kernel's, not on the console.
	systemdArgs := "--system --unit=snapfs.service --log-target=journal-or-kmsg --show-status=no"
	boot := "mount -t tmpfs tmpfs /tmp && mount -t tmpfs -o mode=0755 tmpfs /run && " +
		"mkdir -p /run/systemd/system/snapfs.service.d && " +
		"cp " + unit + " /run/systemd/system/ && cp " + dropIn + " /run/systemd/system/snapfs.service.d/ && " +
		"exec /lib/systemd/systemd " + systemdArgs
	console := &syncBuffer{}
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--", "sh", "-c", boot)
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	t.Cleanup(func() {
		if pid > 0 {
			// The end of PID 1 ends its namespace.
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("systemd's standard output and error:\n%s", console.String())
		}
	})
	waitFor(t, 30*time.Second, "systemd to start", func() bool {
		pid = processWithArgs("/lib/systemd/systemd " + systemdArgs)
		return pid > 0
	})
	inSystemd := func(line string) (string, error) {
		t.Helper()
		return sh(t, fmt.Sprintf("nsenter -t %d -m -p -- sh -c '%s'", pid, line))
	}
	state := ""
	deadline := time.Now().Add(5 * time.Minute) // systemd boots in a minute under emulation
	for time.Now().Before(deadline) && state != "active" && state != "failed" {
		time.Sleep(2 * time.Second)
		out, _ := inSystemd("systemctl is-active snapfs.service")
		state = strings.TrimSpace(out)
	}
	status, _ := inSystemd("systemctl status --no-pager -l snapfs.service")
	if state != "active" {
		journal, _ := inSystemd("journalctl -b --no-pager | tail -n 100")
		t.Fatalf("snapfs.service is %q:\n%s\n%s", state, status, journal)
	}
	if !strings.Contains(status, `Status: "serving `+mnt+`"`) {
		t.Errorf("no status from snapfs:\n%s", status)
	}

	// Outside the service, in systemd's namespace, the tree serves.
	out, err := inSystemd("findmnt -n -o FSTYPE " + mnt + " && ls " + mnt + "/e2e && mkdir " + mnt + "/e2e/web/s1")
	if err != nil || !strings.Contains(out, "fuse.snapfs\nstatus\nstatus.json\nweb\n") {
		t.Fatalf("the tree outside the service: %v\n%s", err, out)
	}
	if got := lvNames(t, "e2e"); got != "s1 web" {
		t.Errorf("after mkdir in the sandboxed service, lvs shows %q", got)
	}
	if out, err := inSystemd("rmdir " + mnt + "/e2e/web/s1"); err != nil {
		t.Errorf("rmdir: %v %s", err, out)
	}

	if out, err := inSystemd("systemctl stop snapfs.service"); err != nil {
		t.Errorf("systemctl stop: %v\n%s", err, out)
	}
	if out, _ := inSystemd("systemctl is-active snapfs.service"); strings.TrimSpace(out) != "inactive" {
		t.Errorf("after stop, snapfs.service is %q", out)
	}
	if out, err := inSystemd("findmnt " + mnt); err == nil {
		t.Errorf("still mounted after stop:\n%s", out)
	}
	journal, _ := inSystemd("journalctl -u snapfs.service --no-pager -o cat")
	for _, want := range []string{"level=INFO msg=serving mountpoint=" + mnt, "op=mkdir", "op=rmdir", "level=INFO msg=unmounted"} {
		if !strings.Contains(journal, want) {
			t.Errorf("journal lacks %q:\n%s", want, journal)
		}
	}
	if strings.Contains(journal, "time=") {
		t.Errorf("journal lines carry a time of their own:\n%s", journal)
	}
}

// processWithArgs returns the pid of a process whose command line is args,
// or 0.
func processWithArgs(args string) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err == nil && strings.Join(strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), " ") == args {
			return pid
		}
	}
	return 0
}

// slowReportSetup writes a config whose lvm is a wrapper that runs sleepCmd
// before each fullreport, plus extra config lines, and makes an empty mount
// point.
func slowReportSetup(t *testing.T, sleepCmd, extra string) (cfg, mnt string) {
	t.Helper()
	dir := t.TempDir()
	slow := filepath.Join(dir, "slowlvm")
	writeFile(t, slow, "#!/bin/sh\n[ \"$1\" = fullreport ] && "+sleepCmd+"\nexec lvm \"$@\"\n")
	if err := os.Chmod(slow, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "snapfs.toml")
	writeFile(t, cfg, baseConfig+fmt.Sprintf("lvm = %q\n", slow)+extra)
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg, mnt
}

// TestSignalWhileMounting sends SIGTERM while snapfs mounts, as systemctl
// stop or a timeout may: the mount is in /proc/mounts, but gofs.Mount still
// waits for the answer to the kernel's first request, which here waits for
// a slow lvm. snapfs must still end, with status 0 and nothing mounted.
func TestSignalWhileMounting(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	cfg, mnt := slowReportSetup(t, "sleep 5", "")
	d := &daemon{mnt: mnt, logs: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(os.Getenv("SNAPFS_BIN"), "-config", cfg, mnt)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	waitFor(t, 20*time.Second, "the mount to appear", func() bool { return isMounted(mnt) })
	if strings.Contains(d.logs.String(), "msg=serving") {
		t.Log("snapfs served already: the signal comes late")
	}
	d.stop(t)
}

// TestStartFailsCleanly: when the first access through the new mount fails
// (here LVM runs past command_timeout), snapfs exits 1 with the error and
// leaves no mount behind.
func TestStartFailsCleanly(t *testing.T) {
	newVG(t, "e2e", 128)
	cfg, mnt := slowReportSetup(t, "exec sleep 30", "command_timeout = \"2s\"\n")
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	out, err := exec.Command(os.Getenv("SNAPFS_BIN"), "-config", cfg, mnt).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "timed out") {
		t.Errorf("snapfs with an lvm that hangs: %v\n%s", err, out)
	}
	if isMounted(mnt) {
		t.Errorf("%s stays mounted after the failed start", mnt)
	}
}
