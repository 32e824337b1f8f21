package leakcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recorder stands in for the test Check is given: it records what Check
// reports through Errorf and Fatalf, and keeps the cleanups Check
// registers until runCleanups, instead of failing the real test.
type recorder struct {
	testing.TB // the real test, for what recorder does not override
	errors     []string
	cleanups   []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.errors = append(r.errors, "fatal: "+fmt.Sprintf(format, args...))
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// runCleanups runs the registered cleanups as the testing package does at
// the end of a test, last in, first out.
func (r *recorder) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// A test that closes what it opens and unmounts what it mounts passes.
func TestCheckPassesWithoutLeaks(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{TB: t}
	Check(rec, dir)
	f, err := os.Create(filepath.Join(dir, "closed"))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	r.Close()
	w.Close()
	if canMount() {
		mnt := filepath.Join(dir, "mnt")
		mountTmpfs(t, mnt)
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	rec.runCleanups()
	if len(rec.errors) > 0 {
		t.Errorf("nothing leaked, yet Check reports:\n%s", strings.Join(rec.errors, "\n"))
	}
	if d := time.Since(start); d > fdGrace/2 {
		t.Errorf("the check took %v: without a leak it must not wait out the grace", d)
	}
}

// A descriptor left open fails the test, named by the file it points to.
func TestCheckFindsLeakedDescriptor(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{TB: t}
	check(rec, dir, 100*time.Millisecond)
	leaked := filepath.Join(dir, "leaked")
	f, err := os.Create(leaked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec.runCleanups()
	want := fmt.Sprintf("leakcheck: file descriptor %d left open: %s", f.Fd(), leaked)
	if len(rec.errors) != 1 || rec.errors[0] != want {
		t.Errorf("Check reports %q, want %q", rec.errors, want)
	}
}

// A descriptor that is not open before the test, but reopened under the
// number of one that was, is a leak too: Check compares what they point to.
func TestCheckFindsReusedDescriptorNumber(t *testing.T) {
	dir := t.TempDir()
	first, err := os.Create(filepath.Join(dir, "first"))
	if err != nil {
		t.Fatal(err)
	}
	num := int(first.Fd())
	rec := &recorder{TB: t}
	check(rec, dir, 100*time.Millisecond)
	first.Close()
	second, err := os.Create(filepath.Join(dir, "second"))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if int(second.Fd()) != num {
		t.Skipf("the kernel gave descriptor %d, not the freed %d", second.Fd(), num)
	}
	rec.runCleanups()
	if len(rec.errors) != 1 || !strings.HasSuffix(rec.errors[0], "left open: "+second.Name()) {
		t.Errorf("Check reports %q, want the second file", rec.errors)
	}
}

// A descriptor closed shortly after the test, as go-fuse closes /dev/fuse
// after the unmount, is given time.
func TestCheckWaitsForAsynchronousClose(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{TB: t}
	Check(rec, dir)
	f, err := os.Create(filepath.Join(dir, "closed-late"))
	if err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(200*time.Millisecond, func() { f.Close() })
	defer timer.Stop()
	rec.runCleanups()
	if len(rec.errors) > 0 {
		t.Errorf("a descriptor closed 200ms late is reported:\n%s", strings.Join(rec.errors, "\n"))
	}
}

// A mount left at or below dir fails the test; one that was there before
// Check, or one outside dir, does not.
func TestCheckFindsLeakedMount(t *testing.T) {
	if !canMount() {
		skipOrFail(t, "mounting a tmpfs needs root")
	}
	for _, tc := range []struct {
		name   string
		before bool   // mounted before Check
		at     string // where, below the test's directory
		want   bool   // reported
	}{
		{name: "below", at: "dir/mnt", want: true},
		{name: "at", at: "dir", want: true},
		{name: "deep below", at: "dir/a/b", want: true},
		{name: "there before", at: "dir/mnt", before: true},
		{name: "beside", at: "dir2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "dir")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			mnt := filepath.Join(top, tc.at)
			if tc.before {
				mountTmpfs(t, mnt)
			}
			rec := &recorder{TB: t}
			check(rec, dir, 100*time.Millisecond)
			if !tc.before {
				mountTmpfs(t, mnt)
			}
			rec.runCleanups()
			want := "leakcheck: mount left at " + mnt + ": tmpfs from snapfs-leakcheck"
			switch {
			case tc.want && (len(rec.errors) != 1 || rec.errors[0] != want):
				t.Errorf("Check reports %q, want %q", rec.errors, want)
			case !tc.want && len(rec.errors) > 0:
				t.Errorf("Check reports %q, want nothing", rec.errors)
			}
		})
	}
}

// Check on the real test: it registers its cleanup first, so it runs after
// the cleanup that closes the file.
func TestCheckOnRealTest(t *testing.T) {
	dir := t.TempDir()
	Check(t, dir)
	f, err := os.Create(filepath.Join(dir, "file"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

func canMount() bool { return os.Geteuid() == 0 }

// mountTmpfs mounts a tmpfs on dir, creating it, and unmounts it when the
// test ends.
func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("snapfs-leakcheck", dir, "tmpfs", 0, "size=1m"); err != nil {
		skipOrFail(t, "mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
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
