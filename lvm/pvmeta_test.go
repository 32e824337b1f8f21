package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// recordedPVHeader returns testdata/pvheader/NAME.img and the VG name and
// seqno vgs said for it.
func recordedPVHeader(t *testing.T, name string) (img []byte, vg string, seqno int) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "pvheader")
	img, err := os.ReadFile(filepath.Join(dir, name+".img"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, name+".seqno"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(want))
	if len(f) != 2 {
		t.Fatalf("%s.seqno: %q", name, want)
	}
	seqno, err = strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return img, f[0], seqno
}

// TestMetadataSeqnoRecorded reads the seqno of PVs real LVM wrote, from the
// file, as from a device.
func TestMetadataSeqnoRecorded(t *testing.T) {
	for _, name := range []string{"created", "changed"} {
		_, wantVG, wantSeqno := recordedPVHeader(t, name)
		vg, seqno, err := MetadataSeqno(filepath.Join("..", "testdata", "pvheader", name+".img"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if vg != wantVG || seqno != wantSeqno {
			t.Errorf("%s: %s seqno %d, want %s seqno %d", name, vg, seqno, wantVG, wantSeqno)
		}
	}
}

// mdaOf returns the offset of the first metadata area's header in img, as
// the recorded PV header gives it.
func mdaOf(t *testing.T, img []byte) int {
	t.Helper()
	mdas, err := metadataAreas(img[:ioBlock])
	if err != nil || len(mdas) == 0 {
		t.Fatalf("metadata areas: %v %v", mdas, err)
	}
	return int(mdas[0].offset)
}

// TestMetadataSeqnoWrapped: a text that runs past the end of the circular
// buffer goes on just after the area's header.
func TestMetadataSeqnoWrapped(t *testing.T) {
	img, _, _ := recordedPVHeader(t, "changed")
	mda := mdaOf(t, img)
	// Make the area 4 KiB long, and put the text 20 bytes before its end.
	const areaSize = 4096
	text := []byte("wrapped_vg {\nid = \"x\"\nseqno = 4711\nformat = \"lvm2\"\n}\n")
	img = append([]byte(nil), img...)
	h := img[mda:]
	binary.LittleEndian.PutUint64(h[32:40], areaSize)
	binary.LittleEndian.PutUint64(h[40:48], areaSize-20)
	binary.LittleEndian.PutUint64(h[48:56], uint64(len(text)))
	copy(h[areaSize-20:areaSize], text[:20])
	copy(h[mdaHeaderSize:], text[20:])
	vg, seqno, err := readSeqno(bytes.NewReader(img))
	if err != nil || vg != "wrapped_vg" || seqno != 4711 {
		t.Errorf("got %q %d %v, want wrapped_vg 4711", vg, seqno, err)
	}
}

// TestMetadataSeqnoRefused: what is not a PV with metadata in use says so.
func TestMetadataSeqnoRefused(t *testing.T) {
	img, _, _ := recordedPVHeader(t, "changed")
	mda := mdaOf(t, img)
	change := func(f func(b []byte)) []byte {
		b := append([]byte(nil), img...)
		f(b)
		return b
	}
	for _, tt := range []struct {
		name string
		img  []byte
		want error // nil: any error
	}{
		{"zeros", make([]byte, len(img)), ErrNoMetadata},
		{"ignored", change(func(b []byte) { b[mda+60] |= rawLocnIgnored }), ErrNoMetadata},
		{"no text", change(func(b []byte) { clear(b[mda+40 : mda+56]) }), ErrNoMetadata},
		{"bad magic", change(func(b []byte) { b[mda+5] = 'X' }), nil},
		{"text outside", change(func(b []byte) { binary.LittleEndian.PutUint64(b[mda+40:], 1<<40) }), nil},
		{"not a VG", change(func(b []byte) {
			off := mda + int(binary.LittleEndian.Uint64(b[mda+40:]))
			copy(b[off:], "# comment\n")
		}), nil},
		{"short", img[:ioBlock], nil},
	} {
		vg, seqno, err := readSeqno(bytes.NewReader(tt.img))
		if err == nil {
			t.Errorf("%s: read %s seqno %d, want an error", tt.name, vg, seqno)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseSeqnoText(t *testing.T) {
	for _, tt := range []struct {
		text  string
		vg    string
		seqno int
	}{
		{"vg0 {\nid = \"abc\"\nseqno = 12\nformat = \"lvm2\"\n", "vg0", 12},
		{"vg0 {\n\tseqno = 3\n", "vg0", 3},
		{"vg0 {\nid = \"abc\"\n", "", 0},
		{"vg0 {\nseqno = x\n", "", 0},
		{"vg0 {\nseqno = 0\n", "", 0},
		{"{\nseqno = 1\n", "", 0},
	} {
		vg, seqno, err := parseSeqnoText([]byte(tt.text))
		if tt.vg == "" {
			if err == nil {
				t.Errorf("%q: %s %d, want an error", tt.text, vg, seqno)
			}
			continue
		}
		if err != nil || vg != tt.vg || seqno != tt.seqno {
			t.Errorf("%q: %q %d %v, want %q %d", tt.text, vg, seqno, err, tt.vg, tt.seqno)
		}
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{512, 4096, 12288} {
		b := alignedBuffer(n)
		if len(b) != n || cap(b) != n {
			t.Errorf("%d: len %d cap %d", n, len(b), cap(b))
		}
		if p := uintptr(unsafe.Pointer(&b[0])); p%ioBlock != 0 {
			t.Errorf("%d: address %#x not aligned", n, p)
		}
	}
}
