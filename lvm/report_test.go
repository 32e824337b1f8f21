package lvm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReportArgs: Report runs exactly the command the recordings were made
// with, up to what they predate (see recordedReportArgs), and the one
// testdata/record-lvm.sh will record with next.
func TestReportArgs(t *testing.T) {
	want := recordedReportArgs(t)
	if got := reportArgs(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("reportArgs:\n got %q\nwant %q (testdata/lvm/report/ARGV)", got, want)
	}
	if got, script := reportArgs(nil), recordScriptReportArgs(t); !reflect.DeepEqual(got, script) {
		t.Errorf("reportArgs:\n got %q\nwant %q (report_args in testdata/record-lvm.sh)", got, script)
	}
	if got := reportArgs([]string{"vg", "vg2"}); !reflect.DeepEqual(got[len(got)-2:], []string{"vg", "vg2"}) {
		t.Errorf("reportArgs does not end with the VG names: %q", got)
	}
}

// recordScriptReportArgs returns the words of report_args=( ... ) in
// testdata/record-lvm.sh: words split at blanks, single quotes kept
// together, which is all the array uses.
func recordScriptReportArgs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, "..", "record-lvm.sh"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nreport_args=(\n")
	body, _, ok2 := strings.Cut(rest, "\n)\n")
	if !ok || !ok2 {
		t.Fatal("record-lvm.sh: no report_args=( ... ) array")
	}
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, c := range body {
		switch {
		case c == '\'':
			quoted, inWord = !quoted, true
		case !quoted && (c == ' ' || c == '\t' || c == '\n'):
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

func parseRecordedReport(t *testing.T, name string) *Report {
	t.Helper()
	rec := loadReport(t, name)
	rep, err := ParseReport(bytes.NewReader(rec.stdout))
	if err != nil {
		t.Fatalf("report %s: %v", name, err)
	}
	return rep
}

func reportNames(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testdataDir, "report", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recorded reports in %s: %v", testdataDir, err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	return names
}

// TestParseReportMatchesLVS checks every recorded report against what lvs
// printed of the same state just after: names (brackets for hidden LVs),
// attributes, sizes, pools, origins and percentages.
func TestParseReportMatchesLVS(t *testing.T) {
	for _, name := range reportNames(t) {
		t.Run(name, func(t *testing.T) {
			rep := parseRecordedReport(t, name)
			rows := lvsLines(t, filepath.Join(testdataDir, "report", name+".lvs"))
			if len(rows) != len(rep.LVs) {
				t.Fatalf("%d LVs parsed, lvs printed %d", len(rep.LVs), len(rows))
			}
			// A merge moves on between the report and lvs.
			moving := name == "merging"
			for _, row := range rows {
				lvName, hidden := row["LV_NAME"], false
				if strings.HasPrefix(lvName, "[") {
					lvName, hidden = strings.Trim(lvName, "[]"), true
				}
				lv := rep.LV(row["VG_NAME"], lvName)
				if lv == nil {
					t.Errorf("%s/%s: not in the report", row["VG_NAME"], lvName)
					continue
				}
				size, _ := strconv.ParseUint(row["LV_SIZE"], 10, 64)
				checks := []struct {
					field     string
					got, want any
				}{
					{"hidden", lv.Hidden, hidden},
					{"attr", lv.Attr.String(), row["LV_ATTR"]},
					{"size", lv.Size, size},
					{"pool", lv.PoolLV, strings.Trim(row["POOL_LV"], "[]")},
					{"origin", lv.Origin, strings.Trim(row["ORIGIN"], "[]")},
					{"role", strings.Join(lv.Role, ","), row["LV_ROLE"]},
				}
				if !moving {
					checks = append(checks,
						struct {
							field     string
							got, want any
						}{"snap%", lv.SnapPercent.String(), row["SNAP_PERCENT"]},
						struct {
							field     string
							got, want any
						}{"data%", lv.DataPercent.String(), row["DATA_PERCENT"]})
				}
				for _, c := range checks {
					if c.got != c.want {
						t.Errorf("%s/%s %s: parsed %v, lvs printed %v", lv.VG, lv.Name, c.field, c.got, c.want)
					}
				}
			}
		})
	}
}

func mustLV(t *testing.T, rep *Report, vg, name string) *LV {
	t.Helper()
	lv := rep.LV(vg, name)
	if lv == nil {
		t.Fatalf("%s/%s not in the report", vg, name)
	}
	return lv
}

func TestReportClassic(t *testing.T) {
	rep := parseRecordedReport(t, "classic")
	if len(rep.VGs) != 1 {
		t.Fatalf("VGs = %+v", rep.VGs)
	}
	vg := rep.VGs[0]
	if vg.Name != "vg" || vg.UUID == "" || vg.ExtentSize != 4<<20 || vg.Size == 0 || vg.Free == 0 ||
		vg.Free >= vg.Size || vg.LVCount != 4 || vg.SnapCount != 3 {
		t.Errorf("vg = %+v", vg)
	}
	if rep.VG("vg") == nil || rep.VG("nosuch") != nil {
		t.Error("Report.VG")
	}

	lv1 := mustLV(t, rep, "vg", "lv1")
	if lv1.Kind() != KindVolume || !lv1.Attr.IsOrigin() || lv1.Size != 160<<20 || lv1.SegType != "linear" ||
		lv1.Path != "/dev/vg/lv1" || lv1.DMPath != "/dev/mapper/vg-lv1" || lv1.ChunkSize != 0 {
		t.Errorf("lv1 = %+v", lv1)
	}
	snap1 := mustLV(t, rep, "vg", "snap1")
	if snap1.Kind() != KindCOWSnapshot || snap1.Origin != "lv1" || snap1.Size != 8<<20 || snap1.OriginSize != 160<<20 ||
		snap1.ChunkSize != 4096 || snap1.Hidden || snap1.KernelMajor <= 0 || snap1.KernelMinor < 0 ||
		!snap1.SnapPercent.Valid || snap1.SnapPercent != snap1.DataPercent || snap1.Segments != 1 {
		t.Errorf("snap1 = %+v", snap1)
	}
	if got := rep.SnapshotState(snap1); got != SnapshotActive {
		t.Errorf("snap1 state %v", got)
	}
	if got := rep.StatusDMName(snap1); got != "vg-snap1" {
		t.Errorf("StatusDMName(snap1) = %q", got)
	}
	// lv_time is "%Y-%m-%d %T %z", local time of the recording (UTC).
	if snap1.Time.Year() < 2024 || snap1.Time.Before(lv1.Time) {
		t.Errorf("times: lv1 %v, snap1 %v", lv1.Time, snap1.Time)
	}
	if _, off := snap1.Time.Zone(); off != 0 {
		t.Errorf("snap1 time %v: want the recording's UTC offset", snap1.Time)
	}
	fresh := mustLV(t, rep, "vg", "snap0")
	tiny := mustLV(t, rep, "vg", "bigcow")
	if fresh.SnapPercent.Hundredths == 0 && tiny.SnapPercent.Hundredths == 0 {
		t.Errorf("snapshots of a written origin show no allocation: %v, %v", fresh.SnapPercent, tiny.SnapPercent)
	}
}

func TestReportThin(t *testing.T) {
	rep := parseRecordedReport(t, "thin-inactive")
	pool := mustLV(t, rep, "vg", "pool")
	if pool.Kind() != KindThinPool || pool.ChunkSize != 64<<10 || pool.SegType != "thin-pool" || pool.Path != "" {
		t.Errorf("pool = %+v", pool)
	}
	for _, name := range []string{"pool_tdata", "pool_tmeta", "lvol0_pmspare"} {
		lv := mustLV(t, rep, "vg", name)
		if !lv.Hidden || lv.Kind() != KindInternal || lv.Path != "" {
			t.Errorf("%s = %+v", name, lv)
		}
	}
	thin1 := mustLV(t, rep, "vg", "thin1")
	if thin1.Kind() != KindVolume || thin1.PoolLV != "pool" || thin1.SegType != "thin" || !thin1.DataPercent.Valid {
		t.Errorf("thin1 = %+v", thin1)
	}
	// A new thin snapshot is inactive, flagged to skip activation.
	tsnap1 := mustLV(t, rep, "vg", "tsnap1")
	if tsnap1.Kind() != KindThinSnapshot || tsnap1.Origin != "thin1" || !tsnap1.SkipActivation || !tsnap1.Attr.SkipActivation() ||
		tsnap1.KernelMajor != -1 || tsnap1.KernelMinor != -1 || tsnap1.DataPercent.Valid || tsnap1.DeviceOpen {
		t.Errorf("tsnap1 = %+v", tsnap1)
	}
	if got := rep.SnapshotState(tsnap1); got != SnapshotInactive {
		t.Errorf("tsnap1 state %v, want inactive", got)
	}
	tsnap2 := mustLV(t, rep, "vg", "tsnap2")
	if tsnap2.Kind() != KindThinSnapshot || tsnap2.Origin != "tsnap1" {
		t.Errorf("tsnap2, a snapshot of a thin snapshot = %+v", tsnap2)
	}

	rep = parseRecordedReport(t, "thin")
	tsnap1 = mustLV(t, rep, "vg", "tsnap1")
	if got := rep.SnapshotState(tsnap1); got != SnapshotActive || !tsnap1.DataPercent.Valid || !tsnap1.SkipActivation {
		t.Errorf("activated tsnap1 = %+v, state %v", tsnap1, got)
	}
	// A COW snapshot of a thin volume makes that an origin, on a thin target.
	thin2 := mustLV(t, rep, "vg", "thin2")
	if thin2.Kind() != KindVolume || !thin2.Attr.IsOrigin() || !thin2.Attr.IsThin() {
		t.Errorf("thin2 = %+v", thin2)
	}
	cow := mustLV(t, rep, "vg", "thin2cow")
	if cow.Kind() != KindCOWSnapshot || cow.Origin != "thin2" {
		t.Errorf("thin2cow = %+v", cow)
	}
}

func TestReportMultiSegment(t *testing.T) {
	rep := parseRecordedReport(t, "multiseg")
	seen := map[string]bool{}
	for _, lv := range rep.LVs {
		if seen[lv.UUID] {
			t.Errorf("%s appears twice", lv.Name)
		}
		seen[lv.UUID] = true
	}
	seg1 := mustLV(t, rep, "vg", "seg1")
	if seg1.Segments != 2 || seg1.SegType != "linear" || seg1.Size != 16<<20 {
		t.Errorf("seg1 = %+v", seg1)
	}
	segsnap := mustLV(t, rep, "vg", "segsnap")
	if segsnap.Segments != 2 || segsnap.ChunkSize != 4096 || segsnap.Size != 16<<20 || segsnap.Origin != "seg1" {
		t.Errorf("segsnap = %+v", segsnap)
	}
}

func TestReportInvalid(t *testing.T) {
	rep := parseRecordedReport(t, "invalid")
	inv := mustLV(t, rep, "vg", "snapinv")
	if !inv.Attr.SnapshotInvalid() || !inv.SnapshotInvalid || inv.SnapPercent != (Percent{10000, true}) {
		t.Errorf("snapinv = %+v", inv)
	}
	if got := rep.SnapshotState(inv); got != SnapshotInvalid {
		t.Errorf("state %v, want invalid", got)
	}
}

func TestReportMergePending(t *testing.T) {
	rep := parseRecordedReport(t, "merge-pending")
	mps := mustLV(t, rep, "vg", "mps")
	mpo := mustLV(t, rep, "vg", "mpo")
	if !mps.Hidden || mps.Kind() != KindCOWSnapshot || mps.Origin != "mpo" || !mps.Merging || !mps.Attr.IsMergingSnapshot() ||
		mps.Path != "" || !mps.SnapPercent.Valid {
		t.Errorf("mps = %+v", mps)
	}
	if !mpo.Attr.IsMergingOrigin() || !mpo.Attr.IsOpen() || mpo.SnapPercent.Valid || mpo.Kind() != KindVolume {
		t.Errorf("mpo = %+v", mpo)
	}
	if got := rep.SnapshotState(mps); got != SnapshotMergePending {
		t.Errorf("mps state %v, want merge-pending", got)
	}
	// Its own snapshot device still holds the allocation.
	if got := rep.StatusDMName(mps); got != "vg-mps" {
		t.Errorf("StatusDMName(mps) = %q", got)
	}
	if mps.KernelMinor == mpo.KernelMinor {
		t.Errorf("a pending merge shares the origin's device: %d", mps.KernelMinor)
	}

	rep = parseRecordedReport(t, "merge-pending-thin")
	tsnap3 := mustLV(t, rep, "vg", "tsnap3")
	if !tsnap3.Hidden || tsnap3.Kind() != KindThinSnapshot || tsnap3.Origin != "thin3" || !tsnap3.Attr.IsMergingSnapshot() {
		t.Errorf("tsnap3 = %+v", tsnap3)
	}
	if got := rep.SnapshotState(tsnap3); got != SnapshotMergePending {
		t.Errorf("tsnap3 state %v, want merge-pending", got)
	}
	// The pending merge of mps2 waits for its origin's next activation
	// although nothing holds it open any more.
	if got := rep.SnapshotState(mustLV(t, rep, "vg", "mps2")); got != SnapshotMergePending {
		t.Errorf("mps2 state %v, want merge-pending", got)
	}
}

func TestReportMerging(t *testing.T) {
	rep := parseRecordedReport(t, "merging")
	msnap := mustLV(t, rep, "vgm", "msnap")
	org := mustLV(t, rep, "vgm", "org")
	if !msnap.Hidden || msnap.Kind() != KindCOWSnapshot || !msnap.Merging {
		t.Errorf("msnap = %+v", msnap)
	}
	if got := rep.SnapshotState(msnap); got != SnapshotMerging {
		t.Errorf("msnap state %v, want merging", got)
	}
	// While merging, LVM reads both LVs from the origin's device.
	if msnap.KernelMajor != org.KernelMajor || msnap.KernelMinor != org.KernelMinor {
		t.Errorf("devices: msnap %d:%d, org %d:%d", msnap.KernelMajor, msnap.KernelMinor, org.KernelMajor, org.KernelMinor)
	}
	if got := rep.StatusDMName(msnap); got != "vgm-org" {
		t.Errorf("StatusDMName(msnap) = %q, want the origin's device", got)
	}
	if !msnap.SnapPercent.Valid || msnap.SnapPercent.Hundredths == 0 || msnap.SnapPercent.Hundredths >= 10000 {
		t.Errorf("msnap Snap%% = %v, want a merge in progress", msnap.SnapPercent)
	}

	rep = parseRecordedReport(t, "merged")
	msnap = mustLV(t, rep, "vgm", "msnap")
	if got := rep.SnapshotState(msnap); got != SnapshotMerging {
		t.Errorf("merged msnap state %v, want merging until LVM removes it", got)
	}
	if msnap.SnapPercent != (Percent{0, true}) || msnap.SnapPercent.Complement() != (Percent{10000, true}) {
		t.Errorf("merged msnap Snap%% = %v", msnap.SnapPercent)
	}
}

func TestReportVGs(t *testing.T) {
	names := func(rep *Report) []string {
		var n []string
		for _, vg := range rep.VGs {
			n = append(n, vg.Name)
		}
		return n
	}
	all := names(parseRecordedReport(t, "all"))
	sort.Strings(all)
	if !reflect.DeepEqual(all, []string{"vg", "vg2", "vgm"}) {
		t.Errorf("all VGs: %q", all)
	}
	rep := parseRecordedReport(t, "filter")
	if got := names(rep); !reflect.DeepEqual(got, []string{"vg2"}) {
		t.Errorf("filtered: %q", got)
	}
	for _, lv := range rep.LVs {
		if lv.VG != "vg2" {
			t.Errorf("%s/%s in the report of vg2", lv.VG, lv.Name)
		}
	}
	vg2 := rep.VG("vg2")
	if vg2.ExtentSize != 1<<20 {
		t.Errorf("vg2 = %+v", vg2)
	}
	odd := mustLV(t, rep, "vg2", "odd")
	if odd.Size != 5<<20 || mustLV(t, rep, "vg2", "pool2").ChunkSize != 2<<20 {
		t.Errorf("odd = %+v", odd)
	}
}

// TestClientReport replays recorded reports through Client.Report.
func TestClientReport(t *testing.T) {
	ctx := context.Background()
	rec := loadReport(t, "classic")
	r := newReplayRunner(t, rec)
	rep, err := NewClient(r, "").Report(ctx, []string{"vg"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Calls()) != 1 || rep.LV("vg", "snap1") == nil {
		t.Errorf("calls %q, report %+v", r.Calls(), rep)
	}

	// A VG that does not exist: LVM reports the others and exits 5.
	rec = loadReport(t, "missing-vg")
	if rec.exit != 5 {
		t.Fatalf("missing-vg was recorded with exit %d", rec.exit)
	}
	rep, err = NewClient(newReplayRunner(t, rec), "").Report(ctx, []string{"vg2", "nosuchvg"})
	if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "fullreport: ") {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	if rep == nil || len(rep.VGs) != 1 || rep.VGs[0].Name != "vg2" {
		t.Errorf("report of the VGs that exist = %+v", rep)
	}

	// Any other failure returns no report.
	failing := recorded{argv: rec.argv, exit: 5, stderr: []byte("  Something else failed.\n")}
	if rep, err := NewClient(newReplayRunner(t, failing), "").Report(ctx, []string{"vg2", "nosuchvg"}); rep != nil || !errors.Is(err, ErrFailed) {
		t.Errorf("Report = %+v, %v; want nil, ErrFailed", rep, err)
	}
	garbage := recorded{argv: rec.argv, stdout: []byte("{")}
	if rep, err := NewClient(newReplayRunner(t, garbage), "").Report(ctx, []string{"vg2", "nosuchvg"}); rep != nil || err == nil {
		t.Errorf("Report of bad JSON = %+v, %v", rep, err)
	}
}

func TestParseReportErrors(t *testing.T) {
	tests := []struct{ name, json string }{
		{"not JSON", `report`},
		{"bad size", `{"report":[{"vg":[{"vg_name":"vg","vg_size":"12m"}]}]}`},
		{"no VG name", `{"report":[{"vg":[{"vg_size":"1"}]}]}`},
		{"bad attr", `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[{"lv_name":"x","lv_uuid":"u","lv_attr":"abc"}]}]}`},
		{"bad percent", `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[{"lv_name":"x","lv_uuid":"u","snap_percent":"1.234"}]}]}`},
		{"bad time", `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[{"lv_name":"x","lv_uuid":"u","lv_time":"yesterday"}]}]}`},
		{"bad binary", `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[{"lv_name":"x","lv_uuid":"u","lv_merging":"yes"}]}]}`},
		{"no UUID", `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[{"lv_name":"x"}]}]}`},
		{"bad chunk", `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[{"lv_name":"x","lv_uuid":"u"}],"seg":[{"lv_uuid":"u","chunk_size":"4k"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rep, err := ParseReport(strings.NewReader(tt.json)); err == nil {
				t.Errorf("parsed %+v", rep)
			}
		})
	}
}

func TestParseReportEdgeCases(t *testing.T) {
	// No VG at all, a log array (lvm >= 2.03.26), orphan PVs without a VG,
	// a Unix time, and unknown binary values.
	in := `{"report":[{"pv":[{"pv_uuid":"p"}]},{"vg":[{"vg_name":"vg"}],
	  "lv":[{"lv_name":"x","lv_uuid":"u","lv_time":"1700000000","lv_merge_failed":"-1","lv_kernel_major":""}]}],
	  "log":[{"log_type":"status","log_message":"success"}]}`
	rep, err := ParseReport(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	x := mustLV(t, rep, "vg", "x")
	if !x.Time.Equal(time.Unix(1700000000, 0)) || x.MergeFailed || x.KernelMajor != -1 {
		t.Errorf("x = %+v", x)
	}
	rep, err = ParseReport(strings.NewReader(`{"report":[]}`))
	if err != nil || len(rep.VGs) != 0 || len(rep.LVs) != 0 {
		t.Errorf("empty report: %+v, %v", rep, err)
	}
}

// vg_seqno is reported, and is what the VG's metadata backup carries (the
// model catches up from the backups only when the two agree).
func TestReportSeqno(t *testing.T) {
	r := parseRecordedReport(t, "all")
	if len(r.VGs) == 0 {
		t.Fatal("no VGs")
	}
	for _, vg := range r.VGs {
		if vg.Seqno <= 0 {
			t.Errorf("VG %s: seqno %d", vg.Name, vg.Seqno)
		}
	}
}

// TestReportTags reads lv_tags: two tags, sorted and comma-separated as LVM
// prints them, and none (""). testdata/lvm/handwritten/report-tags.json is
// the classic recording with lv_tags added by hand (see testdata/README).
func TestReportTags(t *testing.T) {
	f, err := os.Open(filepath.Join(testdataDir, "handwritten", "report-tags.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := ParseReport(f)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lv   string
		want []string
	}{
		{"snap1", []string{"snapfs_expires_1800000000", "snapfs_hold"}},
		{"snap0", nil},
		{"lv1", nil},
	}
	for _, tt := range tests {
		if got := mustLV(t, rep, "vg", tt.lv).Tags; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: tags %q, want %q", tt.lv, got, tt.want)
		}
	}
}

// TestReportWithoutTagsField: a report without lv_tags (the recordings made
// before Report asked for it) reads as one of LVs without tags.
func TestReportWithoutTagsField(t *testing.T) {
	// Until `make record` records with lv_tags, no recorded LV has tags.
	recorded := readLines(t, filepath.Join(testdataDir, "report", "ARGV"))
	if !strings.Contains(strings.Join(recorded, " "), "lv_tags") {
		for _, name := range reportNames(t) {
			for _, lv := range parseRecordedReport(t, name).LVs {
				if lv.Tags != nil {
					t.Errorf("%s: %s/%s has tags %q", name, lv.VG, lv.Name, lv.Tags)
				}
			}
		}
	}
	in := `{"report":[{"vg":[{"vg_name":"vg"}],"lv":[
	  {"lv_name":"without","lv_uuid":"u1"},
	  {"lv_name":"empty","lv_uuid":"u2","lv_tags":""},
	  {"lv_name":"one","lv_uuid":"u3","lv_tags":"snapfs_auto"}]}]}`
	rep, err := ParseReport(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"without": nil, "empty": nil, "one": {"snapfs_auto"}} {
		if got := mustLV(t, rep, "vg", name).Tags; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: tags %q, want %q", name, got, want)
		}
	}
}

// TestReportShared: a VG shared through lvmlockd has its lock type, every
// VG the devices of its PVs; "none" and "" are a local VG.
func TestReportShared(t *testing.T) {
	in := `{"report":[
	  {"vg":[{"vg_name":"pool","vg_lock_type":"sanlock"}],
	   "pv":[{"pv_uuid":"p1","pv_name":"/dev/vda"},{"pv_uuid":"p2","pv_name":"/dev/vdb"}]},
	  {"vg":[{"vg_name":"local","vg_lock_type":""}],"pv":[{"pv_uuid":"p3","pv_name":"/dev/sda2"}]},
	  {"vg":[{"vg_name":"old","vg_lock_type":"none"}]},
	  {"pv":[{"pv_uuid":"p4","pv_name":"/dev/orphan"}]}]}`
	rep, err := ParseReport(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, lock string
		pvs        []string
	}{
		{"pool", "sanlock", []string{"/dev/vda", "/dev/vdb"}},
		{"local", "", []string{"/dev/sda2"}},
		{"old", "", nil},
	}
	if len(rep.VGs) != len(want) {
		t.Fatalf("%d VGs, want %d", len(rep.VGs), len(want))
	}
	for i, w := range want {
		vg := rep.VGs[i]
		if vg.Name != w.name || vg.LockType != w.lock || !reflect.DeepEqual(vg.PVs, w.pvs) || vg.Shared() != (w.lock != "") {
			t.Errorf("VG %d: %s lock %q PVs %q shared %v, want %s %q %q", i, vg.Name, vg.LockType, vg.PVs, vg.Shared(), w.name, w.lock, w.pvs)
		}
	}
}
