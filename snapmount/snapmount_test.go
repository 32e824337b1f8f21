package snapmount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/blockdev"
)

// wholeFS is a harness with one snapshot, "s", holding an ext4 filesystem.
func wholeFS(t *testing.T, opts Options) *harness {
	t.Helper()
	return newHarness(t, opts, func() map[string]string {
		return map[string]string{"s": attachLoop(t, ext4Image(t, 16<<20))}
	})
}

func readHello(t *testing.T, dir string) {
	t.Helper()
	if got, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(got) != "hello\n" {
		t.Errorf("hello.txt = %q, %v", got, err)
	}
}

// The first look inside mounts the filesystem read-only and sends the
// caller to walk again; so does every later look, the mount being there.
func TestEnterMountsReadOnly(t *testing.T) {
	h := wholeFS(t, Options{})
	files := h.files("s", "")
	if mountOf(t, files) != nil {
		t.Fatal("mounted before the first look")
	}
	h.mustEnter(t, "s", "", ErrWalkAgain)
	info := mountOf(t, files)
	if info == nil {
		t.Fatal("Enter returned ErrWalkAgain, yet nothing is mounted")
	}
	if opts := strings.Split(info.Options, ","); info.FSType != "overlay" || info.Source != h.devices["s"] || !slices.Contains(opts, "ro") {
		t.Errorf("mounted %s of %s with options %s, want a read-only overlay of %s", info.FSType, info.Source, info.Options, h.devices["s"])
	}
	readHello(t, files)
	if err := os.WriteFile(filepath.Join(files, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into the mount: %v, want EROFS", err)
	}
	h.mustEnter(t, "s", "", ErrWalkAgain)
	if err := h.m.Enter(context.Background(), "s", "", false); !errors.Is(err, ErrWalkAgain) {
		t.Errorf("Enter of a lookup inside the mount: %v, want ErrWalkAgain", err)
	}
	if got := mountsUnder(t, h.dir); len(got) != 1 {
		t.Errorf("mounts after three looks: %v, want one", got)
	}
	if err := h.m.WaitMounted(context.Background(), "s", ""); err != nil {
		t.Errorf("WaitMounted with no mount under way: %v", err)
	}
	if got := h.m.Partitions("s"); got != nil {
		t.Errorf("Partitions of a whole-device filesystem: %v", got)
	}
	if strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", h.logs.String())
	}
}

// Many processes looking inside at once all get into the one mount.
func TestEnterConcurrent(t *testing.T) {
	h := wholeFS(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.m.Enter(context.Background(), "s", "", i%2 == 0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrWalkAgain) {
			t.Errorf("Enter: %v, want ErrWalkAgain", err)
		}
	}
	if got := mountsUnder(t, h.dir); len(got) != 1 {
		t.Errorf("mounts: %v, want one", got)
	}
}

// Hold refuses while a file inside is open, unmounting nothing; otherwise
// it unmounts, and nothing is mounted until it is released.
func TestHold(t *testing.T) {
	h := wholeFS(t, Options{})
	files := h.files("s", "")
	h.mustEnter(t, "s", "", ErrWalkAgain)

	f, err := os.Open(filepath.Join(files, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	release, err := h.m.Hold("s")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "vg/o/s") {
		t.Errorf("Hold with a file open inside: %v, want ErrBusy naming the snapshot", err)
	}
	if release != nil {
		t.Error("a refused Hold returned a release")
	}
	if mountOf(t, files) == nil {
		t.Error("a refused Hold unmounted files/")
	}
	f.Close()

	release, err = h.m.Hold("s")
	if err != nil {
		t.Fatalf("Hold of an idle files/: %v", err)
	}
	if mountOf(t, files) != nil {
		t.Error("still mounted under a Hold")
	}
	h.mustEnter(t, "s", "", nil)
	if err := h.m.Prepare(context.Background(), "s"); err != nil {
		t.Errorf("Prepare under a Hold: %v", err)
	}
	if got := mountsUnder(t, h.dir); len(got) != 0 {
		t.Errorf("mounted under a Hold: %v", got)
	}
	release()
	release() // a second call must not release a hold twice
	h.mustEnter(t, "s", "", ErrWalkAgain)
	readHello(t, files)

	// A snapshot nobody looked at can be held too, and stays unmounted.
	release, err = h.m.Hold("never-seen")
	if err != nil {
		t.Fatalf("Hold of an unknown snapshot: %v", err)
	}
	release()
}

// Unused, files/ is unmounted after Idle; in use, it stays; the next look
// mounts it again.
func TestIdleExpiry(t *testing.T) {
	const idle = 100 * time.Millisecond
	h := wholeFS(t, Options{Idle: idle})
	files := h.files("s", "")
	h.mustEnter(t, "s", "", ErrWalkAgain)
	f, err := os.Open(filepath.Join(files, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * idle); time.Now().Before(deadline); time.Sleep(idle / 4) {
		if mountOf(t, files) == nil {
			t.Fatal("unmounted while a file in it was open")
		}
	}
	f.Close()
	waitUntil(t, 5*time.Second, "the idle unmount", func() bool { return mountOf(t, files) == nil })
	waitUntil(t, 5*time.Second, "the log line of the idle unmount", func() bool {
		return strings.Contains(h.logs.String(), "unmounted idle files/")
	})
	h.mustEnter(t, "s", "", ErrWalkAgain)
	readHello(t, files)
}

// A device without a filesystem mounts nothing, and the log says why.
func TestEnterWithoutFilesystem(t *testing.T) {
	h := newHarness(t, Options{}, func() map[string]string {
		return map[string]string{"s": sparseFile(t, t.TempDir(), "zeros", 1<<20)}
	})
	h.mustEnter(t, "s", "", nil)
	h.mustEnter(t, "s", "", nil)
	if got := mountsUnder(t, h.dir); len(got) != 0 {
		t.Errorf("mounts: %v", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "files/ is empty") || !strings.Contains(logs, "zeros") {
		t.Errorf("the log does not say why files/ is empty:\n%s", logs)
	}
	if got := h.m.Partitions("s"); got != nil {
		t.Errorf("Partitions: %v", got)
	}
}

// A partition snapmount found is mounted on its files/pN and unmounted by
// Hold; its loop device goes with it. The state is set as prepare sets it
// for a partition table, over the test's own loop device, whose partition
// partx adds: the kernel of these machines (and of CI) parses no partition
// table itself (no CONFIG_EFI_PARTITION). The kernel's own scan, which
// attachPartitions relies on, is tested in the VM, on Debian's kernel
// (e2e/guest TestBackupPartitioned).
func TestPartitionMount(t *testing.T) {
	var loop *blockdev.Loop
	h := newHarness(t, Options{}, func() map[string]string {
		loop = attachLoopDevice(t, gptImage(t))
		return map[string]string{"s": loop.Device}
	})
	parts, err := loop.Partitions()
	if err == nil && len(parts) == 0 {
		requireTool(t, "partx")
		run(t, "partx", "-a", loop.Device)
		parts, err = loop.Partitions()
	}
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions of %s: %v %v", loop.Device, parts, err)
	}
	s := h.m.stateOf("s")
	s.mu.Lock()
	s.prepared, s.content, s.device = true, blockdev.Content{Kind: blockdev.PartitionTable, Type: "gpt"}, loop.Device
	s.loop, s.partitions = loop, []partition{{name: "p1", device: parts[0].Device, fstype: "ext4"}}
	s.mu.Unlock()

	if got := h.m.Partitions("s"); !slices.Equal(got, []string{"p1"}) {
		t.Fatalf("Partitions = %q, want [p1]", got)
	}
	h.mustEnter(t, "s", "", nil)
	if err := os.Mkdir(h.files("s", "p1"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.mustEnter(t, "s", "p1", ErrWalkAgain)
	readHello(t, h.files("s", "p1"))
	release, err := h.m.Hold("s")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if got := mountsUnder(t, h.dir); len(got) != 0 {
		t.Errorf("mounts after Hold: %v", got)
	}
	if got := h.m.Partitions("s"); got != nil {
		t.Errorf("Partitions after Hold: %v, want them forgotten", got)
	}
	if !loop.WaitDetached(time.Second) {
		t.Errorf("%s still attached after Hold let it go", loop.Device)
	}
}

// UnmountIdle unmounts every files/ that nothing holds open, and leaves the
// ones in use mounted, naming them.
func TestUnmountIdle(t *testing.T) {
	h := newHarness(t, Options{}, func() map[string]string {
		return map[string]string{"idle": attachLoop(t, ext4Image(t, 16<<20)), "used": attachLoop(t, ext4Image(t, 16<<20))}
	})
	for _, s := range []string{"idle", "used"} {
		h.mustEnter(t, s, "", ErrWalkAgain)
	}
	f, err := os.Open(filepath.Join(h.files("used", ""), "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if busy := h.m.UnmountIdle(); len(busy) != 1 || !strings.Contains(busy[0], "used") {
		t.Errorf("busy %v, want the snapshot whose file is open", busy)
	}
	if mountOf(t, h.files("idle", "")) != nil {
		t.Error("the idle files/ is still mounted")
	}
	if mountOf(t, h.files("used", "")) == nil {
		t.Error("the files/ in use was unmounted")
	}
	f.Close()
	if busy := h.m.UnmountIdle(); len(busy) != 0 {
		t.Errorf("busy %v with nothing open", busy)
	}
	if got := mountsUnder(t, h.dir); len(got) != 0 {
		t.Errorf("mounted after UnmountIdle: %v", got)
	}
	// A look inside mounts it again.
	h.mustEnter(t, "idle", "", ErrWalkAgain)
	readHello(t, h.files("idle", ""))
}
