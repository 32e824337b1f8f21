package snapmount

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/blockdev"
)

const adminGID = 4242

// guestImage makes an ext4 image as a guest would have it: home/u, owned by
// the guest's uid 1001, holds key (0600) and readme (0644).
func guestImage(t *testing.T) string {
	t.Helper()
	requireTool(t, "mkfs.ext4")
	dir := t.TempDir()
	home := filepath.Join(dir, "content/home/u")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"key": 0o600, "readme": 0o644} {
		p := filepath.Join(home, name)
		if err := os.WriteFile(p, []byte(name+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 1001, 1001); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(home, 1001, 1001); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "guest.img")
	run(t, "mkfs.ext4", "-q", "-F", "-d", filepath.Join(dir, "content"), img, "16M")
	return img
}

// runAs runs argv as uid:gid without supplementary groups.
func runAs(uid, gid uint32, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Env = []string{"LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// files/ takes the gate's owner and mode: root and the admin group, or
// root alone.
func TestFilesGateMode(t *testing.T) {
	tests := []struct {
		name     string
		adminGID int
		mode     uint32
		gid      uint32
	}{
		{"admin group", adminGID, 0o750, adminGID},
		{"no admin group", -1, 0o700, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wholeFS(t, Options{AdminGID: tc.adminGID})
			h.mustEnter(t, "s", "", ErrWalkAgain)
			var st unix.Stat_t
			if err := unix.Stat(h.files("s", ""), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&0o7777 != tc.mode || st.Uid != 0 || st.Gid != tc.gid {
				t.Errorf("files/: mode %04o owner %d:%d, want %04o 0:%d", st.Mode&0o7777, st.Uid, st.Gid, tc.mode, tc.gid)
			}
			readHello(t, h.files("s", ""))
		})
	}
}

// A host user whose uid is a guest's cannot get into files/, not even to
// the guest's files that uid owns; a member of the admin group can.
func TestFilesRefuseOtherUsers(t *testing.T) {
	h := newHarness(t, Options{AdminGID: adminGID}, func() map[string]string {
		return map[string]string{"s": attachLoop(t, guestImage(t))}
	})
	// The test's temporary directories are 0700: let the users get to
	// files/, as they get to snapfs's tree.
	for _, d := range []string{filepath.Dir(h.dir), h.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.mustEnter(t, "s", "", ErrWalkAgain)
	files := h.files("s", "")
	key := filepath.Join(files, "home/u/key")
	if got, err := os.ReadFile(key); err != nil || string(got) != "key\n" {
		t.Fatalf("root reads %q, %v", got, err)
	}
	tests := []struct {
		name     string
		uid, gid uint32
		argv     []string
		allowed  bool
	}{
		{"the guest's uid lists files/", 1001, 1001, []string{"ls", files}, false},
		{"the guest's uid reads its key", 1001, 1001, []string{"cat", key}, false},
		{"another user reads a world-readable file", 1000, 1000, []string{"cat", filepath.Join(files, "home/u/readme")}, false},
		{"the admin group lists files/", 1000, adminGID, []string{"ls", files}, true},
		{"the admin group reads a world-readable file", 1000, adminGID, []string{"cat", filepath.Join(files, "home/u/readme")}, true},
		{"the guest's uid in the admin group reads its key", 1001, adminGID, []string{"cat", key}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runAs(tc.uid, tc.gid, tc.argv...)
			if tc.allowed && err != nil {
				t.Errorf("%s as %d:%d: %v\n%s", strings.Join(tc.argv, " "), tc.uid, tc.gid, err, out)
			}
			if !tc.allowed && (err == nil || !strings.Contains(out, "Permission denied")) {
				t.Errorf("%s as %d:%d: %v\n%s\nwant Permission denied", strings.Join(tc.argv, " "), tc.uid, tc.gid, err, out)
			}
		})
	}
}

// /proc/self/mountinfo shows the overlay on files/ and the device's own
// read-only mount, without journal replay, in the staging directory.
func TestMountinfo(t *testing.T) {
	h := wholeFS(t, Options{})
	h.mustEnter(t, "s", "", ErrWalkAgain)
	dev := h.devices["s"]
	overlay := mountOf(t, h.files("s", ""))
	if overlay == nil || overlay.FSType != "overlay" || overlay.Source != dev ||
		!containsAll(overlay.Options, "ro", "nosuid", "nodev") || !strings.Contains(overlay.VFSOptions, "lowerdir="+filepath.Join(h.staging, gateName)+":") {
		t.Errorf("on files/: %+v, want a read-only overlay of %s with the gate on top", overlay, dev)
	}
	staged, err := mountinfo.GetMounts(mountinfo.PrefixFilter(h.staging))
	if err != nil {
		t.Fatal(err)
	}
	if len(staged) != 1 {
		t.Fatalf("staging mounts: %+v, want one", staged)
	}
	st := staged[0]
	if st.FSType != "ext4" || st.Source != dev || !containsAll(st.Options, "ro", "nosuid", "nodev") ||
		!containsAll(st.VFSOptions, "ro", "norecovery") || !strings.HasPrefix(filepath.Base(st.Mountpoint), stagingPrefix) {
		t.Errorf("staging mount: %+v, want %s read-only without journal replay", st, dev)
	}
	if !strings.Contains(overlay.VFSOptions, st.Mountpoint) {
		t.Errorf("the overlay's layers %s leave out the staging mount %s", overlay.VFSOptions, st.Mountpoint)
	}
	if !strings.Contains(h.logs.String(), "staging="+st.Mountpoint) {
		t.Errorf("the log does not name the staging mount:\n%s", h.logs.String())
	}
}

func containsAll(options string, want ...string) bool {
	opts := strings.Split(options, ",")
	for _, w := range want {
		if !slices.Contains(opts, w) {
			return false
		}
	}
	return true
}

// stagingClean tells whether the staging directory has no mount and
// nothing but the gate left.
func (h *harness) stagingClean(t *testing.T) bool {
	t.Helper()
	return len(mountsUnder(t, h.staging)) == 0 && len(stagingLeft(t, h.staging)) == 0
}

// Hold and idle expiry take down the staging mount with the overlay (the
// harness checks Close).
func TestUnmountTakesDownStaging(t *testing.T) {
	const idle = 100 * time.Millisecond
	h := wholeFS(t, Options{Idle: idle})
	h.mustEnter(t, "s", "", ErrWalkAgain)
	release, err := h.m.Hold("s")
	if err != nil {
		t.Fatal(err)
	}
	if !h.stagingClean(t) {
		t.Errorf("after Hold: mounts %v, entries %v", mountsUnder(t, h.staging), stagingLeft(t, h.staging))
	}
	release()
	h.mustEnter(t, "s", "", ErrWalkAgain)
	// The janitor takes the overlay down, then its staging mount.
	waitUntil(t, 5*time.Second, "the idle unmount of the overlay and its staging mount", func() bool {
		return mountOf(t, h.files("s", "")) == nil && h.stagingClean(t)
	})
}

// A staging mount whose overlay went from outside (umount -l of the tree
// detaches the mounts inside it) is taken down by the janitor, whether it
// finds the tree gone or only the overlay.
func TestOverlayGoneFromOutside(t *testing.T) {
	for _, treeGone := range []bool{false, true} {
		name := map[bool]string{false: "overlay unmounted", true: "tree unmounted"}[treeGone]
		t.Run(name, func(t *testing.T) {
			h := wholeFS(t, Options{Idle: time.Second})
			var treeMounted atomic.Bool
			treeMounted.Store(true)
			h.m.treeMounted = treeMounted.Load
			h.mustEnter(t, "s", "", ErrWalkAgain)
			if err := unix.Unmount(h.files("s", ""), unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
			if treeGone {
				treeMounted.Store(false)
				waitUntil(t, 5*time.Second, "the staging mount to go", func() bool { return h.stagingClean(t) })
				if !strings.Contains(h.logs.String(), "the tree was unmounted from outside") {
					t.Errorf("the janitor did not find the tree gone:\n%s", h.logs.String())
				}
				return
			}
			// What the janitor does at its next tick, which finds no
			// overlay to expire.
			h.m.expire(h.m.stateIfAny("s"), time.Now(), time.Second)
			if !h.stagingClean(t) {
				t.Errorf("after expiry: mounts %v, entries %v", mountsUnder(t, h.staging), stagingLeft(t, h.staging))
			}
		})
	}
}

// The first mount or hold cleans up what a killed snapfs left in the
// staging directory, and leaves the staging mounts of live processes.
func TestLeftoversCleanedUp(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadTag := stagingPrefix + strconv.Itoa(dead.Process.Pid) + ".1-"
	for _, first := range []string{"mount", "hold"} {
		t.Run(first, func(t *testing.T) {
			h := newHarness(t, Options{}, func() map[string]string {
				return map[string]string{
					"a": attachLoop(t, ext4Image(t, 16<<20)),
					"b": attachLoop(t, ext4Image(t, 16<<20)),
				}
			})
			h.mustEnter(t, "a", "", ErrWalkAgain) // staging of a live Manager
			leftovers := map[string]bool{deadTag + "1": true, deadTag + "2": false, "mnt-by-hand": true}
			for name, mounted := range leftovers {
				p := filepath.Join(h.staging, name)
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				if mounted {
					mountDevice(t, h.devices["b"], p)
				}
			}
			logs := &lockedBuffer{}
			m := New(Options{Mountpoint: h.dir, StagingDir: h.staging, Logger: slog.New(slog.NewTextHandler(logs, nil)),
				Path: h.m.opts.Path, Device: h.m.opts.Device})
			m.treeMounted = func() bool { return true }
			if first == "mount" {
				if err := m.Enter(t.Context(), "b", "", true); !errors.Is(err, ErrWalkAgain) {
					t.Errorf("Enter: %v", err)
				}
			} else {
				release, err := m.Hold("b")
				if err != nil {
					t.Fatal(err)
				}
				release()
			}
			m.Close()
			for name := range leftovers {
				if _, err := os.Lstat(filepath.Join(h.staging, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("leftover %s: %v", name, err)
				}
			}
			if n := strings.Count(logs.String(), "cleaned up the staging directory of a snapfs that is gone"); n != 3 {
				t.Errorf("%d leftovers logged, want 3:\n%s", n, logs.String())
			}
			if got := mountsUnder(t, h.staging); len(got) != 1 {
				t.Errorf("staging mounts: %v, want the live one", got)
			}
			readHello(t, h.files("a", ""))
		})
	}
}

// mountDevice mounts an ext4 device read-only on dir, as a killed snapfs
// left it.
func mountDevice(t *testing.T, device, dir string) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := blockdev.MountReadOnly(device, "ext4", fd); err != nil {
		t.Fatal(err)
	}
}
