package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/moby/sys/mountinfo"

	"github.com/snapfs/snapfs/fs"
)

// serveEnv makes the test binary a stand-in snapfs: it mounts an empty
// file system on the directory named there and serves until killed. Its
// type is fuse.snapfs, or fuse.NAME with nameEnv set.
const (
	serveEnv = "SNAPFS_TEST_SERVE"
	nameEnv  = "SNAPFS_TEST_SERVE_NAME"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(serveEnv); dir != "" {
		opts := fs.MountOptions(false, false)
		if name := os.Getenv(nameEnv); name != "" {
			opts.Name = name
		}
		server, err := gofs.Mount(dir, &gofs.Inode{}, opts)
		if err != nil {
			fmt.Println("mount:", err)
			os.Exit(1)
		}
		fmt.Println("mounted")
		server.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// topMount finds the mount on top at a mount point, here in a recorded
// mountinfo with a stale snapfs mount whose path has a space in it.
func TestTopMount(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "mountinfo", "stale-snapfs"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := mountinfo.GetMountsFromReader(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := topMount(entries, "/tmp/stale test/mnt")
	if !ok || m.FSType != "fuse.snapfs" || m.Source != "snapfs" {
		t.Errorf("the stale snapfs mount: %+v %v", m, ok)
	}
	if m, ok := topMount(entries, "/"); !ok || m.FSType != "9p" {
		t.Errorf("the root: %+v %v", m, ok)
	}
	if _, ok := topMount(entries, "/tmp/stale test"); ok {
		t.Error("a directory that is no mount point is found")
	}
	// Stacked mounts: the one listed last covers the others.
	stacked := []*mountinfo.Info{
		{Mountpoint: "/srv/snapfs", FSType: "fuse.snapfs", Source: "old"},
		{Mountpoint: "/srv", FSType: "tmpfs"},
		{Mountpoint: "/srv/snapfs", FSType: "fuse.snapfs", Source: "new"},
	}
	if m, ok := topMount(stacked, "/srv/snapfs"); !ok || m.Source != "new" {
		t.Errorf("stacked mounts: %+v %v, want the last one", m, ok)
	}
}

func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "mounting needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "no /dev/fuse: %v", err)
	}
}

// skipOrFail skips a test that cannot run here, but fails it in CI, where
// every test must run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// startServer runs a stand-in file system of type fuse.NAME on dir in a
// child process.
func startServer(t *testing.T, dir, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"="+dir, nameEnv+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = syscall.Unmount(dir, syscall.MNT_DETACH)
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "mounted\n" {
		t.Fatalf("the stand-in snapfs: %q %v", line, err)
	}
	return cmd
}

// A snapfs killed with SIGKILL leaves its mount behind, answering ENOTCONN;
// the next snapfs on that mount point unmounts it, and says so.
func TestStaleMountIsCleanedUp(t *testing.T) {
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	server := startServer(t, dir, "snapfs")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := prepareMountpoint(dir, log); err == nil || !strings.Contains(err.Error(), "already mounted") {
		t.Errorf("a mount point where snapfs serves: %v", err)
	}

	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	if _, err := os.Stat(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after SIGKILL, stat of the mount point: %v, want ENOTCONN", err)
	}
	got, err := prepareMountpoint(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Errorf("mount point %q, want %q", got, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("after the cleanup, stat: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"unmounting a stale snapfs mount") ||
		!strings.Contains(logs.String(), "transport endpoint is not connected") {
		t.Errorf("log:\n%s", logs.String())
	}
	entries, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := topMount(entries, dir); ok {
		t.Errorf("still mounted: %+v", m)
	}
}

// A stale mount of another FUSE file system is left alone.
func TestStaleMountOfAnotherFS(t *testing.T) {
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	server := startServer(t, dir, "otherfs")
	// Mounting over a live mount of another file system is allowed.
	if _, err := prepareMountpoint(dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("live mount of another file system: %v", err)
	}
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	_, err := prepareMountpoint(dir, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "a stale fuse.otherfs mount") || !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("stale mount of another file system: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("the other file system's stale mount was touched: %v", err)
	}
}
