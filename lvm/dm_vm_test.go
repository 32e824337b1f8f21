//go:build vmguest

// These tests need real device-mapper and LVM, as root: they run inside the
// test VM and fail anywhere else.
//
//	go test -c -tags vmguest -o .build/lvm-vm.test ./lvm
//	e2e/vm/run -- .build/lvm-vm.test -test.v

package lvm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vmVG is the volume group the tests make; its hyphen makes device-mapper
// names double it.
const vmVG = "snapfs-vm"

func vmRun(t *testing.T, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), lvmEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%q: %v\n%s", argv, err, out)
	}
	return string(out)
}

// vmSetup makes the volume group on a loop file and removes it when the
// test ends.
func vmSetup(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(dmControl); err != nil {
		t.Fatalf("no device-mapper here (%v): run this test in the VM", err)
	}
	img := filepath.Join(t.TempDir(), "pv.img")
	vmRun(t, "truncate", "-s", "400M", img)
	loop := strings.TrimSpace(vmRun(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() {
		exec.Command("vgremove", "--yes", "--force", vmVG).Run()
		exec.Command("losetup", "-d", loop).Run()
	})
	vmRun(t, "pvcreate", "--quiet", loop)
	vmRun(t, "vgcreate", "--quiet", vmVG, loop)
}

func vmWrite(t *testing.T, lv string, mib, seekMiB int) {
	t.Helper()
	vmRun(t, "dd", "if=/dev/zero", "of=/dev/"+vmVG+"/"+lv, "bs=1M",
		"count="+strconv.Itoa(mib), "seek="+strconv.Itoa(seekMiB), "oflag=direct", "status=none")
}

// dmsetupStatus returns the targets `dmsetup status NAME` prints.
func dmsetupStatus(t *testing.T, name string) []Target {
	t.Helper()
	var targets []Target
	for _, line := range strings.Split(strings.TrimSpace(vmRun(t, "dmsetup", "status", name)), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 {
			t.Fatalf("dmsetup status %s: %q", name, line)
		}
		tg := Target{Type: f[2]}
		tg.Start = parseU(t, f[0])
		tg.Length = parseU(t, f[1])
		if len(f) == 4 {
			// dmsetup prints the status after one space, and a
			// trailing space for targets without one.
			tg.Params = strings.TrimRight(f[3], " ")
		}
		targets = append(targets, tg)
	}
	return targets
}

func parseU(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func lvsField(t *testing.T, field, lv string) string {
	t.Helper()
	return strings.TrimSpace(vmRun(t, "lvs", "--noheadings", "-o", field, vmVG+"/"+lv))
}

func sameTargets(t *testing.T, name string, got, want []Target) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: ioctl %+v, dmsetup %+v", name, got, want)
	}
	for i := range got {
		if got[i].Start != want[i].Start || got[i].Length != want[i].Length ||
			got[i].Type != want[i].Type || strings.TrimRight(got[i].Params, " ") != want[i].Params {
			t.Errorf("%s target %d: ioctl %+v, dmsetup %+v", name, i, got[i], want[i])
		}
	}
}

func TestGuestDeviceMapper(t *testing.T) {
	vmSetup(t)
	vmRun(t, "lvcreate", "--quiet", "--size", "64M", "--name", "my-origin", vmVG)
	vmRun(t, "lvcreate", "--quiet", "--snapshot", "--size", "16M", "--name", "my-snap", vmVG+"/my-origin")
	vmRun(t, "lvcreate", "--quiet", "--size", "200M", "--snapshot", "--name", "big", vmVG+"/my-origin")
	vmRun(t, "lvcreate", "--quiet", "--size", "32M", "--type", "thin-pool", "--name", "pool", vmVG)
	vmRun(t, "lvcreate", "--quiet", "--virtualsize", "20M", "--thinpool", "pool", "--name", "thin", vmVG)
	vmWrite(t, "my-origin", 3, 1)
	vmWrite(t, "thin", 5, 0)

	dm, err := OpenDeviceMapper()
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()

	for _, lv := range []string{"my-snap", "big", "my-origin", "thin", "pool"} {
		name := DMName(vmVG, lv)
		got, err := dm.TableStatus(name)
		if err != nil {
			t.Fatalf("TableStatus(%s): %v", name, err)
		}
		sameTargets(t, name, got, dmsetupStatus(t, name))
	}

	// The snapshot's Snap%, from the kernel, as lvs prints it.
	for _, lv := range []string{"my-snap", "big"} {
		targets, err := dm.TableStatus(DMName(vmVG, lv))
		if err != nil || len(targets) != 1 || targets[0].Type != "snapshot" {
			t.Fatalf("%s: %+v, %v", lv, targets, err)
		}
		st, err := ParseSnapshotStatus(targets[0].Params)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Percent().String(), lvsField(t, "snap_percent", lv); got != want {
			t.Errorf("%s: Percent() = %s, lvs says %s (status %q)", lv, got, want, targets[0].Params)
		}
	}

	// SnapshotStatus reads the same, with one ioctl and no garbage; any
	// other device is not a snapshot.
	for _, lv := range []string{"my-snap", "big"} {
		name := DMName(vmVG, lv)
		targets, err := dm.TableStatus(name)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ParseSnapshotStatus(targets[0].Params)
		if got, err := dm.SnapshotStatus(name); err != nil || got != want {
			t.Errorf("SnapshotStatus(%s) = %+v, %v; TableStatus says %+v", name, got, err, want)
		}
		if n := testing.AllocsPerRun(100, func() { dm.SnapshotStatus(name) }); n != 0 {
			t.Errorf("SnapshotStatus(%s): %v allocations a read", name, n)
		}
	}
	for _, lv := range []string{"my-origin", "thin", "pool"} {
		if st, err := dm.SnapshotStatus(DMName(vmVG, lv)); !errors.Is(err, ErrNotSnapshot) {
			t.Errorf("SnapshotStatus(%s) = %+v, %v; want ErrNotSnapshot", lv, st, err)
		}
	}
	if _, err := dm.SnapshotStatus(DMName(vmVG, "nosuch")); !errors.Is(err, ErrNotFound) {
		t.Errorf("SnapshotStatus of a missing device: %v, want ErrNotFound", err)
	}

	// The thin volume's Data%, given its size and its pool's chunk size.
	targets, err := dm.TableStatus(DMName(vmVG, "thin"))
	if err != nil || len(targets) != 1 || targets[0].Type != "thin" {
		t.Fatalf("thin: %+v, %v", targets, err)
	}
	st, err := ParseThinStatus(targets[0].Params)
	if err != nil {
		t.Fatal(err)
	}
	size := parseU(t, strings.TrimSpace(vmRun(t, "lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_size", vmVG+"/thin")))
	chunk := parseU(t, strings.TrimSpace(vmRun(t, "lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "chunk_size", vmVG+"/pool")))
	if got, want := st.Percent(size, chunk).String(), lvsField(t, "data_percent", "thin"); got != want {
		t.Errorf("thin: Percent() = %s, lvs says %s (status %q)", got, want, targets[0].Params)
	}

	full, err := dm.Status(DMName(vmVG, "my-snap"))
	if err != nil {
		t.Fatal(err)
	}
	if !full.Live || full.Major == 0 || !strings.HasPrefix(full.UUID, "LVM-") || full.Name != DMName(vmVG, "my-snap") {
		t.Errorf("Status = %+v", full)
	}
	if kmin := lvsField(t, "lv_kernel_minor", "my-snap"); kmin != strconv.Itoa(int(full.Minor)) {
		t.Errorf("minor %d, lvs says %s", full.Minor, kmin)
	}

	// A table of 100 targets answers in more than the first buffer holds
	// (2 KiB): the buffer grows until the kernel no longer says it full.
	origin := "/dev/mapper/" + DMName(vmVG, "my-origin")
	var table strings.Builder
	for i := 0; i < 100; i++ {
		table.WriteString(strconv.Itoa(i*8) + " 8 linear " + origin + " " + strconv.Itoa(i*8) + "\n")
	}
	create := exec.Command("dmsetup", "create", "snapfs-vm-many")
	create.Stdin = strings.NewReader(table.String())
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("dmsetup create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("dmsetup", "remove", "snapfs-vm-many").Run() })
	many, err := dm.TableStatus("snapfs-vm-many")
	if err != nil || len(many) != 100 {
		t.Fatalf("TableStatus of 100 targets: %d targets, %v", len(many), err)
	}
	sameTargets(t, "snapfs-vm-many", many, dmsetupStatus(t, "snapfs-vm-many"))

	if _, err := dm.TableStatus(DMName(vmVG, "nosuch")); !errors.Is(err, ErrNotFound) {
		t.Errorf("TableStatus of a missing device: %v, want ErrNotFound", err)
	}
}

func TestGuestReport(t *testing.T) {
	vmSetup(t)
	vmRun(t, "lvcreate", "--quiet", "--size", "32M", "--name", "origin", vmVG)
	runner := &ExecRunner{}
	c := NewClient(runner, "")
	ctx := context.Background()

	if err := c.CreateSnapshot(ctx, vmVG, "origin", "snap-1", SizeSpec{Extents: "20%ORIGIN"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateSnapshot(ctx, vmVG, "origin", "snap-1", SizeSpec{Size: "8M"}); !errors.Is(err, ErrExists) {
		t.Errorf("second snap-1: %v, want ErrExists", err)
	}
	if err := c.CreateSnapshot(ctx, vmVG, "origin", "toobig", SizeSpec{Size: "10G"}); err != nil {
		// LVM caps a COW store at what the origin can fill.
		t.Errorf("10G snapshot of a 32M origin: %v", err)
	}
	vmRun(t, "lvcreate", "--quiet", "--size", "300M", "--name", "filler", vmVG)
	if err := c.CreateSnapshot(ctx, vmVG, "filler", "nospace", SizeSpec{Size: "300M"}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("snapshot larger than the free space: %v, want ErrNoSpace", err)
	}
	vmWrite(t, "origin", 1, 0)

	before := runner.Spawned()
	rep, err := c.Report(ctx, []string{vmVG})
	if err != nil {
		t.Fatal(err)
	}
	if n := runner.Spawned() - before; n != 1 {
		t.Errorf("Report spawned %d processes, want 1", n)
	}
	snap := rep.LV(vmVG, "snap-1")
	if snap == nil || snap.Kind() != KindCOWSnapshot || snap.Origin != "origin" || rep.SnapshotState(snap) != SnapshotActive {
		t.Fatalf("snap-1 = %+v", snap)
	}
	if want := lvsField(t, "snap_percent", "snap-1"); snap.SnapPercent.String() != want {
		t.Errorf("SnapPercent %s, lvs says %s", snap.SnapPercent, want)
	}
	if snap.Time.IsZero() || snap.ChunkSize == 0 || snap.OriginSize != 32<<20 {
		t.Errorf("snap-1 = %+v", snap)
	}

	// A merge delayed because the origin is open: the snapshot is hidden
	// and pending.
	f, err := os.Open("/dev/" + vmVG + "/origin")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Merge(ctx, vmVG, "snap-1"); err != nil {
		f.Close()
		t.Fatal(err)
	}
	rep, err = c.Report(ctx, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	snap = rep.LV(vmVG, "snap-1")
	if snap == nil || !snap.Hidden || snap.Kind() != KindCOWSnapshot || rep.SnapshotState(snap) != SnapshotMergePending {
		t.Fatalf("merge-pending snap-1 = %+v", snap)
	}
	if err := c.Remove(ctx, vmVG, "snap-1"); !errors.Is(err, ErrInUse) {
		t.Errorf("removing a merging snapshot: %v, want ErrInUse", err)
	}
}
