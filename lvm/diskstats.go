package lvm

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// IOCounts are what /proc/diskstats tells of a block device's requests that
// can change what a COW snapshot holds: writes and discards completed, and
// requests in flight. A snapshot's COW store takes a chunk only for a write
// or discard to its origin's device or its own, each counted there: in
// flight from just after device-mapper maps it (which is when the chunk
// is taken) until it completes.
type IOCounts struct {
	Writes, Discards, InFlight uint64
}

// Busy tells whether a request is in flight.
func (c IOCounts) Busy() bool { return c.InFlight > 0 }

// DiskStats reads /proc/diskstats: the I/O counts of every block device in
// one read, where device-mapper's status takes an ioctl per device. It
// keeps its buffer and map from one read to the next; not for concurrent
// use.
type DiskStats struct {
	path   string
	buf    []byte
	counts map[uint64]IOCounts
}

// NewDiskStats returns a reader of /proc/diskstats.
func NewDiskStats() *DiskStats { return &DiskStats{path: "/proc/diskstats"} }

// Read returns the I/O counts of every block device, by device number
// (unix.Mkdev). The map is the reader's: valid until the next Read.
func (d *DiskStats) Read() (map[uint64]IOCounts, error) {
	f, err := os.Open(d.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if d.buf == nil {
		d.buf = make([]byte, 64<<10)
	}
	n := 0
	for {
		if n == len(d.buf) {
			d.buf = append(d.buf, make([]byte, len(d.buf))...)
		}
		m, err := f.Read(d.buf[n:])
		n += m
		if m == 0 || err != nil {
			break
		}
	}
	if d.counts == nil {
		d.counts = map[uint64]IOCounts{}
	}
	clear(d.counts)
	if err := parseDiskStats(d.buf[:n], d.counts); err != nil {
		return nil, fmt.Errorf("%s: %w", d.path, err)
	}
	return d.counts, nil
}

// parseDiskStats adds the counts of each line of /proc/diskstats in data to
// counts. A line is "major minor name" and then numbers: reads, reads
// merged, sectors read, ms reading, writes (the 5th), writes merged,
// sectors written, ms writing, in flight (the 9th), ms doing I/O, weighted
// ms, and since Linux 4.18 discards (the 12th) and three more, since 5.5
// two for flushes.
func parseDiskStats(data []byte, counts map[uint64]IOCounts) error {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		var nums [14]uint64 // major, minor, then the first 12 numbers
		field, have := 0, 0
		for len(line) > 0 && field < 15 {
			for len(line) > 0 && line[0] == ' ' {
				line = line[1:]
			}
			end := 0
			for end < len(line) && line[end] != ' ' {
				end++
			}
			if end == 0 {
				break
			}
			word := line[:end]
			line = line[end:]
			if field != 2 { // the name
				v, ok := parseUint(word)
				if !ok {
					return fmt.Errorf("not a number: %q", word)
				}
				nums[have] = v
				have++
			}
			field++
		}
		if have < 11 {
			continue // an empty line, or one without the counts (Linux < 2.6.25's partitions): its device is read as before
		}
		c := IOCounts{Writes: nums[6], InFlight: nums[10]}
		if have > 13 {
			c.Discards = nums[13]
		}
		counts[unix.Mkdev(uint32(nums[0]), uint32(nums[1]))] = c
	}
	return nil
}

func parseUint(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, len(b) > 0
}
