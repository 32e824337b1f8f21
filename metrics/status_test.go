package metrics

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/model"
)

// recorded loads a report recorded from real LVM (testdata/lvm/report) with
// the `dmsetup status` taken at the same moment, served as device-mapper, as
// model's tests do.
func recorded(t *testing.T, name string) (*lvm.Report, *lvmtest.DM) {
	t.Helper()
	return lvmtest.Recorded(t, name)
}

// statusMetric is the metric that shows a status key, and the keys that
// hold no number (text, or numbers the metrics file leaves to other
// families).
var (
	snapshotMetric = map[string]string{
		"size":           "snapfs_snapshot_size_bytes",
		"cow_size":       "snapfs_snapshot_cow_bytes",
		"cow_used":       "snapfs_snapshot_cow_used_bytes",
		"allocated":      "snapfs_snapshot_allocated_percent",
		"chunk_size":     "snapfs_snapshot_chunk_size_bytes",
		"merge_progress": "snapfs_snapshot_merge_progress_percent",
		"active":         "snapfs_snapshot_active",
		"open":           "snapfs_snapshot_open",
		"created":        "snapfs_snapshot_created_timestamp_seconds",
		"fill_rate":      "snapfs_snapshot_fill_rate_bytes_per_second",
		"full_in":        "snapfs_snapshot_full_in_seconds",
		"held":           "snapfs_snapshot_held",
	}
	originMetric = map[string]string{
		"size":      "snapfs_origin_size_bytes",
		"snapshots": "snapfs_origin_snapshots",
		"active":    "snapfs_origin_active",
		"open":      "snapfs_origin_open",
		"created":   "snapfs_origin_created_timestamp_seconds",
	}
	vgMetric = map[string]string{
		"size":        "snapfs_vg_size_bytes",
		"free":        "snapfs_vg_free_bytes",
		"extent_size": "snapfs_vg_extent_size_bytes",
		"lvs":         "snapfs_vg_lvs",
		"snapshots":   "snapfs_vg_snapshots",
		"min_free":    "snapfs_vg_min_free_bytes",
	}
	// Keys without a number. state is checked on its own; expires, auto
	// and checkpoint are not numbers the model knows.
	textKeys = map[string]bool{"name": true, "vg": true, "origin": true, "uuid": true, "path": true,
		"type": true, "domu": true, "state": true, "shared": true, "expires": true, "auto": true, "checkpoint": true}
)

// Every number of every status.json of every recorded model, with
// device-mapper and without, is the value of its metric sample; a key the
// status shows as null has no sample; a numeric key without a metric fails.
func TestMetricsEqualStatusFiles(t *testing.T) {
	for _, name := range []string{"classic", "thin", "thin-inactive", "merging", "merge-pending",
		"merge-pending-thin", "merged", "invalid", "multiseg", "filter", "all"} {
		r, dm := recorded(t, name)
		tree := model.BuildTree(r, nil)
		for _, src := range []struct {
			name string
			dm   model.DeviceMapper
		}{{"dm", dm}, {"report", nil}} {
			t.Run(name+"/"+src.name, func(t *testing.T) {
				fs := parse(t, Render(Input{Tree: tree, DM: src.dm}))
				snapshots, origins := 0, 0
				for _, v := range tree.VGs {
					vgName := v.VG.Name
					compare(t, fs, "vg "+vgName, statusJSON(t, model.RenderVGFile("status.json", v, model.Extras{})), vgMetric, []string{vgName})
					var walk func(e *model.LVEntry)
					walk = func(e *model.LVEntry) {
						for _, s := range e.Snaps {
							snapshots++
							file, err := model.RenderLVFile(s, "status.json", src.dm, func(*model.LVEntry) []model.Domain { return nil }, model.Extras{})
							if err != nil {
								t.Fatal(err)
							}
							status := statusJSON(t, file)
							labels := []string{vgName, e.LV.Name, s.LV.Name}
							compare(t, fs, s.String(), status, snapshotMetric, labels)
							state, _ := status["state"].(string)
							if v, ok := fs.value("snapfs_snapshot_state", append(labels, state)...); !ok || v != 1 {
								t.Errorf("%s: no state sample %q", s, state)
							}
							walk(s)
						}
					}
					for _, o := range v.Origins {
						origins++
						file, err := model.RenderLVFile(o, "status.json", src.dm, func(*model.LVEntry) []model.Domain { return nil }, model.Extras{})
						if err != nil {
							t.Fatal(err)
						}
						compare(t, fs, o.String(), statusJSON(t, file), originMetric, []string{vgName, o.LV.Name})
						walk(o)
					}
				}
				if snapshots == 0 && name != "filter" && name != "merged" {
					t.Error("no snapshot in the recording")
				}
				for family, want := range map[string]int{
					"snapfs_snapshot_state":    snapshots,
					"snapfs_origin_size_bytes": origins,
					"snapfs_vg_size_bytes":     len(tree.VGs),
				} {
					if got := fs.samples(family); got != want {
						t.Errorf("%s: %d samples, want %d", family, got, want)
					}
				}
			})
		}
	}
}

// statusJSON decodes a status.json, numbers as json.Number.
func statusJSON(t *testing.T, file []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(file))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("status.json %q: %v", file, err)
	}
	return m
}

// compare checks each key of status against its metric's sample.
func compare(t *testing.T, fs families, what string, status map[string]any, metrics map[string]string, labels []string) {
	t.Helper()
	for key, raw := range status {
		family, ok := metrics[key]
		switch {
		case strings.HasPrefix(key, "pool."):
			continue // thin pools come from Input.Pools, tested with it
		case !ok && textKeys[key]:
			continue
		case !ok:
			t.Errorf("%s: status key %s (%v) has no metric", what, key, raw)
			continue
		}
		got, present := fs.value(family, labels...)
		var want float64
		switch v := raw.(type) {
		case nil:
			if present {
				t.Errorf("%s: %s is null in status.json, %s = %v", what, key, family, got)
			}
			continue
		case bool:
			if v {
				want = 1
			}
		case json.Number:
			f, err := strconv.ParseFloat(v.String(), 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", what, key, err)
			}
			want = f
		case string: // a time
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				t.Fatalf("%s: %s %q: %v", what, key, v, err)
			}
			want = float64(tm.Unix())
		default:
			t.Fatalf("%s: %s: unexpected %T", what, key, raw)
		}
		if !present || got != want {
			t.Errorf("%s: status %s = %v, %s = %v (present %v)", what, key, want, family, got, present)
		}
	}
	// A key the status leaves out (merge_progress but while merging) has no
	// sample either. The keys of the guard's numbers are not in model's
	// status yet: the daemon adds them, from the same Input.
	for key, family := range metrics {
		if _, ok := status[key]; ok || guardKeys[key] {
			continue
		}
		if v, present := fs.value(family, labels...); present {
			t.Errorf("%s: no status key %s, but %s = %v", what, key, family, v)
		}
	}
}

var guardKeys = map[string]bool{"fill_rate": true, "full_in": true, "held": true, "min_free": true}
