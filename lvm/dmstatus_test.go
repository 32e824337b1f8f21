package lvm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseSnapshotStatus(t *testing.T) {
	tests := []struct {
		in       string
		want     SnapshotStatus
		pct      string
		progress string
	}{
		{"16/16384 16", SnapshotStatus{Allocated: 16, Total: 16384, Metadata: 16, HasMetadata: true}, "0.00", "100.00"},
		{"2072/16384 24", SnapshotStatus{Allocated: 2072, Total: 16384, Metadata: 24, HasMetadata: true}, "12.65", "87.35"},
		{"24/335872 16", SnapshotStatus{Allocated: 24, Total: 335872, Metadata: 16, HasMetadata: true}, "0.01", "99.99"},
		{"16384/16384 32", SnapshotStatus{Allocated: 16384, Total: 16384, Metadata: 32, HasMetadata: true}, "100.00", "0.00"},
		{"100/16384", SnapshotStatus{Allocated: 100, Total: 16384}, "0.61", "99.39"}, // kernels before metadata was reported
		{"Invalid", SnapshotStatus{Invalid: true}, "100.00", ""},
		{"Overflow", SnapshotStatus{Overflow: true}, "100.00", "0.00"},
		{"Merge failed", SnapshotStatus{MergeFailed: true}, "", ""},
		{"Unknown", SnapshotStatus{Unknown: true}, "", ""},
		{" 16/16384 16 \n", SnapshotStatus{Allocated: 16, Total: 16384, Metadata: 16, HasMetadata: true}, "0.00", "100.00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSnapshotStatus(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseSnapshotStatus(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if p := got.Percent().String(); p != tt.pct {
				t.Errorf("Percent() = %q, want %q", p, tt.pct)
			}
			if p := got.MergeProgress().String(); p != tt.progress {
				t.Errorf("MergeProgress() = %q, want %q", p, tt.progress)
			}
		})
	}
	for _, bad := range []string{"", "x", "1/x 2", "1/2 x", "12", "-1/2 3"} {
		if _, err := ParseSnapshotStatus(bad); err == nil {
			t.Errorf("ParseSnapshotStatus(%q) succeeded", bad)
		}
	}
	if got := (SnapshotStatus{Allocated: 3}).UsedBytes(); got != 1536 {
		t.Errorf("UsedBytes() = %d", got)
	}
}

func TestParseThinStatus(t *testing.T) {
	tests := []struct {
		in   string
		want ThinStatus
	}{
		{"6144 6143", ThinStatus{Mapped: 6144, HighestMapped: 6143, HasHighest: true}},
		{"0 -", ThinStatus{}},
		{"-", ThinStatus{NoDevice: true}},
		{"Fail", ThinStatus{Fail: true}},
		{"Error", ThinStatus{Error: true}},
		// Later kernels may add fields; the first two keep their meaning.
		{"8192 43007 extra", ThinStatus{Mapped: 8192, HighestMapped: 43007, HasHighest: true}},
	}
	for _, tt := range tests {
		got, err := ParseThinStatus(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseThinStatus(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "12", "x y", "1 x"} {
		if _, err := ParseThinStatus(bad); err == nil {
			t.Errorf("ParseThinStatus(%q) succeeded", bad)
		}
	}

	mib := uint64(1 << 20)
	percents := []struct {
		status      ThinStatus
		size, chunk uint64
		want        string
	}{
		{ThinStatus{Mapped: 4096}, 5 * mib, 2 * mib, "33.33"}, // 5 MiB rounds up to 6 MiB of 2 MiB chunks
		{ThinStatus{Mapped: 4096}, 5 * mib, 0, "40.00"},
		{ThinStatus{Mapped: 6144}, 32 * mib, 64 << 10, "9.38"},
		{ThinStatus{}, 8 * mib, 64 << 10, "0.00"},
		{ThinStatus{NoDevice: true}, 8 * mib, 64 << 10, "0.00"},
		{ThinStatus{Mapped: 99999}, 8 * mib, 64 << 10, "100.00"}, // more than the size: shown as full
		{ThinStatus{Fail: true}, 8 * mib, 64 << 10, ""},
		{ThinStatus{Mapped: 1}, 0, 64 << 10, ""},
	}
	for _, tt := range percents {
		if got := tt.status.Percent(tt.size, tt.chunk).String(); got != tt.want {
			t.Errorf("%+v.Percent(%d, %d) = %q, want %q", tt.status, tt.size, tt.chunk, got, tt.want)
		}
	}
}

// parseNamePrefixes parses one line of `lvs --nameprefixes`:
// LVM2_KEY='value' ..., into KEY: value.
func parseNamePrefixes(t *testing.T, line string) map[string]string {
	t.Helper()
	fields := make(map[string]string)
	s := strings.TrimSpace(line)
	for s != "" {
		key, rest, ok := strings.Cut(s, "='")
		if !ok {
			t.Fatalf("cannot parse %q", s)
		}
		val, rest, ok := strings.Cut(rest, "'")
		if !ok {
			t.Fatalf("unterminated value in %q", s)
		}
		fields[strings.TrimPrefix(key, "LVM2_")] = val
		s = strings.TrimSpace(rest)
	}
	return fields
}

// lvsLines parses the lines `lvs --nameprefixes` printed, one map per LV.
func lvsLines(t *testing.T, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) != "" {
			rows = append(rows, parseNamePrefixes(t, line))
		}
	}
	return rows
}

// TestStatusPercentMatchesLVS checks, on every status line recorded from the
// kernel, that Percent prints what lvs printed for the same LV at the same
// moment.
func TestStatusPercentMatchesLVS(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testdataDir, "dm", "*.status"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recorded status lines in %s: %v", testdataDir, err)
	}
	// Thin pool chunk sizes of the recording (testdata/record-lvm.sh).
	poolChunk := map[string]uint64{"pool": 64 << 10, "pool2": 2 << 20}
	checked := map[string]bool{}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".status")
		t.Run(name, func(t *testing.T) {
			line, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := strings.SplitN(strings.TrimSpace(string(line)), " ", 4)
			if len(f) < 3 {
				t.Fatalf("status line %q", line)
			}
			params := ""
			if len(f) == 4 {
				params = f[3]
			}
			rows := lvsLines(t, strings.TrimSuffix(path, ".status")+".lvs")
			if len(rows) != 1 {
				t.Fatalf("lvs printed %d lines", len(rows))
			}
			lvs := rows[0]
			var got Percent
			switch f[2] {
			case "snapshot", "snapshot-merge":
				st, err := ParseSnapshotStatus(params)
				if err != nil {
					t.Fatal(err)
				}
				got = st.Percent()
				checked[f[2]] = true
			case "thin":
				st, err := ParseThinStatus(params)
				if err != nil {
					t.Fatal(err)
				}
				size, err := strconv.ParseUint(lvs["LV_SIZE"], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				got = st.Percent(size, poolChunk[lvs["POOL_LV"]])
				checked[f[2]] = true
			default:
				// snapshot-origin, thin-pool: recorded for reference.
				return
			}
			if want := lvs["SNAP_PERCENT"]; got.String() != want {
				t.Errorf("status %q: Percent = %q, lvs printed Snap%% %q", params, got, want)
			}
		})
	}
	for _, target := range []string{"snapshot", "snapshot-merge", "thin"} {
		if !checked[target] {
			t.Errorf("no recorded %s status", target)
		}
	}
}

// tables is a TableStatuser over fixed statuses.
type tables map[string][]Target

func (t tables) TableStatus(name string) ([]Target, error) {
	targets, ok := t[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return targets, nil
}

// ownSnapshotStatus is a TableStatuser with a SnapshotStatus of its own.
type ownSnapshotStatus struct {
	tables
	st SnapshotStatus
}

func (o ownSnapshotStatus) SnapshotStatus(string) (SnapshotStatus, error) { return o.st, nil }

// ReadSnapshotStatus reads from TableStatus what DeviceMapper.SnapshotStatus
// reads (TestGuestDeviceMapper checks the two against real device-mapper),
// and uses a SnapshotStatus of the device-mapper's own where it has one.
func TestReadSnapshotStatus(t *testing.T) {
	dm := tables{
		"vg-snap":   {{Length: 16384, Type: "snapshot", Params: "2072/16384 24"}},
		"vg-origin": {{Length: 16384, Type: "snapshot-origin"}},
		"vg-empty":  nil,
	}
	st, err := ReadSnapshotStatus(dm, "vg-snap")
	if want := (SnapshotStatus{Allocated: 2072, Total: 16384, Metadata: 24, HasMetadata: true}); err != nil || st != want {
		t.Errorf("vg-snap: %+v, %v; want %+v", st, err, want)
	}
	for name, want := range map[string]error{"vg-origin": ErrNotSnapshot, "vg-empty": ErrNotSnapshot, "vg-gone": ErrNotFound} {
		if _, err := ReadSnapshotStatus(dm, name); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	own := ownSnapshotStatus{tables: dm, st: SnapshotStatus{Allocated: 1, Total: 2}}
	if st, err := ReadSnapshotStatus(own, "vg-snap"); err != nil || st != own.st {
		t.Errorf("with a SnapshotStatus of its own: %+v, %v; want %+v", st, err, own.st)
	}
}
