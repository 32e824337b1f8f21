package model

import (
	"fmt"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// reportOf returns a report of one VG of n LVs, half of them origins and
// half their COW snapshots.
func reportOf(n int) *lvm.Report {
	r := &lvm.Report{VGs: []lvm.VG{{Name: "bench", UUID: "nuQNYm-yntI-YYbI-SwDi-VDdG-zHo1-dpLasg",
		Size: 8 << 30, Free: 4 << 30, ExtentSize: 4 << 20, LVCount: n, SnapCount: n / 2}}}
	created := time.Date(2026, 11, 21, 6, 12, 56, 0, time.UTC)
	for i := 0; i < n/2; i++ {
		origin := fmt.Sprintf("o%04d", i)
		r.LVs = append(r.LVs, lvm.LV{
			Name: origin, VG: "bench", UUID: fmt.Sprintf("OOOOOO-%04d-0000-0000-0000-0000-000000", i),
			Path: "/dev/bench/" + origin, Attr: lvmtest.MustAttr("owi-a-s---"), Size: 4 << 20, Time: created,
			KernelMajor: 254, KernelMinor: 2 * i, SegType: "linear", Segments: 1,
		}, lvm.LV{
			Name: fmt.Sprintf("s%04d", i), VG: "bench", UUID: fmt.Sprintf("SSSSSS-%04d-0000-0000-0000-0000-000000", i),
			Path: fmt.Sprintf("/dev/bench/s%04d", i), Attr: lvmtest.MustAttr("swi-a-s---"), Origin: origin,
			Size: 4 << 20, OriginSize: 4 << 20, SnapPercent: lvm.Percent{Hundredths: 62, Valid: true},
			ChunkSize: 4096, Time: created, KernelMajor: 254, KernelMinor: 2*i + 1, SegType: "linear", Segments: 1,
		})
	}
	return r
}

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
