// Package blockdev looks at what a block device holds and makes it readable
// as files without writing to it: it tells a filesystem from a partition table
// by their on-disk signatures, attaches read-only loop devices that make the
// kernel scan a partition table, and mounts a filesystem read-only so that
// neither the mount nor the filesystem driver writes to the device (no journal
// replay, no log recovery).
//
// It knows nothing of LVM or FUSE: snapfs's fs package uses it to serve a
// snapshot's files/ directory.
package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kind is what a device holds, as far as snapfs is concerned.
type Kind int

const (
	// Nothing is content snapfs cannot show as files: no signature, or one
	// of something that is not a filesystem (swap, an LVM physical volume).
	Nothing Kind = iota
	// Filesystem is a filesystem on the whole device.
	Filesystem
	// PartitionTable is a whole-disk image: a partition table whose
	// partitions may each hold a filesystem.
	PartitionTable
)

// Content is the result of Probe.
type Content struct {
	Kind Kind
	// Type is the filesystem type to mount with (ext4, xfs, btrfs, vfat,
	// exfat) for a Filesystem, "dos" or "gpt" for a PartitionTable.
	Type string
	// Reason says, for Nothing, what the device holds instead.
	Reason string
}

func (c Content) String() string {
	switch c.Kind {
	case Filesystem:
		return c.Type + " filesystem"
	case PartitionTable:
		return c.Type + " partition table"
	}
	return c.Reason
}

// probeSize is how much of the start of a device Probe reads: enough for the
// btrfs superblock, the farthest signature it knows (64 KiB + 64 bytes).
const probeSize = 68 << 10

// Probe reads the start of a device and tells what it holds. It looks only at
// signatures, as blkid does for the types it knows, in an order that keeps
// the checks from mistaking one for another (a FAT boot sector also ends in
// the MBR's 0x55AA).
func Probe(r io.ReaderAt) (Content, error) {
	buf := make([]byte, probeSize)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Content{}, fmt.Errorf("reading the first %d KiB: %w", probeSize>>10, err)
	}
	return probeBytes(buf[:n]), nil
}

// at returns the n bytes at off, or nil when the buffer is too short.
func at(b []byte, off, n int) []byte {
	if off+n > len(b) {
		return nil
	}
	return b[off : off+n]
}

func has(b []byte, off int, sig string) bool {
	return bytes.Equal(at(b, off, len(sig)), []byte(sig))
}

func probeBytes(b []byte) Content {
	fs := func(t string) Content { return Content{Kind: Filesystem, Type: t} }
	nothing := func(why string) Content { return Content{Kind: Nothing, Reason: why} }
	switch {
	case len(b) < 1024:
		return nothing(fmt.Sprintf("the device holds only %d bytes", len(b)))
	case has(b, 0, "LUKS\xba\xbe"):
		return nothing("a LUKS-encrypted volume, which snapfs does not open")
	case has(b, 0, "XFSB"):
		return fs("xfs")
	case len(b) >= 1082 && binary.LittleEndian.Uint16(b[1080:]) == 0xEF53:
		return fs("ext4") // the ext4 driver mounts ext2 and ext3 too
	case has(b, 0x10040, "_BHRfS_M"):
		return fs("btrfs")
	case isFAT(b):
		return fs("vfat")
	case has(b, 3, "EXFAT   "):
		return fs("exfat")
	case has(b, 4086, "SWAPSPACE2") || has(b, 4086, "SWAP-SPACE"):
		return nothing("swap space")
	case has(b, 512, "LABELONE") && has(b, 512+24, "LVM2 001"):
		return nothing("an LVM physical volume (a volume group inside the volume), which snapfs does not activate")
	case has(b, 512, "EFI PART"):
		return Content{Kind: PartitionTable, Type: "gpt"}
	case isMBR(b):
		return Content{Kind: PartitionTable, Type: "dos"}
	case allZero(b):
		return nothing(fmt.Sprintf("no data: the first %d KiB are zeros", len(b)>>10))
	}
	return nothing("no filesystem or partition table signature snapfs knows (ext2/3/4, xfs, btrfs, vfat, exfat, dos, gpt)")
}

// isFAT recognizes a FAT boot sector: a jump instruction, a sane sector size,
// the 0x55AA signature and the filesystem type label of FAT12/16 or FAT32.
func isFAT(b []byte) bool {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return false
	}
	if b[0] != 0xEB && b[0] != 0xE9 {
		return false
	}
	switch binary.LittleEndian.Uint16(b[11:]) {
	case 512, 1024, 2048, 4096:
	default:
		return false
	}
	return has(b, 54, "FAT12   ") || has(b, 54, "FAT16   ") || has(b, 54, "FAT     ") || has(b, 82, "FAT32   ")
}

// isMBR recognizes a DOS partition table: the 0x55AA signature and four
// entries whose boot flags are valid, at least one of them in use.
func isMBR(b []byte) bool {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return false
	}
	used := 0
	for i := 0; i < 4; i++ {
		e := b[446+16*i : 446+16*(i+1)]
		if e[0] != 0x00 && e[0] != 0x80 {
			return false
		}
		if e[4] != 0 && binary.LittleEndian.Uint32(e[12:]) != 0 {
			used++
		}
	}
	return used > 0
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// MountData returns the filesystem-specific mount options that keep the
// driver from writing to a device it mounts read-only: ext4 does not replay
// its journal (noload), XFS does not run log recovery (norecovery) and
// accepts a UUID that is already mounted (nouuid: the snapshot's origin has
// the same one), btrfs does not replay its log tree.
func MountData(fstype string) string {
	switch fstype {
	case "ext4", "ext3", "ext2":
		return "noload"
	case "xfs":
		return "norecovery,nouuid"
	case "btrfs":
		return "rescue=nologreplay"
	}
	return ""
}
