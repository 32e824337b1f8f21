//go:build !linux

package blockdev

import (
	"errors"
	"time"
)

// errUnsupported is returned on systems without Linux's loop devices and
// mount calls.
var errUnsupported = errors.New("blockdev: only supported on Linux")

// Loop is a read-only loop device; see the Linux implementation.
type Loop struct {
	Device string
	Number int
}

// Partition is a partition of a loop device.
type Partition struct {
	Number int
	Device string
}

func AttachLoop(string) (*Loop, error)                    { return nil, errUnsupported }
func (l *Loop) Partitions() ([]Partition, error)          { return nil, errUnsupported }
func (l *Loop) Close() error                              { return nil }
func (l *Loop) WaitDetached(time.Duration) bool           { return true }
func MountReadOnly(string, string, int) error             { return errUnsupported }
func MountReadOnlyWith(string, string, int, string) error { return errUnsupported }
func MountOverlay(string, []string, int) error            { return errUnsupported }
func Unmount(int) error                                   { return errUnsupported }
func Detach(int) error                                    { return errUnsupported }
func Expire(int) error                                    { return errUnsupported }
