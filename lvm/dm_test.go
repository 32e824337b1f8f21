package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// kernelAnswer builds the buffer the kernel returns for DM_TABLE_STATUS
// (drivers/md/dm-ioctl.c: retrieve_status): the struct dm_ioctl with
// data_start at its 8-byte aligned end, then per target a struct
// dm_target_spec and its NUL-terminated status, each spec 8-byte aligned,
// "next" counted from the first spec, and data_size ending after the last
// status string.
func kernelAnswer(t *testing.T, size int, name string, dev uint64, open int32, flags uint32, targets []Target) []byte {
	t.Helper()
	buf, err := newTableStatusRequest(name, size)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	ne.PutUint32(buf[offVersion:], 4)
	ne.PutUint32(buf[offVersion+4:], 47)
	ne.PutUint64(buf[offDev:], dev)
	ne.PutUint32(buf[offOpenCount:], uint32(open))
	ne.PutUint32(buf[offEventNr:], 7)
	ne.PutUint32(buf[offTargetCount:], uint32(len(targets)))
	copy(buf[offUUID:], "LVM-abc")
	dataStart := dmIoctlSize // already a multiple of 8
	ne.PutUint32(buf[offDataStart:], uint32(dataStart))
	out := buf[dataStart:]
	off, used := 0, 0
	for _, tg := range targets {
		if len(out)-off <= dmTargetSpecSize {
			flags |= dmBufferFullFlag
			break
		}
		spec := out[off:]
		ne.PutUint64(spec[offSpecStart:], tg.Start)
		ne.PutUint64(spec[offSpecLength:], tg.Length)
		copy(spec[offSpecType:offSpecType+dmMaxTypeName], tg.Type)
		params := spec[dmTargetSpecSize:]
		if len(tg.Params)+1 >= len(params) {
			flags |= dmBufferFullFlag
			break
		}
		copy(params, tg.Params)
		params[len(tg.Params)] = 0
		end := off + dmTargetSpecSize + len(tg.Params) + 1
		used = dataStart + end
		next := (end + 7) &^ 7
		ne.PutUint32(spec[offSpecNext:], uint32(next))
		off = next
	}
	if used > 0 {
		ne.PutUint32(buf[offDataSize:], uint32(used))
	}
	ne.PutUint32(buf[offFlags:], flags)
	return buf
}

func TestIoctlLayout(t *testing.T) {
	// sizeof(struct dm_ioctl): 3*4 + 6*4 + 4 (padding) + 8 + 128 + 129 + 7.
	if got := 3*4 + 6*4 + 4 + 8 + dmNameLen + dmUUIDLen + 7; got != dmIoctlSize {
		t.Errorf("struct dm_ioctl adds up to %d bytes, dmIoctlSize is %d", got, dmIoctlSize)
	}
	if offUUID != offName+dmNameLen || offName != offDev+8 {
		t.Errorf("name at %d, uuid at %d, dev at %d", offName, offUUID, offDev)
	}
	if got := 8 + 8 + 4 + 4 + dmMaxTypeName; got != dmTargetSpecSize {
		t.Errorf("struct dm_target_spec adds up to %d bytes, want %d", got, dmTargetSpecSize)
	}
	// _IOWR(0xfd, 12, struct dm_ioctl), as strace shows DM_TABLE_STATUS.
	if want := uint32(0xc138fd0c); uint32(3<<30|dmIoctlSize<<16|dmIoctlType<<8|dmTableStatusCmd) != want {
		t.Errorf("DM_TABLE_STATUS = %#x, want %#x", 3<<30|dmIoctlSize<<16|dmIoctlType<<8|dmTableStatusCmd, want)
	}
}

func TestNewTableStatusRequest(t *testing.T) {
	buf, err := newTableStatusRequest("vg-snap1", 4096)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	if len(buf) != 4096 || ne.Uint32(buf[offDataSize:]) != 4096 {
		t.Errorf("buffer of %d bytes, data_size %d", len(buf), ne.Uint32(buf[offDataSize:]))
	}
	if v := [3]uint32{ne.Uint32(buf[0:]), ne.Uint32(buf[4:]), ne.Uint32(buf[8:])}; v != [3]uint32{4, 0, 0} {
		t.Errorf("version %v, want 4.0.0", v)
	}
	if ne.Uint32(buf[offDataStart:]) != dmIoctlSize || ne.Uint32(buf[offFlags:]) != 0 {
		t.Errorf("data_start %d, flags %#x", ne.Uint32(buf[offDataStart:]), ne.Uint32(buf[offFlags:]))
	}
	if got := cString(buf[offName : offName+dmNameLen]); got != "vg-snap1" {
		t.Errorf("name %q", got)
	}
	for _, bad := range []string{"", strings.Repeat("x", 128)} {
		if _, err := newTableStatusRequest(bad, 4096); !errors.Is(err, ErrInvalidArg) {
			t.Errorf("newTableStatusRequest(%q) = %v, want ErrInvalidArg", bad, err)
		}
	}
	if _, err := newTableStatusRequest(strings.Repeat("x", 127), 4096); err != nil {
		t.Errorf("a 127-byte name: %v", err)
	}
}

// A pooled buffer is reused for another device: what the kernel wrote into
// it last time (flags, a longer name, targets) must not reach the request.
func TestFillTableStatusRequestOverAnswer(t *testing.T) {
	used := bytes.Repeat([]byte{0xff}, 4096)
	fillTableStatusRequest(used, "vg-a")
	fresh, err := newTableStatusRequest("vg-a", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(used, fresh) {
		t.Error("a request written over a used buffer differs from a fresh one")
	}
}

func TestParseTableStatus(t *testing.T) {
	targets := []Target{
		{Start: 0, Length: 327680, Type: "snapshot", Params: "2072/16384 24"},
		{Start: 327680, Length: 8, Type: "linear", Params: ""},
		{Start: 327688, Length: 65536, Type: "thin", Params: "6144 6143"},
	}
	// 254:3, and a minor above 255 to check the kernel's huge_encode_dev.
	dev := uint64(3 | 254<<8)
	buf := kernelAnswer(t, 16384, "vg-snap1", dev, 2, dmActivePresentFlag|dmReadonlyFlag, targets)
	st, err := parseTableStatus(buf)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "vg-snap1" || st.UUID != "LVM-abc" || st.Major != 254 || st.Minor != 3 ||
		st.OpenCount != 2 || st.EventNr != 7 || !st.Live || !st.ReadOnly || st.Suspended {
		t.Errorf("device = %+v", st)
	}
	if len(st.Targets) != len(targets) {
		t.Fatalf("targets = %+v, want %+v", st.Targets, targets)
	}
	for i := range targets {
		if st.Targets[i] != targets[i] {
			t.Errorf("target %d = %+v, want %+v", i, st.Targets[i], targets[i])
		}
	}

	big := uint64(0x12345)            // minor 0x12345
	enc := big&0xff | (big&^0xff)<<12 // new_encode_dev with major 0
	enc |= 253 << 8
	st, err = parseTableStatus(kernelAnswer(t, 4096, "x", enc, 0, dmActivePresentFlag|dmSuspendFlag, targets[:1]))
	if err != nil || st.Major != 253 || st.Minor != 0x12345 || !st.Suspended {
		t.Errorf("huge dev: %+v, %v", st, err)
	}

	// A device without a live table has no targets.
	st, err = parseTableStatus(kernelAnswer(t, 4096, "x", dev, 0, 0, nil))
	if err != nil || st.Live || len(st.Targets) != 0 {
		t.Errorf("no table: %+v, %v", st, err)
	}

	// Too small a buffer: the kernel says so, and the caller retries.
	small := kernelAnswer(t, dmIoctlSize+48, "x", dev, 0, dmActivePresentFlag, targets)
	if !bufferFull(small) {
		t.Errorf("a %d-byte buffer for three targets is not reported full", len(small))
	}
	if bufferFull(buf) {
		t.Errorf("a 16 KiB buffer is reported full")
	}
}

func TestParseTableStatusCorrupt(t *testing.T) {
	good := kernelAnswer(t, 4096, "x", 0, 0, dmActivePresentFlag,
		[]Target{{Length: 8, Type: "snapshot", Params: "16/16 16"}, {Start: 8, Length: 8, Type: "linear"}})
	ne := binary.NativeEndian
	tests := []struct {
		name   string
		mangle func(b []byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:100] }},
		{"data_start past the end", func(b []byte) []byte {
			ne.PutUint32(b[offDataStart:], 1<<20)
			return b
		}},
		{"more targets than data", func(b []byte) []byte {
			ne.PutUint32(b[offTargetCount:], 50)
			return b
		}},
		{"next points back", func(b []byte) []byte {
			ne.PutUint32(b[dmIoctlSize+offSpecNext:], 0)
			return b
		}},
		{"unterminated status", func(b []byte) []byte {
			ne.PutUint32(b[offDataSize:], dmIoctlSize+dmTargetSpecSize+3)
			ne.PutUint32(b[offTargetCount:], 1)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mangle(append([]byte(nil), good...))
			if st, err := parseTableStatus(b); err == nil {
				t.Errorf("parsed %+v", st)
			}
		})
	}
}

// newTableStatusRequest builds a fresh request buffer of size bytes for
// name, as Status fills its pooled one.
func newTableStatusRequest(name string, size int) ([]byte, error) {
	if err := checkDMName(name); err != nil {
		return nil, err
	}
	if size < dmIoctlSize {
		size = dmIoctlSize
	}
	buf := make([]byte, size)
	fillTableStatusRequest(buf, name)
	return buf, nil
}

// TestParseSnapshotStatusAnswer: parseSnapshotStatus reads a snapshot's
// first target as ParseSnapshotStatus
// does, refuses any other device, and allocates nothing.
func TestParseSnapshotStatusAnswer(t *testing.T) {
	tests := []struct {
		name    string
		targets []Target
		want    SnapshotStatus
		wantErr error // nil: any error
		ok      bool
	}{
		{"in use", []Target{{Length: 8192, Type: "snapshot", Params: "2072/16384 24"}},
			SnapshotStatus{Allocated: 2072, Total: 16384, Metadata: 24, HasMetadata: true}, nil, true},
		{"invalid", []Target{{Length: 8192, Type: "snapshot", Params: "Invalid"}}, SnapshotStatus{Invalid: true}, nil, true},
		{"origin", []Target{{Length: 8192, Type: "snapshot-origin"}}, SnapshotStatus{}, ErrNotSnapshot, false},
		{"merging", []Target{{Length: 8192, Type: "snapshot-merge", Params: "16/16384 16"}}, SnapshotStatus{}, ErrNotSnapshot, false},
		{"no live table", nil, SnapshotStatus{}, ErrNotSnapshot, false},
		{"garbled", []Target{{Length: 8192, Type: "snapshot", Params: "16-16384"}}, SnapshotStatus{}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := kernelAnswer(t, 2048, "vg-s", 0, 0, dmActivePresentFlag, tt.targets)
			got, err := parseSnapshotStatus(buf)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
				}
				if len(tt.targets) == 1 {
					if want, _ := ParseSnapshotStatus(tt.targets[0].Params); got != want {
						t.Errorf("got %+v, ParseSnapshotStatus says %+v", got, want)
					}
				}
				if n := testing.AllocsPerRun(100, func() { parseSnapshotStatus(buf) }); n != 0 {
					t.Errorf("%v allocations a read", n)
				}
				return
			}
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("got %+v, %v; want an error %v", got, err, tt.wantErr)
			}
		})
	}
}
