package guard

import "math"

// DefaultChunkSize is the chunk size CowMaxSize assumes when it is given
// none: lvcreate's default for a COW snapshot (4 KiB), also its smallest,
// which needs the most metadata and so gives the largest maximum; a guessed
// chunk size never stops the guard short.
const DefaultChunkSize = 4096

// maxExtentCount is lvm2's MAX_EXTENT_COUNT (lib/metadata/metadata.h): an
// LV has at most UINT32_MAX extents.
const maxExtentCount = math.MaxUint32

// CowMaxSize is the largest COW store a snapshot of an origin of originSize
// bytes can use, in bytes, with chunkSize-byte chunks in a VG of
// extentSize-byte extents: beyond it, extending is useless, since the whole
// origin can be copied and still fit. It is lvm2's own limit, which
// `lvextend` of a snapshot will not pass ("Reached maximum COW size") and
// which lvcreate -l 100%ORIGIN makes (lib/metadata/snapshot_manip.c:
// _cow_max_size and cow_max_extents). In the COW store (seed 004, the
// kernel's dm-snapshot layout), the first chunk is the header, then each
// metadata chunk of chunkSize/16 exceptions (16 bytes each) is followed by
// the data chunks it maps; one more metadata chunk terminates the table when
// the chunks fill the last one exactly. The total is rounded up to whole
// extents, and at most MAX_EXTENT_COUNT extents.
//
// lvm2 adds 1/64 more chunks (_cow_extra_chunks) when the kernel's snapshot
// target is older than 1.12 (Linux 3.x), which could leak chunks on a crash;
// snapfs assumes a kernel that does not (the test VM runs 6.1, target
// 1.16), so it adds none. A chunkSize below 512 (no chunk size, lvm's
// smallest being 4 KiB) is taken as DefaultChunkSize, an extentSize of 0 as
// 512 (one sector).
func CowMaxSize(originSize, chunkSize, extentSize uint64) uint64 {
	if chunkSize < 512 {
		chunkSize = DefaultChunkSize
	}
	if extentSize == 0 {
		extentSize = 512
	}
	originChunks := ceilDiv(originSize, chunkSize)
	perMetadataChunk := chunkSize / 16
	metadataChunks := (originChunks + perMetadataChunk) / perMetadataChunk
	size := satMul(1+originChunks+metadataChunks, chunkSize)
	size = roundUp(size, extentSize)
	if limit := satMul(maxExtentCount, extentSize); size > limit {
		size = limit
	}
	return size
}

// ceilDiv is a/b rounded up.
func ceilDiv(a, b uint64) uint64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// roundUp rounds n up to a multiple of unit, saturating at the largest
// multiple that fits in a uint64.
func roundUp(n, unit uint64) uint64 {
	q := ceilDiv(n, unit)
	if q > math.MaxUint64/unit {
		return math.MaxUint64 / unit * unit
	}
	return q * unit
}

// roundDown rounds n down to a multiple of unit.
func roundDown(n, unit uint64) uint64 { return n / unit * unit }

// satMul is a*b, saturating at the largest uint64.
func satMul(a, b uint64) uint64 {
	if b != 0 && a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}
