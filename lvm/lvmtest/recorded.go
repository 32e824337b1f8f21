package lvmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
)

// RecordedDir is where reports recorded from real LVM are kept, as seen from
// a package directory of this module.
var RecordedDir = filepath.Join("..", "testdata", "lvm", "report")

// Recorded loads the report NAME.json recorded from real LVM in
// RecordedDir, with the `dmsetup status` taken at the same moment
// (NAME.dmsetup) served as device-mapper.
func Recorded(t testing.TB, name string) (*lvm.Report, *DM) {
	t.Helper()
	f, err := os.Open(filepath.Join(RecordedDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := lvm.ParseReport(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	dm := &DM{Tables: map[string][]lvm.Target{}}
	status, err := os.ReadFile(filepath.Join(RecordedDir, name+".dmsetup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(status)), "\n") {
		dev, rest, _ := strings.Cut(line, ": ")
		fields := strings.SplitN(rest, " ", 4)
		if len(fields) < 3 {
			t.Fatalf("dmsetup line %q", line)
		}
		params := ""
		if len(fields) == 4 {
			params = strings.TrimSpace(fields[3])
		}
		dm.Tables[dev] = append(dm.Tables[dev], lvm.Target{Type: fields[2], Params: params})
	}
	return r, dm
}
