package memlimit

import "testing"

// The memory limit is 28 MiB up to about 1,600 LVs, then grows by 12 KiB an
// LV: make bench's 1,000 LVs keep their resident set within 40 MB, and
// 5,000 within 80 MB.
func TestFor(t *testing.T) {
	for _, tc := range []struct {
		lvs  int
		want int64
	}{
		{0, 28 << 20},
		{1000, 28 << 20},
		{1621, 28 << 20},
		{2000, 9<<20 + 2000*12<<10},
		{5000, 9<<20 + 5000*12<<10},
	} {
		if got := For(tc.lvs); got != tc.want {
			t.Errorf("For(%d) = %d MiB, want %d MiB", tc.lvs, got>>20, tc.want>>20)
		}
	}
	// In the VM the resident set was about 6 MiB above the limit; 80 MB
	// are 76.3 MiB.
	if l := For(5000); l > 68<<20 {
		t.Errorf("For(5000) = %.1f MiB: no room below 80 MB for the rest of the resident set", float64(l)/(1<<20))
	}
}
