package lvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVMGuest runs this package's vmguest tests (dm_vm_test.go: the ioctl
// reader against dmsetup, Percent against lvs, Report against real LVM) in
// the test VM, which has the device-mapper this machine lacks.
func TestVMGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped under -short")
	}
	var missing []string
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		missing = append(missing, "qemu-system-x86_64")
	}
	if kernels, _ := filepath.Glob("/boot/vmlinuz-*"); len(kernels) == 0 {
		missing = append(missing, "a kernel in /boot")
	}
	if len(missing) > 0 {
		msg := "cannot boot the test VM without " + strings.Join(missing, " and ") + "; scripts/ensure-deps installs them"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	pkg, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Dir(pkg)
	bin := filepath.Join(repo, ".build", "lvm-vm.test")
	build := exec.Command("go", "test", "-c", "-tags", "vmguest", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c -tags vmguest: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "e2e", "vm", "run"),
		"--timeout", "600", "--", bin, "-test.v", "-test.run", "^TestGuest")
	cmd.Dir = pkg
	// Stop e2e/vm/run and its qemu together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("%s\n%s", strings.Join(cmd.Args, " "), out)
	if err != nil {
		t.Fatalf("the vmguest tests failed: %v", err)
	}
	if !strings.Contains(string(out), "\nPASS\n") || strings.Contains(string(out), "--- FAIL") {
		t.Fatal("the vmguest tests did not pass")
	}
}
