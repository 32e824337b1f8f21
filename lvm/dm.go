package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// ErrNotSnapshot is the error of SnapshotStatus for a device that is not
// a COW snapshot (its first target is not "snapshot").
var ErrNotSnapshot = errors.New("not a COW snapshot")

// The device-mapper ioctl interface, from the kernel's
// include/uapi/linux/dm-ioctl.h. Every request is one buffer: a struct
// dm_ioctl, then (at data_start) the payload. For DM_TABLE_STATUS the kernel
// writes one struct dm_target_spec per target, each followed by its
// NUL-terminated status string and padded to 8 bytes; a spec's "next" is the
// offset of the following spec from the first one.
const (
	dmIoctlSize      = 312 // sizeof(struct dm_ioctl): 305 bytes of fields, padded to 8
	dmTargetSpecSize = 40  // sizeof(struct dm_target_spec)
	dmNameLen        = 128 // DM_NAME_LEN
	dmUUIDLen        = 129 // DM_UUID_LEN
	dmMaxTypeName    = 16  // DM_MAX_TYPE_NAME

	// Offsets in struct dm_ioctl.
	offVersion     = 0  // __u32 version[3]
	offDataSize    = 12 // __u32 data_size: the whole buffer, this struct included
	offDataStart   = 16 // __u32 data_start: offset of the payload
	offTargetCount = 20 // __u32 target_count
	offOpenCount   = 24 // __s32 open_count
	offFlags       = 28 // __u32 flags
	offEventNr     = 32 // __u32 event_nr
	offDev         = 40 // __u64 dev (after __u32 padding)
	offName        = 48 // char name[DM_NAME_LEN]
	offUUID        = 176

	// Offsets in struct dm_target_spec.
	offSpecStart  = 0  // __u64 sector_start
	offSpecLength = 8  // __u64 length
	offSpecStatus = 16 // __s32 status
	offSpecNext   = 20 // __u32 next
	offSpecType   = 24 // char target_type[DM_MAX_TYPE_NAME]

	// The interface version this code was written against. The kernel
	// accepts any request with major 4 and a minor not above its own.
	dmVersionMajor = 4
	dmVersionMinor = 0
	dmVersionPatch = 0

	dmReadonlyFlag      = 1 << 0 // DM_READONLY_FLAG
	dmSuspendFlag       = 1 << 1 // DM_SUSPEND_FLAG
	dmActivePresentFlag = 1 << 5 // DM_ACTIVE_PRESENT_FLAG
	dmBufferFullFlag    = 1 << 8 // DM_BUFFER_FULL_FLAG

	dmUUIDFlag = 1 << 14 // DM_UUID_FLAG: DM_LIST_DEVICES lists UUIDs too

	// struct dm_name_list, one per device in the answer to
	// DM_LIST_DEVICES: __u64 dev, __u32 next (the offset of the next
	// entry from this one's start, 0 for the last), the NUL-terminated
	// name; then, 8-byte aligned, __u32 event_nr and __u32 flags, and,
	// 8-byte aligned again, the NUL-terminated UUID when flags says so.
	offListDev           = 0
	offListNext          = 8
	offListName          = 12
	dmNameListHasUUID    = 1 // DM_NAME_LIST_FLAG_HAS_UUID
	dmNameListDoesntUUID = 2 // DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID
	dmListInitialBufSize = 16 << 10
	dmIoctlType          = 0xfd // DM_IOCTL
	dmListDevicesCmd     = 2    // DM_LIST_DEVICES_CMD
	dmTableStatusCmd     = 12   // DM_TABLE_STATUS_CMD
	dmMaxBufSize         = 16 << 20
	dmNoSuchDeviceHint   = "no such device-mapper device"

	// A COW snapshot's or thin pool's status is one target with a short
	// line: 2 KiB holds it, and a few dozen linear targets. The kernel
	// copies in the whole buffer at every request, and the guard makes one
	// a second for each snapshot; a larger answer grows it.
	dmInitialBufSize = 2 << 10
)

// DeviceStatus is what DM_TABLE_STATUS returns about one device: the
// device's state and the status of each target of its live table.
type DeviceStatus struct {
	Name      string
	UUID      string // LVM's UUID: "LVM-" followed by the VG and LV UUIDs without hyphens
	Major     uint32
	Minor     uint32
	OpenCount int32 // how many times the device is open (mounts, processes, domains)
	EventNr   uint32
	ReadOnly  bool
	Suspended bool
	// Live is false for a device that exists without a live table.
	Live    bool
	Targets []Target
}

// checkDMName tells whether name fits the name field of a request.
func checkDMName(name string) error {
	if name == "" || len(name) >= dmNameLen {
		return fmt.Errorf("device-mapper name %q: want 1 to %d bytes: %w", name, dmNameLen-1, ErrInvalidArg)
	}
	return nil
}

// fillRequest writes a request's struct dm_ioctl into buf, over whatever
// buf held: the interface version, the buffer's size, the payload right
// after the struct, and flags.
func fillRequest(buf []byte, flags uint32) {
	clear(buf)
	ne := binary.NativeEndian
	ne.PutUint32(buf[offVersion:], dmVersionMajor)
	ne.PutUint32(buf[offVersion+4:], dmVersionMinor)
	ne.PutUint32(buf[offVersion+8:], dmVersionPatch)
	ne.PutUint32(buf[offDataSize:], uint32(len(buf)))
	ne.PutUint32(buf[offDataStart:], dmIoctlSize)
	ne.PutUint32(buf[offFlags:], flags)
}

// fillTableStatusRequest writes the request for name, which must fit, into
// buf, over whatever buf held.
func fillTableStatusRequest(buf []byte, name string) {
	fillRequest(buf, 0)
	copy(buf[offName:offName+dmNameLen], name)
}

// bufferFull reports whether the kernel had no room for the whole answer.
func bufferFull(buf []byte) bool {
	return binary.NativeEndian.Uint32(buf[offFlags:])&dmBufferFullFlag != 0
}

// DMDevice is a device-mapper device as DM_LIST_DEVICES lists it.
type DMDevice struct {
	Name string
	UUID string // "" for a device without one
}

// ErrNoUUIDs is the error of a device listing from a kernel that does not
// list UUIDs (before Linux 5.14, device-mapper ioctl 4.45).
var ErrNoUUIDs = errors.New("the kernel lists device-mapper devices without their UUIDs")

// fillListRequest writes the DM_LIST_DEVICES request, UUIDs asked for, into
// buf, over whatever buf held.
func fillListRequest(buf []byte) { fillRequest(buf, dmUUIDFlag) }

// parseNameList decodes the kernel's answer to DM_LIST_DEVICES
// (drivers/md/dm-ioctl.c: list_devices). An entry that says neither that
// it has a UUID nor that it has none comes from a kernel that does not list
// UUIDs: ErrNoUUIDs.
func parseNameList(buf []byte) ([]DMDevice, error) {
	if len(buf) < dmIoctlSize {
		return nil, fmt.Errorf("dm_ioctl: answer of %d bytes, want at least %d", len(buf), dmIoctlSize)
	}
	ne := binary.NativeEndian
	dataSize := min(int(ne.Uint32(buf[offDataSize:])), len(buf))
	dataStart := int(ne.Uint32(buf[offDataStart:]))
	if dataStart < dmIoctlSize || dataStart > dataSize {
		return nil, fmt.Errorf("dm_ioctl: data_start %d outside the answer of %d bytes", dataStart, dataSize)
	}
	data := buf[dataStart:dataSize]
	if len(data) < offListName || ne.Uint64(data[offListDev:]) == 0 {
		return nil, nil // no devices: the kernel writes a dev of 0
	}
	var devs []DMDevice
	for off := 0; ; {
		if off+offListName >= len(data) {
			return nil, fmt.Errorf("dm_ioctl: device entry at offset %d is outside the answer", off)
		}
		e := data[off:]
		name, ok := cStringAt(e, offListName)
		if !ok {
			return nil, fmt.Errorf("dm_ioctl: name of the device entry at offset %d is not terminated", off)
		}
		extra := align8(offListName + len(name) + 1)
		if extra+8 > len(e) {
			return nil, fmt.Errorf("dm_ioctl: device %s: no flags in its entry", name)
		}
		d := DMDevice{Name: name}
		switch flags := ne.Uint32(e[extra+4:]); {
		case flags&dmNameListHasUUID != 0:
			if d.UUID, ok = cStringAt(e, extra+8); !ok {
				return nil, fmt.Errorf("dm_ioctl: UUID of device %s is not terminated", name)
			}
		case flags&dmNameListDoesntUUID == 0:
			return nil, ErrNoUUIDs
		}
		devs = append(devs, d)
		next := int(ne.Uint32(e[offListNext:]))
		if next == 0 {
			return devs, nil
		}
		if next < offListName {
			return nil, fmt.Errorf("dm_ioctl: device %s points to the next entry %d bytes on", name, next)
		}
		off += next
	}
}

// cStringAt returns the NUL-terminated string at b[off:], and false when
// it has no terminator within b.
func cStringAt(b []byte, off int) (string, bool) {
	if off >= len(b) {
		return "", false
	}
	end := bytes.IndexByte(b[off:], 0)
	if end < 0 {
		return "", false
	}
	return string(b[off : off+end]), true
}

func align8(n int) int { return (n + 7) &^ 7 }

// parseTableStatus decodes the kernel's answer to DM_TABLE_STATUS.
func parseTableStatus(buf []byte) (*DeviceStatus, error) {
	if len(buf) < dmIoctlSize {
		return nil, fmt.Errorf("dm_ioctl: answer of %d bytes, want at least %d", len(buf), dmIoctlSize)
	}
	ne := binary.NativeEndian
	flags := ne.Uint32(buf[offFlags:])
	dev := ne.Uint64(buf[offDev:])
	st := &DeviceStatus{
		Name:      cString(buf[offName : offName+dmNameLen]),
		UUID:      cString(buf[offUUID : offUUID+dmUUIDLen]),
		Major:     uint32((dev >> 8) & 0xfff),
		Minor:     uint32((dev & 0xff) | ((dev >> 12) & 0xfff00)),
		OpenCount: int32(ne.Uint32(buf[offOpenCount:])),
		EventNr:   ne.Uint32(buf[offEventNr:]),
		ReadOnly:  flags&dmReadonlyFlag != 0,
		Suspended: flags&dmSuspendFlag != 0,
		Live:      flags&dmActivePresentFlag != 0,
	}
	err := eachTarget(buf, func(spec, typ, params []byte) bool {
		st.Targets = append(st.Targets, Target{
			Start:  ne.Uint64(spec[offSpecStart:]),
			Length: ne.Uint64(spec[offSpecLength:]),
			Type:   string(typ),
			Params: string(params),
		})
		return true
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// eachTarget calls fn with each target of the answer in buf, in order: its
// struct dm_target_spec, its type and its status, all slices of buf, until
// fn returns false.
func eachTarget(buf []byte, fn func(spec, typ, params []byte) bool) error {
	if len(buf) < dmIoctlSize {
		return fmt.Errorf("dm_ioctl: answer of %d bytes, want at least %d", len(buf), dmIoctlSize)
	}
	ne := binary.NativeEndian
	dataSize := int(ne.Uint32(buf[offDataSize:]))
	dataStart := int(ne.Uint32(buf[offDataStart:]))
	count := int(ne.Uint32(buf[offTargetCount:]))
	if dataSize > len(buf) {
		dataSize = len(buf)
	}
	if count == 0 {
		return nil
	}
	if dataStart < dmIoctlSize || dataStart > dataSize {
		return fmt.Errorf("dm_ioctl: data_start %d outside the answer of %d bytes", dataStart, dataSize)
	}
	data := buf[dataStart:dataSize]
	off := 0
	for i := 0; i < count; i++ {
		if off+dmTargetSpecSize > len(data) {
			return fmt.Errorf("dm_ioctl: target %d of %d at offset %d is outside the answer", i+1, count, off)
		}
		spec := data[off:]
		params := spec[dmTargetSpecSize:]
		end := bytes.IndexByte(params, 0)
		if end < 0 {
			return fmt.Errorf("dm_ioctl: status of target %d is not terminated", i+1)
		}
		if !fn(spec, cBytes(spec[offSpecType:offSpecType+dmMaxTypeName]), params[:end]) {
			return nil
		}
		next := int(ne.Uint32(spec[offSpecNext:]))
		if i+1 < count && next <= off {
			return fmt.Errorf("dm_ioctl: target %d points back to offset %d", i+1, next)
		}
		off = next
	}
	return nil
}

// parseSnapshotStatus reads the status of a snapshot device from the
// kernel's answer in buf, as ParseSnapshotStatus does that of its one
// target, without allocating: the guard reads every snapshot every second.
// A device whose first target is not "snapshot" is an error wrapping
// ErrNotSnapshot.
func parseSnapshotStatus(buf []byte) (SnapshotStatus, error) {
	var (
		found  bool
		typ    []byte
		params []byte
	)
	err := eachTarget(buf, func(_, t, p []byte) bool {
		found, typ, params = true, t, p
		return false
	})
	if err != nil {
		return SnapshotStatus{}, err
	}
	if !found || string(typ) != "snapshot" {
		return SnapshotStatus{}, fmt.Errorf("device-mapper target %q: %w", typ, ErrNotSnapshot)
	}
	if len(params) == 0 {
		return ParseSnapshotStatus("")
	}
	// The string lives only while the status is parsed, and nothing it
	// returns refers to it (an error copies it).
	return ParseSnapshotStatus(unsafe.String(&params[0], len(params)))
}

func cString(b []byte) string { return string(cBytes(b)) }

// cBytes is b up to its first NUL.
func cBytes(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b
}
