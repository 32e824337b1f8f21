package blockdev

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// image returns a zeroed device start with the given signatures written in.
func image(writes ...func(b []byte)) []byte {
	b := make([]byte, probeSize)
	for _, w := range writes {
		w(b)
	}
	return b
}

func put(off int, s string) func([]byte) { return func(b []byte) { copy(b[off:], s) } }

func le16(off int, v uint16) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], v) }
}

var bootSig = put(510, "\x55\xaa")

func mbrEntry(i int, boot, typ byte, start, sectors uint32) func([]byte) {
	return func(b []byte) {
		e := b[446+16*i:]
		e[0], e[4] = boot, typ
		binary.LittleEndian.PutUint32(e[8:], start)
		binary.LittleEndian.PutUint32(e[12:], sectors)
	}
}

func TestProbe(t *testing.T) {
	fat := []func([]byte){put(0, "\xeb\x3c\x90mkfs.fat"), le16(11, 512), bootSig}
	tests := []struct {
		name string
		data []byte
		kind Kind
		typ  string
		why  string
	}{
		{"ext4", image(le16(1080, 0xEF53)), Filesystem, "ext4", ""},
		{"xfs", image(put(0, "XFSB")), Filesystem, "xfs", ""},
		{"btrfs", image(put(0x10040, "_BHRfS_M")), Filesystem, "btrfs", ""},
		{"fat16", image(append(fat, put(54, "FAT16   "))...), Filesystem, "vfat", ""},
		{"fat32", image(append(fat, put(82, "FAT32   "))...), Filesystem, "vfat", ""},
		{"exfat", image(put(3, "EXFAT   ")), Filesystem, "exfat", ""},
		{"gpt", image(mbrEntry(0, 0, 0xee, 1, 0xffffffff), bootSig, put(512, "EFI PART")), PartitionTable, "gpt", ""},
		{"dos", image(mbrEntry(0, 0x80, 0x83, 2048, 4096), mbrEntry(1, 0, 0x83, 6144, 4096), bootSig), PartitionTable, "dos", ""},
		// A boot sector with 0x55AA but no partition in use is no table.
		{"empty mbr", image(put(0, "\xfa\x31\xc0"), bootSig), Nothing, "", "no filesystem or partition table"},
		{"bad boot flag", image(mbrEntry(0, 0x12, 0x83, 2048, 4096), bootSig), Nothing, "", "no filesystem"},
		{"swap", image(put(4086, "SWAPSPACE2")), Nothing, "", "swap"},
		{"lvm pv", image(put(512, "LABELONE"), put(512+24, "LVM2 001")), Nothing, "", "LVM physical volume"},
		{"luks", image(put(0, "LUKS\xba\xbe")), Nothing, "", "LUKS"},
		{"zeros", image(), Nothing, "", "zeros"},
		{"tiny", make([]byte, 100), Nothing, "", "only 100 bytes"},
		// A short device is read as far as it goes.
		{"small ext4", image(le16(1080, 0xEF53))[:4096], Filesystem, "ext4", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Probe(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.kind || got.Type != tc.typ || !strings.Contains(got.Reason, tc.why) {
				t.Errorf("Probe = %+v, want kind %d type %q reason containing %q", got, tc.kind, tc.typ, tc.why)
			}
		})
	}
}

func TestMountData(t *testing.T) {
	for fstype, want := range map[string]string{
		"ext4": "noload", "xfs": "norecovery,nouuid", "btrfs": "rescue=nologreplay", "vfat": "", "exfat": "",
	} {
		if got := MountData(fstype); got != want {
			t.Errorf("MountData(%s) = %q, want %q", fstype, got, want)
		}
	}
}
