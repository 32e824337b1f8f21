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
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/moby/sys/mountinfo"

	snapfs "github.com/snapfs/snapfs/fs"
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
	flag.Parse()
	if os.Getenv("SNAPFS_VM") != "1" {
		fmt.Fprintln(os.Stderr, "bench: runs inside the test VM, with real LVM: make bench")
		os.Exit(2)
	}
	if *snapfsBin == "" || *lvs < 4 || *lvs%2 != 0 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: bench -snapfs BIN [-lvs EVEN>=4] [-rounds N] [-check]")
		os.Exit(2)
	}
	b := &bench{lvs: *lvs, rounds: *rounds, snapfs: *snapfsBin, check: *check}
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

// populate makes the VG on a sparse loop file and fills it: generated
// metadata with every LV, restored in one vgcfgrestore, activated in one
// vgchange -ay. Creating them with one lvcreate each would take an hour
// under emulation.
func (b *bench) populate() error {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	origins := b.lvs / 2
	dataExtents := 64 / extentMB
	// Every LV, the data LV, the snapshots the bench takes (A and B,
	// rounds of each at once, and data-snap), the LV of the image reads'
	// floor, and some slack.
	extents := b.lvs + dataExtents + (2*b.rounds+1)*(8/extentMB) + floorMB/extentMB + 16
	pv := filepath.Join(workDir, "bench.pv")
	if err := sh("truncate", "-s", fmt.Sprintf("%dM", extents*extentMB+64), pv); err != nil {
		return err
	}
	dev, err := output("losetup", "--find", "--show", pv)
	if err != nil {
		return err
	}
	dev = strings.TrimSpace(dev)
	// Room for the metadata of some thousand LVs (about 0.5 KiB each, and
	// LVM keeps the old copy while writing the new one).
	if err := sh("pvcreate", "--metadatasize", "32m", dev); err != nil {
		return err
	}
	if err := sh("vgcreate", vgName, dev); err != nil {
		return err
	}
	empty := filepath.Join(workDir, "empty.vg")
	if err := sh("vgcfgbackup", "-f", empty, vgName); err != nil {
		return err
	}
	meta, err := os.ReadFile(empty)
	if err != nil {
		return err
	}
	full, err := addLVs(meta, population{Origins: origins, DataExtents: dataExtents}, time.Now())
	if err != nil {
		return err
	}
	filled := filepath.Join(workDir, "filled.vg")
	if err := os.WriteFile(filled, full, 0o644); err != nil {
		return err
	}
	if err := sh("vgcfgrestore", "-f", filled, vgName); err != nil {
		return err
	}
	if err := sh("vgchange", "-ay", vgName); err != nil {
		return err
	}
	// Data for the image reads, then its snapshot.
	if err := sh("dd", "if=/dev/urandom", "of=/dev/"+vgName+"/data", "bs=1M", fmt.Sprint("count=", dataExtents*extentMB), "oflag=direct", "status=none"); err != nil {
		return err
	}
	return sh("lvcreate", "--snapshot", "--size", snapSize, "--name", "data-snap", vgName+"/data")
}

func (b *bench) startSnapfs() error {
	b.mnt = filepath.Join(workDir, "mnt")
	if err := os.MkdirAll(b.mnt, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(workDir, "snapfs.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("vgs = [%q]\nsnapshot_size = %q\n", vgName, snapSize)), 0o644); err != nil {
		return err
	}
	b.logPath = filepath.Join(workDir, "snapfs.log")
	logFile, err := os.Create(b.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	b.daemon = exec.Command(b.snapfs, "-config", cfg, b.mnt)
	b.daemon.Stdout, b.daemon.Stderr = logFile, logFile
	b.daemon.Env = append(os.Environ(), "LC_ALL=C")
	if err := b.daemon.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if mounted(b.mnt) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("snapfs did not mount %s; its log:\n%s", b.mnt, readFile(b.logPath))
}

func (b *bench) stop() {
	if b.daemon != nil && b.daemon.Process != nil {
		b.daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { b.daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.daemon.Process.Kill()
		}
	}
	sh("vgchange", "-an", vgName)
}

// snapshots times mkdir against lvcreate, then rmdir against lvremove, and
// counts what snapfs runs in LVM for each: the lvcreate or lvremove, and no
// report, although a change by hand comes between every two.
func (b *bench) snapshots() error {
	origin := vgName + "/o0000"
	snapfsArgv := func(cmd string) func(int) []string {
		return func(i int) []string { return []string{cmd, filepath.Join(b.mnt, origin, fmt.Sprintf("a%d", i))} }
	}
	mk, create, mkCost, err := b.countedPairs(snapfsArgv("mkdir"), func(i int) []string {
		return []string{"lvcreate", "--snapshot", "--size", snapSize, "--name", fmt.Sprintf("b%d", i), origin}
	})
	if err != nil {
		return err
	}
	rm, remove, rmCost, err := b.countedPairs(snapfsArgv("rmdir"), func(i int) []string {
		return []string{"lvremove", "--yes", fmt.Sprintf("%s/b%d", vgName, i)}
	})
	if err != nil {
		return err
	}
	for _, c := range []struct {
		measure, a, b, op string
		ta, tb            []time.Duration
		cost              lvmCost
	}{
		{"take a snapshot", "mkdir V/O/s", "lvcreate -s", "mkdir", mk, create, mkCost},
		{"drop a snapshot", "rmdir V/O/s", "lvremove -y", "rmdir", rm, remove, rmCost},
	} {
		r := b.ratioRow(c.measure, c.a, c.b, c.ta, c.tb, 1.0)
		r.target += ", 1 LVM command each"
		r.result += fmt.Sprintf("; %d LVM processes, %d lvm shell commands in %d %ss", c.cost.processes, c.cost.commands, b.rounds, c.op)
		if c.cost.processes+c.cost.commands != b.rounds {
			b.fail(r)
		}
	}
	return nil
}

// countedPairs runs, b.rounds times, the command a(i) through snapfs and
// the command h(i) by hand, interleaved, and returns their times and what
// snapfs ran in LVM for the a commands.
func (b *bench) countedPairs(a, h func(i int) []string) (ta, th []time.Duration, cost lvmCost, err error) {
	for i := 0; i < b.rounds; i++ {
		runA := func() error {
			return b.counted(&cost, func() error {
				d, err := timed(a(i)...)
				ta = append(ta, d)
				return err
			})
		}
		runH := func() error {
			d, err := timed(h(i)...)
			th = append(th, d)
			return err
		}
		if err := pair(i, runA, runH); err != nil {
			return nil, nil, cost, err
		}
	}
	return ta, th, cost, nil
}

// lvmCost adds up what snapfs ran in LVM.
type lvmCost struct{ processes, commands int }

// counted runs op and adds to c what snapfs ran in LVM meanwhile.
func (b *bench) counted(c *lvmCost, op func() error) error {
	before, err := b.lvmProcesses()
	if err != nil {
		return err
	}
	cmds := b.shellCommands
	if err := op(); err != nil {
		return err
	}
	after, err := b.lvmProcesses()
	c.processes += after - before
	c.commands += b.shellCommands - cmds
	return err
}

// allocated times cat allocated against lvs -o snap_percent, and counts
// the LVM processes snapfs starts for each cat.
func (b *bench) allocated() error {
	file := filepath.Join(b.mnt, vgName, "o0001", "s0001", "allocated")
	// The same content in a file on tmpfs: what cat costs without FUSE.
	content, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	local, err := os.CreateTemp("/dev/shm", "bench-allocated-")
	if err != nil {
		return err
	}
	defer os.Remove(local.Name())
	if _, err := local.Write(content); err != nil {
		local.Close()
		return err
	}
	if err := local.Close(); err != nil {
		return err
	}
	var cat, lvs, read, start, catLocal []time.Duration
	var cost lvmCost
	for i := 0; i < b.rounds; i++ {
		a := func() error {
			return b.counted(&cost, func() error {
				d, err := timed("cat", file)
				cat = append(cat, d)
				if err != nil {
					return err
				}
				// What cat costs besides starting a process: the read
				// itself, from here; and a process that does nothing.
				t0 := time.Now()
				if _, err := os.ReadFile(file); err != nil {
					return err
				}
				read = append(read, time.Since(t0))
				d, err = timed("true")
				start = append(start, d)
				if err != nil {
					return err
				}
				d, err = timed("cat", local.Name())
				catLocal = append(catLocal, d)
				return err
			})
		}
		if err := pair(i, a, timing(&lvs, "lvs", "--noheadings", "-o", "snap_percent", vgName+"/s0001")); err != nil {
			return err
		}
	}
	r := b.ratioRow("read COW allocation", "cat V/O/s/allocated", "lvs -o snap_percent", cat, lvs, 0.01)
	r.target += ", 0 processes per read"
	r.result += fmt.Sprintf("; %d LVM processes, %d lvm shell commands in %d reads", cost.processes, cost.commands, b.rounds)
	b.notes = append(b.notes, fmt.Sprintf("read COW allocation: of cat's %s, starting a process takes %s (true); the read itself (open, read, close of allocated from the bench) %s",
		ms(median(cat)), ms(median(start)), ms(median(read))))
	if cost.processes != 0 {
		b.fail(r)
	}
	b.floorRow("read COW allocation", "cat FILE-ON-TMPFS", "lvs -o snap_percent", catLocal, lvs, 0.01)
	return nil
}

// walk times ls -lR of the whole mount against one lvs -a of the VG. Cold:
// after a change made by hand (snapfs must read LVM again), with the
// kernel's caches dropped; warm: at once after a cold walk.
func (b *bench) walk() error {
	var cold, warm, lvs []time.Duration
	coldMax, warmMax, coldCmds, warmCmds := 0, 0, 0, 0
	for i := 0; i < b.rounds; i++ {
		a := func() error {
			// A change by hand: a tag on an LV changes the VG's metadata
			// and nothing in the tree.
			tag := fmt.Sprintf("--addtag=bench%d", i)
			if err := sh("lvchange", tag, vgName+"/o0002"); err != nil {
				return err
			}
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
				return err
			}
			// Past the kernel's entry and attribute timeouts (1 s).
			time.Sleep(1100 * time.Millisecond)
			n0, err := b.lvmProcesses()
			if err != nil {
				return err
			}
			c0 := b.shellCommands
			d, err := timed("ls", "-lR", b.mnt)
			cold = append(cold, d)
			if err != nil {
				return err
			}
			n1, err := b.lvmProcesses()
			if err != nil {
				return err
			}
			c1 := b.shellCommands
			d, err = timed("ls", "-lR", b.mnt)
			warm = append(warm, d)
			if err != nil {
				return err
			}
			n2, err := b.lvmProcesses()
			coldMax = max(coldMax, n1-n0)
			warmMax = max(warmMax, n2-n1)
			coldCmds = max(coldCmds, c1-c0)
			warmCmds = max(warmCmds, b.shellCommands-c1)
			return err
		}
		if err := pair(i, a, timing(&lvs, "lvs", "-a", vgName)); err != nil {
			return err
		}
	}
	if out, err := output("ls", "-lR", b.mnt); err == nil {
		entries := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "-") || strings.HasPrefix(line, "d") {
				entries++
			}
		}
		b.notes = append(b.notes, fmt.Sprintf("walk the tree: ls -lR lists %d entries, %.2f ms each (warm)",
			entries, float64(median(warm).Microseconds())/1000/float64(max(entries, 1))))
	}
	r := b.ratioRow("walk the tree, cold", "ls -lR MOUNT", "lvs -a VG", cold, lvs, 2.0)
	r.target += ", ≤ 1 LVM process or shell command"
	r.result += fmt.Sprintf("; at most %d LVM processes, %d lvm shell commands a walk", coldMax, coldCmds)
	// In the lvm shell a command costs no process: count those as the
	// processes they replace.
	if coldMax+coldCmds > 1 {
		b.fail(r)
	}
	w := b.ratioRow("walk the tree, warm", "ls -lR MOUNT", "lvs -a VG", warm, lvs, 2.0)
	w.target += ", 0 LVM processes or shell commands"
	w.result += fmt.Sprintf("; at most %d LVM processes, %d lvm shell commands a walk", warmMax, warmCmds)
	if warmMax+warmCmds > 0 {
		b.fail(w)
	}
	if err := b.walkFloor(); err != nil {
		return fmt.Errorf("the floor: %w", err)
	}
	return nil
}

// walkFloor measures what the walk would cost with snapfs's own work taken
// away. It copies the shape of the tree (directories, file names and sizes;
// files/ left empty, as it is here) to a tmpfs, and times ls -lR of that
// copy (what ls and the kernel cost without FUSE), then of the same copy
// served by go-fuse's own loopback file system, mounted with snapfs's mount
// options and timeouts (what any go-fuse file system with this tree costs
// on this machine), cold and warm as the walk, each pair against one
// lvs -a. The loopback rows are floors, not targets: snapfs cannot walk
// faster than a file system that does nothing but answer from a tmpfs.
func (b *bench) walkFloor() error {
	dir, err := os.MkdirTemp("", "bench-tree-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := sh("mount", "-t", "tmpfs", "bench-tree", dir); err != nil {
		return err
	}
	defer sh("umount", dir)
	if err := copyShape(b.mnt, dir); err != nil {
		return err
	}
	var local []time.Duration
	for i := 0; i < b.rounds; i++ {
		d, err := timed("ls", "-lR", dir)
		if err != nil {
			return err
		}
		local = append(local, d)
	}
	b.notes = append(b.notes, fmt.Sprintf("walk the tree: ls -lR of a copy of the tree on tmpfs (the same directories, names and sizes) takes %s: ls's own share", ms(median(local))))

	mnt := filepath.Join(workDir, "loopback")
	unmount, err := mountLoopback(dir, mnt)
	if err != nil {
		return err
	}
	defer unmount()
	var cold, warm, lvs []time.Duration
	for i := 0; i < b.rounds; i++ {
		a := func() error {
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
				return err
			}
			time.Sleep(1100 * time.Millisecond)
			d, err := timed("ls", "-lR", mnt)
			cold = append(cold, d)
			if err != nil {
				return err
			}
			d, err = timed("ls", "-lR", mnt)
			warm = append(warm, d)
			return err
		}
		if err := pair(i, a, timing(&lvs, "lvs", "-a", vgName)); err != nil {
			return err
		}
	}
	b.floorRow("walk the tree, cold", "ls -lR LOOPBACK", "lvs -a VG", cold, lvs, 2.0)
	b.floorRow("walk the tree, warm", "ls -lR LOOPBACK", "lvs -a VG", warm, lvs, 2.0)
	return nil
}

// copyShape copies the directories of the tree at src to dst, with empty
// files of the same names and sizes, and files/ directories left empty.
func copyShape(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			if d.Name() == "files" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Create(to)
		if err != nil {
			return err
		}
		if err := f.Truncate(info.Size()); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// mountLoopback mounts go-fuse's loopback file system of dir on mnt, with
// the mount options and readahead snapfs mounts with, and the one-second
// entry and attribute timeouts of snapfs's directories and status files for
// every node (snapfs gives files/ none: the floor is, if anything, too low).
// It returns the function that unmounts it.
func mountLoopback(dir, mnt string) (func(), error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	root, err := gofs.NewLoopbackRoot(dir)
	if err != nil {
		return nil, err
	}
	opts := snapfs.MountOptions(false, false)
	second := time.Second
	opts.EntryTimeout, opts.AttrTimeout = &second, &second
	server, err := gofs.Mount(mnt, root, opts)
	if err != nil {
		return nil, err
	}
	unmount := func() {
		server.Unmount()
		server.Wait()
	}
	if err := snapfs.RaiseReadahead(mnt); err != nil {
		unmount()
		return nil, err
	}
	return unmount, nil
}

// floorRow adds a row of what a file system doing none of snapfs's work
// costs for a measure with the given target for snapfs: informative, never
// failing the bench. Its result says whether even that floor is within the
// target.
func (b *bench) floorRow(measure, cmdA, cmdB string, a, h []time.Duration, target float64) {
	ma, mb := median(a), median(h)
	ratio := ma.Seconds() / mb.Seconds()
	result := "floor within the target"
	if ratio > target {
		result = "floor above the target"
	}
	b.rows = append(b.rows, row{
		measure: "floor: " + measure,
		a:       fmt.Sprintf("%s: %s", cmdA, ms(ma)),
		b:       fmt.Sprintf("%s: %s", cmdB, ms(mb)),
		ratio:   fmt.Sprintf("%.3f", ratio),
		target:  fmt.Sprintf("(snapfs ≤ %g)", target),
		result:  result,
	})
}

// imageTarget is the least throughput of image reads, as a fraction of the
// device's.
const imageTarget = 0.8

// image compares dd of a snapshot's image with dd of its block device, each
// after dropping the page cache.
func (b *bench) image() error {
	image := filepath.Join(b.mnt, vgName, "data", "data-snap", "image")
	device := "/dev/" + vgName + "/data-snap"
	var a, h []time.Duration
	size := int64(64 << 20)
	for i := 0; i < b.rounds; i++ {
		if err := pair(i, ddTimed(image, &a), ddTimed(device, &h)); err != nil {
			return err
		}
	}
	ma, mb := median(a), median(h)
	ta, tb := float64(size)/ma.Seconds()/1e6, float64(size)/mb.Seconds()/1e6
	ratio := ta / tb
	r := row{
		measure: "read a snapshot image (64 MiB)",
		a:       fmt.Sprintf("dd image: %.1f MB/s", ta),
		b:       fmt.Sprintf("dd device: %.1f MB/s", tb),
		ratio:   fmt.Sprintf("%.2f", ratio),
		target:  fmt.Sprintf("throughput ≥ %g", imageTarget),
		result:  "ok",
	}
	switch {
	case ratio >= imageTarget:
	case b.check:
		r.result = notEnforced
	default:
		r.result = "MISSED"
		b.failed = true
	}
	b.rows = append(b.rows, r)
	if err := b.imageFloor(size, imageTarget); err != nil {
		return fmt.Errorf("the floor: %w", err)
	}
	return nil
}

// imageFloor measures what reading the same bytes costs through a file
// system that only passes reads on: a file on ext4 on an LV of the VG, read
// by dd directly and through go-fuse's loopback of that ext4, mounted with
// snapfs's options and readahead. snapfs serves image reads the way the
// loopback serves file reads: a positional read of a descriptor, spliced
// into the reply.
func (b *bench) imageFloor(size int64, target float64) error {
	lv := vgName + "/floor"
	if err := sh("lvcreate", "-q", "-y", "-L", fmt.Sprintf("%dM", floorMB), "-n", "floor", vgName); err != nil {
		return err
	}
	defer sh("lvremove", "-q", "-y", lv)
	if err := sh("mkfs.ext4", "-q", "/dev/"+lv); err != nil {
		return err
	}
	dir := filepath.Join(workDir, "floor-ext4")
	mnt := filepath.Join(workDir, "floor-loopback")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := sh("mount", "/dev/"+lv, dir); err != nil {
		return err
	}
	defer sh("umount", dir)
	file := filepath.Join(dir, "data")
	if err := sh("dd", "if=/dev/"+vgName+"/data", "of="+file, "bs=1M", fmt.Sprint("count=", size>>20), "conv=fsync", "status=none"); err != nil {
		return err
	}
	unmount, err := mountLoopback(dir, mnt)
	if err != nil {
		return err
	}
	defer unmount()
	var a, h []time.Duration
	for i := 0; i < b.rounds; i++ {
		if err := pair(i, ddTimed(filepath.Join(mnt, "data"), &a), ddTimed(file, &h)); err != nil {
			return err
		}
	}
	ta, tb := float64(size)/median(a).Seconds()/1e6, float64(size)/median(h).Seconds()/1e6
	result := "floor within the target"
	if ta/tb < target {
		result = "floor below the target"
	}
	b.rows = append(b.rows, row{
		measure: "floor: read 64 MiB",
		a:       fmt.Sprintf("dd FILE via LOOPBACK: %.1f MB/s", ta),
		b:       fmt.Sprintf("dd FILE on ext4: %.1f MB/s", tb),
		ratio:   fmt.Sprintf("%.2f", ta/tb),
		target:  fmt.Sprintf("(snapfs ≥ %g)", target),
		result:  result,
	})
	return nil
}

// ddTimed reads path with dd in 1 MiB blocks after dropping the page cache,
// and adds the time it took to into.
func ddTimed(path string, into *[]time.Duration) func() error {
	return func() error {
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
			return err
		}
		d, err := timed("dd", "if="+path, "of=/dev/null", "bs=1M", "status=none")
		*into = append(*into, d)
		return err
	}
}

// memory reads the resident set of snapfs after the walks.
func (b *bench) memory() error {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.daemon.Process.Pid))
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB$`).FindSubmatch(status)
	if m == nil {
		return fmt.Errorf("no VmRSS in /proc/PID/status")
	}
	kb, _ := strconv.Atoi(string(m[1]))
	b.rows = append(b.rows, row{
		measure: fmt.Sprintf("memory, %d LVs", b.lvs),
		a:       fmt.Sprintf("RSS %.1f MB", float64(kb)/1024),
		b:       "—", ratio: "—", target: "≤ 40 MB", result: "ok",
	})
	if kb > 40*1024 {
		b.fail(&b.rows[len(b.rows)-1])
	}
	return nil
}

// ratioRow adds a row of medians and their ratio A/B, which holds when at
// most target (enforced unless -check).
func (b *bench) ratioRow(measure, cmdA, cmdB string, a, h []time.Duration, target float64) *row {
	ma, mb := median(a), median(h)
	ratio := ma.Seconds() / mb.Seconds()
	b.rows = append(b.rows, row{
		measure: measure,
		a:       fmt.Sprintf("%s: %s", cmdA, ms(ma)),
		b:       fmt.Sprintf("%s: %s", cmdB, ms(mb)),
		ratio:   fmt.Sprintf("%.3f", ratio),
		target:  fmt.Sprintf("≤ %g", target),
		result:  "ok",
	})
	r := &b.rows[len(b.rows)-1]
	switch {
	case ratio <= target:
	case b.check:
		r.result = notEnforced
	default:
		b.fail(r)
	}
	return r
}

// notEnforced is the result of a timing ratio that missed its target under
// -check.
const notEnforced = "missed, not enforced"

func (b *bench) fail(r *row) {
	if !strings.HasPrefix(r.result, "MISSED") {
		r.result = "MISSED" + strings.TrimPrefix(strings.TrimPrefix(r.result, "ok"), notEnforced)
	}
	b.failed = true
}

func (b *bench) print() {
	kernel, _ := output("uname", "-r")
	lvmVersion, _ := output("lvm", "version")
	if f := strings.Fields(lvmVersion); len(f) >= 3 {
		lvmVersion = f[2]
	}
	cpu := "?"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.*)$`).FindSubmatch(info); m != nil {
			cpu = string(m[1])
		}
	}
	fmt.Printf("\nsnapfs bench, %s: %d LVs (%d snapshots) in VG %s, %d rounds, medians\n",
		time.Now().UTC().Format("2006-01-02"), b.lvs, b.lvs/2, vgName, b.rounds)
	fmt.Printf("VM: %d CPUs (%s), kernel %s, lvm %s\n\n", runtime.NumCPU(), cpu, strings.TrimSpace(kernel), lvmVersion)
	fmt.Println("| measure | A (snapfs) | B (by hand) | A/B | target | result |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range b.rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.measure, r.a, r.b, r.ratio, r.target, r.result)
	}
	fmt.Println()
	for _, n := range b.notes {
		fmt.Println("- " + n)
	}
	if b.check {
		fmt.Println("- -check: timing ratios are shown, not enforced; process counts are")
	}
}

var statsRe = regexp.MustCompile(`msg=stats lvm_processes=(\d+) lvm_shell_commands=(\d+)`)

// lvmProcesses asks snapfs for its counter of LVM processes (SIGUSR1) and
// reads the answer from its log. The commands snapfs ran in its lvm shell
// are added up in b.shellCommands.
func (b *bench) lvmProcesses() (int, error) {
	seen := len(statsRe.FindAllSubmatch(readFile(b.logPath), -1))
	if err := b.daemon.Process.Signal(syscall.SIGUSR1); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		all := statsRe.FindAllSubmatch(readFile(b.logPath), -1)
		if len(all) > seen {
			b.shellCommands, _ = strconv.Atoi(string(all[len(all)-1][2]))
			return strconv.Atoi(string(all[len(all)-1][1]))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, errors.New("snapfs logged no stats line after SIGUSR1")
}

// pair runs a and h, alternating which goes first, so that neither always
// runs on caches the other warmed.
func pair(i int, a, h func() error) error {
	first, second := a, h
	if i%2 == 1 {
		first, second = h, a
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// timed runs argv with its output discarded and returns how long it took.
func timed(argv ...string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.Bytes())
	}
	return d, nil
}

// timing returns a function that runs argv and adds how long it took to
// into.
func timing(into *[]time.Duration, argv ...string) func() error {
	return func() error {
		d, err := timed(argv...)
		*into = append(*into, d)
		return err
	}
}

func sh(argv ...string) error {
	_, err := output(argv...)
	return err
}

func output(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func readFile(path string) []byte {
	data, _ := os.ReadFile(path)
	return data
}

// mounted reports whether path is a mount point of snapfs: a FUSE mount.
func mounted(path string) bool {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != path || !strings.HasPrefix(m.FSType, "fuse"), false
	})
	return err == nil && len(mounts) > 0
}
