//go:build vmguest

// The running snapfs that the end-to-end scenarios drive: started on a fresh
// mount point, asked for its LVM counters, stopped and checked at the end
// of the test.
package guest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	// stopped is set by stop: a test may stop snapfs before its cleanup does.
	stopped bool
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
	if d.stopped {
		return // a test stopped it before its cleanup
	}
	d.stopped = true
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
