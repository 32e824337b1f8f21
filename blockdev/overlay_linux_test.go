package blockdev

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func TestLowerdirValue(t *testing.T) {
	tests := []struct {
		lower []string
		want  string
	}{
		{[]string{"/run/snapfs/files/gate", "/run/snapfs/files/mnt-1"}, "/run/snapfs/files/gate:/run/snapfs/files/mnt-1"},
		{[]string{"/a:b", "/c,d", `/e\f`}, `/a\:b:/c\,d:/e\\f`},
	}
	for _, tc := range tests {
		if got := lowerdirValue(tc.lower); got != tc.want {
			t.Errorf("lowerdirValue(%q) = %q, want %q", tc.lower, got, tc.want)
		}
	}
}

// requireOverlay skips, or fails in CI, where the kernel has no overlayfs.
func requireOverlay(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "mounts need root")
	}
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !slices.Contains(strings.Fields(string(b)), "overlay") {
		skipOrFail(t, "no overlay filesystem in /proc/filesystems (modprobe overlay)")
	}
}

// An overlay whose top layer is an empty directory of mode 0750 shows the
// lower layer's files under a root directory with that directory's owner
// and mode, so that a process outside its group cannot get in, even to a
// file it owns below; the layers' paths may hold the characters of the
// option syntax.
func TestMountOverlay(t *testing.T) {
	requireOverlay(t)
	dir := t.TempDir()
	// Unprivileged processes must get to the mount point.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gate := filepath.Join(dir, `gate:with,odd\chars`)
	lower := filepath.Join(dir, "lower")
	target := filepath.Join(dir, "target")
	for _, d := range []string{gate, lower, target} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const gid = 4242
	if err := os.Chown(gate, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(gate, 0o750); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(lower, "key")
	if err := os.WriteFile(key, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key, 1001, 1001); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	if err := MountOverlay("/dev/test", []string{gate, lower}, fd); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Detach(fd) }()
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(target))
	if err != nil || len(mounts) != 1 {
		t.Fatalf("mounts on %s: %v %v", target, mounts, err)
	}
	if m := mounts[0]; m.FSType != "overlay" || m.Source != "/dev/test" || !slices.Contains(strings.Split(m.Options, ","), "ro") {
		t.Errorf("mounted %s from %s with %s, want a read-only overlay from /dev/test", m.FSType, m.Source, m.Options)
	}
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o750 || st.Uid != 0 || st.Gid != gid {
		t.Errorf("the overlay's root: mode %o owner %d:%d, want 750 0:%d", st.Mode&0o7777, st.Uid, st.Gid, gid)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into the overlay: %v, want EROFS", err)
	}

	cat := func(uid, gid uint32) (string, error) {
		cmd := exec.Command("cat", filepath.Join(target, "key"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		cmd.Env = []string{"LC_ALL=C"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cat(1001, 1001); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("the key's owner outside the group: %q %v, want Permission denied", out, err)
	}
	if out, err := cat(1001, gid); err != nil || out != "secret\n" {
		t.Errorf("the key's owner in the group: %q %v, want the key", out, err)
	}
}

// A failed overlay mount names the command as mount(8) would run it.
func TestMountOverlayError(t *testing.T) {
	requireOverlay(t)
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	missing := filepath.Join(dir, "missing")
	err = MountOverlay("/dev/test", []string{missing, dir}, fd)
	want := "mount -t overlay -o ro,nosuid,nodev,lowerdir=" + missing + ":" + dir + " /dev/test: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("MountOverlay with a missing layer: %v, want an error beginning %q", err, want)
	}
	if err := MountOverlay("/dev/test", nil, fd); err == nil || !strings.Contains(err.Error(), "no lower directory") {
		t.Errorf("MountOverlay without layers: %v", err)
	}
}
