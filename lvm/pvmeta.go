package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"unsafe"
)

// Reading a VG's metadata sequence number from one of its PVs, without
// LVM: how a host notices that another host of a shared VG has changed it.
// That host's change touches neither this host's metadata backups nor its
// /dev/mapper, only the metadata areas on the shared disks. The on-disk
// format is LVM's (lib/label/label.h, lib/format_text/layout.h):
//
//   - a label in one of the device's first four 512-byte sectors:
//     "LABELONE", its sector, a CRC, the offset of the PV header from the
//     label, and "LVM2 001";
//   - the PV header: the PV's UUID (32 bytes), its size, then two lists of
//     (offset, size) pairs, each ended by a zero pair: the data areas, then
//     the metadata areas;
//   - at the start of each metadata area, a 512-byte header: a checksum,
//     the magic " LVM2 x[5A%r0N*>", a version, the area's start and size,
//     and the location of the committed metadata text (offset from the
//     area's start, size, checksum, flags) in a circular buffer after the
//     header;
//   - the text begins `VGNAME {` and has `seqno = N` among its first lines.
//
// Every read is of whole aligned 4 KiB blocks with O_DIRECT, so that what
// another host wrote to a shared disk is read from the disk, not from this
// host's page cache.

const (
	sectorSize    = 512
	labelScan     = 4 // sectors searched for the label
	mdaHeaderSize = 512
	ioBlock       = 4096
	// seqnoTextMax is how much of the metadata text is read for its name
	// and seqno, which LVM writes in its first lines.
	seqnoTextMax = 1024
	// rawLocnIgnored is RAW_LOCN_IGNORED: the metadata area is kept but
	// not used (pvchange --metadataignore).
	rawLocnIgnored = 1
)

var (
	labelID  = []byte("LABELONE")
	labelLVM = []byte("LVM2 001")
	mdaMagic = []byte(" LVM2 x[5A%r0N*>")
)

// ErrNoMetadata is a device without an LVM label, or whose metadata areas
// are all ignored or empty: it cannot tell the VG's seqno.
var ErrNoMetadata = errors.New("no LVM metadata on the device")

// MetadataSeqno reads the name and the metadata sequence number (vg_seqno)
// of the VG whose PV device is, from the first metadata area of the device
// in use. It starts no process and reads three 4 KiB blocks.
func MetadataSeqno(device string) (vg string, seqno int, err error) {
	f, err := openDirect(device)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	vg, seqno, err = readSeqno(f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", device, err)
	}
	return vg, seqno, nil
}

// readSeqno does MetadataSeqno's work on an open device.
func readSeqno(r io.ReaderAt) (string, int, error) {
	block, err := readBlocks(r, 0, ioBlock)
	if err != nil {
		return "", 0, err
	}
	mdas, err := metadataAreas(block)
	if err != nil {
		return "", 0, err
	}
	for _, mda := range mdas {
		text, err := metadataText(r, mda)
		if errors.Is(err, ErrNoMetadata) {
			continue
		}
		if err != nil {
			return "", 0, err
		}
		return parseSeqnoText(text)
	}
	return "", 0, ErrNoMetadata
}

// diskLocn is an (offset, size) pair of the PV header, in bytes.
type diskLocn struct{ offset, size uint64 }

// metadataAreas finds the label in the first block of a device and returns
// the metadata areas its PV header lists.
func metadataAreas(block []byte) ([]diskLocn, error) {
	for s := 0; s < labelScan; s++ {
		sector := block[s*sectorSize : (s+1)*sectorSize]
		if !bytes.Equal(sector[:8], labelID) || !bytes.Equal(sector[24:32], labelLVM) {
			continue
		}
		off := int(binary.LittleEndian.Uint32(sector[20:24]))
		if off < 32 || off+32+8 > sectorSize {
			return nil, fmt.Errorf("LVM label: bad PV header offset %d", off)
		}
		// The PV header: UUID, device size, then the two lists.
		p := sector[off+32+8:]
		lists := [2][]diskLocn{}
		for i := range lists {
			for {
				if len(p) < 16 {
					return nil, errors.New("LVM label: PV header runs past its sector")
				}
				l := diskLocn{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}
				p = p[16:]
				if l.offset == 0 {
					break
				}
				lists[i] = append(lists[i], l)
			}
		}
		if len(lists[1]) == 0 {
			return nil, ErrNoMetadata
		}
		return lists[1], nil
	}
	return nil, ErrNoMetadata
}

// metadataText returns the first bytes of the committed metadata text of
// metadata area mda, or ErrNoMetadata when it holds none in use.
func metadataText(r io.ReaderAt, mda diskLocn) ([]byte, error) {
	hdrBlock, err := readBlocks(r, mda.offset, mdaHeaderSize)
	if err != nil {
		return nil, err
	}
	h := hdrBlock[mda.offset%ioBlock:]
	if !bytes.Equal(h[4:20], mdaMagic) {
		return nil, fmt.Errorf("metadata area at %d: bad magic", mda.offset)
	}
	start := binary.LittleEndian.Uint64(h[24:32])
	size := binary.LittleEndian.Uint64(h[32:40])
	if start != mda.offset || size <= mdaHeaderSize {
		return nil, fmt.Errorf("metadata area at %d: header says start %d, size %d", mda.offset, start, size)
	}
	locn := h[40:64]
	off := binary.LittleEndian.Uint64(locn[0:8])
	n := binary.LittleEndian.Uint64(locn[8:16])
	flags := binary.LittleEndian.Uint32(locn[20:24])
	if off == 0 || n == 0 || flags&rawLocnIgnored != 0 {
		return nil, ErrNoMetadata
	}
	if off < mdaHeaderSize || off >= size {
		return nil, fmt.Errorf("metadata area at %d: text at %d is outside the area of %d bytes", mda.offset, off, size)
	}
	n = min(n, seqnoTextMax)
	// The text may wrap around the end of the circular buffer, on to
	// just after the header.
	first := min(n, size-off)
	text, err := readRange(r, start+off, first)
	if err != nil {
		return nil, err
	}
	if first < n {
		rest, err := readRange(r, start+mdaHeaderSize, n-first)
		if err != nil {
			return nil, err
		}
		text = append(text, rest...)
	}
	return text, nil
}

// parseSeqnoText reads "NAME {" and "seqno = N" from the start of a VG's
// metadata text.
func parseSeqnoText(text []byte) (string, int, error) {
	name, rest, ok := bytes.Cut(text, []byte(" {\n"))
	if !ok || len(name) == 0 || bytes.ContainsAny(name, " \n\x00") {
		return "", 0, errors.New("metadata text does not begin with a VG's name")
	}
	for _, line := range bytes.Split(rest, []byte("\n")) {
		v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("seqno = "))
		if !ok {
			continue
		}
		seqno, err := strconv.Atoi(string(v))
		if err != nil || seqno <= 0 {
			return "", 0, fmt.Errorf("metadata text of %s: bad seqno %q", name, v)
		}
		return string(name), seqno, nil
	}
	return "", 0, fmt.Errorf("metadata text of %s: no seqno in its first %d bytes", name, len(text))
}

// readRange reads n bytes at off through whole aligned blocks.
func readRange(r io.ReaderAt, off, n uint64) ([]byte, error) {
	b, err := readBlocks(r, off, n)
	if err != nil {
		return nil, err
	}
	skip := off % ioBlock
	return append([]byte(nil), b[skip:skip+n]...), nil
}

// readBlocks reads the aligned blocks that hold n bytes at off, into an
// aligned buffer (O_DIRECT wants both); the result starts at the block
// that holds off.
func readBlocks(r io.ReaderAt, off, n uint64) ([]byte, error) {
	first := off / ioBlock * ioBlock
	length := (off + n + ioBlock - 1) / ioBlock * ioBlock
	length -= first
	buf := alignedBuffer(int(length))
	got, err := r.ReadAt(buf, int64(first))
	if err == io.EOF && uint64(got) >= off-first+n {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %d bytes at %d: %w", length, first, err)
	}
	return buf, nil
}

// openDirect opens device read-only, with O_DIRECT where the file system
// allows it (a file on tmpfs does not; a file in a test, say).
func openDirect(device string) (*os.File, error) {
	f, err := os.OpenFile(device, os.O_RDONLY|oDirect, 0)
	if err != nil && oDirect != 0 {
		f, err = os.OpenFile(device, os.O_RDONLY, 0)
	}
	return f, err
}

// alignedBuffer returns n bytes whose address is a multiple of ioBlock.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+ioBlock)
	skip := 0
	if rem := int(uintptr(unsafe.Pointer(&b[0])) % ioBlock); rem != 0 {
		skip = ioBlock - rem
	}
	return b[skip : skip+n : skip+n]
}
