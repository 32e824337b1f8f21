package lvm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ThinMetadataBlockSize is the size in bytes of a block of a thin pool's
// metadata device, the unit of ThinPoolStatus.MetadataUsed and MetadataTotal
// (the kernel's THIN_METADATA_BLOCK_SIZE in drivers/md/dm-thin-metadata.h).
// Data blocks are the pool's chunk size (lvs -o chunk_size).
const ThinMetadataBlockSize = 4096

// ThinPoolStatus is the status of a "thin-pool" target (the kernel's
// pool_status in drivers/md/dm-thin.c, documented in
// Documentation/admin-guide/device-mapper/thin-provisioning.rst):
//
//	<transaction id> <used metadata blocks>/<total metadata blocks>
//	<used data blocks>/<total data blocks> <held metadata root>
//	ro|rw|out_of_data_space [no_]discard_passdown|ignore_discard
//	error_if_no_space|queue_if_no_space needs_check|- [metadata_low_watermark]
//
// or "Fail" when the pool failed, or "Error" when the kernel could not read
// its metadata (which libdm, and so lvs, takes as failed too).
type ThinPoolStatus struct {
	TransactionID               uint64
	MetadataUsed, MetadataTotal uint64 // blocks of the metadata device (ThinMetadataBlockSize bytes)
	DataUsed, DataTotal         uint64 // data blocks (the pool's chunk size)
	ReadOnly                    bool   // "ro": the metadata may not be changed
	OutOfDataSpace              bool   // "out_of_data_space": no data block can be allocated
	Fail                        bool   // "Fail" (or "Error"): all I/O fails
	Error                       bool   // "Error": the kernel could not read the pool's metadata
	NeedsCheck                  bool   // "needs_check": thin_check must repair the metadata
}

// ParseThinPoolStatus parses the params of a thin-pool target. Like libdm
// (libdm/libdm-targets.c: parse_thin_pool_status) it needs the transaction
// id and the two usage fractions and takes the flags that follow when they
// are there, so that older kernels with fewer fields and later ones with more
// are read; unlike libdm it matches each flag as a whole field, not as a
// substring of the line.
func ParseThinPoolStatus(params string) (ThinPoolStatus, error) {
	params = strings.TrimSpace(params)
	switch params {
	case "Fail":
		return ThinPoolStatus{Fail: true}, nil
	case "Error":
		return ThinPoolStatus{Fail: true, Error: true}, nil
	}
	bad := func(err error) (ThinPoolStatus, error) {
		return ThinPoolStatus{}, fmt.Errorf("thin-pool status %q: %w", params, err)
	}
	fields := strings.Fields(params)
	if len(fields) < 3 {
		return bad(errors.New("want <transaction id> <used>/<total metadata blocks> <used>/<total data blocks> and flags"))
	}
	var s ThinPoolStatus
	var err error
	if s.TransactionID, err = strconv.ParseUint(fields[0], 10, 64); err != nil {
		return bad(err)
	}
	if s.MetadataUsed, s.MetadataTotal, err = parseFraction(fields[1]); err != nil {
		return bad(fmt.Errorf("metadata blocks: %w", err))
	}
	if s.DataUsed, s.DataTotal, err = parseFraction(fields[2]); err != nil {
		return bad(fmt.Errorf("data blocks: %w", err))
	}
	for _, f := range fields[3:] {
		switch f {
		case "ro":
			s.ReadOnly = true
		case "out_of_data_space":
			s.OutOfDataSpace = true
		case "needs_check":
			s.NeedsCheck = true
		}
	}
	return s, nil
}

// parseFraction reads "<used>/<total>".
func parseFraction(s string) (used, total uint64, err error) {
	u, t, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want <used>/<total>", s)
	}
	if used, err = strconv.ParseUint(u, 10, 64); err != nil {
		return 0, 0, err
	}
	if total, err = strconv.ParseUint(t, 10, 64); err != nil {
		return 0, 0, err
	}
	return used, total, nil
}

// DataPercent is the pool's Data% exactly as lvs prints it: libdm's
// dm_make_percent of used over total data blocks (lib/metadata/lv.c:
// _lvseg_percent_with_info_and_seg_status, SEG_STATUS_THIN_POOL), shown with
// two decimals, so never 0.00 or 100.00 unless empty or full. Not Valid when
// the pool failed.
func (s ThinPoolStatus) DataPercent() Percent {
	if s.Fail {
		return Percent{}
	}
	return makeDMPercent(s.DataUsed, s.DataTotal).report()
}

// MetadataPercent is the pool's Meta% as lvs prints it, computed as
// DataPercent is from the metadata blocks. Not Valid when the pool failed.
func (s ThinPoolStatus) MetadataPercent() Percent {
	if s.Fail {
		return Percent{}
	}
	return makeDMPercent(s.MetadataUsed, s.MetadataTotal).report()
}

// DataBytes returns the pool's data use and size in bytes, given its chunk
// size in bytes (a data block is one chunk).
func (s ThinPoolStatus) DataBytes(chunkSize uint64) (used, total uint64) {
	return s.DataUsed * chunkSize, s.DataTotal * chunkSize
}

// MetadataBytes returns the metadata device's use and size in bytes as the
// kernel counts them (whole ThinMetadataBlockSize blocks).
func (s ThinPoolStatus) MetadataBytes() (used, total uint64) {
	return s.MetadataUsed * ThinMetadataBlockSize, s.MetadataTotal * ThinMetadataBlockSize
}
