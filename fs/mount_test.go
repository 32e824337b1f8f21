package fs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// skipOrFail skips a test that cannot run here, but fails it in CI, where
// every test must run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// logBuffer collects the log lines of a mountedFS tree.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type mountedFS struct {
	server *fuse.Server
	dir    string
	lvm    *lvmtest.LVM
	dm     *lvmtest.DM
	fs     *FS
	logs   *logBuffer
}

// mountFake mounts a tree over a fake LVM on a fresh directory, for real,
// and unmounts it when the test ends.
func mountFake(t *testing.T, opts Options) *mountedFS {
	t.Helper()
	return mountFakeWith(t, opts, true, nil)
}

// mountFakeDM mounts like mountFake; without dm, the tree has no
// device-mapper and reads states from the report.
func mountFakeDM(t *testing.T, opts Options, dm bool) *mountedFS {
	t.Helper()
	return mountFakeWith(t, opts, dm, nil)
}

// mountFakeWith mounts like mountFakeDM, with the Xen domains that domains
// returns for the fake LVM (see xen_test.go); none when it is nil.
func mountFakeWith(t *testing.T, opts Options, dm bool, domains func(*lvmtest.LVM) Domains) *mountedFS {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "FUSE mount tests need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "no /dev/fuse: %v", err)
	}
	m := &mountedFS{dir: t.TempDir(), lvm: lvmtest.New(), logs: &logBuffer{}}
	m.dm = &lvmtest.DM{LVM: m.lvm}
	if opts.SnapshotSize.IsZero() {
		opts.SnapshotSize = lvm.SizeSpec{Extents: "20%ORIGIN"}
	}
	if opts.AdminGID == 0 {
		opts.AdminGID = -1
	}
	opts.Logger = slog.New(slog.NewTextHandler(m.logs, nil))
	opts.Mountpoint = m.dir
	m.dm.Set("vg-snap1", lvm.Target{Length: 2 << 20, Type: "snapshot", Params: "19904/409600 64"})
	var doms Domains
	if domains != nil {
		doms = domains(m.lvm)
	}
	if dm {
		m.fs = New(m.lvm, m.dm, doms, opts)
	} else {
		m.fs = New(m.lvm, nil, doms, opts)
	}
	// SNAPFS_TEST_FUSE_DEBUG=1 logs every FUSE request and reply.
	server, err := gofs.Mount(m.dir, m.fs.Root(), MountOptions(false, os.Getenv("SNAPFS_TEST_FUSE_DEBUG") != ""))
	if err != nil {
		skipOrFail(t, "mount: %v", err)
	}
	m.server = server
	if err := RaiseReadahead(m.dir); err != nil {
		t.Errorf("raising the readahead: %v", err)
	}
	t.Cleanup(func() {
		m.fs.Close()
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		if t.Failed() {
			t.Logf("snapfs log:\n%s", m.logs.String())
		}
	})
	return m
}

func (m *mountedFS) path(p string) string { return filepath.Join(m.dir, p) }

// sh runs a real shell tool line in the mount and returns its combined
// output and exit error. The command line is the test's own, never input.
func (m *mountedFS) sh(t *testing.T, line string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = m.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (m *mountedFS) mustSh(t *testing.T, line string) string {
	t.Helper()
	out, err := m.sh(t, line)
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return out
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func TestListing(t *testing.T) {
	m := mountFake(t, Options{})
	tests := []struct {
		dir  string
		want string
	}{
		{".", "vg\nvg2\n"},
		// The LV named "status" is left out: the file takes precedence.
		{"vg", "db\nstatus\nstatus.json\nweb\n"},
		{"vg/web", "domu\nsnap1\nstatus\nstatus.json\n"},
		{"vg/web/snap1", "allocated\nctl\ndomu\nfiles\nimage\norigin\nstate\nstatus\nstatus.json\n"},
		{"vg/db", "dbsnap\ndomu\nstatus\nstatus.json\n"},
		{"vg2", "data\nstatus\nstatus.json\n"},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			if got := m.mustSh(t, "ls -1 "+tc.dir); got != tc.want {
				t.Errorf("ls %s = %q, want %q", tc.dir, got, tc.want)
			}
		})
	}
	if n := strings.Count(m.logs.String(), "LV left out"); n != 1 {
		t.Errorf("%d warnings about the LV named status, want 1:\n%s", n, m.logs.String())
	}
}

func TestVGFilter(t *testing.T) {
	m := mountFake(t, Options{VGs: []string{"vg2", "missing"}})
	if got := m.mustSh(t, "ls"); got != "vg2\n" {
		t.Errorf("ls = %q, want only vg2", got)
	}
}

func TestFileContents(t *testing.T) {
	m := mountFake(t, Options{})
	tests := []struct {
		file string
		want string
	}{
		{"vg/web/snap1/origin", "vg/web\n"},
		// 19904 of 409600 sectors, 64 of them metadata: lvs shows 4.86.
		{"vg/web/snap1/allocated", "4.86\n"},
		{"vg/web/snap1/state", "active\n"},
		{"vg/web/snap1/domu", ""},
		{"vg/web/domu", ""},
		{"vg/db/dbsnap/state", "inactive\n"},
		{"vg/db/dbsnap/allocated", "\n"},
		{"vg/db/dbsnap/origin", "vg/db\n"},
		{"vg/status", "name: vg\nuuid: vg-uuid\nsize: 10737418240\nfree: 5368709120\nextent_size: 4194304\nlvs: 6\nsnapshots: 2\n"},
		{"vg/web/status", "name: web\nvg: vg\nuuid: uuid-001\npath: /dev/vg/web\ncreated: 2026-11-01T11:00:00Z\ntype: linear\nactive: yes\nopen: yes\nsize: 1073741824\nsnapshots: 1\ndomu: -\n"},
		{"vg/web/snap1/status", "name: snap1\nvg: vg\norigin: vg/web\nuuid: uuid-002\npath: /dev/vg/snap1\ncreated: 2026-11-01T12:00:00Z\nstate: active\nactive: yes\nopen: no\nsize: 1073741824\ncow_size: 209715200\ncow_used: 10190848\nallocated: 4.86\nchunk_size: 4096\ndomu: -\n"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if got := m.mustSh(t, "cat "+tc.file); got != tc.want {
				t.Errorf("cat %s =\n%q\nwant\n%q", tc.file, got, tc.want)
			}
		})
	}
}

// Without /dev/mapper/control, states and percentages come from the report.
func TestWithoutDeviceMapper(t *testing.T) {
	m := mountFakeDM(t, Options{}, false)
	m.lvm.Mu.Lock()
	m.lvm.Add(lvm.LV{Name: "broken", VG: "vg", Attr: lvmtest.MustAttr("swi-I-s---"), Origin: "web", Size: 8 << 20,
		SnapPercent: lvm.Percent{Hundredths: 10000, Valid: true}})
	m.lvm.Mu.Unlock()
	if _, err := m.fs.refresh(true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{"vg/web/snap1/state", "active\n"},
		{"vg/web/snap1/allocated", "4.86\n"},
		{"vg/web/broken/state", "invalid\n"},
		{"vg/web/broken/allocated", "100.00\n"},
		{"vg/db/dbsnap/state", "inactive\n"},
		{"vg/db/dbsnap/allocated", "\n"},
	} {
		if got := readFile(t, m.path(tc.file)); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.file, got, tc.want)
		}
	}
	m.mustSh(t, "echo merge > vg/web/snap1/ctl")
	if got := readFile(t, m.path("vg/web/snap1/state")); got != "merge-pending\n" {
		t.Errorf("after merge, with the origin reporting no Snap%%: %q", got)
	}
}

func TestStatusJSON(t *testing.T) {
	m := mountFake(t, Options{})
	for _, tc := range []struct{ text, json string }{
		{"vg/status", "vg/status.json"},
		{"vg/web/status", "vg/web/status.json"},
		{"vg/web/snap1/status", "vg/web/snap1/status.json"},
		{"vg/db/dbsnap/status", "vg/db/dbsnap/status.json"},
	} {
		t.Run(tc.json, func(t *testing.T) {
			var obj map[string]any
			dec := json.NewDecoder(strings.NewReader(readFile(t, m.path(tc.json))))
			dec.UseNumber()
			if err := dec.Decode(&obj); err != nil {
				t.Fatalf("%s is not JSON: %v", tc.json, err)
			}
			// Same keys, same values: numbers as numbers, yes/no as booleans,
			// "-" as null.
			for _, line := range strings.Split(strings.TrimSpace(readFile(t, m.path(tc.text))), "\n") {
				key, val, _ := strings.Cut(line, ": ")
				got, ok := obj[key]
				if !ok {
					t.Errorf("%s lacks key %s", tc.json, key)
					continue
				}
				var want any = val
				switch {
				case val == "-":
					want = nil
				case val == "yes":
					want = true
				case val == "no":
					want = false
				case strings.Trim(val, "0123456789.") == "":
					want = json.Number(val)
				}
				if got != want {
					t.Errorf("%s: %s = %#v, want %#v", tc.json, key, got, want)
				}
			}
		})
	}
}

// A tool that trusts st_size, or reads a byte at a time, gets the whole
// content.
func TestReadWholeContent(t *testing.T) {
	m := mountFake(t, Options{})
	p := m.path("vg/web/snap1/status")
	want := readFile(t, p)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(want)) {
		t.Errorf("st_size = %d, content is %d bytes", fi.Size(), len(want))
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The content grows while the file is open: the open file keeps its own.
	m.dm.Set("vg-snap1", lvm.Target{Type: "snapshot", Params: "409600/409600 64"})
	fst, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	one := make([]byte, 1)
	for {
		n, err := f.Read(one)
		got = append(got, one[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != want || fst.Size() != int64(len(want)) {
		t.Errorf("byte-wise read = %q (fstat size %d), want %q", got, fst.Size(), want)
	}
	if got := readFile(t, m.path("vg/web/snap1/allocated")); got != "100.00\n" {
		t.Errorf("allocated after open = %q, want 100.00", got)
	}
}

// The kernel may answer a stat of a status file from its cache for a
// second, but a file opened after its content changed size has an fstat
// of the new size: a tool that opens, fstats and reads st_size bytes gets
// the whole content.
func TestFstatAfterOpenIsFresh(t *testing.T) {
	m := mountFake(t, Options{})
	p := m.path("vg/web/snap1/allocated")
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	m.dm.Set("vg-snap1", lvm.Target{Type: "snapshot", Params: "409600/409600 64"})
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, fst.Size())
	n, err := io.ReadFull(f, buf)
	if err != nil || string(buf[:n]) != "100.00\n" || before.Size() == fst.Size() {
		t.Errorf("stat said %d bytes before; after the change fstat says %d and reading that many gives %q (%v), want \"100.00\\n\"",
			before.Size(), fst.Size(), buf[:n], err)
	}
}

func TestModesAndTimes(t *testing.T) {
	m := mountFake(t, Options{})
	out := m.mustSh(t, "ls -ld vg vg/web vg/web/snap1 vg/web/snap1/ctl vg/web/snap1/state | cut -c1-10")
	want := "drwxr-xr-x\ndrwxr-xr-x\ndrwxr-xr-x\n--w-------\n-r--r--r--\n"
	if out != want {
		t.Errorf("modes:\n%s\nwant\n%s", out, want)
	}
	fi, err := os.Stat(m.path("vg/web/snap1"))
	if err != nil {
		t.Fatal(err)
	}
	created := lvmtest.T0.Add(2 * time.Hour)
	if !fi.ModTime().Equal(created) {
		t.Errorf("snapshot mtime = %v, want lv_time %v", fi.ModTime(), created)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Ctim.Sec != created.Unix() || st.Uid != 0 {
		t.Errorf("snapshot ctime %d uid %d, want %d and root", st.Ctim.Sec, st.Uid, created.Unix())
	}
	if got := m.mustSh(t, "ls -t vg/web/ | head -1"); got == "" {
		t.Error("ls -t printed nothing")
	}
}

func TestAdminGroupModes(t *testing.T) {
	m := mountFake(t, Options{AdminGID: 4242})
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{"vg", os.ModeDir | 0o775},
		{"vg/web", os.ModeDir | 0o775},
		{"vg/web/snap1/ctl", 0o220},
		{"vg/web/snap1/state", 0o444},
	} {
		fi, err := os.Stat(m.path(tc.path))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != tc.mode {
			t.Errorf("%s mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
		if tc.mode&0o020 != 0 && st.Gid != 4242 {
			t.Errorf("%s gid %d, want 4242", tc.path, st.Gid)
		}
	}
}

func TestStableInodes(t *testing.T) {
	a := mountFake(t, Options{})
	b := mountFake(t, Options{})
	for _, p := range []string{"vg", "vg/web", "vg/web/snap1", "vg/web/snap1/state", "vg/db/dbsnap"} {
		sa, err1 := os.Stat(a.path(p))
		sb, err2 := os.Stat(b.path(p))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ia, ib := sa.Sys().(*syscall.Stat_t).Ino, sb.Sys().(*syscall.Stat_t).Ino; ia != ib || ia <= 1 {
			t.Errorf("%s: inode %d on one mount, %d on another", p, ia, ib)
		}
	}
}

func TestMkdir(t *testing.T) {
	m := mountFake(t, Options{OriginSnapshotSize: map[string]lvm.SizeSpec{"vg/web": {Size: "64M"}}})
	m.mustSh(t, "mkdir vg/web/before-upgrade")
	if got := m.lvm.LastCall(); got != "lvm lvcreate --snapshot --name before-upgrade --size 64M vg/web" {
		t.Errorf("lvcreate call: %s", got)
	}
	if got := m.mustSh(t, "cat vg/web/before-upgrade/origin vg/web/before-upgrade/state"); got != "vg/web\nactive\n" {
		t.Errorf("new snapshot: %q", got)
	}
	m.mustSh(t, "mkdir vg2/data/s1")
	if got := m.lvm.LastCall(); got != "lvm lvcreate --snapshot --name s1 --extents 20%ORIGIN vg2/data" {
		t.Errorf("lvcreate call: %s", got)
	}
	// A thin origin gets a thin snapshot, without a size; a thin snapshot
	// can be snapshotted again, and that one appears inside it.
	m.mustSh(t, "mkdir vg/db/nightly && mkdir vg/db/nightly/copy")
	if got := m.lvm.LastCall(); got != "lvm lvcreate --snapshot --name copy vg/nightly" {
		t.Errorf("lvcreate call: %s", got)
	}
	if got := m.mustSh(t, "cat vg/db/nightly/copy/origin; ls vg/db/nightly | grep -c copy"); got != "vg/nightly\n1\n" {
		t.Errorf("nested thin snapshot: %q", got)
	}
	if !strings.Contains(m.logs.String(), `op=mkdir path=vg/web/before-upgrade uid=0 lvm="lvm lvcreate --snapshot --name before-upgrade --size 64M vg/web"`) || !strings.Contains(m.logs.String(), "result=ok") {
		t.Errorf("no audit line for mkdir:\n%s", m.logs.String())
	}
}

// Every refused change gets SPEC's errno and leaves LVM as it was.
func TestRefusals(t *testing.T) {
	m := mountFake(t, Options{})
	long := strings.Repeat("x", 126)
	tests := []struct {
		name  string
		op    func() error
		errno syscall.Errno
	}{
		{"mkdir at root", func() error { return os.Mkdir(m.path("newvg"), 0o755) }, syscall.EPERM},
		{"mkdir in vg", func() error { return os.Mkdir(m.path("vg/newlv"), 0o755) }, syscall.EPERM},
		{"mkdir in COW snapshot", func() error { return os.Mkdir(m.path("vg/web/snap1/x"), 0o755) }, syscall.EPERM},
		{"mkdir taken name", func() error { return os.Mkdir(m.path("vg/web/snap1"), 0o755) }, syscall.EEXIST},
		{"mkdir name taken elsewhere in VG", func() error { return os.Mkdir(m.path("vg/web/db"), 0o755) }, syscall.EEXIST},
		{"mkdir fixed file name", func() error { return os.Mkdir(m.path("vg/web/status"), 0o755) }, syscall.EEXIST},
		{"mkdir reserved prefix", func() error { return os.Mkdir(m.path("vg/web/snapshot1"), 0o755) }, syscall.EINVAL},
		{"mkdir reserved substring", func() error { return os.Mkdir(m.path("vg/web/a_tmeta"), 0o755) }, syscall.EINVAL},
		{"mkdir leading dash", func() error { return os.Mkdir(m.path("vg/web/-x"), 0o755) }, syscall.EINVAL},
		{"mkdir bad character", func() error { return os.Mkdir(m.path("vg/web/a b"), 0o755) }, syscall.EINVAL},
		{"mkdir too long", func() error { return os.Mkdir(m.path("vg/web/"+long), 0o755) }, syscall.EINVAL},
		{"rmdir origin", func() error { return os.Remove(m.path("vg/web")) }, syscall.EPERM},
		{"rmdir vg", func() error { return syscall.Rmdir(m.path("vg")) }, syscall.EPERM},
		{"rmdir missing", func() error { return syscall.Rmdir(m.path("vg/web/nosuch")) }, syscall.ENOENT},
		{"unlink file", func() error { return syscall.Unlink(m.path("vg/web/snap1/state")) }, syscall.EPERM},
		{"create file", func() error { return os.WriteFile(m.path("vg/web/newfile"), nil, 0o644) }, syscall.EPERM},
		{"write status", func() error { return os.WriteFile(m.path("vg/web/snap1/state"), []byte("x"), 0o644) }, syscall.EPERM},
		{"read ctl", func() error { _, err := os.ReadFile(m.path("vg/web/snap1/ctl")); return err }, syscall.EACCES},
		{"symlink", func() error { return os.Symlink("x", m.path("vg/web/link")) }, syscall.EPERM},
		{"rename across origins", func() error { return os.Rename(m.path("vg/web/snap1"), m.path("vg/db/snap1")) }, syscall.EPERM},
		{"rename origin", func() error { return os.Rename(m.path("vg/web"), m.path("vg/web2")) }, syscall.EPERM},
		{"rename file", func() error { return os.Rename(m.path("vg/web/snap1/state"), m.path("vg/web/snap1/x")) }, syscall.EPERM},
		// The kernel refuses a directory onto a file before asking snapfs.
		{"rename onto fixed name", func() error { return os.Rename(m.path("vg/web/snap1"), m.path("vg/web/domu")) }, syscall.ENOTDIR},
		{"rename bad name", func() error { return os.Rename(m.path("vg/web/snap1"), m.path("vg/web/pvmove0")) }, syscall.EINVAL},
		{"ctl unknown", func() error { return os.WriteFile(m.path("vg/web/snap1/ctl"), []byte("frobnicate\n"), 0) }, syscall.EINVAL},
		{"ctl bad size", func() error { return os.WriteFile(m.path("vg/web/snap1/ctl"), []byte("extend -5G\n"), 0) }, syscall.EINVAL},
		{"ctl extend no size", func() error { return os.WriteFile(m.path("vg/web/snap1/ctl"), []byte("extend\n"), 0) }, syscall.EINVAL},
		{"ctl two commands", func() error { return os.WriteFile(m.path("vg/web/snap1/ctl"), []byte("merge\nmerge\n"), 0) }, syscall.EINVAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := m.lvm.Names("vg")
			err := tc.op()
			if errnoOf(err) != tc.errno {
				t.Errorf("got %v, want %v", err, tc.errno)
			}
			if after := m.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("LVM changed: %v -> %v", before, after)
			}
		})
	}
	if !strings.Contains(m.logs.String(), "result=\"EPERM") {
		t.Errorf("refusals are not logged:\n%s", m.logs.String())
	}
}

// LVM's failures map to SPEC's errno, with LVM's words in the log.
func TestLVMFailures(t *testing.T) {
	m := mountFake(t, Options{})
	tests := []struct {
		name  string
		op    string
		err   error
		do    func() error
		errno syscall.Errno
	}{
		{"no space", "lvcreate", nil, func() error {
			m.lvm.Mu.Lock()
			m.lvm.VG("vg").Free = lvmtest.Extent
			m.lvm.Mu.Unlock()
			return os.Mkdir(m.path("vg/web/big"), 0o755)
		}, syscall.ENOSPC},
		{"open snapshot", "lvremove", nil, func() error {
			m.lvm.Mu.Lock()
			m.lvm.Find("vg", "snap1").Attr.Open = 'o'
			m.lvm.Mu.Unlock()
			defer func() {
				m.lvm.Mu.Lock()
				m.lvm.Find("vg", "snap1").Attr.Open = '-'
				m.lvm.Mu.Unlock()
			}()
			return syscall.Rmdir(m.path("vg/web/snap1"))
		}, syscall.EBUSY},
		{"timeout", "lvremove", lvmtest.CmdErr(lvm.ErrTimeout, -1, []string{"lvm", "lvremove"}, "killed after 2m0s"), func() error {
			return syscall.Rmdir(m.path("vg/web/snap1"))
		}, syscall.ETIMEDOUT},
		{"other failure", "lvrename", lvmtest.CmdErr(lvm.ErrFailed, 5, []string{"lvm", "lvrename"}, "Internal error: something odd"), func() error {
			return os.Rename(m.path("vg/web/snap1"), m.path("vg/web/snap2"))
		}, syscall.EIO},
		{"rename onto existing LV", "", nil, func() error {
			return os.Rename(m.path("vg/web/snap1"), m.path("vg/web/pool"))
		}, syscall.EEXIST},
		{"merge failure", "lvconvert", lvmtest.CmdErr(lvm.ErrFailed, 5, []string{"lvm", "lvconvert"}, "Unable to merge invalid snapshot vg/snap1."), func() error {
			return os.WriteFile(m.path("vg/web/snap1/ctl"), []byte("merge\n"), 0)
		}, syscall.EIO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err != nil {
				m.lvm.Mu.Lock()
				m.lvm.FailNext[tc.op] = tc.err
				m.lvm.Mu.Unlock()
			}
			before := m.lvm.Names("vg")
			if err := tc.do(); errnoOf(err) != tc.errno {
				t.Errorf("got %v, want %v", err, tc.errno)
			}
			if after := m.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("LVM changed: %v -> %v", before, after)
			}
		})
	}
	for _, msg := range []string{"insufficient free space", "in use", "killed after 2m0s", "Internal error: something odd", "already exists"} {
		if !strings.Contains(m.logs.String(), msg) {
			t.Errorf("log lacks LVM's message %q:\n%s", msg, m.logs.String())
		}
	}
}

// A failed lvcreate that left its LV behind is cleaned up.
func TestNoHalfMadeLV(t *testing.T) {
	m := mountFake(t, Options{})
	m.lvm.Mu.Lock()
	m.lvm.LeaveBehind = true
	m.lvm.FailNext["lvcreate"] = lvmtest.CmdErr(lvm.ErrTimeout, -1, []string{"lvm", "lvcreate"}, "killed")
	m.lvm.Mu.Unlock()
	before := m.lvm.Names("vg")
	if err := os.Mkdir(m.path("vg/web/half"), 0o755); errnoOf(err) != syscall.ETIMEDOUT {
		t.Fatalf("mkdir: %v, want ETIMEDOUT", err)
	}
	if after := m.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("LVM changed: %v -> %v", before, after)
	}
	if _, err := os.Stat(m.path("vg/web/half")); !os.IsNotExist(err) {
		t.Errorf("half-made snapshot still shown: %v", err)
	}
}

func TestRmdirAndRename(t *testing.T) {
	m := mountFake(t, Options{})
	m.mustSh(t, "mv vg/web/snap1 vg/web/renamed")
	if got := m.lvm.LastCall(); got != "lvm lvrename vg snap1 renamed" {
		t.Errorf("rename call: %s", got)
	}
	if got := m.mustSh(t, "ls vg/web | grep -v status; cat vg/web/renamed/state"); got != "domu\nrenamed\nactive\n" {
		t.Errorf("after mv: %q", got)
	}
	m.mustSh(t, "rmdir vg/web/renamed")
	if got := m.lvm.LastCall(); got != "lvm lvremove --yes vg/renamed" {
		t.Errorf("remove call: %s", got)
	}
	if _, err := os.Stat(m.path("vg/web/renamed")); !os.IsNotExist(err) {
		t.Errorf("removed snapshot still there: %v", err)
	}
	// Removing a thin snapshot works the same.
	m.mustSh(t, "rmdir vg/db/dbsnap")
}

func TestCtl(t *testing.T) {
	m := mountFake(t, Options{})
	m.mustSh(t, "echo 'extend 512M' > vg/web/snap1/ctl")
	if got := m.lvm.LastCall(); got != "lvm lvextend --size +512M vg/snap1" {
		t.Errorf("extend call: %s", got)
	}
	if got := m.mustSh(t, "grep cow_size vg/web/snap1/status"); got != "cow_size: 746586112\n" {
		t.Errorf("after extend: %q", got)
	}
	// Extending a thin snapshot makes no sense: it has no COW store.
	if _, err := m.sh(t, "echo 'extend 1G' > vg/db/dbsnap/ctl"); err == nil {
		t.Error("extend of a thin snapshot succeeded")
	}

	m.mustSh(t, "echo merge > vg/web/snap1/ctl")
	if got := m.lvm.LastCall(); got != "lvm lvconvert --merge --background vg/snap1" {
		t.Errorf("merge call: %s", got)
	}
	// LVM hides a merging snapshot; it stays, with its state, until LVM
	// removes it. The origin's table says whether the merge runs.
	if got := m.mustSh(t, "ls vg/web | grep snap1; cat vg/web/snap1/state"); got != "snap1\nmerge-pending\n" {
		t.Errorf("after merge: %q", got)
	}
	m.dm.Set("vg-web", lvm.Target{Type: "snapshot-merge", Params: "102400/409600 64"})
	time.Sleep(1100 * time.Millisecond) // let the model age past MaxAge
	if got := m.mustSh(t, "cat vg/web/snap1/state; grep merge_progress vg/web/snap1/status"); got != "merging\nmerge_progress: 75.00\n" {
		t.Errorf("while merging: %q", got)
	}
}

// Changes made behind snapfs's back show within two seconds, kernel-cached
// entries included.
func TestOutsideChanges(t *testing.T) {
	m := mountFake(t, Options{})
	if _, err := os.Stat(m.path("vg/web/snap1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.path("vg/web/outside")); !os.IsNotExist(err) {
		t.Fatal(err)
	}
	m.lvm.Mu.Lock()
	m.lvm.Add(lvm.LV{Name: "outside", VG: "vg", Attr: lvmtest.MustAttr("swi-a-s---"), Origin: "web", Size: lvmtest.Extent})
	m.lvm.Mu.Unlock()
	if err := m.lvm.Remove(context.Background(), "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2500 * time.Millisecond)
	for {
		_, errAdded := os.Stat(m.path("vg/web/outside"))
		_, errGone := os.Stat(m.path("vg/web/snap1"))
		if errAdded == nil && os.IsNotExist(errGone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outside changes not seen: new LV %v, removed LV %v", errAdded, errGone)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two mkdir of one name at once: one succeeds, the other gets EEXIST.
func TestConcurrentMkdir(t *testing.T) {
	m := mountFake(t, Options{})
	m.lvm.Mu.Lock()
	m.lvm.Delay = 50 * time.Millisecond
	m.lvm.Mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = os.Mkdir(m.path("vg/web/race"), 0o755)
		}(i)
	}
	wg.Wait()
	ok, exist := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errnoOf(err) == syscall.EEXIST:
			exist++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || exist != 1 {
		t.Errorf("%d successes and %d EEXIST, want 1 and 1", ok, exist)
	}
}

// Walking the whole tree costs one LVM report, however many files.
func TestWalkCostsOneReport(t *testing.T) {
	m := mountFake(t, Options{})
	time.Sleep(1100 * time.Millisecond)
	before := m.lvm.ReportCount()
	// Not into files/, which would activate and probe the snapshots.
	m.mustSh(t, "ls -lR -I files . >/dev/null && cat vg/web/snap1/* 2>/dev/null; true")
	n := m.lvm.ReportCount() - before
	if n != 1 {
		t.Errorf("walking the tree ran %d reports, want 1", n)
	}
}

// rmdir takes the snapshot out of the model without a report: the VG gets
// its extents back, the origin lists it no more.
func TestRmdirWithoutReport(t *testing.T) {
	m := mountFake(t, Options{MaxAge: time.Hour})
	m.mustSh(t, "ls vg/web >/dev/null")
	before := m.lvm.ReportCount()
	m.mustSh(t, "rmdir vg/web/snap1")
	if got := m.mustSh(t, "ls vg/web; grep free vg/status"); got != "domu\nstatus\nstatus.json\nfree: 5578424320\n" {
		t.Errorf("after rmdir: %q", got)
	}
	n := m.lvm.ReportCount() - before
	if n != 0 {
		t.Errorf("rmdir ran %d reports, want none", n)
	}
}

// mkdir puts the new snapshot into the model from device-mapper and LVM's
// metadata backup, without a report: UUID, creation time, sizes and chunk
// size as the next report would show them.
func TestMkdirWithoutReport(t *testing.T) {
	backups := t.TempDir()
	m := mountFake(t, Options{MaxAge: time.Hour, BackupDir: backups})
	backup := "contents = \"Text Format Volume Group\"\nvg {\n\tseqno = 5\n\tlogical_volumes {\n\n" +
		"\t\tnew {\n\t\t\tid = \"DkcAos-SuwP-dVY6-xJSv-kfft-yHcL-7ApSqH\"\n\t\t\tstatus = [\"READ\", \"WRITE\"]\n\t\t\tcreation_time = 1795251065\t# 2026-11-21 08:51:05 +0000\n\t\t}\n\n" +
		"\t\tsnapshot7 {\n\t\t\tid = \"YgSfd6-Q6uS-qsfX-1OS4-zI3Y-TELB-Khd296\"\n\t\t\tsegment1 {\n\t\t\t\ttype = \"snapshot\"\n\t\t\t\tchunk_size = 16\n\t\t\t\torigin = \"web\"\n\t\t\t\tcow_store = \"new\"\n\t\t\t}\n\t\t}\n\t}\n}\n"
	if err := os.WriteFile(filepath.Join(backups, "vg"), []byte(backup), 0o644); err != nil {
		t.Fatal(err)
	}
	m.dm.SetStatus(&lvm.DeviceStatus{Name: "vg-new", UUID: "LVM-xj0DEHg9tD4XGNVa4AqVUg8G7v87WxNkDkcAosSuwPdVY6xJSvkfftyHcL7ApSqH",
		Major: 254, Minor: 9, Live: true, Targets: []lvm.Target{{Length: 2 << 20, Type: "snapshot", Params: "16/409600 16"}}})
	m.dm.SetStatus(&lvm.DeviceStatus{Name: "vg-new-cow", Major: 254, Minor: 8, Live: true, Targets: []lvm.Target{{Length: 409600, Type: "linear"}}})
	m.mustSh(t, "ls vg/web >/dev/null")
	before := m.lvm.ReportCount()
	m.mustSh(t, "mkdir vg/web/new")
	got := m.mustSh(t, "grep -E '^(uuid|created|size|cow_size|chunk_size):' vg/web/new/status; grep free vg/status")
	want := "uuid: DkcAos-SuwP-dVY6-xJSv-kfft-yHcL-7ApSqH\ncreated: 2026-11-21T08:51:05Z\nsize: 1073741824\ncow_size: 209715200\nchunk_size: 8192\nfree: 5158993920\n"
	if got != want {
		t.Errorf("after mkdir:\n%s\nwant\n%s", got, want)
	}
	n := m.lvm.ReportCount() - before
	if n != 0 {
		t.Errorf("mkdir ran %d reports, want none", n)
	}
}

// While the change stamp stays the same, a model older than MaxAge stays
// current without a report; a new stamp makes the next access read LVM.
func TestUnchangedStampSavesReports(t *testing.T) {
	var mu sync.Mutex
	stamp := "a"
	m := mountFake(t, Options{MaxAge: 100 * time.Millisecond, Stamp: func([]string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return stamp, true
	}})
	reports := m.lvm.ReportCount
	// The first model was read before any stamp: read it once more.
	time.Sleep(300 * time.Millisecond)
	m.mustSh(t, "ls -R -I files vg >/dev/null")
	time.Sleep(300 * time.Millisecond)
	before := reports()
	for i := 0; i < 3; i++ {
		time.Sleep(300 * time.Millisecond)
		m.mustSh(t, "ls -lR -I files vg >/dev/null; cat vg/web/snap1/allocated >/dev/null")
	}
	if n := reports() - before; n != 0 {
		t.Errorf("%d reports with an unchanged stamp, want none", n)
	}
	mu.Lock()
	stamp = "b"
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	m.mustSh(t, "ls vg/web >/dev/null")
	if n := reports() - before; n != 1 {
		t.Errorf("%d reports after the stamp changed, want 1", n)
	}
}
