package xen

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The files in testdata/xen were recorded in dom0 of a real Xen 4.17 host
// by testdata/record-xen.sh (see testdata/README).
const recorded = "../testdata/xen"

const long = "a-domain-whose-name-is-longer-than-forty-characters"

func readRecorded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(recorded, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lvDevices reads testdata/xen/devices: the LVs and their device numbers.
func lvDevices(t *testing.T) map[string]Device {
	t.Helper()
	devs := map[string]Device{}
	sc := bufio.NewScanner(strings.NewReader(readRecorded(t, "devices")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		major, _ := strconv.Atoi(f[1])
		minor, _ := strconv.Atoi(f[2])
		devs[f[0]] = Device{major, minor}
	}
	return devs
}

func TestParseListRecorded(t *testing.T) {
	dom0 := "Domain-0 0 running"
	tests := map[string][]string{
		"empty":     {dom0},
		"running":   {dom0, "clone1 1 blocked", long + " 2 blocked", "off 3 shutdown"},
		"paused":    {dom0, "clone1 1 paused", long + " 2 blocked", "off 3 shutdown"},
		"destroyed": {dom0},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(recorded, "list", name+".out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			doms, err := ParseList(f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range doms {
				got = append(got, d.Name+" "+strconv.Itoa(d.ID)+" "+d.State)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
	// xl list NAME prints the header and that one row.
	doms, err := ParseList(strings.NewReader(readRecorded(t, "commands/list-one.stdout")))
	if err != nil || len(doms) != 1 || doms[0].Name != "clone1" || doms[0].Flags != "-b----" {
		t.Errorf("xl list clone1: %+v, %v", doms, err)
	}
}

// The backends in sysfs name the same devices as xenstore's physical-device
// entries, whatever spelling of the path the domain was configured with
// (xenstore's params, xl list -l's pdev_path).
func TestReadBackendsRecorded(t *testing.T) {
	lv := lvDevices(t)
	got, err := ReadBackends(os.DirFS(filepath.Join(recorded, "sysfs", "running")))
	if err != nil {
		t.Fatal(err)
	}
	want := []Backend{
		{1, 51712, lv["clone1"]}, // /dev/xvg/clone1
		{1, 51728, lv["data"]},   // /dev/dm-N
		{2, 51712, lv["web"]},    // /dev/mapper/xvg-web
		{3, 51712, lv["offdisk"]},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}

	// xenstore-ls -f .../backend/vbd at the same moment.
	entry := regexp.MustCompile(`^/local/domain/0/backend/vbd/(\d+)/(\d+)/(params|physical-device) = "(.*)"$`)
	params := map[string]string{}
	var fromXenstore []Backend
	for _, line := range strings.Split(readRecorded(t, "xenstore/running.out"), "\n") {
		m := entry.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dom, _ := strconv.Atoi(m[1])
		dev, _ := strconv.Atoi(m[2])
		if m[3] == "params" {
			params[m[1]+"/"+m[2]] = m[4]
			continue
		}
		d, err := ParsePhysicalDevice(strings.NewReader(m[4]))
		if err != nil {
			t.Fatal(err)
		}
		fromXenstore = append(fromXenstore, Backend{dom, dev, d})
	}
	if !reflect.DeepEqual(fromXenstore, got) {
		t.Errorf("xenstore says %v, sysfs %v", fromXenstore, got)
	}
	for key, path := range map[string]string{"1/51712": "/dev/xvg/clone1", "2/51712": "/dev/mapper/xvg-web", "3/51712": "/dev/xvg/offdisk"} {
		if params[key] != path {
			t.Errorf("params of %s = %q, want %q", key, params[key], path)
		}
	}
	if !strings.HasPrefix(params["1/51728"], "/dev/dm-") {
		t.Errorf("params of 1/51728 = %q, want /dev/dm-N", params["1/51728"])
	}

	// Destroyed domains leave no backends.
	if got, err := ReadBackends(os.DirFS(filepath.Join(recorded, "sysfs", "destroyed"))); err != nil || len(got) != 0 {
		t.Errorf("after xl destroy: %v, %v", got, err)
	}
}

// A Client over the recorded xl list and sysfs finds each domain by any
// spelling of its disks.
func TestClientRecorded(t *testing.T) {
	lv := lvDevices(t)
	for _, tc := range []struct {
		snapshot string
		lv       string
		want     string
	}{
		{"running", "clone1", "clone1 blocked"},
		{"running", "data", "clone1 blocked"},
		{"running", "web", long + " blocked"},
		{"running", "offdisk", "off shutdown"},
		{"running", "base", ""},
		{"paused", "clone1", "clone1 paused"},
		{"destroyed", "clone1", ""},
	} {
		r := &fakeRunner{out: map[string]string{"xl list": readRecorded(t, "list/"+tc.snapshot+".out")}}
		c := NewClient(r, "xl", os.DirFS(filepath.Join(recorded, "sysfs", tc.snapshot)), time.Hour)
		doms, err := c.Using(context.Background(), lv[tc.lv])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range doms {
			got = append(got, d.Name+" "+d.State)
		}
		if strings.Join(got, ", ") != tc.want {
			t.Errorf("%s: domains using %s = %q, want %q", tc.snapshot, tc.lv, got, tc.want)
		}
	}
}

// ExecRunner judges xl's recorded answers rightly: xl pause and unpause
// exit 0 after some failures, which only standard error tells.
func TestExecRunnerRecorded(t *testing.T) {
	tests := []struct {
		name string
		kind error // nil: success
	}{
		{"pause-name", nil},
		{"pause-paused", nil}, // Xen counts pauses
		{"unpause-name", nil},
		{"unpause-name-again", nil},
		{"unpause-not-paused", ErrFailed},
		{"pause-unknown-name", ErrNoSuchDomain},
		{"pause-unknown-id", ErrFailed},
		{"unpause-unknown-id", ErrFailed},
		{"list-unknown", ErrNoSuchDomain},
		{"domid-unknown", ErrFailed},
		{"list-one", nil},
	}
	r := &ExecRunner{Timeout: 10 * time.Second}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join(recorded, "commands"))
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Join(dir, tc.name)
			code := strings.TrimSpace(readRecorded(t, "commands/"+tc.name+".exit"))
			// Replay the recording: its output, its message, its status.
			out, err := r.Run(context.Background(), "sh", "-c", `cat "$1.stdout"; cat "$1.stderr" >&2; exit "$2"`, "replay", base, code)
			switch {
			case tc.kind == nil && err != nil:
				t.Errorf("failed: %v", err)
			case tc.kind != nil && !errors.Is(err, tc.kind):
				t.Errorf("err = %v, want %v", err, tc.kind)
			case tc.kind == nil && string(out) != readRecorded(t, "commands/"+tc.name+".stdout"):
				t.Errorf("stdout %q", out)
			}
		})
	}
}
