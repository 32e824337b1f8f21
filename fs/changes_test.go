package fs

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/ops"
)

func TestMkdir(t *testing.T) {
	m := mountFake(t, setup{ops: ops.Options{OriginSnapshotSize: map[string]lvm.SizeSpec{"vg/web": {Size: "64M"}}}})
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{})
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

// Two mkdir of one name at once: one succeeds, the other gets EEXIST.
func TestConcurrentMkdir(t *testing.T) {
	m := mountFake(t, setup{})
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
