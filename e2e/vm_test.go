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
	b := buildGuestTests(t, g.tags)
	if err := startGuestVM(t, b, g, "").wait(); err != nil {
		t.Fatal(err)
	}
}

// guestBuild is what the VMs run: the daemon and the guest test binary.
type guestBuild struct {
	repo      string // the checkout
	snapfs    string // the daemon under test
	guestTest string // the guest tests, built with their tags
}

// buildGuestTests builds snapfs, the guest tests with the build tags and
// the man pages (for make install in the VM) into .build of the checkout.
func buildGuestTests(t *testing.T, tags string) guestBuild {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "snapfs")); err != nil {
		t.Fatalf("./cmd/snapfs does not exist yet, so there is no daemon to test: %v", err)
	}
	b := guestBuild{
		repo:      repo,
		snapfs:    filepath.Join(repo, ".build", "snapfs"),
		guestTest: filepath.Join(repo, ".build", strings.ReplaceAll(tags, ",", "-")+".test"),
	}
	goTool(t, repo, "build", "-o", b.snapfs, "./cmd/snapfs")
	goTool(t, repo, "test", "-c", "-tags", tags, "-o", b.guestTest, "./e2e/guest")
	if out, err := exec.Command("make", "-C", repo, "man", "OUT=.build").CombinedOutput(); err != nil {
		t.Fatalf("make man OUT=.build: %v\n%s", err, out)
	}
	return b
}

// guestVM is one running e2e/vm/run with the guest tests in it.
type guestVM struct {
	name   string // prefixes its lines in the log; empty for the only VM
	cmd    *exec.Cmd
	ctx    context.Context
	cancel context.CancelFunc
	// Set by the goroutine that logs the VM's output, read after done.
	passed, failed bool
	readErr        error
	done           chan struct{}
}

// startGuestVM boots a VM that runs the guest tests of b as g says, and logs
// what it prints, each line prefixed with name and a colon unless name is
// empty. Call wait before the test ends.
func startGuestVM(t *testing.T, b guestBuild, g guestRun, name string) *guestVM {
	t.Helper()
	// The VM gets ten minutes more than the tests, to boot and stop.
	args := append([]string{
		"--timeout", fmt.Sprint(int((g.timeout + 10*time.Minute).Seconds())),
		"--env", "SNAPFS_BIN=" + b.snapfs,
	}, g.vmArgs...)
	args = append(args, "--", b.guestTest, "-test.v", "-test.timeout", g.timeout.String())
	if g.pattern != "" {
		args = append(args, "-test.run", g.pattern)
	}
	vm := &guestVM{name: name, done: make(chan struct{})}
	if deadline, ok := t.Deadline(); ok {
		// Leave time to stop the VM and report before go test's own
		// timeout panics.
		vm.ctx, vm.cancel = context.WithDeadline(context.Background(), deadline.Add(-time.Minute))
	} else {
		vm.ctx, vm.cancel = context.WithCancel(context.Background())
	}
	cmd := exec.CommandContext(vm.ctx, filepath.Join(b.repo, "e2e", "vm", "run"), args...)
	vm.cmd = cmd
	// Guest tests find their testdata where go test would run them.
	cmd.Dir = filepath.Join(b.repo, "e2e", "guest")
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
	prefix := ""
	if name != "" {
		prefix = name + ": "
	}
	t.Logf("%srunning %s in %s", prefix, strings.Join(cmd.Args, " "), cmd.Dir)
	if err := cmd.Start(); err != nil {
		vm.cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(vm.done)
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 64*1024), 1024*1024)
		for lines.Scan() {
			line := lines.Text()
			t.Log(prefix + line)
			switch {
			case line == "PASS":
				vm.passed = true
			case line == "FAIL" || strings.Contains(line, "--- FAIL"):
				vm.failed = true
			}
		}
		vm.readErr = lines.Err()
	}()
	return vm
}

// wait waits for the VM to power off and returns why its guest tests did not
// pass, or nil when they did.
func (vm *guestVM) wait() error {
	defer vm.cancel()
	<-vm.done
	err := vm.cmd.Wait()
	who := "the guest tests"
	if vm.name != "" {
		who = vm.name + "'s guest tests"
	}
	var exit *exec.ExitError
	switch {
	case vm.ctx.Err() != nil:
		return fmt.Errorf("stopped %s' VM a minute before go test's -timeout: %w", who, vm.ctx.Err())
	case errors.As(err, &exit):
		return fmt.Errorf("%s failed: e2e/vm/run exited with %d (124: VM timed out, 125: VM failed)", who, exit.ExitCode())
	case err != nil:
		return fmt.Errorf("%s: %w", who, err)
	case vm.readErr != nil:
		return fmt.Errorf("reading the output of %s: %w", who, vm.readErr)
	case vm.failed:
		return fmt.Errorf("%s report a failure, yet exited 0", who)
	case !vm.passed:
		return fmt.Errorf("%s never printed PASS", who)
	}
	return nil
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
