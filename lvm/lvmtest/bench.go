package lvmtest

import (
	"fmt"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

// BenchReport is the report of VG bench as make bench makes it, with n
// LVs: origins oNNNN, each with one active COW snapshot sNNNN, with device
// numbers. The benchmarks of the model and of the mounted tree share it.
func BenchReport(n int) *lvm.Report {
	r := &lvm.Report{VGs: []lvm.VG{{Name: "bench", UUID: "nuQNYm-yntI-YYbI-SwDi-VDdG-zHo1-dpLasg", Seqno: 7,
		Size: 8 << 30, Free: 4 << 30, ExtentSize: 4 << 20, LVCount: n, SnapCount: n / 2}}}
	created := time.Date(2026, 11, 21, 6, 12, 56, 0, time.UTC)
	for i := 0; i < n/2; i++ {
		origin := fmt.Sprintf("o%04d", i)
		r.LVs = append(r.LVs, lvm.LV{
			Name: origin, VG: "bench", UUID: fmt.Sprintf("OOOOOO-%04d-0000-0000-0000-0000-000000", i),
			Path: "/dev/bench/" + origin, Attr: MustAttr("owi-a-s---"), Size: 4 << 20, Time: created,
			KernelMajor: 254, KernelMinor: 2 * i, SegType: "linear", Segments: 1,
		}, lvm.LV{
			Name: fmt.Sprintf("s%04d", i), VG: "bench", UUID: fmt.Sprintf("SSSSSS-%04d-0000-0000-0000-0000-000000", i),
			Path: fmt.Sprintf("/dev/bench/s%04d", i), Attr: MustAttr("swi-a-s---"), Origin: origin,
			Size: 4 << 20, OriginSize: 4 << 20, SnapPercent: lvm.Percent{Hundredths: 62, Valid: true},
			ChunkSize: 4096, Time: created, KernelMajor: 254, KernelMinor: 2*i + 1, SegType: "linear", Segments: 1,
		})
	}
	return r
}
