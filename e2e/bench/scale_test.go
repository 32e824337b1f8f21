package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var testPoints = []scalePoint{
	{lvs: 100, entries: 712, cold: 900 * time.Millisecond, warm: 700 * time.Millisecond, rssKB: 20 << 10,
		mkdir: 800 * time.Millisecond, lvcreate: 1000 * time.Millisecond, rounds: 3},
	{lvs: 1000, entries: 7019, cold: 9 * time.Second, warm: 7 * time.Second, rssKB: 30 << 10,
		mkdir: 1700 * time.Millisecond, lvcreate: 2000 * time.Millisecond, rounds: 3},
}

func TestScaleTable(t *testing.T) {
	table := scaleTable(testPoints, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{
		`(?m)^snapfs bench, scaling, 2026-12-07: 100, 1000 LVs \(half of them snapshots\), 3 rounds, medians$`,
		`(?m)^\| LVs \| entries \| walk, cold \| walk, warm \| RSS \| mkdir V/O/s \| lvcreate -s \| mkdir / lvcreate -s \|$`,
		`(?m)^\| 100 \| 712 \| 1\.26 ms/entry \| 0\.98 ms/entry \| 21\.0 MB \| 800\.0 ms \| 1000\.0 ms \| 0\.800 \|$`,
		`(?m)^\| 1000 \| 7019 \| 1\.28 ms/entry \| 1\.00 ms/entry \| 31\.5 MB \| 1700\.0 ms \| 2000\.0 ms \| 0\.850 \|$`,
	} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("the table lacks %s:\n%s", want, table)
		}
	}
}

func TestWritePlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scale.png")
	if err := writePlot(testPoints, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 427 {
		t.Errorf("the plot is %dx%d pixels, want 1280x427 (960x320 points at 96 dpi)", b.Dx(), b.Dy())
	}
	if err := writePlot(nil, path); err == nil {
		t.Error("a plot of no points was drawn")
	}
}

func TestTraceLines(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 500_400_000, time.UTC)
	log := strings.Join([]string{
		`time=2026-12-07T10:00:00.499Z level=DEBUG msg="rx 3: LOOKUP n1 [\"bench\"] 6b"`,
		`time=2026-12-07T10:00:00.500Z level=INFO msg=stats lvm_processes=0 lvm_shell_commands=4`,
		`time=2026-12-07T10:00:00.541Z level=DEBUG msg="rx 5: LOOKUP n1 [\"bench\"] 6b"`,
		`time=2026-12-07T10:00:01.702Z level=DEBUG msg=command argv="lvm lvcreate --snapshot --name t1" duration=1.1s err=<nil>`,
		`not a log line`,
		``,
	}, "\n")
	got := traceLines([]byte(log), start, start)
	want := []string{
		`    40 ms  rx 5: LOOKUP n1 ["bench"] 6b`,
		`  1201 ms  command argv="lvm lvcreate --snapshot --name t1" duration=1.1s err=<nil>`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("traceLines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// From a moment before start (the change by hand): earlier lines too,
	// with negative times.
	got = traceLines([]byte(log), start.Add(-2*time.Millisecond), start)
	want = append([]string{`    -1 ms  rx 3: LOOKUP n1 ["bench"] 6b`}, want...)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("traceLines from before start:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
