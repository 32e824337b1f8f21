package metrics

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
)

// familyLabels are the label names of every family Render may write, in the
// order it writes them.
var familyLabels = map[string][]string{
	"snapfs_snapshot_allocated_percent":          snapshotLabels,
	"snapfs_snapshot_cow_bytes":                  snapshotLabels,
	"snapfs_snapshot_cow_used_bytes":             snapshotLabels,
	"snapfs_snapshot_size_bytes":                 snapshotLabels,
	"snapfs_snapshot_chunk_size_bytes":           snapshotLabels,
	"snapfs_snapshot_merge_progress_percent":     snapshotLabels,
	"snapfs_snapshot_active":                     snapshotLabels,
	"snapfs_snapshot_open":                       snapshotLabels,
	"snapfs_snapshot_state":                      {"vg", "origin", "snapshot", "state"},
	"snapfs_snapshot_created_timestamp_seconds":  snapshotLabels,
	"snapfs_snapshot_fill_rate_bytes_per_second": snapshotLabels,
	"snapfs_snapshot_full_in_seconds":            snapshotLabels,
	"snapfs_snapshot_held":                       snapshotLabels,
	"snapfs_origin_size_bytes":                   originLabels,
	"snapfs_origin_snapshots":                    originLabels,
	"snapfs_origin_active":                       originLabels,
	"snapfs_origin_open":                         originLabels,
	"snapfs_origin_created_timestamp_seconds":    originLabels,
	"snapfs_vg_size_bytes":                       {"vg"},
	"snapfs_vg_free_bytes":                       {"vg"},
	"snapfs_vg_extent_size_bytes":                {"vg"},
	"snapfs_vg_lvs":                              {"vg"},
	"snapfs_vg_snapshots":                        {"vg"},
	"snapfs_vg_min_free_bytes":                   {"vg"},
	"snapfs_thin_pool_data_percent":              {"vg", "pool"},
	"snapfs_thin_pool_metadata_percent":          {"vg", "pool"},
	"snapfs_guard_extensions_total":              nil,
	"snapfs_lvm_commands_total":                  nil,
	"snapfs_events_total":                        nil,
}

var (
	snapshotLabels = []string{"vg", "origin", "snapshot"}
	originLabels   = []string{"vg", "origin"}
)

// families is Render's output as Prometheus's own parser reads it.
type families map[string]*dto.MetricFamily

// parse checks out as a whole and parses it with Prometheus's text parser,
// under the strict (legacy) name rules that every scraper accepts. It checks
// what the parser lets through: a newline at the end and no blank line,
// families in name order, only known families with their type and help,
// the label names of each, samples sorted by label values, no duplicates.
func parse(t *testing.T, out []byte) families {
	t.Helper()
	if len(out) == 0 || out[len(out)-1] != '\n' || bytes.Contains(out, []byte("\n\n")) || out[0] == '\n' {
		t.Fatalf("output does not end with a newline, or has a blank line:\n%s", out)
	}
	p := expfmt.NewTextParser(promodel.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("Prometheus's parser: %v\n%s", err, out)
	}

	var order []string
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			order = append(order, strings.Fields(name)[0])
		}
	}
	if !sort.StringsAreSorted(order) || len(order) != len(fams) {
		t.Errorf("families %v not sorted, or not each with one HELP (%d parsed)", order, len(fams))
	}

	for name, f := range fams {
		want, known := familyLabels[name]
		if !known {
			t.Errorf("unknown family %s", name)
			continue
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no help", name)
		}
		wantType := dto.MetricType_GAUGE
		if strings.HasSuffix(name, "_total") {
			wantType = dto.MetricType_COUNTER
		}
		if f.GetType() != wantType {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), wantType)
		}
		var prev []string
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			values := labelValues(t, name, m, want)
			key := strings.Join(values, "\x00")
			if seen[key] {
				t.Errorf("%s: duplicate sample %q", name, values)
			}
			seen[key] = true
			if prev != nil && strings.Join(prev, "\x00") > key {
				t.Errorf("%s: sample %q after %q", name, values, prev)
			}
			prev = values
		}
	}
	return fams
}

// labelValues checks that m has exactly the label names want, and returns
// their values in that order.
func labelValues(t *testing.T, family string, m *dto.Metric, want []string) []string {
	t.Helper()
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	values := make([]string, len(want))
	for i, name := range want {
		v, ok := got[name]
		if !ok {
			t.Errorf("%s: sample without label %s: %v", family, name, m.GetLabel())
		}
		values[i] = v
	}
	if len(got) != len(want) {
		t.Errorf("%s: labels %v, want names %v", family, m.GetLabel(), want)
	}
	return values
}

// value returns the value of the sample of family name with these label
// values (in familyLabels' order), and whether there is one.
func (fs families) value(name string, values ...string) (float64, bool) {
	f := fs[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		match := len(got) == len(values)
		for i, name := range familyLabels[name] {
			if i >= len(values) || got[name] != values[i] {
				match = false
			}
		}
		if !match {
			continue
		}
		if f.GetType() == dto.MetricType_COUNTER {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// samples returns how many samples family name has.
func (fs families) samples(name string) int { return len(fs[name].GetMetric()) }
