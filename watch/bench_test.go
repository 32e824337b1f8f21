package watch

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/state"
)

// benchReporter reports r.
type benchReporter struct{ r *lvm.Report }

func (b benchReporter) Report(context.Context, []string) (*lvm.Report, error) { return b.r, nil }

// BenchmarkTick is the guard's cost every second, idle, over the 2,500
// snapshots of a VG of 5,000 LVs, device-mapper's answers aside: what the
// bench's row "the guard idle" measures in the VM, ioctls included. Its
// clock moves a second a tick, so that the guard keeps a minute of
// readings of each store, as it does running.
func BenchmarkTick(b *testing.B) {
	rep := lvmtest.BenchReport(5000)
	dm := &lvmtest.DM{}
	for _, lv := range rep.LVs {
		if lv.Origin != "" {
			dm.Set(lvm.DMName(lv.VG, lv.Name), lvm.Target{Type: "snapshot", Length: 8192, Params: "16/8192 16"})
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := state.New(benchReporter{rep}, state.Options{Logger: log, DM: dm, MaxAge: time.Hour})
	operations := ops.New(nil, store, ops.Options{Logger: log})
	if _, err := store.Refresh(true); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { now = now.Add(time.Second); return now }
	w := New(store, dm, operations, Options{Logger: log, Now: clock})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Tick(ctx)
	}
}
