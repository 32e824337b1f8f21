// Package memlimit is snapfs's setting of the Go runtime's soft memory
// limit, which grows with the model.
package memlimit

import (
	"os"
	"runtime/debug"

	"github.com/snapfs/snapfs/model"
)

// The Go runtime's soft memory limit for the daemon, unless GOMEMLIMIT sets
// one. snapfs holds little besides the model and the nodes of a walked tree
// (about 10 KiB an LV, most of it go-fuse's nodes), but each report and
// each walk leave several MB of garbage, which the default pacing (GOGC)
// would let pile up to twice what is held before collecting it. The limit
// makes the collector run instead: it holds the resident set to about the
// limit and a few MB, and costs the more collections the less room it
// leaves above what is held. A fixed limit leaves no room at all once the
// tree outgrows it (with 5,000 LVs, 24 MiB had the collector run all the
// time: 29 s of CPU in eleven walks, in the fs package's BenchmarkMemory),
// so the limit grows with the model, by more than what an LV holds: with
// 5,000 LVs, 61 MiB (10 KiB an LV) left about 1 MB above a walked tree's
// 46 MB heap, and the collector ran back to back through the bench's walks
// in the VM (gctrace: a collection every half second, 400 of them); in
// BenchmarkMemory, 2.8 s of the collector's CPU in four walks at 61 MiB,
// 2.3 s at 64 MiB, 1.2 s at 68 MiB, 1.1 s at 72 MiB.
const (
	// minLimit is the limit for up to about 1,600 LVs: with 1,000 LVs
	// (make bench) it leaves about 10 MB above what is held, the resident
	// set within its 40 MB.
	minLimit = 28 << 20
	// baseLimit and perLV make the limit of a larger tree: with 5,000
	// LVs 67.6 MiB, past the knee above, and the resident set (about 6 MiB
	// more in the VM) within its 80 MB.
	baseLimit = 9 << 20
	perLV     = 12 << 10
)

// For is the soft memory limit for a model of lvs LVs.
func For(lvs int) int64 {
	return max(minLimit, baseLimit+int64(lvs)*perLV)
}

// Own tells whether snapfs sets the memory limit itself: not when
// GOMEMLIMIT sets one.
func Own() bool { return os.Getenv("GOMEMLIMIT") == "" }

// Fit sets the memory limit for model t, unless GOMEMLIMIT sets one.
// cmd/snapfs has the store call it with every new model.
func Fit(t *model.Tree) {
	if Own() && t != nil {
		debug.SetMemoryLimit(For(LVs(t)))
	}
}

// LVs is the number of LVs of model t, as LVM counts them.
func LVs(t *model.Tree) int {
	n := 0
	for _, v := range t.VGs {
		n += v.VG.LVCount
	}
	return n
}
