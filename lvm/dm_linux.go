//go:build linux && (amd64 || 386 || arm || arm64 || riscv64 || loong64 || s390x)

package lvm

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dmControl is the device-mapper control node.
const dmControl = "/dev/mapper/control"

// dmTableStatus is DM_TABLE_STATUS, _IOWR(DM_IOCTL, DM_TABLE_STATUS_CMD,
// struct dm_ioctl) in the generic ioctl encoding these architectures share:
// direction read|write in the top two bits, then the 14-bit size, the type
// and the number.
const dmTableStatus = 3<<30 | dmIoctlSize<<16 | dmIoctlType<<8 | dmTableStatusCmd

// dmListDevices is DM_LIST_DEVICES in the same encoding.
const dmListDevices = 3<<30 | dmIoctlSize<<16 | dmIoctlType<<8 | dmListDevicesCmd

// DeviceMapper reads device-mapper status through the kernel's ioctl
// interface, without starting a process. It is safe for concurrent use.
type DeviceMapper struct {
	f  *os.File
	fd uintptr // f's descriptor, valid until Close
	// listSize is the size of the buffer the last device listing needed,
	// where the next one starts.
	listSize atomic.Int64
}

// OpenDeviceMapper opens /dev/mapper/control. It fails where the kernel has
// no device-mapper or the caller is not allowed to use it; callers then fall
// back to the percentages of the LVM report.
func OpenDeviceMapper() (*DeviceMapper, error) {
	f, err := os.OpenFile(dmControl, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("device-mapper: %w", err)
	}
	// The descriptor is used as it is (Fd makes it blocking, as ioctls
	// are anyway): going through SyscallConn's Control costs each request
	// two allocations, for the function and the errno it sets.
	return &DeviceMapper{f: f, fd: f.Fd()}, nil
}

// Close closes the control node.
func (d *DeviceMapper) Close() error { return d.f.Close() }

// TableStatus returns the status of each target of the live table of the
// device called name (see DMName), as `dmsetup status NAME` prints it. A
// device that does not exist is an error wrapping ErrNotFound.
func (d *DeviceMapper) TableStatus(name string) ([]Target, error) {
	st, err := d.Status(name)
	if err != nil {
		return nil, err
	}
	return st.Targets, nil
}

// Status returns the device's state and the status of each target of its
// live table, from one DM_TABLE_STATUS ioctl.
func (d *DeviceMapper) Status(name string) (*DeviceStatus, error) {
	var st *DeviceStatus
	err := d.tableStatus(name, func(buf []byte) (err error) {
		st, err = parseTableStatus(buf)
		return err
	})
	return st, err
}

// SnapshotStatus returns the status of the COW snapshot device called name
// (its one "snapshot" target, as ParseSnapshotStatus reads it) from one
// DM_TABLE_STATUS ioctl, without allocating: the guard reads every
// snapshot every second, and the garbage of Status, 2,500 times a second,
// kept the collector busy. A device that is not a snapshot is an error
// wrapping ErrNotSnapshot, one that does not exist ErrNotFound.
func (d *DeviceMapper) SnapshotStatus(name string) (SnapshotStatus, error) {
	var st SnapshotStatus
	err := d.tableStatus(name, func(buf []byte) (err error) {
		st, err = parseSnapshotStatus(buf)
		return err
	})
	return st, err
}

// tableStatus makes the DM_TABLE_STATUS request for device name and calls
// parse with the kernel's answer, which is valid only during the call. The
// answer buffer grows until the kernel no longer reports it full.
func (d *DeviceMapper) tableStatus(name string, parse func(buf []byte) error) error {
	if err := checkDMName(name); err != nil {
		return err
	}
	// The first answer buffer comes from a pool: status files are read
	// often, and a fresh buffer each time was most of snapfs's garbage.
	first := dmBufPool.Get().(*[]byte)
	defer dmBufPool.Put(first)
	buf := *first
	for {
		fillTableStatusRequest(buf, name)
		if err := d.ioctl(dmTableStatus, buf); err != nil {
			if errors.Is(err, unix.ENXIO) {
				return fmt.Errorf("device-mapper device %s: %w", name, ErrNotFound)
			}
			return fmt.Errorf("device-mapper device %s: DM_TABLE_STATUS: %w", name, err)
		}
		if !bufferFull(buf) {
			if err := parse(buf); err != nil {
				return fmt.Errorf("device-mapper device %s: %w", name, err)
			}
			return nil
		}
		if len(buf) >= dmMaxBufSize {
			return fmt.Errorf("device-mapper device %s: status larger than %d bytes", name, dmMaxBufSize)
		}
		buf = make([]byte, 2*len(buf))
	}
}

// List returns every device-mapper device of the host, with its UUID, from
// DM_LIST_DEVICES. On a kernel that lists no UUIDs it fails with
// ErrNoUUIDs.
func (d *DeviceMapper) List() ([]DMDevice, error) {
	buf := make([]byte, max(dmListInitialBufSize, d.listSize.Load()))
	for {
		fillListRequest(buf)
		if err := d.ioctl(dmListDevices, buf); err != nil {
			return nil, fmt.Errorf("device-mapper: DM_LIST_DEVICES: %w", err)
		}
		if !bufferFull(buf) {
			d.listSize.Store(int64(len(buf)))
			devs, err := parseNameList(buf)
			if err != nil {
				return nil, fmt.Errorf("device-mapper: DM_LIST_DEVICES: %w", err)
			}
			return devs, nil
		}
		if len(buf) >= dmMaxBufSize {
			return nil, fmt.Errorf("device-mapper: DM_LIST_DEVICES: list larger than %d bytes", dmMaxBufSize)
		}
		buf = make([]byte, 2*len(buf))
	}
}

var dmBufPool = sync.Pool{New: func() any {
	b := make([]byte, dmInitialBufSize)
	return &b
}}

func (d *DeviceMapper) ioctl(req uintptr, buf []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, d.fd, req, uintptr(unsafe.Pointer(&buf[0])))
	runtime.KeepAlive(d.f)
	if errno != 0 {
		return errno
	}
	return nil
}
