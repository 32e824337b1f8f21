package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// population is what the benchmark VG holds before snapfs starts: Origins
// linear LVs of one extent each (o0000, o0001, ...), each with one COW
// snapshot of one extent (s0000, ...), and one larger origin, data, for the
// image reads.
type population struct {
	Origins     int // each with one snapshot: 2*Origins visible LVs
	DataExtents int // the size of data, in extents
}

// lvmIDChars are the characters of an LVM UUID (lib/uuid/uuid.c).
const lvmIDChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newLVMID returns a random LVM UUID as LVM writes it into metadata:
// 32 characters, grouped 6-4-4-4-4-4-6.
func newLVMID() string {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic(err)
	}
	var b strings.Builder
	for i, c := range raw {
		switch i {
		case 6, 10, 14, 18, 22, 26:
			b.WriteByte('-')
		}
		b.WriteByte(lvmIDChars[int(c)%len(lvmIDChars)])
	}
	return b.String()
}

var (
	seqnoRe = regexp.MustCompile(`(?m)^(\s*seqno = )(\d+)$`)
	pvRe    = regexp.MustCompile(`(?m)^\s*(pv\d+) \{$`)
)

// addLVs returns the text metadata of an empty VG (vgcfgbackup's output)
// with the population's LVs added and the sequence number raised, for
// vgcfgrestore. A COW snapshot is, in LVM metadata, the origin, a COW LV
// holding the exception store (not VISIBLE), and a hidden LV named
// snapshotN of segment type snapshot tying them together. The COW areas
// are extents of a fresh sparse loop file, all zeros: the snapshot target
// takes a zeroed store as a new, empty snapshot.
func addLVs(meta []byte, p population, now time.Time) ([]byte, error) {
	if bytes.Contains(meta, []byte("logical_volumes {")) {
		return nil, fmt.Errorf("the VG has LVs already")
	}
	m := seqnoRe.FindSubmatch(meta)
	pv := pvRe.FindSubmatch(meta)
	if m == nil || pv == nil {
		return nil, fmt.Errorf("no seqno or no PV in the VG's metadata")
	}
	seqno, _ := strconv.Atoi(string(m[2]))
	meta = seqnoRe.ReplaceAll(meta, []byte("${1}"+strconv.Itoa(seqno+1)))

	var b bytes.Buffer
	extent := 0
	t := now.Unix()
	linear := func(name string, status string, extents int) {
		fmt.Fprintf(&b, "\n\t\t%s {\n\t\t\tid = %q\n\t\t\tstatus = [%s]\n\t\t\tflags = []\n", name, newLVMID(), status)
		fmt.Fprintf(&b, "\t\t\tcreation_time = %d\n\t\t\tcreation_host = \"snapfs-bench\"\n\t\t\tsegment_count = 1\n\n", t)
		fmt.Fprintf(&b, "\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = %d\n\n", extents)
		fmt.Fprintf(&b, "\t\t\t\ttype = \"striped\"\n\t\t\t\tstripe_count = 1\n\n\t\t\t\tstripes = [\n\t\t\t\t\t%q, %d\n\t\t\t\t]\n\t\t\t}\n\t\t}\n", string(pv[1]), extent)
		extent += extents
	}
	b.WriteString("\n\tlogical_volumes {\n")
	for i := 0; i < p.Origins; i++ {
		linear(fmt.Sprintf("o%04d", i), `"READ", "WRITE", "VISIBLE"`, 1)
	}
	if p.DataExtents > 0 {
		linear("data", `"READ", "WRITE", "VISIBLE"`, p.DataExtents)
	}
	for i := 0; i < p.Origins; i++ {
		linear(fmt.Sprintf("s%04d", i), `"READ", "WRITE"`, 1)
		fmt.Fprintf(&b, "\n\t\tsnapshot%d {\n\t\t\tid = %q\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\t\t\tflags = []\n", i, newLVMID())
		fmt.Fprintf(&b, "\t\t\tcreation_time = %d\n\t\t\tcreation_host = \"snapfs-bench\"\n\t\t\tsegment_count = 1\n\n", t)
		fmt.Fprintf(&b, "\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 1\n\n")
		fmt.Fprintf(&b, "\t\t\t\ttype = \"snapshot\"\n\t\t\t\tchunk_size = 8\n\t\t\t\torigin = \"o%04d\"\n\t\t\t\tcow_store = \"s%04d\"\n\t\t\t}\n\t\t}\n", i, i)
	}
	b.WriteString("\t}\n")

	// The VG's section is the last block of the file: the LVs go before
	// its closing brace.
	end := bytes.LastIndexByte(meta, '}')
	if end < 0 {
		return nil, fmt.Errorf("no closing brace in the VG's metadata")
	}
	out := append([]byte(nil), meta[:end]...)
	out = append(out, b.Bytes()...)
	out = append(out, meta[end:]...)
	return out, nil
}
