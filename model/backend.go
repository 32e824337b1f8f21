package model

import (
	"errors"

	"github.com/snapfs/snapfs/lvm"
)

// ErrGone is an LV or VG that is not in the model (any more): it vanished
// between a lookup and what was to be done with it.
var ErrGone = errors.New("no such logical volume")

// DeviceMapper reads the live status of a device-mapper device without
// spawning a process. *lvm.DeviceMapper implements it. A missing device is an
// error wrapping lvm.ErrNotFound.
type DeviceMapper interface {
	TableStatus(name string) ([]lvm.Target, error)
}

// DeviceStatuser is the part of *lvm.DeviceMapper that tells a device's
// UUID, number, open count and table in one ioctl.
type DeviceStatuser interface {
	Status(name string) (*lvm.DeviceStatus, error)
}

// Domain is a Xen domain that uses a logical volume as one of its disks.
type Domain struct {
	Name  string
	ID    int
	State string // running, blocked, paused, shutdown, crashed, dying
}

// HasDevice reports whether e is active, with a device number a domain's
// disk can have.
func HasDevice(e *LVEntry) bool {
	return e.LV.KernelMajor >= 0 && !(e.LV.KernelMajor == 0 && e.LV.KernelMinor == 0)
}

// VisibleSize is the size a snapshot shows: its origin's size for a COW
// snapshot (its own LV size is the COW store), its own for a thin one.
func VisibleSize(e *LVEntry) uint64 {
	if e.IsThin() {
		return e.LV.Size
	}
	return e.LV.OriginSize
}
