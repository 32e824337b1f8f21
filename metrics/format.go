package metrics

import (
	"bytes"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/snapfs/snapfs/lvm"
)

// family is one metric family: its name, type and help line.
type family struct {
	Name, Type, Help string
}

const (
	gauge   = "gauge"
	counter = "counter"
)

// The families, one per number of the status files. The help names the
// status key each one shows.
var (
	mSnapAllocated     = &family{"snapfs_snapshot_allocated_percent", gauge, "COW allocation of the snapshot in percent, as lvs shows Snap% (Data% for a thin snapshot); status key allocated."}
	mSnapCOW           = &family{"snapfs_snapshot_cow_bytes", gauge, "Size of the snapshot's COW store (LVM's LSize); status key cow_size."}
	mSnapCOWUsed       = &family{"snapfs_snapshot_cow_used_bytes", gauge, "Bytes of the COW store in use; status key cow_used."}
	mSnapSize          = &family{"snapfs_snapshot_size_bytes", gauge, "Bytes the snapshot shows (its origin's size); status key size."}
	mSnapChunk         = &family{"snapfs_snapshot_chunk_size_bytes", gauge, "Chunk size of the snapshot (the thin pool's for a thin snapshot); status key chunk_size."}
	mSnapMergeProgress = &family{"snapfs_snapshot_merge_progress_percent", gauge, "Progress of the snapshot's merge into its origin in percent, only while merging; status key merge_progress."}
	mSnapActive        = &family{"snapfs_snapshot_active", gauge, "1 when the snapshot is active; status key active."}
	mSnapOpen          = &family{"snapfs_snapshot_open", gauge, "1 when the snapshot's device is open; status key open."}
	mSnapState         = &family{"snapfs_snapshot_state", gauge, "1 for the snapshot's state word (active, inactive, merging, merge-pending, merge-failed, invalid); status key state."}
	mSnapCreated       = &family{"snapfs_snapshot_created_timestamp_seconds", gauge, "Creation time of the snapshot in seconds since the epoch; status key created."}
	mSnapFillRate      = &family{"snapfs_snapshot_fill_rate_bytes_per_second", gauge, "Bytes a second the COW store has grown over the last minute, 0 when idle; status key fill_rate."}
	mSnapFullIn        = &family{"snapfs_snapshot_full_in_seconds", gauge, "Seconds until the COW store is full at its fill rate, absent when not growing; status key full_in."}
	mSnapHeld          = &family{"snapfs_snapshot_held", gauge, "1 when the snapshot is held (tag snapfs_hold); status key held."}

	mOriginSize      = &family{"snapfs_origin_size_bytes", gauge, "Size of the origin LV; status key size."}
	mOriginSnapshots = &family{"snapfs_origin_snapshots", gauge, "Snapshots shown under the origin; status key snapshots."}
	mOriginActive    = &family{"snapfs_origin_active", gauge, "1 when the origin LV is active; status key active."}
	mOriginOpen      = &family{"snapfs_origin_open", gauge, "1 when the origin's device is open; status key open."}
	mOriginCreated   = &family{"snapfs_origin_created_timestamp_seconds", gauge, "Creation time of the origin LV in seconds since the epoch; status key created."}

	mVGSize       = &family{"snapfs_vg_size_bytes", gauge, "Size of the volume group; status key size."}
	mVGFree       = &family{"snapfs_vg_free_bytes", gauge, "Free space of the volume group; status key free."}
	mVGExtentSize = &family{"snapfs_vg_extent_size_bytes", gauge, "Extent size of the volume group; status key extent_size."}
	mVGLVs        = &family{"snapfs_vg_lvs", gauge, "Visible LVs of the volume group, as lv_count; status key lvs."}
	mVGSnapshots  = &family{"snapfs_vg_snapshots", gauge, "Snapshots shown under the volume group; status key snapshots."}
	mVGMinFree    = &family{"snapfs_vg_min_free_bytes", gauge, "Bytes the guard keeps free in the volume group, 0 when none; status key min_free."}

	mPoolData     = &family{"snapfs_thin_pool_data_percent", gauge, "Data use of the thin pool in percent; VG status key pool.NAME.data."}
	mPoolMetadata = &family{"snapfs_thin_pool_metadata_percent", gauge, "Metadata use of the thin pool in percent; VG status key pool.NAME.metadata."}

	mGuardExtensions = &family{"snapfs_guard_extensions_total", counter, "COW stores and thin pools the guard has extended since snapfs started."}
	mLVMCommands     = &family{"snapfs_lvm_commands_total", counter, "LVM commands snapfs has run since it started."}
	mEvents          = &family{"snapfs_events_total", counter, "Events snapfs has emitted on MOUNT/events since it started."}
)

type label struct{ Name, Value string }

type labels []label

// sample is one line of a family: its labels and its value, already
// formatted as the exposition format writes a float.
type sample struct {
	Labels labels
	Value  string
}

// sampleSet gathers the samples of each family.
type sampleSet struct {
	byFamily map[*family][]sample
}

func (s *sampleSet) add(f *family, value string, l ...label) {
	if s.byFamily == nil {
		s.byFamily = map[*family][]sample{}
	}
	s.byFamily[f] = append(s.byFamily[f], sample{Labels: l, Value: value})
}

// addPercent adds a percentage LVM reports, when it reports one: the status
// file shows "-" otherwise.
func (s *sampleSet) addPercent(f *family, p lvm.Percent, l ...label) {
	if p.Valid {
		s.add(f, percent(p), l...)
	}
}

// render writes the families sorted by name, the samples of each sorted by
// their label values, so that one state of the tree always renders the same.
func (s *sampleSet) render() []byte {
	families := make([]*family, 0, len(s.byFamily))
	for f := range s.byFamily {
		families = append(families, f)
	}
	sort.Slice(families, func(i, j int) bool { return families[i].Name < families[j].Name })

	var b bytes.Buffer
	for _, f := range families {
		samples := s.byFamily[f]
		sort.SliceStable(samples, func(i, j int) bool { return lessLabels(samples[i].Labels, samples[j].Labels) })
		b.WriteString("# HELP " + f.Name + " " + escapeHelp(f.Help) + "\n")
		b.WriteString("# TYPE " + f.Name + " " + f.Type + "\n")
		for _, sm := range samples {
			b.WriteString(f.Name)
			if len(sm.Labels) > 0 {
				b.WriteByte('{')
				for i, l := range sm.Labels {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(l.Name + `="` + escapeLabelValue(l.Value) + `"`)
				}
				b.WriteByte('}')
			}
			b.WriteString(" " + sm.Value + "\n")
		}
	}
	return b.Bytes()
}

// lessLabels orders label sets by their values, label by label. The samples
// of one family have the same label names in the same order.
func lessLabels(a, b labels) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].Value != b[i].Value {
			return a[i].Value < b[i].Value
		}
	}
	return len(a) < len(b)
}

// The exposition format escapes backslash, double quote and newline in label
// values, and backslash and newline in help text.
var (
	labelValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper       = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabelValue(s string) string { return labelValueEscaper.Replace(s) }
func escapeHelp(s string) string       { return helpEscaper.Replace(s) }

// count formats a count or a size in bytes.
func count(n uint64) string { return strconv.FormatUint(n, 10) }

// flag formats a yes/no of the status files as 1 or 0.
func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// percent formats a percentage as a plain float: 4.86, 100, 0.5.
func percent(p lvm.Percent) string { return float(float64(p.Hundredths) / 100) }

// float formats a float as the exposition format writes one: whole numbers
// without an exponent, the others in Go's shortest form, and +Inf, -Inf and
// NaN by those names.
func float(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
