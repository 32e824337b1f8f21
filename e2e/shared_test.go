package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShared runs the shared-VG guest test (e2e/guest/shared_test.go, build
// tags vmguest and sharedguest) in two VMs at once, hosts 1 and 2 of a VG
// that lvmlockd and sanlock share between them on one disk: both VMs get the
// same sparse disk image (e2e/vm/run --disk, /dev/vda) and a rendezvous
// directory (--rw) where their halves of the scenario wait for each other.
// Each VM has one CPU, so that both fit on a machine with two.
//
// With SNAPFS_SHARED_RECORD set to a directory (make record-shared sets
// testdata/lvm/errors), the bare LVM commands that the guests recorded are
// copied there as shared-NAME.argv, .stderr, .exit, passed or not.
func TestShared(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two VMs and takes minutes; skipped under -short")
	}
	requireVM(t)
	requireLockDaemons(t)
	start := time.Now()
	b := buildGuestTests(t, "vmguest,sharedguest")

	// The disk lives beside the VMs' cache rather than in a temporary
	// directory: qemu opens it with O_DIRECT (cache=none), which tmpfs
	// refuses. LVM's sanlock lock LV takes 256 MiB of it.
	cache := os.Getenv("SNAPFS_VM_CACHE")
	if cache == "" {
		cache = filepath.Join(b.repo, ".cache", "vm")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	diskDir, err := os.MkdirTemp(cache, "shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(diskDir) })
	disk := filepath.Join(diskDir, "shared.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 2<<30); err != nil {
		t.Fatal(err)
	}
	rendezvous := t.TempDir()

	vms := make([]*guestVM, 2)
	for i := range vms {
		id := i + 1
		vms[i] = startGuestVM(t, b, guestRun{
			tags: "vmguest,sharedguest",
			vmArgs: []string{
				"--cpus", "1", "--mem", "1024",
				"--disk", disk, "--rw", rendezvous,
				"--env", fmt.Sprintf("SNAPFS_HOST_ID=%d", id),
				"--env", "SNAPFS_RENDEZVOUS=" + rendezvous,
			},
			timeout: 10 * time.Minute,
			pattern: "^TestShared$",
		}, fmt.Sprintf("host%d", id))
	}
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = vm.wait()
			if errs[i] != nil {
				// The guest writes this itself when its test fails; a VM
				// that died or timed out cannot, and the other host must
				// not wait for it until its own timeout.
				marker := filepath.Join(rendezvous, fmt.Sprintf("failed-host%d", i+1))
				if _, err := os.Stat(marker); os.IsNotExist(err) {
					_ = os.WriteFile(marker, []byte(errs[i].Error()+"\n"), 0o644)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("TestShared took %v, building included", time.Since(start).Round(time.Second))

	if dst := os.Getenv("SNAPFS_SHARED_RECORD"); dst != "" {
		copyRecordings(t, filepath.Join(rendezvous, "lvm-errors"), dst)
	}
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// copyRecordings copies the files of src into dst.
func copyRecordings(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Errorf("no recordings to copy: %v", err)
		return
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name())
	}
	t.Logf("copied to %s: %s", dst, strings.Join(names, " "))
}

// requireLockDaemons skips the test when this machine lacks lvmlockd or
// sanlock, which run in the VMs from the host's root, or fails it in CI,
// where every test must run.
func requireLockDaemons(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []struct{ name, pkg string }{{"lvmlockd", "lvm2-lockd"}, {"sanlock", "sanlock"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool.name); err != nil {
				missing = append(missing, fmt.Sprintf("%s (package %s)", tool.name, tool.pkg))
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "cannot share a VG between VMs without " + strings.Join(missing, " and ") + "; scripts/ensure-deps installs them"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
