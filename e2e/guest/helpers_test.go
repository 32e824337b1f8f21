//go:build vmguest

package guest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
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

// sh runs one shell line, as an administrator would type it, and returns
// its combined output and error.
func sh(t *testing.T, line string) (string, error) {
	t.Helper()
	out, err := exec.Command("bash", "-c", line).CombinedOutput()
	return string(out), err
}

func mustSh(t *testing.T, line string) string {
	t.Helper()
	out, err := sh(t, line)
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return out
}

// newVG makes a VG on a fresh loop file, removed at the end of the test.
func newVG(t *testing.T, name string, sizeMB int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), name+".img")
	mustSh(t, fmt.Sprintf("truncate -s %dM %s", sizeMB, img))
	loop := strings.TrimSpace(mustSh(t, "losetup --find --show "+img))
	mustSh(t, fmt.Sprintf("pvcreate -qq %s && vgcreate -qq %s %s", loop, name, loop))
	t.Cleanup(func() {
		if out, err := sh(t, fmt.Sprintf("vgremove -qq -f %s; losetup -d %s", name, loop)); err != nil {
			t.Logf("cleanup of %s: %v\n%s", name, err, out)
		}
	})
}

// lvNames lists the VG's LVs as lvs -a shows them, hidden ones included.
func lvNames(t *testing.T, vg string) string {
	t.Helper()
	out := mustSh(t, "lvs -a --noheadings -o lv_name "+vg)
	names := strings.Fields(out)
	sort.Strings(names)
	return strings.Join(names, " ")
}

// lvsField reads one field of one LV from lvs.
func lvsField(t *testing.T, lv, field string, extra ...string) string {
	t.Helper()
	args := append([]string{"--noheadings", "-o", field}, extra...)
	out, err := exec.Command("lvs", append(args, lv)...).CombinedOutput()
	if err != nil {
		t.Fatalf("lvs %s: %v\n%s", lv, err, out)
	}
	return strings.TrimSpace(string(out))
}

// scanFilter is the pattern of the global_filter snapfs gives LVM for a
// mkdir or rmdir that rejects the devices of VG vg's LVs (lvm.Client's
// scan filter), for a VG name without hyphens.
func scanFilter(vg string) string { return "r|^/dev/mapper/" + vg + "-[^-]|" }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// makeFS puts an ext4 filesystem holding a file "hello" with content on LV.
func makeFS(t *testing.T, lv, content string) {
	t.Helper()
	mnt := t.TempDir()
	mustSh(t, fmt.Sprintf("mkfs.ext4 -q -F /dev/%s && mount /dev/%s %s && echo %s > %s/hello && umount %s",
		lv, lv, mnt, content, mnt, mnt))
}

// fileOn reads "hello" from the filesystem on LV.
func fileOn(t *testing.T, lv string) string {
	t.Helper()
	mnt := t.TempDir()
	return mustSh(t, fmt.Sprintf("mount -o ro /dev/%s %s && cat %s/hello; umount %s", lv, mnt, mnt, mnt))
}
