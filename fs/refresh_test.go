package fs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/state"
)

// Changes made behind snapfs's back show within two seconds, kernel-cached
// entries included.
func TestOutsideChanges(t *testing.T) {
	m := mountFake(t, setup{})
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

// The kernel caches the tree (treeTimeout), and a change made behind
// snapfs's back still shows within two seconds: KeepFresh brings it into
// the model, and invalidate out of the kernel's cache. Only names the
// kernel has cached are looked at, so that no lookup of a new name is what
// brings the model up to date: a snapshot removed by hand, one renamed,
// and the link counts of the directories that gained or lost one.
func TestOutsideChangesInCachedTree(t *testing.T) {
	m := mountFake(t, setup{keepFresh: true})
	links := "stat -c %h vg vg/web vg/db"
	if got := m.mustSh(t, links); got != "4\n3\n3\n" {
		t.Fatalf("link counts of vg, vg/web and vg/db: %q, want 4, 3, 3", got)
	}
	m.mustSh(t, "cat vg/web/snap1/allocated vg/db/dbsnap/origin >/dev/null")
	m.lvm.Mu.Lock()
	m.lvm.Add(lvm.LV{Name: "extra", VG: "vg", Attr: lvmtest.MustAttr("-wi-a-----"), Size: lvmtest.Extent, SegType: "linear"})
	m.lvm.Mu.Unlock()
	if err := m.lvm.Remove(context.Background(), "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	if err := m.lvm.Rename(context.Background(), "vg", "dbsnap", "dbsnap2"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2500*time.Millisecond, "the changes by hand to show in the cached tree", func() bool {
		_, errRemoved := os.Stat(m.path("vg/web/snap1"))
		_, errRenamed := os.Stat(m.path("vg/db/dbsnap"))
		out, _ := m.sh(t, links)
		return os.IsNotExist(errRemoved) && os.IsNotExist(errRenamed) && out == "5\n2\n3\n"
	})
}

// Walking the whole tree costs one LVM report, however many files.
func TestWalkCostsOneReport(t *testing.T) {
	m := mountFake(t, setup{})
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
	m := mountFake(t, setup{state: state.Options{MaxAge: time.Hour}})
	m.mustSh(t, "ls vg/web >/dev/null")
	before := m.lvm.ReportCount()
	m.mustSh(t, "rmdir vg/web/snap1")
	if got := m.mustSh(t, "ls vg/web; grep '^free:' vg/status"); got != "domu\nstatus\nstatus.json\nfree: 5578424320\n" {
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
	m := mountFake(t, setup{state: state.Options{MaxAge: time.Hour, BackupDir: backups}})
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
	got := m.mustSh(t, "grep -E '^(uuid|created|size|cow_size|chunk_size):' vg/web/new/status; grep '^free:' vg/status")
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
	m := mountFake(t, setup{state: state.Options{MaxAge: 100 * time.Millisecond, Stamp: func([]string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return stamp, true
	}}})
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
