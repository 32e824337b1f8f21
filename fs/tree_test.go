package fs

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/state"
)

func TestListing(t *testing.T) {
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{state: state.Options{VGs: []string{"vg2", "missing"}}})
	if got := m.mustSh(t, "ls"); got != "vg2\n" {
		t.Errorf("ls = %q, want only vg2", got)
	}
}

func TestFileContents(t *testing.T) {
	m := mountFake(t, setup{})
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
		{"vg/status", "name: vg\nuuid: vg-uuid\nsize: 10737418240\nfree: 5368709120\nextent_size: 4194304\nlvs: 6\nsnapshots: 2\nshared: -\nmin_free: 0\npool.pool.data: -\npool.pool.metadata: -\n"},
		{"vg/web/status", "name: web\nvg: vg\nuuid: uuid-001\npath: /dev/vg/web\ncreated: 2026-11-01T11:00:00Z\ntype: linear\nactive: yes\nopen: yes\nsize: 1073741824\nsnapshots: 1\ndomu: -\n"},
		{"vg/web/snap1/status", "name: snap1\nvg: vg\norigin: vg/web\nuuid: uuid-002\npath: /dev/vg/snap1\ncreated: 2026-11-01T12:00:00Z\nstate: active\nactive: yes\nopen: no\nsize: 1073741824\ncow_size: 209715200\ncow_used: 10190848\nallocated: 4.86\nchunk_size: 4096\ndomu: -\nfill_rate: 0\nfull_in: -\nheld: no\nexpires: -\nauto: no\ncheckpoint: -\n"},
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
	m := mountFake(t, setup{noDM: true})
	m.lvm.Mu.Lock()
	m.lvm.Add(lvm.LV{Name: "broken", VG: "vg", Attr: lvmtest.MustAttr("swi-I-s---"), Origin: "web", Size: 8 << 20,
		SnapPercent: lvm.Percent{Hundredths: 10000, Valid: true}})
	m.lvm.Mu.Unlock()
	if _, err := m.store.Refresh(true); err != nil {
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
	out := m.mustSh(t, "ls -ld vg vg/web vg/web/snap1 vg/web/snap1/ctl vg/web/snap1/state vg/web/snap1/image vg/web/snap1/files | cut -c1-10")
	// ls sorts: ctl, files, image, state.
	want := "drwxr-xr-x\ndrwxr-xr-x\ndrwxr-xr-x\n--w-------\ndrwx------\n-r--------\n-r--r--r--\n"
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
	m := mountFake(t, setup{fs: Options{AdminGID: 4242}})
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{"vg", os.ModeDir | 0o775},
		{"vg/web", os.ModeDir | 0o775},
		{"vg/web/snap1/ctl", 0o220},
		{"vg/web/snap1/state", 0o444},
		{"vg/web/snap1/image", 0o440},
		{"vg/web/snap1/files", os.ModeDir | 0o750},
	} {
		fi, err := os.Stat(m.path(tc.path))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != tc.mode {
			t.Errorf("%s mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
		if tc.mode&0o060 != 0 && tc.mode&0o004 == 0 && st.Gid != 4242 {
			t.Errorf("%s gid %d, want 4242", tc.path, st.Gid)
		}
	}
}

func TestStableInodes(t *testing.T) {
	a := mountFake(t, setup{})
	b := mountFake(t, setup{})
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

// as runs a shell line as another user, with one group.
func as(uid, gid int, line string) (string, error) {
	cmd := exec.Command("sh", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A snapshot's data (image, files/) is root's and admin_group's only: a
// local user reads the tree's status, not the DomU's disk. The kernel
// checks the modes (default_permissions).
func TestDataOnlyForRootAndAdmins(t *testing.T) {
	for _, admin := range []bool{false, true} {
		t.Run(fmt.Sprintf("admin_group %v", admin), func(t *testing.T) {
			s := setup{allowOther: true}
			if admin {
				s.fs.AdminGID = 4242
			}
			m := mountFake(t, s)
			// t.TempDir makes 0700 directories: let the users reach the mount.
			for dir := filepath.Dir(m.dir); dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
				if err := os.Chmod(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			m.useDevice(t, "snap1", ext4Device(t), 64<<20)
			snap := m.path("vg/web/snap1")
			// Root's look mounts files/: the users meet the gate, not the
			// empty directory.
			if got := m.mustSh(t, "ls "+snap+"/files"); !strings.Contains(got, "home") {
				t.Fatalf("ls files/ as root: %q", got)
			}
			if out, err := as(1001, 1001, "cat "+snap+"/state"); err != nil || out != "active\n" {
				t.Errorf("a user cannot read state: %v %q", err, out)
			}
			for _, line := range []string{"head -c1 " + snap + "/image", "ls " + snap + "/files"} {
				if out, err := as(1001, 1001, line); err == nil || !strings.Contains(out, "Permission denied") {
					t.Errorf("a user ran %q: %v %q", line, err, out)
				}
			}
			out, err := as(1000, 4242, "ls "+snap+"/files/home")
			if admin && (err != nil || !strings.Contains(out, "user")) {
				t.Errorf("an admin_group member cannot list files/: %v %q", err, out)
			}
			if !admin && !strings.Contains(out, "Permission denied") {
				t.Errorf("without admin_group, gid 4242 listed files/: %v %q", err, out)
			}
			out, err = as(1000, 4242, "head -c1 "+snap+"/image | wc -c")
			if admin && (err != nil || strings.TrimSpace(out) != "1") {
				t.Errorf("an admin_group member cannot read the image: %v %q", err, out)
			}
			if !admin && !strings.Contains(out, "Permission denied") {
				t.Errorf("without admin_group, gid 4242 read the image: %v %q", err, out)
			}
		})
	}
}

// A close of a file of snapfs costs no FLUSH request (FOPEN_NOFLUSH): the
// process closing a status file or ctl waits for none. go-fuse's debug log
// (the standard logger's) shows every request the kernel sent.
func TestCloseSendsNoFlush(t *testing.T) {
	m, requests := mountFakeDebug(t)
	m.mustSh(t, "cat vg/web/snap1/allocated vg/status >/dev/null && echo hold > vg/web/snap1/ctl")
	logs := requests.String()
	for _, want := range []string{"OPEN n", "READ n", "WRITE n", "RELEASE n"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the debug log lacks %s: no FUSE request logged?\n%s", want, logs)
		}
	}
	// go-fuse's own file at mount (".go-fuse-epoll-hack") gets one.
	hack := fmt.Sprintf(": FLUSH n%d ", uint64(math.MaxUint64))
	if n := strings.Count(logs, ": FLUSH n") - strings.Count(logs, hack); n != 0 {
		t.Errorf("%d FLUSH requests for two cats and an echo, want none:\n%s", n, logs)
	}
}

// A cold cat of a status file, its one-second attributes expired, costs
// four round trips: the kernel keeps the tree's entries and directories'
// attributes (treeTimeout), which it would otherwise ask for on every cold
// cat (a LOOKUP of each name; default_permissions checks the search
// permission of each directory walked, the root's included). The file's
// own attributes are asked for (GETATTR), then the open and two reads. A
// VG created behind snapfs's back still shows in the root's link count
// after the model that has it.
func TestTreeCached(t *testing.T) {
	m, requests := mountFakeDebug(t)
	if got := m.mustSh(t, "stat -c %h ."); got != "4\n" {
		t.Fatalf("the root's link count: %q, want 4 (two VGs)", got)
	}
	m.mustSh(t, "cat vg/web/snap1/allocated >/dev/null")
	time.Sleep(1100 * time.Millisecond) // past every one-second timeout
	before := len(requests.String())
	m.mustSh(t, "cat vg/web/snap1/allocated >/dev/null")
	second := requests.String()[before:]
	waited := 0
	for _, op := range []string{"LOOKUP", "GETATTR", "OPEN", "READ"} {
		waited += strings.Count(second, ": "+op+" n")
	}
	if n := strings.Count(second, ": LOOKUP n"); n != 0 || waited != 4 {
		t.Fatalf("the second cat made %d requests it waited for, %d of them LOOKUPs; want 4 (GETATTR, OPEN, two READs), none:\n%s", waited, n, second)
	}
	// A status file's mode: the attributes asked for are the file's, not
	// a directory's.
	if strings.Count(second, ": GETATTR n") != 1 || !strings.Contains(second, "{M0100444 ") {
		t.Errorf("the second cat's GETATTR is not of the status file:\n%s", second)
	}

	m.lvm.Mu.Lock()
	m.lvm.VGs = append(m.lvm.VGs, lvm.VG{Name: "vg3", UUID: "vg3-uuid", Size: 1 << 30, Free: 1 << 30, ExtentSize: lvmtest.Extent})
	m.lvm.Mu.Unlock()
	m.refresh(t)
	// The store tells fs of the new model in a goroutine of its own (never
	// inside a FUSE call), so the kernel drops the root's attributes soon
	// after the refresh, not before it returns.
	waitUntil(t, 5*time.Second, "the root's link count to be 5 after a third VG", func() bool {
		return m.mustSh(t, "stat -c %h .") == "5\n"
	})
}
