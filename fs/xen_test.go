package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/quiesce"
)

// fakeXen is a Xen host for the FUSE tests: domains with disks given as
// device numbers, and xl pause and unpause with Xen's counting. Pauses and
// unpauses are recorded among the fake LVM's calls, so a test sees their
// order against lvcreate.
type fakeXen struct {
	mu        sync.Mutex
	lvm       *lvmtest.LVM
	doms      []*fakeDomain
	usingNow  int
	failPause error
	// failUnpause makes this many unpauses fail.
	failUnpause int
}

type fakeDomain struct {
	model.Domain
	disks  [][2]int
	pauses int
	before string // the state before the first pause
}

func (x *fakeXen) attach(l *lvmtest.LVM) *fakeXen {
	x.lvm = l
	return x
}

func (x *fakeXen) add(name string, id int, state string, disks ...[2]int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := &fakeDomain{Domain: model.Domain{Name: name, ID: id, State: state}, disks: disks}
	if state == "paused" {
		d.pauses, d.before = 1, "running"
	}
	x.doms = append(x.doms, d)
}

func (x *fakeXen) set(name, state string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.find(name).State = state
}

func (x *fakeXen) find(name string) *fakeDomain {
	for _, d := range x.doms {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (x *fakeXen) state(name string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.find(name).State
}

func (x *fakeXen) Using(ctx context.Context, major, minor int) ([]model.Domain, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []model.Domain
	for _, d := range x.doms {
		for _, disk := range d.disks {
			if disk == [2]int{major, minor} {
				out = append(out, d.Domain)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (x *fakeXen) UsingNow(ctx context.Context, major, minor int) ([]model.Domain, error) {
	lvm.Record(ctx, []string{"xl", "list"})
	x.mu.Lock()
	x.usingNow++
	x.mu.Unlock()
	return x.Using(ctx, major, minor)
}

// call records an xl command as the daemon's runner would: in the audit
// line of ctx, and among the fake LVM's calls.
func (x *fakeXen) call(ctx context.Context, argv ...string) {
	lvm.Record(ctx, argv)
	x.lvm.Mu.Lock()
	x.lvm.Calls = append(x.lvm.Calls, strings.Join(argv, " "))
	x.lvm.Mu.Unlock()
}

func (x *fakeXen) Pause(ctx context.Context, name string) error {
	x.call(ctx, "xl", "pause", name)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.failPause; err != nil {
		return err
	}
	d := x.find(name)
	if d == nil {
		return fmt.Errorf("xl pause %s: exit status 1: %s is an invalid domain identifier (rc=-6)", name, name)
	}
	if d.pauses == 0 {
		d.before = d.State
	}
	d.pauses++
	d.State = "paused"
	return nil
}

func (x *fakeXen) Unpause(ctx context.Context, name string) error {
	x.call(ctx, "xl", "unpause", name)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failUnpause > 0 {
		x.failUnpause--
		return errors.New("xl unpause: timed out")
	}
	d := x.find(name)
	if d == nil {
		return fmt.Errorf("xl unpause %s: exit status 1: %s is an invalid domain identifier (rc=-6)", name, name)
	}
	if d.pauses == 0 {
		return fmt.Errorf("xl unpause %s: libxl: error: unpausing domain %d: Invalid argument", name, d.ID)
	}
	if d.pauses--; d.pauses == 0 {
		d.State = d.before
	}
	return nil
}

func (x *fakeXen) Domain(ctx context.Context, name string) (model.Domain, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if d := x.find(name); d != nil {
		return d.Domain, true, nil
	}
	return model.Domain{}, false, nil
}

// activate gives LVs of the fake LVM device numbers, as active LVs have.
func activate(t *testing.T, m *mountedFS, devs map[string][2]int) {
	t.Helper()
	m.lvm.Mu.Lock()
	for name, dev := range devs {
		vg, lv, _ := strings.Cut(name, "/")
		l := m.lvm.Find(vg, lv)
		l.KernelMajor, l.KernelMinor = dev[0], dev[1]
	}
	m.lvm.Mu.Unlock()
	m.refresh(t)
}

// mountXen mounts the fake LVM with the fake Xen host x: vg/web is 254:1,
// its snapshot vg/snap1 254:2, vg2/data 254:3.
func mountXen(t *testing.T, s setup, x *fakeXen) *mountedFS {
	t.Helper()
	s.xen = x
	m := mountFake(t, s)
	activate(t, m, map[string][2]int{"vg/web": {254, 1}, "vg/snap1": {254, 2}, "vg2/data": {254, 3}})
	return m
}

func TestDomu(t *testing.T) {
	x := &fakeXen{}
	x.add("web", 3, "running", [2]int{254, 1})
	x.add("clone", 4, "blocked", [2]int{254, 2}, [2]int{8, 0})
	x.add("db-b", 5, "paused", [2]int{254, 3})
	x.add("db-a", 6, "shutdown", [2]int{254, 3})
	x.add("other", 7, "running", [2]int{254, 9})
	m := mountXen(t, setup{}, x)
	tests := []struct {
		file string
		want string
	}{
		{"vg/web/domu", "web running\n"},
		{"vg/web/snap1/domu", "clone blocked\n"},
		{"vg2/data/domu", "db-a shutdown\ndb-b paused\n"},
		{"vg/db/domu", ""},
		{"vg/db/dbsnap/domu", ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if got := m.mustSh(t, "cat "+tc.file); got != tc.want {
				t.Errorf("cat %s = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ file, want string }{
		{"vg/web/status", "domu: web running\n"},
		{"vg/web/snap1/status", "domu: clone blocked\n"},
		{"vg2/data/status", "domu: db-a shutdown, db-b paused\n"},
		{"vg/db/status", "domu: -\n"},
	} {
		if got := m.mustSh(t, "grep ^domu: "+tc.file); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.file, got, tc.want)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(readFile(t, m.path("vg/web/snap1/status.json"))), &obj); err != nil {
		t.Fatal(err)
	}
	if obj["domu"] != "clone blocked" {
		t.Errorf("status.json domu = %#v", obj["domu"])
	}
	// The domu files change with the domains, within a second or two.
	x.set("clone", "paused")
	waitContent(t, m.path("vg/web/snap1/domu"), "clone paused\n")
	x.mu.Lock()
	x.doms = x.doms[:0]
	x.mu.Unlock()
	waitContent(t, m.path("vg/web/snap1/domu"), "")
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.usingNow != 0 {
		t.Errorf("reading files looked at Xen anew %d times; they may use the cached state", x.usingNow)
	}
}

func waitContent(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := readFile(t, path)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %q", path, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rmdir of a disk of a domain that is not shut down is EBUSY, and LVM is not
// asked; the log names the domain.
func TestRmdirDiskOfDomain(t *testing.T) {
	x := &fakeXen{}
	x.add("clone", 4, "running", [2]int{254, 2})
	m := mountXen(t, setup{}, x)
	for _, state := range []string{"running", "blocked", "paused", "crashed", "dying"} {
		t.Run(state, func(t *testing.T) {
			x.set("clone", state)
			before := m.lvm.Names("vg")
			if err := syscall.Rmdir(m.path("vg/web/snap1")); errnoOf(err) != syscall.EBUSY {
				t.Errorf("rmdir with the domain %s: %v, want EBUSY", state, err)
			}
			if after := m.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("LVM changed: %v -> %v", before, after)
			}
		})
	}
	if strings.Contains(strings.Join(m.lvm.Calls, "\n"), "lvremove") {
		t.Errorf("lvremove ran: %v", m.lvm.Calls)
	}
	logs := m.logs.String()
	if !strings.Contains(logs, "domain clone (running)") || !strings.Contains(logs, "result=\"EBUSY") {
		t.Errorf("the refusal does not name the domain:\n%s", logs)
	}
	// The guard looks at Xen as it is now, not a second ago: right after the
	// domain shuts down, rmdir works.
	m.mustSh(t, "cat vg/web/snap1/domu")
	x.set("clone", "shutdown")
	m.mustSh(t, "rmdir vg/web/snap1")
	if got := m.lvm.LastCall(); got != "lvm lvremove --yes vg/snap1" {
		t.Errorf("last call %q", got)
	}
}

// With quiesce = "pause", mkdir pauses the domains using the origin for the
// lvcreate only, whether it succeeds or not.
func TestQuiescePause(t *testing.T) {
	x := &fakeXen{}
	x.add("web", 3, "running", [2]int{254, 1})
	x.add("web-backup", 9, "blocked", [2]int{254, 1})
	x.add("data", 5, "running", [2]int{254, 3})
	pauseDir := t.TempDir()
	m := mountXen(t, setup{ops: ops.Options{OriginQuiesce: map[string]bool{"vg/web": true}}, pauseDir: pauseDir}, x)
	callsSince := func(n int) string {
		m.lvm.Mu.Lock()
		defer m.lvm.Mu.Unlock()
		return strings.Join(m.lvm.Calls[n:], "\n")
	}
	ncalls := func() int {
		m.lvm.Mu.Lock()
		defer m.lvm.Mu.Unlock()
		return len(m.lvm.Calls)
	}

	t.Run("snapshot taken", func(t *testing.T) {
		n := ncalls()
		m.mustSh(t, "mkdir vg/web/quiet")
		want := "xl pause web\nxl pause web-backup\nlvm lvcreate --snapshot --name quiet --extents 20%ORIGIN vg/web\nxl unpause web-backup\nxl unpause web"
		if got := callsSince(n); got != want {
			t.Errorf("calls:\n%s\nwant\n%s", got, want)
		}
		if x.state("web") != "running" || x.state("web-backup") != "blocked" {
			t.Errorf("after mkdir: web %s, web-backup %s", x.state("web"), x.state("web-backup"))
		}
		logs := m.logs.String()
		if !strings.Contains(logs, `lvm="xl list; xl pause web; xl pause web-backup; lvm lvcreate --snapshot --name quiet --extents 20%ORIGIN vg/web; xl unpause web-backup; xl unpause web"`) {
			t.Errorf("the audit line lacks the xl commands:\n%s", logs)
		}
		if !strings.Contains(logs, "msg=\"domain unpaused\" domain=web paused_for=") {
			t.Errorf("no log line with how long web was paused:\n%s", logs)
		}
	})

	t.Run("lvcreate fails", func(t *testing.T) {
		m.lvm.Mu.Lock()
		m.lvm.FailNext["lvcreate"] = lvmtest.CmdErr(lvm.ErrFailed, 5, []string{"lvm", "lvcreate"}, "Internal error")
		m.lvm.Mu.Unlock()
		n := ncalls()
		if err := os.Mkdir(m.path("vg/web/fails"), 0o755); errnoOf(err) != syscall.EIO {
			t.Errorf("mkdir: %v, want EIO", err)
		}
		want := "xl pause web\nxl pause web-backup\nlvm lvcreate --snapshot --name fails --extents 20%ORIGIN vg/web\nxl unpause web-backup\nxl unpause web"
		if got := callsSince(n); got != want {
			t.Errorf("calls:\n%s\nwant\n%s", got, want)
		}
		if x.state("web") != "running" {
			t.Errorf("web is %s after a failed mkdir", x.state("web"))
		}
	})

	t.Run("paused by the administrator", func(t *testing.T) {
		x.set("web-backup", "shutdown")
		x.mu.Lock()
		d := x.find("web")
		d.State, d.pauses, d.before = "paused", 1, "running"
		x.mu.Unlock()
		n := ncalls()
		m.mustSh(t, "mkdir vg/web/while-paused")
		if got := callsSince(n); got != "lvm lvcreate --snapshot --name while-paused --extents 20%ORIGIN vg/web" {
			t.Errorf("calls:\n%s", got)
		}
		if x.state("web") != "paused" {
			t.Errorf("snapfs unpaused a domain it had not paused: %s", x.state("web"))
		}
		x.mu.Lock()
		d.State, d.pauses = "running", 0
		x.mu.Unlock()
		x.set("web-backup", "blocked")
	})

	t.Run("origin not quiesced", func(t *testing.T) {
		n := ncalls()
		m.mustSh(t, "mkdir vg2/data/unquiesced")
		if got := callsSince(n); got != "lvm lvcreate --snapshot --name unquiesced --extents 20%ORIGIN vg2/data" {
			t.Errorf("calls:\n%s", got)
		}
	})

	t.Run("pause fails", func(t *testing.T) {
		x.mu.Lock()
		x.failPause = errors.New("xl pause web: exit status 1: libxl: error: cannot pause")
		x.mu.Unlock()
		defer func() {
			x.mu.Lock()
			x.failPause = nil
			x.mu.Unlock()
		}()
		n := ncalls()
		before := m.lvm.Names("vg")
		if err := os.Mkdir(m.path("vg/web/unpausable"), 0o755); errnoOf(err) != syscall.EIO {
			t.Errorf("mkdir: %v, want EIO", err)
		}
		if got := callsSince(n); got != "xl pause web" {
			t.Errorf("calls:\n%s", got)
		}
		if after := m.lvm.Names("vg"); strings.Join(after, " ") != strings.Join(before, " ") {
			t.Errorf("LVM changed: %v -> %v", before, after)
		}
	})

	t.Run("unpause retried", func(t *testing.T) {
		x.mu.Lock()
		x.failUnpause = 1
		x.mu.Unlock()
		m.mustSh(t, "mkdir vg/web/retried")
		if x.state("web") != "running" {
			t.Errorf("web is %s", x.state("web"))
		}
	})

	entries, err := os.ReadDir(filepath.Join(pauseDir, "paused"))
	if err != nil || len(entries) != 0 {
		t.Errorf("pause records left behind: %v %v", entries, err)
	}
}

// A snapfs killed while it held a domain paused left a record; the next one
// unpauses the domain when it starts.
func TestQuiesceRecovery(t *testing.T) {
	x := &fakeXen{}
	x.add("web", 3, "running", [2]int{254, 1})
	pauseDir := t.TempDir()
	m := mountXen(t, setup{ops: ops.Options{Quiesce: true}, pauseDir: pauseDir}, x)
	m.lvm.Mu.Lock()
	m.lvm.Delay = 300 * time.Millisecond
	m.lvm.Mu.Unlock()

	// While lvcreate runs, the record is there: keep a copy of the state
	// directory as a snapfs killed at that moment would have left it.
	done := make(chan error, 1)
	go func() { done <- os.Mkdir(m.path("vg/web/killed"), 0o755) }()
	crashed := t.TempDir()
	var record string
	deadline := time.Now().Add(5 * time.Second)
	for record == "" {
		if time.Now().After(deadline) {
			t.Fatal("no pause record appeared while lvcreate ran")
		}
		if files, _ := filepath.Glob(filepath.Join(pauseDir, "paused", "*.json")); len(files) == 1 {
			data, err := os.ReadFile(files[0])
			if err == nil && x.state("web") == "paused" {
				record = string(data)
				if err := os.MkdirAll(filepath.Join(crashed, "paused"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(crashed, "paused", filepath.Base(files[0])), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(record, `"domain":"web","id":3,"snapshot":"vg/web/killed"`) {
		t.Errorf("record %s", record)
	}

	// Had snapfs been killed, web would still be paused. A second record
	// names a domain that has gone since, a third one whose name now belongs
	// to a new domain: those are dropped without unpausing anything.
	x.mu.Lock()
	d := x.find("web")
	d.State, d.pauses, d.before = "paused", 1, "running"
	x.mu.Unlock()
	x.add("reborn", 12, "paused")
	for i, rec := range []string{
		`{"domain":"gone","id":7,"snapshot":"vg/gone/s","paused_at":"2026-11-01T10:00:00Z","pid":1}`,
		`{"domain":"reborn","id":8,"snapshot":"vg/reborn/s","paused_at":"2026-11-01T10:00:00Z","pid":1}`,
	} {
		if err := os.WriteFile(filepath.Join(crashed, "paused", fmt.Sprintf("old-%d.json", i)), []byte(rec), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	restarted := quiesce.New(x, quiesce.Options{StateDir: crashed, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := restarted.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if x.state("web") != "running" {
		t.Errorf("web is %s after recovery", x.state("web"))
	}
	if x.state("reborn") != "paused" {
		t.Errorf("recovery unpaused a domain it had not paused")
	}
	if left, _ := os.ReadDir(filepath.Join(crashed, "paused")); len(left) != 0 {
		t.Errorf("records left after recovery: %v", left)
	}
	if !strings.Contains(logs.String(), "unpausing a domain an earlier snapfs paused") ||
		!strings.Contains(logs.String(), "msg=\"domain unpaused\" domain=web paused_for=") {
		t.Errorf("recovery log:\n%s", logs.String())
	}
}
