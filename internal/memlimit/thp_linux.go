package memlimit

import "golang.org/x/sys/unix"

// NoHugePages turns transparent huge pages off for snapfs, and the LVM
// commands it starts (prctl PR_SET_THP_DISABLE, inherited). With the
// kernel's THP mode "always" (Debian's default), any touched 2 MiB of the
// Go heap may be backed by a whole huge page, and khugepaged folds sparse
// regions into huge pages later: the resident set then grows past the
// soft limit, and goes on growing while snapfs idles, though the
// collector has freed the memory (go.dev/issue/64332; the Go GC guide,
// "Linux transparent huge pages"). snapfs's heap is tens of MB: huge
// pages buy it nothing. It reports whether THP is off for the process.
func NoHugePages() bool {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return false
	}
	return HugePagesOff()
}

// HugePagesOff tells whether transparent huge pages are off for the
// process (PR_GET_THP_DISABLE).
func HugePagesOff() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	return err == nil && v == 1
}
