package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestXen runs the Xen guest tests (e2e/guest/xen_test.go, build tags
// vmguest and xenguest) in dom0 of a real Xen host: e2e/vm/run --xen boots
// the Xen hypervisor under qemu with the host's kernel as dom0.
func TestXen(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Xen in a VM and takes minutes; skipped under -short")
	}
	requireVM(t)
	requireXenHost(t)
	pattern := "^TestXen"
	if p := os.Getenv("SNAPFS_E2E_RUN"); p != "" {
		pattern = p
	}
	runGuestTests(t, guestRun{
		tags:    "vmguest,xenguest",
		vmArgs:  []string{"--xen"},
		timeout: 15 * time.Minute,
		pattern: pattern,
	})
}

// requireXenHost skips the test when this machine lacks the Xen hypervisor
// image or its tools, or fails it in CI, where every test must run.
func requireXenHost(t *testing.T) {
	t.Helper()
	var missing []string
	if images, _ := filepath.Glob("/boot/xen-*.gz"); len(images) == 0 {
		missing = append(missing, "the Xen hypervisor in /boot (package xen-hypervisor-4.17-amd64)")
	}
	if _, err := exec.LookPath("xl"); err != nil {
		if _, err := os.Stat("/usr/sbin/xl"); err != nil {
			missing = append(missing, "xl (package xen-utils-4.17)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "cannot boot Xen without " + strings.Join(missing, " and ") + "; scripts/ensure-deps installs them"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
