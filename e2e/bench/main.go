// Command bench measures snapfs against LVM's own commands, side by side in
// one run with real LVM: make bench runs it in the test VM (e2e/vm/run).
//
// It fills a volume group with -lvs logical volumes, half of them COW
// snapshots, from generated metadata restored with one vgcfgrestore, mounts
// snapfs on it and times each operation done through snapfs (A) and by hand
// with LVM (B), interleaved, and prints the medians, their ratio and the
// target of issue 5 for each. snapfs's own counter of the LVM processes it
// has started (logged on SIGUSR1) says how many processes a read or a walk
// cost.
//
// Beside the measures whose targets are ratios it measures floors: the same
// measure with snapfs's work taken away (cat of a file on tmpfs; ls -lR and
// dd through go-fuse's own loopback file system). A floor is shown, never
// enforced: it says whether the target can be reached at all on this
// machine.
//
// It exits 1 when a target does not hold. With -check, as CI runs it with a
// few LVs on a loaded machine, only the process counts and the table count:
// the timing ratios are printed, not enforced.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"
)

const (
	vgName   = "bench"
	workDir  = "/tmp/snapfs-bench"
	snapSize = "8M" // snapshot_size of snapfs, and -L of lvcreate
	extentMB = 4    // vgcreate's default extent size
	floorMB  = 96   // the ext4 LV that holds imageFloor's file
)

func main() {
	lvs := flag.Int("lvs", 1000, "logical volumes in the VG, half of them snapshots")
	rounds := flag.Int("rounds", 5, "interleaved A/B pairs per measure")
	snapfsBin := flag.String("snapfs", os.Getenv("SNAPFS_BIN"), "the snapfs binary")
	check := flag.Bool("check", false, "enforce the process counts only, not the timing ratios (CI)")
	populateOnly := flag.Bool("populate-only", false, "only fill the VG, and leave it")
	idle := flag.Duration("guard-idle", time.Minute, "how long snapfs idles for the guard's CPU cost, on and off")
	flag.Parse()
	if os.Getenv("SNAPFS_VM") != "1" {
		fmt.Fprintln(os.Stderr, "bench: runs inside the test VM, with real LVM: make bench")
		os.Exit(2)
	}
	if *snapfsBin == "" || *lvs < 4 || *lvs%2 != 0 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: bench -snapfs BIN [-lvs EVEN>=4] [-rounds N] [-check]")
		os.Exit(2)
	}
	b := &bench{lvs: *lvs, rounds: *rounds, snapfs: *snapfsBin, check: *check, guardIdle: *idle}
	if *populateOnly {
		if err := b.populate(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	err := b.run()
	b.stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if b.failed {
		fmt.Println("bench: a target does not hold")
		os.Exit(1)
	}
}

type bench struct {
	lvs, rounds int
	snapfs      string
	check       bool
	guardIdle   time.Duration
	// guardConfig is what startSnapfs adds to the config: the guard's
	// settings for the measure of its cost.
	guardConfig string

	mnt     string
	logPath string
	daemon  *exec.Cmd
	rows    []row
	notes   []string
	failed  bool
	// shellCommands is snapfs's count of the commands it ran in its lvm
	// shell, as of the last lvmProcesses.
	shellCommands int
}

// row is one line of the result table.
type row struct {
	measure, a, b, ratio, target, result string
}

func (b *bench) run() error {
	start := time.Now()
	if err := b.populate(); err != nil {
		return fmt.Errorf("filling the VG: %w", err)
	}
	fmt.Printf("bench: made %d LVs (%d snapshots) in %s with one vgcfgrestore and one vgchange -ay\n",
		b.lvs, b.lvs/2, time.Since(start).Round(time.Millisecond))
	if err := b.startSnapfs(); err != nil {
		return fmt.Errorf("starting snapfs: %w", err)
	}
	for _, m := range []struct {
		name    string
		measure func() error
	}{
		{"snapshots", b.snapshots}, {"allocated", b.allocated}, {"walks", b.walk}, {"image reads", b.image}, {"memory", b.memory},
		{"the guard's idle cost", b.guardCPU},
	} {
		start := time.Now()
		if err := m.measure(); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		fmt.Printf("bench: measured %s in %s\n", m.name, time.Since(start).Round(time.Second))
	}
	b.print()
	return nil
}
