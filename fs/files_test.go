package fs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/snapmount"
)

// ext4Device makes an ext4 image holding a small tree and returns a
// read-only loop device over it.
func ext4Device(t *testing.T) string {
	t.Helper()
	requireTool(t, "mkfs.ext4")
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	for _, d := range []string{"etc", "home/user"} {
		if err := os.MkdirAll(filepath.Join(content, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"etc/hostname": "web1\n", "home/user/notes.txt": "before the upgrade\n"} {
		if err := os.WriteFile(filepath.Join(content, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "ext4.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", content, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return attachLoop(t, img)
}

// mountOptions returns "TYPE OPTIONS" of the snapshot's filesystem shown
// on dir: through the gate, the mount on the staging directory that the
// overlay on dir names as its lower layer; "" when nothing is mounted on
// dir.
func mountOptions(t *testing.T, dir string) string {
	t.Helper()
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		t.Fatal(err)
	}
	var top *mountinfo.Info
	for _, m := range mounts {
		if m.Mountpoint == dir {
			top = m // the last one is on top
		}
	}
	if top == nil {
		return ""
	}
	if top.FSType != "overlay" {
		t.Fatalf("%s is mounted as %s, not through the gate", dir, top.FSType)
	}
	// The gate is the overlay's top layer; the snapshot's own mount is its
	// last, on the staging directory.
	var lower string
	for _, o := range strings.Split(top.VFSOptions, ",") {
		if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
			lower = v
		}
	}
	layers := strings.Split(lower, ":")
	staging := layers[len(layers)-1]
	for _, m := range mounts {
		if m.Mountpoint == staging {
			return m.FSType + " " + m.Options + "," + m.VFSOptions
		}
	}
	t.Fatalf("no mount on the staging directory %q of the overlay on %s", staging, dir)
	return ""
}

// mountsUnder lists what is mounted below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			out = append(out, f[1])
		}
	}
	return out
}

// unmountFiles unmounts a snapshot's files/ as rmdir would.
func (m *mountedFS) unmountFiles(t *testing.T, snapshot string) {
	t.Helper()
	e := m.entry(t, snapshot)
	release, err := m.fs.mounts.Hold(e.LV.UUID)
	if err != nil {
		t.Fatal(err)
	}
	release()
}

func (m *mountedFS) entry(t *testing.T, name string) *model.LVEntry {
	t.Helper()
	tree, err := m.store.Refresh(true)
	if err != nil {
		t.Fatal(err)
	}
	v := tree.VG("vg")
	if v == nil || v.LVByName(name) == nil {
		t.Fatalf("no LV vg/%s", name)
	}
	return v.LVByName(name)
}

// files/ shows the snapshot's filesystem, mounted by the kernel's own
// driver when something first looks inside, whichever way it looks: each
// tool starts from an unmounted files/.
func TestFilesTools(t *testing.T) {
	m := mountFake(t, setup{})
	dev := ext4Device(t)
	m.useDevice(t, "snap1", dev, 16<<20)
	files := m.path("vg/web/snap1/files")
	requireTool(t, "rsync")
	dest := t.TempDir()

	// Looking at the snapshot, or at files/ itself, mounts nothing.
	m.mustSh(t, "stat vg/web/snap1 vg/web/snap1/files >/dev/null && ls -l vg/web/snap1 >/dev/null && test -d vg/web/snap1/files")
	if got := mountOptions(t, files); got != "" {
		t.Fatalf("files/ mounted by a stat: %s", got)
	}

	tests := []struct {
		name, line, want string
	}{
		{"ls", "ls vg/web/snap1/files/", "etc\nhome\nlost+found\n"},
		{"ls without slash", "ls vg/web/snap1/files", "etc\nhome\nlost+found\n"},
		{"cat", "cat vg/web/snap1/files/home/user/notes.txt", "before the upgrade\n"},
		{"stat inside", "stat -c %s vg/web/snap1/files/etc/hostname", "5\n"},
		{"cd", "cd vg/web/snap1/files && cat etc/hostname && ls", "web1\netc\nhome\nlost+found\n"},
		{"cd in two steps", "cd vg/web/snap1 && cd files && pwd -P | sed 's,.*/vg/,vg/,'", "vg/web/snap1/files\n"},
		{"tar", "tar -C vg/web/snap1/files -c . | tar -t | sort", "./\n./etc/\n./etc/hostname\n./home/\n./home/user/\n./home/user/notes.txt\n./lost+found/\n"},
		{"rsync", "rsync -a vg/web/snap1/files/ " + dest + "/ && cat " + dest + "/etc/hostname", "web1\n"},
		{"find", "find vg/web/snap1/files -name notes.txt", "vg/web/snap1/files/home/user/notes.txt\n"},
		{"python", "python3 -c 'import os; print(sorted(os.listdir(\"vg/web/snap1/files\")))'", "['etc', 'home', 'lost+found']\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.unmountFiles(t, "snap1")
			if got := mountOptions(t, files); got != "" {
				t.Fatalf("still mounted: %s", got)
			}
			if got := m.mustSh(t, tc.line); got != tc.want {
				t.Errorf("%s:\n%q\nwant\n%q", tc.line, got, tc.want)
			}
			opts := mountOptions(t, files)
			if !strings.HasPrefix(opts, "ext4 ro,") || !strings.Contains(opts, "norecovery") {
				t.Errorf("files/ mounted as %q, want ext4 read-only without journal replay", opts)
			}
		})
	}
	if strings.Contains(m.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", m.logs.String())
	}
}

// Many processes looking inside at once all see the filesystem.
func TestFilesConcurrentFirstLook(t *testing.T) {
	m := mountFake(t, setup{})
	m.useDevice(t, "snap1", ext4Device(t), 16<<20)
	for round := 0; round < 3; round++ {
		m.unmountFiles(t, "snap1")
		lines := []string{
			"ls vg/web/snap1/files/etc",
			"cat vg/web/snap1/files/etc/hostname",
			"cd vg/web/snap1/files/etc && ls",
			"stat -c %n vg/web/snap1/files/etc/hostname",
		}
		var wg sync.WaitGroup
		errs := make(chan string, 4*len(lines))
		for i := 0; i < 4; i++ {
			for _, line := range lines {
				wg.Add(1)
				go func(line string) {
					defer wg.Done()
					out, err := m.sh(t, line)
					if err != nil || !strings.Contains(out, "hostname") && !strings.Contains(out, "web1") {
						errs <- fmt.Sprintf("%s: %v %q", line, err, out)
					}
				}(line)
			}
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}

// Unused, files/ is unmounted after files_idle; in use, it stays.
func TestFilesIdleUnmount(t *testing.T) {
	m := mountFake(t, setup{files: snapmount.Options{Idle: 500 * time.Millisecond}})
	m.useDevice(t, "snap1", ext4Device(t), 16<<20)
	files := m.path("vg/web/snap1/files")
	m.mustSh(t, "ls vg/web/snap1/files/ >/dev/null")
	f, err := os.Open(filepath.Join(files, "etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if mountOptions(t, files) == "" {
		t.Fatal("unmounted while a file in it was open")
	}
	f.Close()
	deadline := time.Now().Add(5 * time.Second)
	for mountOptions(t, files) != "" {
		if time.Now().After(deadline) {
			t.Fatal("files/ still mounted 5s after its last use, with files_idle 500ms")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The line is logged right after the unmount: give it a moment.
	waitUntil(t, 5*time.Second, "the log line of the idle unmount", func() bool {
		return strings.Contains(m.logs.String(), "unmounted idle files/")
	})
	// The next look mounts it again.
	if got := m.mustSh(t, "cat vg/web/snap1/files/etc/hostname"); got != "web1\n" {
		t.Errorf("after the idle unmount: %q", got)
	}
}

// rmdir and merge unmount files/ first, and refuse with EBUSY while a
// process is inside it, changing nothing; Close unmounts everything.
func TestFilesUnmountBeforeChange(t *testing.T) {
	m := mountFake(t, setup{})
	m.useDevice(t, "snap1", ext4Device(t), 16<<20)
	files := m.path("vg/web/snap1/files")

	// A shell inside files/: its chdir mounts it. (Not exec.Cmd.Dir: Go
	// checks that directory from snapfs's own process, which never looks
	// inside files/.)
	shell := exec.Command("sh", "-c", "cd "+files+"/etc && exec sleep 60")
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shell.Process.Kill(); shell.Wait() })
	waitUntil(t, 5*time.Second, "the shell's cd to mount files/", func() bool { return mountOptions(t, files) != "" })
	waitUntil(t, 5*time.Second, "the shell to be in files/etc", func() bool {
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", shell.Process.Pid))
		return strings.HasSuffix(cwd, "/files/etc")
	})
	before := m.lvm.Names("vg")
	if err := syscall.Rmdir(m.path("vg/web/snap1")); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("rmdir with a shell inside files/: %v, want EBUSY", err)
	}
	if err := os.WriteFile(m.path("vg/web/snap1/ctl"), []byte("merge\n"), 0); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("merge with a shell inside files/: %v, want EBUSY", err)
	}
	if after := m.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") || strings.Contains(m.lvm.LastCall(), "lvremove") {
		t.Errorf("LVM changed: %v -> %v, last call %s", before, after, m.lvm.LastCall())
	}
	if mountOptions(t, files) == "" {
		t.Error("a refused rmdir unmounted files/")
	}
	if !strings.Contains(m.logs.String(), "files/ is in use") {
		t.Errorf("the log does not say why:\n%s", m.logs.String())
	}
	shell.Process.Kill()
	shell.Wait()

	m.mustSh(t, "rmdir vg/web/snap1")
	if got := m.lvm.LastCall(); got != "lvm lvremove --yes vg/snap1" {
		t.Errorf("last call %q", got)
	}
	if got := mountsUnder(t, m.dir); len(got) != 0 {
		t.Errorf("mounts left after rmdir: %v", got)
	}

	// Close, as snapfs's exit does, leaves no mount behind.
	m.useDevice(t, "dbsnap", ext4Device(t), 16<<20)
	m.mustSh(t, "ls vg/db/dbsnap/files/ >/dev/null")
	if got := mountsUnder(t, m.dir); len(got) != 1 {
		t.Fatalf("mounts: %v", got)
	}
	m.fs.Close()
	if got := mountsUnder(t, m.dir); len(got) != 0 {
		t.Errorf("mounts left after Close: %v", got)
	}
}

// Without a filesystem files/ is empty, and the log says why.
func TestFilesWithoutFilesystem(t *testing.T) {
	m := mountFake(t, setup{})
	zeros := filepath.Join(t.TempDir(), "zeros")
	if err := os.WriteFile(zeros, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	m.useDevice(t, "snap1", zeros, 1<<20)
	if got := m.mustSh(t, "ls -A vg/web/snap1/files/"); got != "" {
		t.Errorf("files/ of an empty device lists %q", got)
	}
	if _, err := os.Stat(m.path("vg/web/snap1/files/x")); !os.IsNotExist(err) {
		t.Errorf("a name inside: %v, want ENOENT", err)
	}
	logs := m.logs.String()
	if !strings.Contains(logs, "files/ is empty") || !strings.Contains(logs, "zeros") {
		t.Errorf("the log does not say why files/ is empty:\n%s", logs)
	}
	if got := mountsUnder(t, m.dir); len(got) != 0 {
		t.Errorf("mounts: %v", got)
	}
}

// XFS mounts with norecovery and nouuid: the snapshot has its origin's
// UUID, and the origin is usually mounted.
func TestFilesXFS(t *testing.T) {
	requireTool(t, "mkfs.xfs")
	requireTool(t, "losetup")
	m := mountFake(t, setup{})
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	// mkfs.xfs wants 300 MB; the file stays sparse.
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", "-d", "file,name="+img+",size=300m").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	// The snapshot: the image, with a file.
	m.mustSh(t, "mkdir "+dir+"/tmp && mount -o loop "+img+" "+dir+"/tmp && echo snapshot > "+dir+"/tmp/where && umount "+dir+"/tmp")
	// The origin: a writable copy with the same UUID, changed and mounted.
	origin := filepath.Join(dir, "origin.img")
	m.mustSh(t, "cp --sparse=always "+img+" "+origin)
	loop := strings.TrimSpace(m.mustSh(t, "losetup --find --show "+origin))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	originMnt := filepath.Join(dir, "origin")
	if err := os.Mkdir(originMnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m.mustSh(t, "mount "+loop+" "+originMnt+" && echo origin > "+originMnt+"/where")
	t.Cleanup(func() { exec.Command("umount", originMnt).Run() })

	m.useDevice(t, "snap1", attachLoop(t, img), 300<<20)
	if got := m.mustSh(t, "cat vg/web/snap1/files/where"); got != "snapshot\n" {
		t.Errorf("files/where = %q", got)
	}
	opts := mountOptions(t, m.path("vg/web/snap1/files"))
	if !strings.HasPrefix(opts, "xfs ro,") || !strings.Contains(opts, "norecovery") || !strings.Contains(opts, "nouuid") {
		t.Errorf("mounted as %q", opts)
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A mounted files/ moves with its snapshot's rename, and rmdir under the
// new name still unmounts it.
func TestFilesFollowRename(t *testing.T) {
	m := mountFake(t, setup{})
	m.useDevice(t, "snap1", ext4Device(t), 16<<20)
	m.mustSh(t, "ls vg/web/snap1/files/ >/dev/null && mv vg/web/snap1 vg/web/renamed")
	if got := m.mustSh(t, "cat vg/web/renamed/files/etc/hostname"); got != "web1\n" {
		t.Errorf("after mv: %q", got)
	}
	if got := mountsUnder(t, m.dir); len(got) != 1 || !strings.HasSuffix(got[0], "/vg/web/renamed/files") {
		t.Errorf("mounts after mv: %v", got)
	}
	m.mustSh(t, "rmdir vg/web/renamed")
	if got := mountsUnder(t, m.dir); len(got) != 0 {
		t.Errorf("mounts after rmdir: %v", got)
	}
}

// The attributes of a files/ that holds nothing to mount are cached like a
// directory's, once a look inside found that out: a walk costs no round
// trip for its stat and permission checks. Before, each stat reaches
// snapfs (a cd there could have to mount). go-fuse's debug log (the
// standard logger's) shows every request the kernel sent.
func TestFilesNothingToMountCached(t *testing.T) {
	m, requests := mountFakeDebug(t)
	zeros := filepath.Join(t.TempDir(), "zeros")
	if err := os.WriteFile(zeros, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	m.useDevice(t, "snap1", zeros, 1<<20)
	getattrs := func(script string) int {
		t.Helper()
		seen := len(requests.String())
		m.mustSh(t, script)
		logs := requests.String()
		found := regexp.MustCompile(`rx (\d+): LOOKUP n\d+ +"files" `).FindStringSubmatch(logs)
		if found == nil {
			t.Fatalf("no lookup of files in the debug log:\n%s", logs)
		}
		node := regexp.MustCompile(`tx ` + found[1] + `: +OK, \{(n\d+) `).FindStringSubmatch(logs)
		if node == nil {
			t.Fatalf("no reply to the lookup of files in the debug log:\n%s", logs)
		}
		return strings.Count(logs[seen:], ": GETATTR "+node[1]+" ")
	}
	stats := "stat vg/web/snap1/files >/dev/null; stat vg/web/snap1/files >/dev/null"
	if n := getattrs(stats); n != 2 {
		t.Errorf("two stats of files/ before a look inside: %d GETATTR requests, want 2 (no caching)", n)
	}
	if got := m.mustSh(t, "ls -A vg/web/snap1/files/"); got != "" {
		t.Errorf("files/ of an empty device lists %q", got)
	}
	if n := getattrs(stats + "; cd vg/web/snap1/files && stat . >/dev/null && stat . >/dev/null"); n != 1 {
		t.Errorf("four stats and a cd of files/ holding nothing to mount: %d GETATTR requests, want 1 (then cached)", n)
	}
}
