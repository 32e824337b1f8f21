package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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
