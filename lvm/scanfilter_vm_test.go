//go:build vmguest

package lvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGuestScanFilter: the kernel's device listing is dmsetup's; the filter
// Remove gives lvremove makes real LVM reject the LVs' devices (it says so
// at -vvvv) and no other device, and leaves the VG's metadata whole; the
// report is the same with it as without, and lvextend, lvchange
// --addtag/--deltag, lvrename and a merge do their work with it; there
// is none while the administrator has a global_filter of their own (in
// lvmlocal.conf, read again once it changes) or while a device that is
// not LVM's bears a name of the VG's LVs, and lvcreate then names the VG's
// PVs instead.
func TestGuestScanFilter(t *testing.T) {
	vmSetup(t)
	ctx := context.Background()
	vmRun(t, "lvcreate", "--quiet", "-L", "8M", "-n", "o", vmVG)
	vmRun(t, "lvcreate", "--quiet", "-s", "-L", "8M", "-n", "s", vmVG+"/o")

	dm, err := OpenDeviceMapper()
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	devs, err := dm.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range devs {
		got[d.Name] = d.UUID
	}
	out := strings.TrimSpace(vmRun(t, "dmsetup", "info", "-c", "--noheadings", "--separator", " ", "-o", "name,uuid"))
	want := strings.Split(out, "\n")
	if len(want) != len(devs) {
		t.Errorf("listed %d devices, dmsetup %d:\n%+v\n%s", len(devs), len(want), devs, out)
	}
	for _, line := range want {
		name, uuid, _ := strings.Cut(line, " ")
		if u, ok := got[name]; !ok || u != uuid {
			t.Errorf("dmsetup: %s %s; listed: %q (listed: %v)", name, uuid, u, ok)
		}
	}
	if !strings.HasPrefix(got["snapfs--vm-s-cow"], "LVM-") {
		t.Errorf("no LVM UUID listed for snapfs--vm-s-cow: %+v", devs)
	}

	local := filepath.Join(DefaultConfigDir(), "lvmlocal.conf")
	if err := os.WriteFile(local, []byte("devices {\n\tglobal_filter = [ \"r|^/dev/snapfs-nonexistent$|\", \"a|.*|\" ]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(local) })
	c := NewClient(&ExecRunner{}, "")
	c.LVDevices = dm.List
	if err := c.ReadScanSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg := c.scanFilter(ctx); cfg != "" {
		t.Errorf("filter with a global_filter of the administrator's: %s", cfg)
	}
	// Without a filter, lvcreate names the VG's PVs instead (a process
	// of its own); a list without one of them is refused and the plain
	// command runs.
	pv := strings.TrimSpace(vmRun(t, "pvs", "--noheadings", "-o", "pv_name", "-S", "vg_name="+vmVG))
	for _, devs := range [][]string{{pv}, {"/dev/null"}} {
		c.Devices = func(string) []string { return devs }
		if err := c.CreateSnapshot(ctx, vmVG, "o", "d", SizeSpec{Size: "8M"}); err != nil {
			t.Fatalf("lvcreate given %q: %v", devs, err)
		}
		if origin := lvsField(t, "origin", "d"); origin != "o" {
			t.Errorf("lvcreate given %q: origin of d %q", devs, origin)
		}
		vmRun(t, "lvremove", "--yes", vmVG+"/d")
	}
	c.Devices = nil
	os.Remove(local)
	cfg := c.scanFilter(ctx)
	if want := `devices/global_filter=["r|^/dev/mapper/snapfs--vm-[^-]|"]`; cfg != want {
		t.Fatalf("filter:\n got %s\nwant %s", cfg, want)
	}

	// LVM rejects the four devices (o, o-real, s, s-cow) by the
	// filter, and none without it; it still finds the VG's PV.
	skipped := func(args ...string) int {
		cmd := exec.Command("lvm", append([]string{"lvs", "-vvvv"}, args...)...)
		cmd.Env = append(os.Environ(), lvmEnv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v", cmd.Args, err)
		}
		return strings.Count(string(out), "Skipping (regex)")
	}
	if n := skipped("--config", cfg, vmVG); n < 4 {
		t.Errorf("lvs with the filter: %d devices skipped by regex, want the LVs' 4 at least", n)
	}
	if n := skipped(vmVG); n != 0 {
		t.Errorf("lvs without it: %d devices skipped by regex, want none", n)
	}
	if pvs := vmRun(t, "pvs", "--config", cfg, "--noheadings", "-o", "vg_name"); strings.TrimSpace(pvs) != vmVG {
		t.Errorf("pvs with the filter: %q, want the PV of %s", pvs, vmVG)
	}

	// The report and every other command that changes an LV, with the
	// filter: the same report as without, and each command's effect.
	plain, err := NewClient(&ExecRunner{}, "").Report(ctx, []string{vmVG})
	if err != nil {
		t.Fatal(err)
	}
	filtered, err := c.Report(ctx, []string{vmVG})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(filtered, plain) {
		t.Errorf("report with the filter:\n%+v\nwithout:\n%+v", filtered, plain)
	}
	if err := c.Extend(ctx, vmVG, "s", "4M"); err != nil {
		t.Fatal(err)
	}
	if size := lvsField(t, "lv_size", "s"); size != "12.00m" {
		t.Errorf("size of s after lvextend by 4M: %q, want 12.00m", size)
	}
	if err := c.AddTag(ctx, vmVG, "s", "snapfs_hold"); err != nil {
		t.Fatal(err)
	}
	if tags := lvsField(t, "lv_tags", "s"); tags != "snapfs_hold" {
		t.Errorf("tags of s: %q", tags)
	}
	if err := c.DelTag(ctx, vmVG, "s", "snapfs_hold"); err != nil {
		t.Fatal(err)
	}
	if tags := lvsField(t, "lv_tags", "s"); tags != "" {
		t.Errorf("tags of s after --deltag: %q", tags)
	}
	if err := c.Rename(ctx, vmVG, "s", "s1"); err != nil {
		t.Fatal(err)
	}
	if origin := lvsField(t, "origin", "s1"); origin != "o" {
		t.Errorf("origin of s1 after the rename: %q", origin)
	}
	vmRun(t, "lvcreate", "--quiet", "-s", "-L", "8M", "-n", "m", vmVG+"/o")
	if err := c.Merge(ctx, vmVG, "m"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "m")
	vmRun(t, "vgck", vmVG)

	if err := c.Remove(ctx, vmVG, "s1"); err != nil {
		t.Fatal(err)
	}
	if lvs := strings.Fields(vmRun(t, "lvs", "--noheadings", "-o", "lv_name", vmVG)); len(lvs) != 1 || lvs[0] != "o" {
		t.Errorf("LVs after the removal: %q, want o alone", lvs)
	}
	vmRun(t, "vgck", vmVG)

	// A device that is not LVM's, named as an LV of the VG would be.
	vmRun(t, "dmsetup", "create", "snapfs--vm-crypt", "--table", "0 8 zero")
	t.Cleanup(func() { exec.Command("dmsetup", "remove", "snapfs--vm-crypt").Run() })
	if cfg := c.scanFilter(ctx); cfg != "" {
		t.Errorf("filter with snapfs--vm-crypt there: %s", cfg)
	}
	vmRun(t, "lvcreate", "--quiet", "-s", "-L", "8M", "-n", "s2", vmVG+"/o")
	if err := c.Remove(ctx, vmVG, "s2"); err != nil {
		t.Fatal(err)
	}
	vmRun(t, "vgck", vmVG)
}

// waitGone waits up to a minute for LV lv of the test VG to be gone, as a
// merged snapshot is once LVM's poller has finished.
func waitGone(t *testing.T, lv string) {
	t.Helper()
	for range 120 {
		if !slices.Contains(strings.Fields(vmRun(t, "lvs", "--noheadings", "-o", "lv_name", vmVG)), lv) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s/%s still there a minute after the merge began", vmVG, lv)
}
