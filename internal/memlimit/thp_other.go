//go:build !linux

package memlimit

// NoHugePages does nothing where there are no transparent huge pages.
func NoHugePages() bool { return false }

// HugePagesOff is false where there are no transparent huge pages.
func HugePagesOff() bool { return false }
