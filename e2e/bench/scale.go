package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// scalePoint is what the scaling mode measures in a VG of lvs LVs.
type scalePoint struct {
	lvs, entries    int
	cold, warm      time.Duration // one walk (ls -lR), medians
	rssKB           int           // after the walks and the mkdirs
	mkdir, lvcreate time.Duration // medians
	mkCost          lvmCost
	rounds          int
}

// coldPerEntry and warmPerEntry are a walk's time per entry it lists, in
// milliseconds.
func (p scalePoint) coldPerEntry() float64 { return perEntry(p.cold, p.entries) }
func (p scalePoint) warmPerEntry() float64 { return perEntry(p.warm, p.entries) }

func perEntry(d time.Duration, entries int) float64 {
	return float64(d.Microseconds()) / 1000 / float64(max(entries, 1))
}

// ratio is mkdir's median over lvcreate -s's.
func (p scalePoint) ratio() float64 { return p.mkdir.Seconds() / p.lvcreate.Seconds() }

// runScale measures, for each number of LVs in sizes, in a fresh VG of that
// many LVs (half of them snapshots) with snapfs mounted on it: b.rounds
// walks, cold and warm as in the main run, snapfs's resident memory after
// them, and b.rounds mkdirs against as many lvcreate -s, interleaved. It
// prints the table and, when plotPath is set, draws it there as a PNG.
// snapfs runs with its default settings, the guard reading every second,
// as in the main run.
func (b *bench) runScale(sizes []int, plotPath string) error {
	var points []scalePoint
	for _, n := range sizes {
		start := time.Now()
		p, err := b.scalePoint(n)
		if err != nil {
			return fmt.Errorf("%d LVs: %w", n, err)
		}
		points = append(points, p)
		fmt.Printf("bench: measured %d LVs in %s: walk %.2f ms/entry cold, %.2f warm; RSS %.1f MB; mkdir/lvcreate -s %.3f\n",
			n, time.Since(start).Round(time.Second), p.coldPerEntry(), p.warmPerEntry(), megabytes(p.rssKB), p.ratio())
	}
	fmt.Print(scaleTable(points, time.Now()))
	for _, n := range b.notes {
		fmt.Println("- " + n)
	}
	for _, p := range points {
		if p.mkCost.processes+p.mkCost.commands != p.rounds {
			fmt.Printf("bench: MISSED: %d mkdirs in %d LVs ran %d LVM processes and %d lvm shell commands, not one LVM command each\n",
				p.rounds, p.lvs, p.mkCost.processes, p.mkCost.commands)
			b.failed = true
		}
	}
	if plotPath == "" {
		return nil
	}
	if err := writePlot(points, plotPath); err != nil {
		return fmt.Errorf("the plot: %w", err)
	}
	fmt.Printf("bench: drew the table into %s\n", plotPath)
	return nil
}

// scalePoint makes the VG of n LVs, measures it and drops it.
func (b *bench) scalePoint(n int) (p scalePoint, err error) {
	b.lvs = n
	p = scalePoint{lvs: n, rounds: b.rounds}
	start := time.Now()
	if err := b.makeVG(vgName, n, false); err != nil {
		return p, fmt.Errorf("filling the VG: %w", err)
	}
	defer func() {
		b.stopSnapfs()
		if derr := b.dropVG(vgName); err == nil && derr != nil {
			err = fmt.Errorf("dropping the VG: %w", derr)
		}
	}()
	fmt.Printf("bench: made %d LVs (%d snapshots) in %s; the VM uses %s of its memory\n",
		n, n/2, time.Since(start).Round(time.Millisecond), memoryInUse())
	if err := b.startSnapfs(vgName); err != nil {
		return p, fmt.Errorf("starting snapfs: %w", err)
	}
	var cold, warm []time.Duration
	for i := 0; i < b.rounds; i++ {
		c, w, _, _, err := b.walkTwice(i)
		if err != nil {
			return p, err
		}
		cold, warm = append(cold, c), append(warm, w)
	}
	p.cold, p.warm = median(cold), median(warm)
	if p.entries, err = b.entries(); err != nil {
		return p, err
	}
	if p.rssKB, err = b.rss(); err != nil {
		return p, err
	}
	origin := vgName + "/o0000"
	mk, create, cost, err := b.countedPairs(func(i int) []string {
		return []string{"mkdir", fmt.Sprintf("%s/%s/a%d", b.mnt, origin, i)}
	}, func(i int) []string {
		return []string{"lvcreate", "--snapshot", "--size", snapSize, "--name", fmt.Sprintf("b%d", i), origin}
	})
	if err != nil {
		return p, err
	}
	p.mkdir, p.lvcreate, p.mkCost = median(mk), median(create), cost
	return p, nil
}

// scaleTable is the scaling mode's table, in Markdown, with its heading.
func scaleTable(points []scalePoint, now time.Time) string {
	var t strings.Builder
	sizes := make([]string, len(points))
	for i, p := range points {
		sizes[i] = fmt.Sprint(p.lvs)
	}
	rounds := 0
	if len(points) > 0 {
		rounds = points[0].rounds
	}
	fmt.Fprintf(&t, "\nsnapfs bench, scaling, %s: %s LVs (half of them snapshots), %d rounds, medians\n",
		now.UTC().Format("2006-01-02"), strings.Join(sizes, ", "), rounds)
	t.WriteString(machine() + "\n\n")
	t.WriteString("| LVs | entries | walk, cold | walk, warm | RSS | mkdir V/O/s | lvcreate -s | mkdir / lvcreate -s |\n")
	t.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, p := range points {
		fmt.Fprintf(&t, "| %d | %d | %.2f ms/entry | %.2f ms/entry | %.1f MB | %s | %s | %.3f |\n",
			p.lvs, p.entries, p.coldPerEntry(), p.warmPerEntry(), megabytes(p.rssKB), ms(p.mkdir), ms(p.lvcreate), p.ratio())
	}
	return t.String()
}

// memoryInUse is how much of the VM's memory is in use (MemTotal less
// MemAvailable), or "?": device-mapper's devices of a large VG take much of
// it.
func memoryInUse() string {
	info, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	kb := map[string]int{}
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			kb[strings.TrimSuffix(f[0], ":")], _ = strconv.Atoi(f[1])
		}
	}
	if kb["MemTotal"] == 0 {
		return "?"
	}
	return fmt.Sprintf("%d of %d MiB", (kb["MemTotal"]-kb["MemAvailable"])/1024, kb["MemTotal"]/1024)
}
