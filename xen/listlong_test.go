package xen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// xlListLong is what `xl list -l` prints of a domain's disks.
type xlListLong []struct {
	DomID  int `json:"domid"`
	Config struct {
		Disks []struct {
			PdevPath string `json:"pdev_path"`
			Vdev     string `json:"vdev"`
		} `json:"disks"`
	} `json:"config"`
}

// The package reads blkback's entries in sysfs, not `xl list -l`. This test
// checks that choice against the JSON recorded at the same moment: every
// disk the domains were configured with, in whatever spelling, is the
// device sysfs shows for it. The JSON is read with encoding/json, both as
// Xen 4.17 printed it and as json-c prints it (Xen 4.21 and later: `\/`
// escapes, two-space indents), which must read the same.
func TestSysfsMatchesListLong(t *testing.T) {
	raw := readRecorded(t, "list-long/running.json")
	jsonc := strings.ReplaceAll(strings.ReplaceAll(raw, "/", `\/`), "    ", "  ")
	if !strings.Contains(jsonc, `"\/dev\/mapper\/xvg-web"`) {
		t.Fatal("the json-c sample has no escaped slashes")
	}
	lv := lvDevices(t)
	backends, err := ReadBackends(os.DirFS(filepath.Join(recorded, "sysfs", "running")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]int]Device{}
	for _, b := range backends {
		want[[2]int{b.DomID, b.DevID}] = b.Device
	}
	for name, text := range map[string]string{"xl 4.17": raw, "json-c": jsonc} {
		var doms xlListLong
		if err := json.Unmarshal([]byte(text), &doms); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[[2]int]Device{}
		for _, d := range doms {
			for _, disk := range d.Config.Disks {
				got[[2]int{d.DomID, vdevID(t, disk.Vdev)}] = pathDevice(t, lv, disk.PdevPath)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: xl list -l gives %v, sysfs %v", name, got, want)
		}
	}
}

// vdevID is the xenstore device ID of a PV disk name: xvda is 51712, xvdb
// 51728 (major 202, 16 minors per disk).
func vdevID(t *testing.T, vdev string) int {
	t.Helper()
	if len(vdev) != 4 || !strings.HasPrefix(vdev, "xvd") {
		t.Fatalf("vdev %q", vdev)
	}
	return 202<<8 | int(vdev[3]-'a')<<4
}

// pathDevice resolves a disk path as recorded (the test VM's VG was xvg;
// testdata/xen/devices has its LVs' numbers) to a device number.
func pathDevice(t *testing.T, lv map[string]Device, path string) Device {
	t.Helper()
	switch {
	case strings.HasPrefix(path, "/dev/xvg/"):
		return lv[strings.TrimPrefix(path, "/dev/xvg/")]
	case strings.HasPrefix(path, "/dev/mapper/xvg-"):
		return lv[strings.ReplaceAll(strings.TrimPrefix(path, "/dev/mapper/xvg-"), "--", "-")]
	case strings.HasPrefix(path, "/dev/dm-"):
		minor, err := strconv.Atoi(strings.TrimPrefix(path, "/dev/dm-"))
		if err != nil {
			t.Fatal(err)
		}
		return Device{254, minor}
	}
	t.Fatalf("disk path %q", path)
	return Device{}
}
