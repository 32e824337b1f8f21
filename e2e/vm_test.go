package e2e

import (
	"bufio"
	"context"
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

// TestVM builds snapfs and the guest tests and runs the guest tests in a VM
// with real device-mapper and LVM.
func TestVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM and takes minutes; skipped under -short")
	}
	requireVM(t)
	runGuestTests(t, guestRun{tags: "vmguest", timeout: 45 * time.Minute, pattern: os.Getenv("SNAPFS_E2E_RUN")})
}

// guestRun says which guest tests to run in which VM.
type guestRun struct {
	tags    string        // build tags of the guest test binary
	vmArgs  []string      // more options for e2e/vm/run, e.g. --xen
	timeout time.Duration // for the guest tests
	pattern string        // -test.run, when not empty
}

// runGuestTests builds snapfs and the guest tests with g.tags, boots a VM
// with e2e/vm/run and runs the guest tests in it, logging what they print.
func runGuestTests(t *testing.T, g guestRun) {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "snapfs")); err != nil {
		t.Fatalf("./cmd/snapfs does not exist yet, so there is no daemon to test: %v", err)
	}

	name := strings.ReplaceAll(g.tags, ",", "-")
	bin := filepath.Join(repo, ".build", "snapfs")
	guestTest := filepath.Join(repo, ".build", name+".test")
	goTool(t, repo, "build", "-o", bin, "./cmd/snapfs")
	goTool(t, repo, "test", "-c", "-tags", g.tags, "-o", guestTest, "./e2e/guest")
	// The man pages, next to the binary, for make install in the VM.
	if out, err := exec.Command("make", "-C", repo, "man", "OUT=.build").CombinedOutput(); err != nil {
		t.Fatalf("make man OUT=.build: %v\n%s", err, out)
	}

	// The VM gets ten minutes more than the tests, to boot and stop.
	args := append([]string{
		"--timeout", fmt.Sprint(int((g.timeout + 10*time.Minute).Seconds())),
		"--env", "SNAPFS_BIN=" + bin,
	}, g.vmArgs...)
	args = append(args, "--", guestTest, "-test.v", "-test.timeout", g.timeout.String())
	if g.pattern != "" {
		args = append(args, "-test.run", g.pattern)
	}
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		// Leave time to stop the VM and report before go test's own
		// timeout panics.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Minute))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "e2e", "vm", "run"), args...)
	// Guest tests find their testdata where go test would run them.
	cmd.Dir = filepath.Join(repo, "e2e", "guest")
	// On cancel, stop e2e/vm/run and qemu alike: a SIGKILL of the script
	// alone would leave qemu running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	t.Logf("running %s in %s", strings.Join(cmd.Args, " "), cmd.Dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var passed, failed bool
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	for lines.Scan() {
		line := lines.Text()
		t.Log(line)
		switch {
		case line == "PASS":
			passed = true
		case line == "FAIL" || strings.Contains(line, "--- FAIL"):
			failed = true
		}
	}
	if err := lines.Err(); err != nil {
		t.Errorf("reading the VM's output: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("stopped the VM a minute before go test's -timeout: %v", ctx.Err())
	case errors.As(err, &exit):
		t.Fatalf("the guest tests failed: e2e/vm/run exited with %d (124: VM timed out, 125: VM failed)", exit.ExitCode())
	case err != nil:
		t.Fatal(err)
	case failed:
		t.Fatal("the guest tests report a failure, yet exited 0")
	case !passed:
		t.Fatal("the guest tests never printed PASS")
	}
}

// requireVM skips the test when this machine cannot boot the VM, or fails it
// in CI, where every test must run.
func requireVM(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		missing = append(missing, "qemu-system-x86_64 (package qemu-system-x86)")
	}
	if kernels, _ := filepath.Glob("/boot/vmlinuz-*"); len(kernels) == 0 {
		missing = append(missing, "a kernel in /boot (package linux-image-amd64)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "cannot boot the test VM without " + strings.Join(missing, " and ") + "; scripts/ensure-deps installs them"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// goTool runs the go command in dir and fails the test with its output.
func goTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
