package lvm

import (
	"bytes"
	"fmt"
	"testing"
)

// syntheticReport returns what Report's command prints for a VG of n LVs,
// half of them origins and half their COW snapshots, with the fields and
// formats of the recorded reports in testdata/lvm/report.
func syntheticReport(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"report": [{"vg": [{"vg_name":"bench", "vg_uuid":"nuQNYm-yntI-YYbI-SwDi-VDdG-zHo1-dpLasg", "vg_size":"8589934592", "vg_free":"4294967296", "vg_extent_size":"4194304", "lv_count":"`)
	fmt.Fprintf(&b, `%d", "snap_count":"%d"}], "pv": [{"pv_uuid":"qwpG0X-8mem-0xD4-Gsct-cqwD-IcT1-vsWuds"}], "lv": [`, n, n/2)
	row := `{"vg_name":"bench", "lv_name":"%[1]s", "lv_uuid":"%[2]s", "lv_path":"/dev/bench/%[1]s", "lv_dm_path":"/dev/mapper/bench-%[1]s", "lv_attr":"%[3]s", "origin":"%[4]s", "pool_lv":"", "lv_size":"4194304", "origin_size":"4194304", "snap_percent":"%[5]s", "data_percent":"%[5]s", "lv_time":"2026-11-21 06:12:56 +0000", "lv_kernel_major":"254", "lv_kernel_minor":"%[6]d", "lv_skip_activation":"0", "lv_layout":"linear", "lv_role":"%[7]s", "lv_merging":"0", "lv_merge_failed":"0", "lv_snapshot_invalid":"0", "lv_device_open":"0"}`
	var segs bytes.Buffer
	for i := 0; i < n/2; i++ {
		if i > 0 {
			b.WriteString(", ")
			segs.WriteString(", ")
		}
		ou, su := fmt.Sprintf("OOOOOO-%04d-0000-0000-0000-0000-000000", i), fmt.Sprintf("SSSSSS-%04d-0000-0000-0000-0000-000000", i)
		fmt.Fprintf(&b, row, fmt.Sprintf("o%04d", i), ou, "owi-a-s---", "", "", 2*i, "public,origin,thickorigin,multithickorigin")
		b.WriteString(", ")
		fmt.Fprintf(&b, row, fmt.Sprintf("s%04d", i), su, "swi-a-s---", fmt.Sprintf("o%04d", i), "0.62", 2*i+1, "public,snapshot,thicksnapshot")
		fmt.Fprintf(&segs, `{"lv_uuid":"%s", "seg_start":"0", "segtype":"linear", "chunk_size":"0"}, {"lv_uuid":"%s", "seg_start":"0", "segtype":"linear", "chunk_size":"4096"}`, ou, su)
	}
	b.WriteString(`], "seg": [`)
	b.Write(segs.Bytes())
	b.WriteString(`], "pvseg": [{"pvseg_start":"0"}]}]}`)
	return b.Bytes()
}

// BenchmarkParseReport1000 parses the report of a VG of 1,000 LVs, 500 of
// them snapshots: the work of one refresh of the model besides LVM's own.
func BenchmarkParseReport1000(b *testing.B) {
	data := syntheticReport(1000)
	rep, err := ParseReport(bytes.NewReader(data))
	if err != nil {
		b.Fatalf("synthetic report: %v", err)
	}
	if len(rep.LVs) != 1000 {
		b.Fatalf("synthetic report: %d LVs, want 1000", len(rep.LVs))
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseReport(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
