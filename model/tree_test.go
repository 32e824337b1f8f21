package model

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// recorded loads a report recorded from real LVM (testdata/lvm/report) with
// the `dmsetup status` taken at the same moment, served as device-mapper.
func recorded(t *testing.T, name string) (*lvm.Report, *lvmtest.DM, map[string]map[string]string) {
	t.Helper()
	r, dm := lvmtest.Recorded(t, name)
	return r, dm, recordedLVs(t, filepath.Join(lvmtest.RecordedDir, name+".lvs"))
}

// recordedLVs reads `lvs --nameprefixes` output: the fields of each LV by
// "vg/lv" (brackets of hidden LVs removed).
func recordedLVs(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := map[string]string{}
		for _, kv := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(kv, "=")
			fields[strings.TrimPrefix(k, "LVM2_")] = strings.Trim(v, "'")
		}
		name := strings.Trim(fields["LV_NAME"], "[]")
		out[fields["VG_NAME"]+"/"+name] = fields
	}
	return out
}

// outline renders the tree as one line per directory, with the state of
// each snapshot.
func outline(dm DeviceMapper, t *Tree) string {
	var b strings.Builder
	var walk func(e *LVEntry)
	walk = func(e *LVEntry) {
		b.WriteString(e.String())
		if e.IsSnapshot() {
			b.WriteString(" " + SnapshotStatus(dm, e).State)
		}
		b.WriteString("\n")
		for _, s := range e.Snaps {
			walk(s)
		}
	}
	for _, v := range t.VGs {
		for _, o := range v.Origins {
			walk(o)
		}
	}
	return b.String()
}

// The tree built from real LVM reports: what is shown where, in what state.
func TestTreeFromRecordedReports(t *testing.T) {
	tests := []struct {
		report string
		want   string
	}{
		{"classic", "vg/lv1\nvg/lv1/bigcow active\nvg/lv1/snap0 active\nvg/lv1/snap1 active\n"},
		// The pool and its internal LVs are not shown; thin snapshots hang
		// under their origins, a thin origin of a COW snapshot too.
		{"thin", "vg/lv1\nvg/lv1/bigcow active\nvg/lv1/snap0 active\nvg/lv1/snap1 active\n" +
			"vg/thin1\nvg/thin1/tsnap1 active\nvg/thin1/tsnap1/tsnap2 inactive\n" +
			"vg/thin2\nvg/thin2/thin2cow active\n"},
		// A merging snapshot is hidden by lvs but shown here.
		{"merging", "vgm/org\nvgm/org/msnap merging\n"},
		{"invalid", ""},
	}
	for _, tc := range tests {
		t.Run(tc.report, func(t *testing.T) {
			r, dm, _ := recorded(t, tc.report)
			got := outline(dm, BuildTree(r, nil))
			if tc.want != "" && got != tc.want {
				t.Errorf("tree:\n%s\nwant\n%s", got, tc.want)
			}
			if tc.want == "" && !strings.Contains(got, " invalid\n") {
				t.Errorf("no invalid snapshot in:\n%s", got)
			}
		})
	}
}

// merge-pending: the origin is open, so the merge waits; its own device
// still has its allocation. A merging thin snapshot is always pending.
func TestRecordedMergePending(t *testing.T) {
	for _, tc := range []struct{ report, lv string }{
		{"merge-pending", "mps"},
		{"merge-pending-thin", ""},
	} {
		t.Run(tc.report, func(t *testing.T) {
			r, dm, _ := recorded(t, tc.report)
			tree := BuildTree(r, nil)
			found := 0
			for _, lv := range r.LVs {
				e := tree.LV(lv.UUID)
				if e == nil || !e.IsMerging() {
					continue
				}
				found++
				if got := SnapshotStatus(dm, e).State; got != StateMergePending {
					t.Errorf("%s: state %s, want merge-pending", e, got)
				}
				if got := reportStatus(e).State; got != StateMergePending {
					t.Errorf("%s: state from the report %s, want merge-pending", e, got)
				}
			}
			if found == 0 {
				t.Fatal("no merging snapshot in the recording")
			}
		})
	}
}

// allocated, read from device-mapper, is what lvs printed as Snap% (COW)
// or Data% (thin) at the same moment, for every snapshot of every recording.
func TestAllocatedMatchesLVS(t *testing.T) {
	for _, name := range []string{"classic", "thin", "merging", "merge-pending", "invalid", "multiseg", "all"} {
		t.Run(name, func(t *testing.T) {
			r, dm, lvs := recorded(t, name)
			tree := BuildTree(r, nil)
			checked := 0
			for _, lv := range r.LVs {
				e := tree.LV(lv.UUID)
				if e == nil || !e.IsSnapshot() {
					continue
				}
				rec, ok := lvs[lv.VG+"/"+lv.Name]
				if !ok {
					t.Fatalf("%s not in the lvs recording", e)
				}
				want := rec["SNAP_PERCENT"]
				if e.IsThin() {
					want = rec["DATA_PERCENT"]
				}
				s := SnapshotStatus(dm, e)
				if want == "" {
					if s.Allocated.Valid {
						t.Errorf("%s: allocated %s, lvs shows none", e, formatPercent(s.Allocated))
					}
					continue
				}
				for _, src := range []struct {
					from string
					s    LiveStatus
				}{{"device-mapper", s}, {"the report", reportStatus(e)}} {
					got := strings.TrimSpace(string(allocatedFile(src.s)))
					if got == want {
						continue
					}
					// A running merge moves between the recordings of
					// lvs, dmsetup and the report, taken moments apart.
					if w, err := lvm.ParsePercent(want); s.State == StateMerging && err == nil &&
						src.s.Allocated.Valid && abs(src.s.Allocated.Hundredths-w.Hundredths) <= 50 {
						continue
					}
					t.Errorf("%s (%s): allocated from %s %q, lvs %q", e, s.State, src.from, got, want)
				}
				checked++
			}
			if checked == 0 {
				t.Fatal("no snapshot with an allocation checked")
			}
		})
	}
}

// An LV named like a fixed file is left out, once, at every level.
func TestFixedNamesLeftOut(t *testing.T) {
	f := lvmtest.New()
	f.Add(lvm.LV{Name: "status.json", VG: "vg", Attr: lvmtest.MustAttr("swi-a-s---"), Origin: "web"})
	f.Add(lvm.LV{Name: "ctl", VG: "vg", Attr: lvmtest.MustAttr("swi-a-s---"), Origin: "web"})
	f.Add(lvm.LV{Name: "origin", VG: "vg", Attr: lvmtest.MustAttr("Vwi---tz-k"), Origin: "dbsnap", PoolLV: "pool"})
	f.Add(lvm.LV{Name: "files", VG: "vg", Attr: lvmtest.MustAttr("Vwi---tz-k"), Origin: "dbsnap", PoolLV: "pool"})
	r, err := f.Report(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tree := BuildTree(r, nil)
	sort.Strings(tree.Hidden)
	got := strings.Join(tree.Hidden, " ")
	if want := "vg/files vg/origin vg/status vg/status.json"; got != want {
		t.Errorf("hidden %q, want %q", got, want)
	}
	// ctl is a fixed name only inside a snapshot directory.
	if tree.VG("vg").Origin("web").Child("ctl") == nil {
		t.Error("snapshot named ctl under an origin was left out")
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// The guard's numbers in the status files: fill_rate and full_in of a
// snapshot, min_free and each thin pool's use in the VG's; without a guard,
// 0, "-", 0 and "-".
func TestRenderExtras(t *testing.T) {
	f := lvmtest.New()
	r, err := f.Report(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tree := BuildTree(r, nil)
	snap := tree.VG("vg").Origin("web").Child("snap1")
	x := Extras{
		Rate:    func(e *LVEntry) (float64, float64) { return 2097152.4, 61.6 },
		MinFree: func(vg string) uint64 { return 1 << 30 },
		Pool: func(vg, pool string) (lvm.Percent, lvm.Percent, bool) {
			return lvm.Percent{Hundredths: 4213, Valid: true}, lvm.Percent{Hundredths: 1020, Valid: true}, true
		},
	}
	for _, tc := range []struct {
		x    Extras
		want []string
	}{
		{Extras{}, []string{"fill_rate: 0\nfull_in: -\n", "min_free: 0\npool.pool.data: -\npool.pool.metadata: -\n"}},
		{x, []string{"fill_rate: 2097152\nfull_in: 62\n", "min_free: 1073741824\npool.pool.data: 42.13\npool.pool.metadata: 10.20\n"}},
	} {
		got, err := RenderLVFile(snap, "status", nil, func(*LVEntry) []Domain { return nil }, tc.x)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got), tc.want[0]) {
			t.Errorf("snapshot status\n%s\nlacks\n%s", got, tc.want[0])
		}
		if vg := string(RenderVGFile("status", tree.VG("vg"), tc.x)); !strings.HasSuffix(vg, tc.want[1]) {
			t.Errorf("VG status\n%s\nwant the end\n%s", vg, tc.want[1])
		}
	}
	js := string(RenderVGFile("status.json", tree.VG("vg"), x))
	if !strings.Contains(js, `"min_free":1073741824,"pool.pool.data":42.13,"pool.pool.metadata":10.20}`) {
		t.Errorf("status.json %s", js)
	}
}

// held, expires and auto come from the snapshot's LVM tags.
func TestRenderTags(t *testing.T) {
	f := lvmtest.New()
	f.Mu.Lock()
	f.Find("vg", "snap1").Tags = []string{"other", "snapfs_auto", "snapfs_expires_1800000000", "snapfs_hold"}
	f.Mu.Unlock()
	r, err := f.Report(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := BuildTree(r, nil).VG("vg").Origin("web").Child("snap1")
	got, err := RenderLVFile(snap, "status", nil, func(*LVEntry) []Domain { return nil }, Extras{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "held: yes\nexpires: 2027-01-15T08:00:00Z\nauto: yes\ncheckpoint: -\n"; !strings.HasSuffix(string(got), want) {
		t.Errorf("status\n%s\nwant the end\n%s", got, want)
	}
	js, _ := RenderLVFile(snap, "status.json", nil, func(*LVEntry) []Domain { return nil }, Extras{})
	if !strings.HasSuffix(string(js), `"held":true,"expires":"2027-01-15T08:00:00Z","auto":true,"checkpoint":null}`+"\n") {
		t.Errorf("status.json %s", js)
	}
}
