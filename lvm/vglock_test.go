package lvm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdLock takes lock file dir/V_vg as an LVM command that changes vg does
// (LOCK_EX), or as a report does (LOCK_SH), and returns its release.
func holdLock(t *testing.T, dir, vg string, how int) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "V_"+vg), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func TestVGLocked(t *testing.T) {
	dir := t.TempDir()
	locked := func(vg string) bool {
		t.Helper()
		held, err := VGLocked(dir, vg)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if locked("vg") {
		t.Error("no lock file: locked")
	}
	release := holdLock(t, dir, "vg", unix.LOCK_EX)
	if !locked("vg") {
		t.Error("held for a change (LOCK_EX): not locked")
	}
	if locked("other") {
		t.Error("another VG's lock held: locked")
	}
	release()
	if locked("vg") {
		t.Error("let go, the file left behind: locked")
	}
	release = holdLock(t, dir, "vg", unix.LOCK_SH)
	if locked("vg") {
		t.Error("held by a report (LOCK_SH): locked")
	}
	release()
	// VGLocked keeps no lock of its own: a change can have the VG.
	if err := unix.Flock(int(mustOpen(t, filepath.Join(dir, "V_vg")).Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Errorf("LOCK_EX after VGLocked: %v", err)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestWaitVGsUnlocked(t *testing.T) {
	dir := t.TempDir()
	waited, err := WaitVGsUnlocked(context.Background(), dir, []string{"a", "b"})
	if waited || err != nil {
		t.Errorf("nothing held: waited %v, %v", waited, err)
	}
	release := holdLock(t, dir, "b", unix.LOCK_EX)
	let := time.Now().Add(100 * time.Millisecond)
	time.AfterFunc(time.Until(let), release)
	waited, err = WaitVGsUnlocked(context.Background(), dir, []string{"a", "b"})
	if !waited || err != nil || time.Now().Before(let) {
		t.Errorf("b held for a change: waited %v, %v, returned before b was let go: %v", waited, err, time.Now().Before(let))
	}
	release = holdLock(t, dir, "a", unix.LOCK_EX)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	waited, err = WaitVGsUnlocked(ctx, dir, []string{"a"})
	if !waited || err != context.DeadlineExceeded {
		t.Errorf("a held past the deadline: waited %v, %v; want true, %v", waited, err, context.DeadlineExceeded)
	}
}
