//go:build vmguest

// Starting and stopping snapfs: a signal the moment its mount appears, the
// command line, a snapfs that was killed and is started again, a signal
// while it mounts, and a start that fails.
package guest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
