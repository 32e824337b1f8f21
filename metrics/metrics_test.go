package metrics

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
)

// fakeTree is lvmtest's two VGs: vg with origin web and its COW snapshot
// snap1 (4.86% allocated in the report), thin pool pool with thin origin db
// and its inactive thin snapshot dbsnap; vg2 with one LV.
func fakeTree(t *testing.T, f *lvmtest.LVM) *model.Tree {
	t.Helper()
	r, err := f.Report(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return model.BuildTree(r, nil)
}

// Without device-mapper, the guard and the daemon's other numbers, the file
// shows the report's values and the defaults the status files show.
func TestRenderNilDMNilGuard(t *testing.T) {
	out := Render(Input{Tree: fakeTree(t, lvmtest.New())})
	fs := parse(t, out)

	snap1 := []string{"vg", "web", "snap1"}
	dbsnap := []string{"vg", "db", "dbsnap"}
	tests := []struct {
		family string
		labels []string
		want   float64
	}{
		{"snapfs_snapshot_allocated_percent", snap1, 4.86},
		{"snapfs_snapshot_cow_bytes", snap1, 200 << 20},
		{"snapfs_snapshot_cow_used_bytes", snap1, 10192158}, // 200 MiB * 4.86%
		{"snapfs_snapshot_size_bytes", snap1, 1 << 30},
		{"snapfs_snapshot_chunk_size_bytes", snap1, 4096},
		{"snapfs_snapshot_chunk_size_bytes", dbsnap, 64 << 10}, // the pool's
		{"snapfs_snapshot_active", snap1, 1},
		{"snapfs_snapshot_active", dbsnap, 0},
		{"snapfs_snapshot_open", snap1, 0},
		{"snapfs_snapshot_state", append(snap1, "active"), 1},
		{"snapfs_snapshot_state", append(dbsnap, "inactive"), 1},
		{"snapfs_snapshot_created_timestamp_seconds", snap1, float64(lvmtest.T0.Unix() + 2*3600)},
		{"snapfs_snapshot_fill_rate_bytes_per_second", snap1, 0},
		{"snapfs_snapshot_held", snap1, 0},
		{"snapfs_origin_size_bytes", []string{"vg", "web"}, 1 << 30},
		{"snapfs_origin_snapshots", []string{"vg", "db"}, 1},
		{"snapfs_origin_open", []string{"vg", "web"}, 1},
		{"snapfs_origin_active", []string{"vg2", "data"}, 1},
		{"snapfs_vg_size_bytes", []string{"vg"}, 10 << 30},
		{"snapfs_vg_free_bytes", []string{"vg2"}, 512 << 20},
		{"snapfs_vg_extent_size_bytes", []string{"vg"}, lvmtest.Extent},
		{"snapfs_vg_lvs", []string{"vg"}, 6},
		{"snapfs_vg_snapshots", []string{"vg"}, 2},
		{"snapfs_vg_min_free_bytes", []string{"vg"}, 0},
		{"snapfs_guard_extensions_total", nil, 0},
		{"snapfs_lvm_commands_total", nil, 0},
		{"snapfs_events_total", nil, 0},
	}
	for _, tc := range tests {
		got, ok := fs.value(tc.family, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s%q = %v (present %v), want %v", tc.family, tc.labels, got, ok, tc.want)
		}
	}
	// What the status files show as "-" has no sample.
	for _, tc := range []struct {
		family string
		labels []string
	}{
		{"snapfs_snapshot_allocated_percent", dbsnap},
		{"snapfs_snapshot_cow_used_bytes", dbsnap},
		{"snapfs_snapshot_full_in_seconds", snap1},
		{"snapfs_snapshot_merge_progress_percent", snap1},
		{"snapfs_thin_pool_data_percent", []string{"vg", "pool"}},
	} {
		if v, ok := fs.value(tc.family, tc.labels...); ok {
			t.Errorf("%s%q = %v, want no sample", tc.family, tc.labels, v)
		}
	}
	// One state sample a snapshot; the VG and the hidden LV named status
	// are not origins.
	if n := fs.samples("snapfs_snapshot_state"); n != 2 {
		t.Errorf("%d state samples, want 2", n)
	}
	if n := fs.samples("snapfs_origin_size_bytes"); n != 3 {
		t.Errorf("%d origins, want 3", n)
	}
	// The exact lines of the spec's example, percent as a plain float.
	for _, line := range []string{
		`snapfs_snapshot_allocated_percent{vg="vg",origin="web",snapshot="snap1"} 4.86`,
		`snapfs_vg_size_bytes{vg="vg"} 10737418240`,
		"# TYPE snapfs_lvm_commands_total counter",
	} {
		if !bytes.Contains(out, []byte("\n"+line+"\n")) {
			t.Errorf("no line %q in:\n%s", line, out)
		}
	}
	if again := Render(Input{Tree: fakeTree(t, lvmtest.New())}); !bytes.Equal(out, again) {
		t.Error("two renders of the same tree differ")
	}
}

// The numbers the guard and the daemon keep show as they were given; device-
// mapper's values replace the report's.
func TestRenderWithGuardPoolsAndDM(t *testing.T) {
	f := lvmtest.New()
	dm := &lvmtest.DM{LVM: f}
	// snap1's COW store: 409600 sectors, 8192 of them used (2%).
	dm.Set(lvm.DMName("vg", "snap1"), lvm.Target{Type: "snapshot", Params: "8192/409600 16"})
	// Its open count, which model reads only for an LV with a device number.
	dm.SetStatus(&lvm.DeviceStatus{Name: lvm.DMName("vg", "snap1"), OpenCount: 1})
	for i := range f.LVs {
		if f.LVs[i].Name == "snap1" {
			f.LVs[i].KernelMajor, f.LVs[i].KernelMinor = 253, 3
		}
	}
	tree := fakeTree(t, f)
	snap1 := tree.VG("vg").Origin("web").Child("snap1")

	in := Input{
		Tree: tree,
		DM:   dm,
		Guard: func(uuid string) (GuardNumbers, bool) {
			if uuid == snap1.LV.UUID {
				return GuardNumbers{FillRate: 1536.5, FullIn: 3600}, true
			}
			return GuardNumbers{FullIn: -1}, uuid != ""
		},
		MinFree: func(vg string) uint64 { return map[string]uint64{"vg": 1 << 30}[vg] },
		Pools: func(vg, pool string) (data, metadata lvm.Percent, ok bool) {
			return lvm.Percent{Hundredths: 1113, Valid: true}, lvm.Percent{Hundredths: 50, Valid: true}, vg == "vg" && pool == "pool"
		},
		Held:     func(e *model.LVEntry) bool { return e == snap1 },
		Counters: Counters{GuardExtensions: 3, LVMCommands: 42, Events: 7},
	}
	out := Render(in)
	fs := parse(t, out)
	snap := []string{"vg", "web", "snap1"}
	tests := []struct {
		family string
		labels []string
		want   float64
	}{
		{"snapfs_snapshot_allocated_percent", snap, 2},
		{"snapfs_snapshot_cow_used_bytes", snap, 8192 * 512},
		{"snapfs_snapshot_open", snap, 1},
		{"snapfs_snapshot_fill_rate_bytes_per_second", snap, 1536.5},
		{"snapfs_snapshot_full_in_seconds", snap, 3600},
		{"snapfs_snapshot_held", snap, 1},
		{"snapfs_snapshot_held", []string{"vg", "db", "dbsnap"}, 0},
		{"snapfs_vg_min_free_bytes", []string{"vg"}, 1 << 30},
		{"snapfs_vg_min_free_bytes", []string{"vg2"}, 0},
		{"snapfs_thin_pool_data_percent", []string{"vg", "pool"}, 11.13},
		{"snapfs_thin_pool_metadata_percent", []string{"vg", "pool"}, 0.5},
		{"snapfs_guard_extensions_total", nil, 3},
		{"snapfs_lvm_commands_total", nil, 42},
		{"snapfs_events_total", nil, 7},
	}
	for _, tc := range tests {
		got, ok := fs.value(tc.family, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s%q = %v (present %v), want %v", tc.family, tc.labels, got, ok, tc.want)
		}
	}
	// A snapshot that is not growing has no full_in, whatever the guard says.
	if n := fs.samples("snapfs_snapshot_full_in_seconds"); n != 1 {
		t.Errorf("%d full_in samples, want 1:\n%s", n, out)
	}
	// Every family is there but merge progress, which needs a merge.
	for name := range familyLabels {
		if _, ok := fs[name]; !ok && name != "snapfs_snapshot_merge_progress_percent" {
			t.Errorf("family %s missing", name)
		}
	}
}

// Names that need escaping in label values (LVM refuses them, but the
// format must hold whatever it is given) come back from the parser as they
// were.
func TestRenderEscapesLabelValues(t *testing.T) {
	vg, origin, snap := "v\"g\\1", "o\nrigin", `sn"ap\`
	f := lvmtest.New()
	f.VGs = append(f.VGs, lvm.VG{Name: vg, UUID: "odd-uuid", Size: 1 << 30, Free: 1 << 29, ExtentSize: lvmtest.Extent})
	f.Add(lvm.LV{Name: origin, VG: vg, Attr: lvmtest.MustAttr("owi-a-s---"), Size: 1 << 29})
	f.Add(lvm.LV{Name: snap, VG: vg, Attr: lvmtest.MustAttr("swi-a-s---"), Origin: origin, Size: 1 << 27, OriginSize: 1 << 29,
		ChunkSize: 4096, SnapPercent: lvm.Percent{Hundredths: 1, Valid: true}})
	f.Add(lvm.LV{Name: "po\"ol", VG: vg, Attr: lvmtest.MustAttr("twi-aotz--"), Size: 1 << 28, SegType: "thin-pool"})
	out := Render(Input{
		Tree: fakeTree(t, f),
		Pools: func(string, string) (lvm.Percent, lvm.Percent, bool) {
			return lvm.Percent{Hundredths: 100, Valid: true}, lvm.Percent{}, true
		},
	})
	fs := parse(t, out)

	for _, tc := range []struct {
		family string
		labels []string
		want   float64
	}{
		{"snapfs_vg_size_bytes", []string{vg}, 1 << 30},
		{"snapfs_origin_size_bytes", []string{vg, origin}, 1 << 29},
		{"snapfs_snapshot_allocated_percent", []string{vg, origin, snap}, 0.01},
		{"snapfs_snapshot_state", []string{vg, origin, snap, "active"}, 1},
		{"snapfs_thin_pool_data_percent", []string{vg, "po\"ol"}, 1},
	} {
		got, ok := fs.value(tc.family, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s%q = %v (present %v), want %v", tc.family, tc.labels, got, ok, tc.want)
		}
	}
	want := `snapfs_snapshot_allocated_percent{vg="v\"g\\1",origin="o\nrigin",snapshot="sn\"ap\\"} 0.01`
	if !strings.Contains(string(out), "\n"+want+"\n") {
		t.Errorf("no line %s in:\n%s", want, out)
	}
	// A pool's unknown metadata use has no sample.
	if _, ok := fs.value("snapfs_thin_pool_metadata_percent", vg, "po\"ol"); ok {
		t.Error("metadata percent of a pool that reports none")
	}
}

// No tree (before the first report): the counters alone.
func TestRenderNoTree(t *testing.T) {
	out := Render(Input{Counters: Counters{Events: 1}})
	fs := parse(t, out)
	if len(fs) != 3 {
		t.Errorf("families %d, want the 3 counters:\n%s", len(fs), out)
	}
	if v, ok := fs.value("snapfs_events_total"); !ok || v != 1 {
		t.Errorf("events_total %v %v, want 1", v, ok)
	}
}

func TestFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{4.86, "4.86"},
		{100, "100"},
		{1 << 40, "1099511627776"},
		{1536.5, "1536.5"},
		{1e300, "1e+300"},
		{-1, "-1"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := float(tc.in); got != tc.want {
			t.Errorf("float(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
