package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBench runs a small make bench (50 LVs, 2 rounds, 10 s idle for the
// guard's cost) in the VM, so that
// the benchmark keeps working: it must fill the VG, print the whole table,
// and keep its promises on processes (none per read of allocated, at most
// one LVM process for a cold walk, none for a warm one). Timing ratios on a
// loaded CI machine say nothing, so -check does not enforce them.
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

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "e2e", "vm", "run"), "--timeout", "840", "--",
		bench, "-snapfs", bin, "-lvs", "50", "-rounds", "2", "-check", "-guard-idle", "10s")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("the benchmark failed: %v", err)
	}
	for _, want := range []string{
		`(?m)^bench: made 50 LVs \(25 snapshots\) in \S+ with one vgcfgrestore`,
		`(?m)^\| measure \| A \(snapfs\) \| B \(by hand\) \| A/B \| target \| result \|$`,
		`(?m)^\| take a snapshot \| mkdir V/O/s: [0-9.]+ ms \| lvcreate -s: [0-9.]+ ms \| [0-9.]+ \| .* \| (ok|missed, not enforced); 0 LVM processes, 2 lvm shell commands in 2 mkdirs \|$`,
		`(?m)^\| drop a snapshot \| rmdir V/O/s: [0-9.]+ ms \| lvremove -y: [0-9.]+ ms \| [0-9.]+ \| .* \| (ok|missed, not enforced); 0 LVM processes, 2 lvm shell commands in 2 rmdirs \|$`,
		`(?m)^\| read COW allocation \| .* \| (ok|missed, not enforced); 0 LVM processes, \d+ lvm shell commands in 2 reads \|$`,
		`(?m)^\| walk the tree, cold \| .* \| (ok|missed, not enforced); at most [01] LVM processes, \d+ lvm shell commands a walk \|$`,
		`(?m)^\| walk the tree, warm \| .* \| (ok|missed, not enforced); at most 0 LVM processes, 0 lvm shell commands a walk \|$`,
		`(?m)^\| floor: read COW allocation \| cat FILE-ON-TMPFS: [0-9.]+ ms \| lvs -o snap_percent: [0-9.]+ ms \| [0-9.]+ \| \(snapfs ≤ 0.01\) \| floor (within|above) the target \|$`,
		`(?m)^\| floor: walk the tree, cold \| ls -lR LOOPBACK: [0-9.]+ ms \| lvs -a VG: [0-9.]+ ms \| [0-9.]+ \| \(snapfs ≤ 2\) \| floor (within|above) the target \|$`,
		`(?m)^\| floor: walk the tree, warm \| ls -lR LOOPBACK: [0-9.]+ ms \| lvs -a VG: [0-9.]+ ms \| [0-9.]+ \| \(snapfs ≤ 2\) \| floor (within|above) the target \|$`,
		`(?m)^\| read a snapshot image \(64 MiB\) \| dd image: [0-9.]+ MB/s \| dd device: [0-9.]+ MB/s \|`,
		`(?m)^\| floor: read 64 MiB \| dd FILE via LOOPBACK: [0-9.]+ MB/s \| dd FILE on ext4: [0-9.]+ MB/s \| [0-9.]+ \| \(snapfs ≥ 0.8\) \| floor (within|below) the target \|$`,
		`(?m)^\| memory, 50 LVs \| RSS [0-9.]+ MB \|`,
		`(?m)^\| the guard idle, 25 snapshots, 10s \| guard every 1s: \S+ CPU \([0-9.]+%\) \| guard off: \S+ CPU \([0-9.]+%\) \| -?[0-9.]+% of a CPU \| < 1% of a CPU on hardware \(shown\) \| (under 1% of a CPU|1% of a CPU or more, under emulation \(not enforced\)) \|$`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("the benchmark's output lacks %s", want)
		}
	}
	if strings.Contains(string(out), "MISSED") {
		t.Error("a process-count promise of the benchmark does not hold")
	}
}
