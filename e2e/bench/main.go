// Command bench measures snapfs against LVM's own commands, side by side in
// one run with real LVM: make bench runs it in the test VM (e2e/vm/run).
//
// It fills a volume group with -lvs logical volumes, half of them COW
// snapshots, from generated metadata restored with one vgcfgrestore, mounts
// snapfs on it and times each operation done through snapfs (A) and by hand
// with LVM (B), interleaved, and prints the medians, their ratio and the
// target of issues 5 and 19 for each. mkdir and rmdir are also measured in
// a second, small VG of -small LVs, with snapfs showing that VG only, and
// one mkdir and one rmdir in each VG are traced: snapfs's debug log (every
// FUSE request, every LVM command, the steps of the change) with times from
// the start of the mkdir or rmdir process. snapfs's own counter of the LVM
// processes it has started (logged on SIGUSR1) says how many processes a
// read or a walk cost.
//
// Beside the measures whose targets are ratios it measures floors: the same
// measure with snapfs's work taken away (cat of a file on tmpfs, and through
// go-fuse's own loopback file system; ls -lR and dd through that loopback).
// A floor is shown, never enforced: it says whether the target can be
// reached at all on this machine.
//
// It exits 1 when a target does not hold. With -check, as CI runs it with a
// few LVs on a loaded machine, only the process counts and the table count:
// the timing ratios are printed, not enforced.
//
// With -scale, it measures instead how the costs grow with the number of
// LVs: for each number given, in a fresh VG of that many LVs, the walk's
// time per entry (cold and warm), snapfs's resident memory after the walks
// and the ratio of mkdir to lvcreate -s; it prints a table and, with
// -plot, draws it into a PNG file (make bench-scale: doc/bench-scale.png).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

const (
	vgName   = "bench"
	smallVG  = "small" // the small VG of -small LVs
	workDir  = "/tmp/snapfs-bench"
	snapSize = "8M" // snapshot_size of snapfs, and -L of lvcreate
	extentMB = 4    // vgcreate's default extent size
	floorMB  = 96   // the ext4 LV that holds imageFloor's file
)

// measures are the measures of the main run, by the names -only takes, in
// the order they run.
var measures = []struct {
	name    string
	measure func(*bench) error
}{
	{"snapshots", (*bench).snapshots}, {"allocated", (*bench).allocated}, {"walks", (*bench).walk},
	{"image", (*bench).image}, {"memory", (*bench).memory}, {"guard", (*bench).guardCPU},
}

func main() {
	lvs := flag.Int("lvs", 1000, "logical volumes in the VG, half of them snapshots")
	small := flag.Int("small", 30, "logical volumes in the small VG, where mkdir and rmdir are measured too; 0: no small VG")
	rounds := flag.Int("rounds", 5, "interleaved A/B pairs per measure")
	snapfsBin := flag.String("snapfs", os.Getenv("SNAPFS_BIN"), "the snapfs binary")
	check := flag.Bool("check", false, "enforce the process counts only, not the timing ratios (CI)")
	populateOnly := flag.Bool("populate-only", false, "only fill the VG, and leave it")
	idle := flag.Duration("guard-idle", time.Minute, "how long snapfs idles for the guard's CPU cost, on and off")
	trace := flag.Bool("trace", true, "trace one mkdir and one rmdir in each VG, and one cold cat of allocated")
	only := flag.String("only", "", "run only these measures (comma-separated: snapshots, allocated, walks, image, memory, guard)")
	scale := flag.String("scale", "", "measure how costs grow instead, at these numbers of LVs (comma-separated, e.g. 100,1000,5000)")
	plotPath := flag.String("plot", "", "with -scale, the PNG file to draw the table into")
	flag.Parse()
	if os.Getenv("SNAPFS_VM") != "1" {
		fmt.Fprintln(os.Stderr, "bench: runs inside the test VM, with real LVM: make bench")
		os.Exit(2)
	}
	sizes, err := parseSizes(*scale)
	if err != nil || *snapfsBin == "" || *lvs < 6 || *lvs%2 != 0 || *rounds < 1 || *small < 0 || *small%2 != 0 ||
		(*small > 0 && *small < 2) || (*plotPath != "" && sizes == nil) {
		fmt.Fprintln(os.Stderr, "usage: bench -snapfs BIN [-lvs EVEN>=6] [-small EVEN] [-rounds N] [-check] [-only MEASURES]")
		fmt.Fprintln(os.Stderr, "       bench -snapfs BIN -scale N,N,... (each EVEN>=6) [-plot FILE.png] [-rounds N]")
		os.Exit(2)
	}
	b := &bench{lvs: *lvs, small: *small, rounds: *rounds, snapfs: *snapfsBin, check: *check, guardIdle: *idle, trace: *trace}
	if *only != "" {
		b.only = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			b.only[name] = true
		}
	}
	switch {
	case *populateOnly:
		err = b.populate()
	case sizes != nil:
		err = b.runScale(sizes, *plotPath)
		b.stop()
	default:
		err = b.run()
		b.stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if b.failed {
		fmt.Println("bench: a target does not hold")
		os.Exit(1)
	}
}

// parseSizes reads -scale: nil when empty.
func parseSizes(list string) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 6 || n%2 != 0 {
			return nil, fmt.Errorf("-scale: %q is not an even number of at least 6", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

type bench struct {
	lvs, small, rounds int
	snapfs             string
	check              bool
	guardIdle          time.Duration
	trace              bool
	only               map[string]bool // the measures to run; nil: all
	// guardConfig is what startSnapfs adds to the config: the guard's
	// settings for the measure of its cost.
	guardConfig string

	loops   map[string]string // the loop device of each VG
	mnt     string
	logPath string
	daemon  *exec.Cmd
	rows    []row
	notes   []string
	traces  []string
	failed  bool
	// shellCommands is snapfs's count of the commands it ran in its lvm
	// shell, as of the last lvmProcesses.
	shellCommands int
	// smallTimes are mkdir's and rmdir's in the small VG, measured first,
	// for the rows beside those of the large VG.
	smallTimes snapshotTimes
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
	if b.small > 0 && b.runs("snapshots") {
		start := time.Now()
		if err := b.smallSnapshots(); err != nil {
			return fmt.Errorf("snapshots in the small VG: %w", err)
		}
		fmt.Printf("bench: measured snapshots in the small VG (%d LVs) in %s\n", b.small, time.Since(start).Round(time.Second))
	}
	if err := b.startSnapfs(vgName); err != nil {
		return fmt.Errorf("starting snapfs: %w", err)
	}
	for _, m := range measures {
		if !b.runs(m.name) {
			continue
		}
		start := time.Now()
		if err := m.measure(b); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		fmt.Printf("bench: measured %s in %s\n", m.name, time.Since(start).Round(time.Second))
	}
	if b.trace && b.runs("snapshots") {
		if err := b.traceChanges(vgName, b.lvs); err != nil {
			return fmt.Errorf("tracing a mkdir and an rmdir: %w", err)
		}
	}
	if b.trace && b.runs("allocated") {
		if err := b.traceCat(); err != nil {
			return fmt.Errorf("tracing a cat: %w", err)
		}
	}
	b.print()
	return nil
}

// runs tells whether measure name is to run (-only).
func (b *bench) runs(name string) bool { return b.only == nil || b.only[name] }
