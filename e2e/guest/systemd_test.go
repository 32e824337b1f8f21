//go:build vmguest

// snapfs under systemd: the readiness protocol of a Type=notify service,
// played by the test, and the installed unit run by a real systemd.
package guest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

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
