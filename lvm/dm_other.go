//go:build !(linux && (amd64 || 386 || arm || arm64 || riscv64 || loong64 || s390x))

package lvm

import (
	"errors"
	"fmt"
)

// DeviceMapper reads device-mapper status through the kernel's ioctl
// interface. On this platform it is not available.
type DeviceMapper struct{}

// OpenDeviceMapper fails on this platform: there is no device-mapper ioctl
// encoding for it here. Callers fall back to the LVM report.
func OpenDeviceMapper() (*DeviceMapper, error) {
	return nil, fmt.Errorf("device-mapper: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (d *DeviceMapper) Close() error { return nil }

// TableStatus is not available on this platform.
func (d *DeviceMapper) TableStatus(name string) ([]Target, error) {
	return nil, fmt.Errorf("device-mapper: %w", errors.ErrUnsupported)
}

// Status is not available on this platform.
func (d *DeviceMapper) Status(name string) (*DeviceStatus, error) {
	return nil, fmt.Errorf("device-mapper: %w", errors.ErrUnsupported)
}

// SnapshotStatus is not available on this platform.
func (d *DeviceMapper) SnapshotStatus(name string) (SnapshotStatus, error) {
	return SnapshotStatus{}, fmt.Errorf("device-mapper: %w", errors.ErrUnsupported)
}

// List is not available on this platform.
func (d *DeviceMapper) List() ([]DMDevice, error) {
	return nil, fmt.Errorf("device-mapper: %w", errors.ErrUnsupported)
}
