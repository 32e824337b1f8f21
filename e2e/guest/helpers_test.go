//go:build vmguest

package guest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot returns the checkout's root, which e2e/vm/guest-init passes as
// SNAPFS_REPO.
func repoRoot(t testing.TB) string {
	t.Helper()
	repo := os.Getenv("SNAPFS_REPO")
	if repo == "" {
		t.Fatal("SNAPFS_REPO is not set: these tests run inside the VM (go test ./e2e -run TestVM)")
	}
	return repo
}

// tryRun runs argv with LC_ALL=C and returns its standard output; an error
// names the command and carries its output.
func tryRun(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\n%s%s", strings.Join(argv, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// run runs argv with LC_ALL=C and returns its standard output, or fails the
// test with the command's output.
func run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := tryRun(argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mkVG creates volume group name on a sparse loop file of sizeMB MiB (in the
// VM's memory, see e2e/vm/mkvg) and returns the loop device. When the test
// ends the VG, with all its LVs, is removed and the loop device detached.
// Cleanups run last in, first out: register anything that holds an LV open
// (a mount, snapfs) after calling mkVG.
func mkVG(t testing.TB, name string, sizeMB int) string {
	t.Helper()
	mkvg := filepath.Join(repoRoot(t), "e2e", "vm", "mkvg")
	device := strings.TrimSpace(run(t, mkvg, name, strconv.Itoa(sizeMB)))
	t.Cleanup(func() {
		if _, err := tryRun("vgremove", "--force", name); err != nil {
			t.Error(err)
		}
		if _, err := tryRun("losetup", "--detach", device); err != nil {
			t.Error(err)
		}
		os.Remove("/tmp/" + name + ".pv")
	})
	return device
}
