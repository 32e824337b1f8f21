package guard

import (
	"math"
	"testing"
)

// TestCowMaxSize checks CowMaxSize against lvm2's cow_max_extents
// (lib/metadata/snapshot_manip.c), whose C was run on each case with sizes
// in sectors to get the numbers below.
func TestCowMaxSize(t *testing.T) {
	tests := []struct {
		name                  string
		origin, chunk, extent uint64
		want                  uint64
	}{
		// The recorded lv1 (160 MiB) in a VG of 4 MiB extents: 40960 chunks
		// fill 160 metadata chunks exactly, so one more ends the table.
		{"160MiB origin", 160 * mib, 4 * kib, 4 * mib, 171966464},
		{"no chunk size: 4KiB", 160 * mib, 0, 4 * mib, 171966464},
		{"1GiB origin", gib, 4 * kib, 4 * mib, 1082130432},
		{"64KiB chunks", gib, 64 * kib, 4 * mib, 1077936128},
		{"one metadata chunk full: terminator", mib, 4 * kib, 512, 1060864},
		{"one short of full", mib - 4*kib, 4 * kib, 512, 1052672},
		{"one over", mib + 4*kib, 4 * kib, 512, 1064960},
		{"origin not a whole chunk", 10240, 4 * kib, 512, 20480},
		{"no extent size: sectors", 10240, 4 * kib, 0, 20480},
		{"beyond MAX_EXTENT_COUNT", math.MaxUint64 / 4, 4 * kib, 512, math.MaxUint32 * 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CowMaxSize(tt.origin, tt.chunk, tt.extent); got != tt.want {
				t.Errorf("CowMaxSize(%d, %d, %d) = %d, want %d", tt.origin, tt.chunk, tt.extent, got, tt.want)
			}
		})
	}
}
