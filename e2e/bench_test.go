package e2e

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBench runs a small make bench (50 LVs and the small VG of 30, 2
// rounds, 10 s idle for the guard's cost) and then a small make bench-scale
// (6 and 12 LVs, 1 round) in one VM, so that the benchmark keeps working: it
// must fill the VGs, print the whole table with the traces of a mkdir, and
// keep its promises on processes (one LVM command per mkdir and rmdir, none
// per read of allocated, at most one LVM process for a cold walk, none for a
// warm one); the scaling mode must print its table and draw its plot.
// Timing ratios on a loaded CI machine say nothing, so -check does not
// enforce them, and the scaling mode enforces none.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM and takes minutes; skipped under -short")
	}
	requireVM(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(repo, ".build", "snapfs")
	bench := filepath.Join(repo, ".build", "bench")
	goTool(t, repo, "build", "-o", bin, "./cmd/snapfs")
	goTool(t, repo, "build", "-o", bench, "./e2e/bench")
	out := t.TempDir() // where the VM draws the plot
	plot := filepath.Join(out, "scale.png")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// One VM for both runs: a boot costs seconds under emulation.
	script := `"$0" -snapfs "$1" -lvs 50 -rounds 2 -check -guard-idle 10s && "$0" -snapfs "$1" -scale 6,12 -rounds 1 -plot "$2"`
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "e2e", "vm", "run"), "--timeout", "840", "--rw", out, "--",
		"/bin/sh", "-c", script, bench, bin, plot)
	cmd.Dir = repo
	output, err := cmd.CombinedOutput()
	t.Logf("%s", output)
	if err != nil {
		t.Fatalf("the benchmark failed: %v", err)
	}
	for _, want := range []string{
		`(?m)^bench: made 50 LVs \(25 snapshots\) in \S+ with one vgcfgrestore`,
		`(?m)^snapfs bench, \d{4}-\d\d-\d\d: 50 LVs \(25 snapshots\) in VG bench and 30 LVs in VG small, 2 rounds, medians$`,
		`(?m)^\| measure \| A \(snapfs\) \| B \(by hand, or the floor\) \| A/B \| target \| result \|$`,
		`(?m)^\| take a snapshot, 50 LVs \| mkdir V/O/s: [0-9.]+ ms \| lvcreate -s: [0-9.]+ ms \| [0-9.]+ \| ≤ 0.8, 1 LVM command each \| (ok|missed, not enforced); 0 LVM processes, 2 lvm shell commands in 2 mkdirs \|$`,
		`(?m)^\| take a snapshot, 30 LVs \| mkdir V/O/s: [0-9.]+ ms \| lvcreate -s: [0-9.]+ ms \| [0-9.]+ \| ≤ 0.8, 1 LVM command each \| (ok|missed, not enforced); 0 LVM processes, 2 lvm shell commands in 2 mkdirs \|$`,
		`(?m)^\| drop a snapshot, 50 LVs \| rmdir V/O/s: [0-9.]+ ms \| lvremove -y: [0-9.]+ ms \| [0-9.]+ \| ≤ 0.8, 1 LVM command each \| (ok|missed, not enforced); 0 LVM processes, 2 lvm shell commands in 2 rmdirs \|$`,
		`(?m)^\| drop a snapshot, 30 LVs \| rmdir V/O/s: [0-9.]+ ms \| lvremove -y: [0-9.]+ ms \| [0-9.]+ \| ≤ 0.8, 1 LVM command each \| (ok|missed, not enforced); 0 LVM processes, 2 lvm shell commands in 2 rmdirs \|$`,
		`(?m)^\| floor: take a snapshot, 50 LVs \| lvcreate -s, LVs' devices filtered: [0-9.]+ ms \| lvcreate -s: [0-9.]+ ms \| [0-9.]+ \| \(shown\) \| the least snapfs's row above can be \|$`,
		`(?m)^\| floor: take a snapshot, 30 LVs \| lvcreate -s, LVs' devices filtered: [0-9.]+ ms \| lvcreate -s: [0-9.]+ ms \| [0-9.]+ \| \(shown\) \| the least snapfs's row above can be \|$`,
		`(?m)^\| floor: drop a snapshot, 50 LVs \| lvremove -y, LVs' devices filtered: [0-9.]+ ms \| lvremove -y: [0-9.]+ ms \| [0-9.]+ \| \(shown\) \| the least snapfs's row above can be \|$`,
		`(?m)^\| floor: drop a snapshot, 30 LVs \| lvremove -y, LVs' devices filtered: [0-9.]+ ms \| lvremove -y: [0-9.]+ ms \| [0-9.]+ \| \(shown\) \| the least snapfs's row above can be \|$`,
		`(?m)^\| read COW allocation \| cat V/O/s/allocated: [0-9.]+ ms \| floor: cat FILE-ON-TMPFS: [0-9.]+ ms \| [0-9.]+ \| ≤ 1.1, 0 processes per read \| (ok|missed, not enforced); 0 LVM processes, \d+ lvm shell commands in 8 reads \|$`,
		`(?m)^\| floor: read COW allocation through FUSE \| cat LOOPBACK/V/O/s/allocated: [0-9.]+ ms \| cat FILE-ON-TMPFS: [0-9.]+ ms \| [0-9.]+ \| \(shown\) \| what any file system on go-fuse costs here \|$`,
		`(?m)^- read COW allocation: cat through snapfs takes [0-9.]+ of the same cat through go-fuse's loopback$`,
		`(?m)^\| read COW allocation, against LVM \| cat V/O/s/allocated: [0-9.]+ ms \| lvs -o snap_percent: [0-9.]+ ms \| [0-9.]+ \| issue 5: ≤ 0.01 \(shown\) \| shown; the floor's [0-9.]+ \|$`,
		`(?m)^\| walk the tree, cold \| ls -lR MOUNT: [0-9.]+ ms \| floor: ls -lR LOOPBACK: [0-9.]+ ms \| [0-9.]+ \| ≤ 1.25, ≤ 1 LVM process or shell command \| (ok|missed, not enforced); at most [01] LVM processes, \d+ lvm shell commands a walk \|$`,
		`(?m)^\| walk the tree, warm \| ls -lR MOUNT: [0-9.]+ ms \| floor: ls -lR LOOPBACK: [0-9.]+ ms \| [0-9.]+ \| ≤ 1.1, 0 LVM processes or shell commands \| (ok|missed, not enforced); at most 0 LVM processes, 0 lvm shell commands a walk \|$`,
		`(?m)^\| walk the tree, cold, against LVM \| ls -lR MOUNT: [0-9.]+ ms \| lvs -a VG: [0-9.]+ ms \| [0-9.]+ \| issue 5: ≤ 2 \(shown\) \| shown; the floor's [0-9.]+ \|$`,
		`(?m)^\| walk the tree, warm, against LVM \| ls -lR MOUNT: [0-9.]+ ms \| lvs -a VG: [0-9.]+ ms \| [0-9.]+ \| issue 5: ≤ 2 \(shown\) \| shown; the floor's [0-9.]+ \|$`,
		`(?m)^\| read a snapshot image \(64 MiB\) \| dd image / dd device: [0-9.]+ / [0-9.]+ MB/s = [0-9.]+ \| floor: dd FILE via LOOPBACK / dd FILE on ext4: [0-9.]+ / [0-9.]+ MB/s = [0-9.]+ \| [0-9.]+ \| ≥ 1 \| (ok|missed, not enforced) \|$`,
		`(?m)^\| read a snapshot image, against the device \| dd image: [0-9.]+ MB/s \| dd device: [0-9.]+ MB/s \| [0-9.]+ \| issue 5: throughput ≥ 0.8 \(shown\) \| shown; the floor's [0-9.]+ \|$`,
		`(?m)^\| memory, 50 LVs \| RSS [0-9.]+ MB \| — \| — \| ≤ 40 MB \| ok \|$`,
		`(?m)^\| the guard idle, 25 snapshots, 10s \| guard every 1s: \S+ CPU \([0-9.]+%\) \| guard off: \S+ CPU \([0-9.]+%\) \| -?[0-9.]+% of a CPU \| < 1% of a CPU on hardware \(shown\) \| (under 1% of a CPU|1% of a CPU or more, under emulation \(not enforced\)) \|$`,
		// The traces: the mkdir's and the rmdir's FUSE request, the
		// lvcreate or lvremove (given the filter), and their steps.
		`(?m)^mkdir traced in VG small \(30 LVs\), .*\n\n(\s*-\d+ ms  .*\n)*\s+0 ms  bench: starts mkdir \S+/small/o0000/t1\n(\s*\d+ ms  .*\n)*\s*\d+ ms  rx \d+: MKDIR .*"t1"`,
		`(?m)^mkdir traced in VG bench \(50 LVs\), .*\n\n(\s*-\d+ ms  .*\n)*\s+0 ms  bench: starts mkdir \S+/bench/o0000/t1\n(\s*\d+ ms  .*\n)*\s*\d+ ms  rx \d+: MKDIR .*"t1"`,
		// (The times are padded to six characters: a slow run's need none.)
		`(?m)^\s*\d+ ms  command argv="lvm lvcreate --config devices/global_filter=\[.*r\|\^/dev/mapper/bench-\[\^-\]\|.*\] --snapshot --name t1 --size 8M bench/o0000" duration=\S+ err=<nil>$`,
		`(?m)^\s*\d+ ms  snapshot taken lv=bench/t1 lock_wait=\S+ lvcreate=\S+ model=\S+$`,
		`(?m)^\s*[0-9.]+ ms  bench: mkdir has exited$`,
		`(?m)^rmdir traced in VG small \(30 LVs\), .*\n\n(\s*-\d+ ms  .*\n)*\s+0 ms  bench: starts rmdir \S+/small/o0000/t1\n(\s*\d+ ms  .*\n)*\s*\d+ ms  rx \d+: RMDIR .*"t1"`,
		`(?m)^rmdir traced in VG bench \(50 LVs\), .*\n\n(\s*-\d+ ms  .*\n)*\s+0 ms  bench: starts rmdir \S+/bench/o0000/t1\n(\s*\d+ ms  .*\n)*\s*\d+ ms  rx \d+: RMDIR .*"t1"`,
		`(?m)^\s*\d+ ms  command argv="lvm lvremove --config devices/global_filter=\[.*r\|\^/dev/mapper/bench-\[\^-\]\|.*\] --yes bench/t1" duration=\S+ err=<nil>$`,
		`(?m)^\s*\d+ ms  snapshot removed lv=bench/t1 checks=\S+ lock_wait=\S+ lvremove=\S+ model=\S+$`,
		`(?m)^\s*[0-9.]+ ms  bench: rmdir has exited$`,
		// A cold cat's requests.
		`(?m)^cat traced in VG bench \(50 LVs\), after 1.1 s without a request; .*\n\n\s+0 ms  bench: starts cat \S+/bench/o0001/s0001/allocated\n(\s*\d+ ms  .*\n)*\s*\d+ ms  rx \d+: OPEN n\d+ `,
		`(?m)^\s*[0-9.]+ ms  bench: cat has exited$`,
		// The scaling mode.
		`(?m)^bench: made 12 LVs \(6 snapshots\) in \S+; the VM uses (\d+ of \d+ MiB|\?) of its memory$`,
		`(?m)^snapfs bench, scaling, \d{4}-\d\d-\d\d: 6, 12 LVs \(half of them snapshots\), 1 rounds, medians$`,
		`(?m)^\| LVs \| entries \| walk, cold \| walk, warm \| RSS \| mkdir V/O/s \| lvcreate -s \| mkdir / lvcreate -s \|$`,
		`(?m)^\| 6 \| \d+ \| [0-9.]+ ms/entry \| [0-9.]+ ms/entry \| [0-9.]+ MB \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \|$`,
		`(?m)^\| 12 \| \d+ \| [0-9.]+ ms/entry \| [0-9.]+ ms/entry \| [0-9.]+ MB \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \|$`,
		`(?m)^bench: drew the table into ` + regexp.QuoteMeta(plot) + `$`,
	} {
		if !regexp.MustCompile(want).Match(output) {
			t.Errorf("the benchmark's output lacks %s", want)
		}
	}
	if strings.Contains(string(output), "MISSED") {
		t.Error("a process-count promise of the benchmark does not hold")
	}
	data, err := os.ReadFile(plot)
	if err != nil {
		t.Fatalf("the scaling mode drew no plot: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Errorf("the plot %s is no PNG: %v", plot, err)
	}
}
