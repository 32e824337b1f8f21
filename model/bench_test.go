package model

import (
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// reportOf returns a report of one VG of n LVs, half of them origins and
// half their COW snapshots.
func reportOf(n int) *lvm.Report { return lvmtest.BenchReport(n) }

// BenchmarkBuildTree1000 builds the model of a VG of 1,000 LVs, 500 of them
// snapshots, as every refresh does.
func BenchmarkBuildTree1000(b *testing.B) {
	r := reportOf(1000)
	if t := BuildTree(r, nil); t.VG("bench").SnapshotCount != 500 {
		b.Fatalf("%d snapshots in the model, want 500", t.VG("bench").SnapshotCount)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		BuildTree(r, nil)
	}
}

// BenchmarkRenderStatus renders a snapshot's status and status.json, as an
// open of each does, from the model and device-mapper's status line.
func BenchmarkRenderStatus(b *testing.B) {
	t := BuildTree(reportOf(1000), nil)
	e := t.VG("bench").Origin("o0499").Child("s0499")
	if e == nil {
		b.Fatal("no snapshot s0499 in the model")
	}
	live := COWStatus(lvm.Target{Type: "snapshot", Params: "208/8192 16"}, e.LV.Size)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		renderText(snapshotFields(e, live, false, nil, Extras{}))
		renderJSON(snapshotFields(e, live, false, nil, Extras{}))
	}
}

// BenchmarkSnapshotDirSizes renders every status file of a snapshot for
// its size, as a directory listing (READDIRPLUS) does, and reports how
// many device-mapper reads (ioctls) a listing costs: one, from the status
// cache, where each file used to read its own.
func BenchmarkSnapshotDirSizes(b *testing.B) {
	t := BuildTree(reportOf(1000), nil)
	e := t.VG("bench").Origin("o0499").Child("s0499")
	dm := &countingDM{targets: map[string][]lvm.Target{
		lvm.DMName("bench", "s0499"): {{Type: "snapshot", Params: "208/8192 16"}},
	}}
	sizeDM := NewStatusCache(dm, SizeStatusAge)
	// Past the cache's age at every listing, as in a walk of many
	// snapshots.
	now := time.Unix(0, 0)
	sizeDM.(*statusCache).now = func() time.Time { return now }
	noDomains := func(*LVEntry) []Domain { return nil }
	files := []string{"allocated", "domu", "origin", "state", "status", "status.json"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second)
		for _, name := range files {
			if _, err := RenderLVFile(e, name, sizeDM, noDomains, Extras{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(dm.status+dm.tstatus)/float64(b.N), "dm-reads/listing")
}
