package fs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/internal/memlimit"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/metrics"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/snapmount"
	"github.com/snapfs/snapfs/state"
	"github.com/snapfs/snapfs/watch"
)

// The walk benchmarks are make bench's walk and cat measures on this host,
// without the VM: snapfs mounted for real over a fake VG of LVs like the
// bench's (half origins, each with one COW snapshot), and the floor, the
// same tree's shape on a tmpfs served by go-fuse's loopback with snapfs's
// mount options and one-second timeouts. They run only with -bench, as
// root:
//
//	go test -run '^$' -bench 'Walk|Allocated' -benchtime 5x ./fs
//	go test -run '^$' -bench 'Walk/snapfs' -benchtime 10x -cpuprofile cpu.out ./fs
//
// SNAPFS_BENCH_LVS sets the number of LVs (1000). Besides the time of ls
// -lR (ns/op, the walk's wall time, ls included), each reports the CPU the
// test process (the file system's server) spent a walk, cpu-ms/walk, which
// varies much less with the host's load (take the least of several runs on
// a busy host), the Go heap's allocations meanwhile (allocs/walk and
// MB-alloc/walk: the garbage a walk leaves), and for snapfs the
// device-mapper reads a walk cost. Cold is a fresh mount of a fresh tree
// (the kernel knows no entry, the model is read at the first access, and
// no snapshot's files/ has been looked into yet), as after dropping the
// caches but harsher: in the VM, cold walks after the first find the
// snapshots' files/ prepared. Warm is a walk 1.1 s after the last, past
// every timeout of the kernel's caches, as in the VM, where a walk takes
// longer than those timeouts.

// benchLVs is the size of the benchmarks' VG.
func benchLVs(b *testing.B) int {
	n := 1000
	if s := os.Getenv("SNAPFS_BENCH_LVS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			b.Fatalf("SNAPFS_BENCH_LVS=%q: want a number of LVs, 2 or more", s)
		}
	}
	return n
}

// benchLVM is a fake LVM with VG bench of n LVs: origins oNNNN, each with
// one active COW snapshot sNNNN, with device numbers, as make bench makes
// them.
func benchLVM(n int) *lvmtest.LVM {
	r := lvmtest.BenchReport(n)
	return &lvmtest.LVM{FailNext: map[string]error{}, VGs: r.VGs, LVs: r.LVs}
}

// benchReports is benchLVM whose reports are parsed from LVM's JSON, as
// lvm.Client's are: a report costs snapfs what it costs in the VM besides
// LVM's own work (the parse, and its garbage).
type benchReports struct {
	*lvmtest.LVM
	json    []byte
	reports atomic.Int64
}

func newBenchReports(n int) *benchReports {
	f := benchLVM(n)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"report": [{"vg": [{"vg_name":"bench", "vg_uuid":"nuQNYm-yntI-YYbI-SwDi-VDdG-zHo1-dpLasg", "vg_size":"8589934592", "vg_free":"4294967296", "vg_extent_size":"4194304", "vg_seqno":"7", "lv_count":"%d", "snap_count":"%d"}], "pv": [{"pv_uuid":"qwpG0X-8mem-0xD4-Gsct-cqwD-IcT1-vsWuds"}], "lv": [`, n, n/2)
	row := `{"vg_name":"bench", "lv_name":"%[1]s", "lv_uuid":"%[2]s", "lv_path":"/dev/bench/%[1]s", "lv_dm_path":"/dev/mapper/bench-%[1]s", "lv_attr":"%[3]s", "origin":"%[4]s", "pool_lv":"", "lv_size":"4194304", "origin_size":"%[8]s", "snap_percent":"%[5]s", "data_percent":"%[5]s", "lv_time":"2026-11-21 06:12:56 +0000", "lv_kernel_major":"254", "lv_kernel_minor":"%[6]d", "lv_skip_activation":"0", "lv_layout":"linear", "lv_role":"%[7]s", "lv_merging":"0", "lv_merge_failed":"0", "lv_snapshot_invalid":"0", "lv_device_open":"0"}`
	var segs bytes.Buffer
	for i, lv := range f.LVs {
		if i > 0 {
			b.WriteString(", ")
			segs.WriteString(", ")
		}
		pct, role, originSize := "", "public,origin,thickorigin,multithickorigin", ""
		if lv.Origin != "" {
			pct, role, originSize = "0.62", "public,snapshot,thicksnapshot", "4194304"
		}
		fmt.Fprintf(&b, row, lv.Name, lv.UUID, lv.Attr.String(), lv.Origin, pct, lv.KernelMinor, role, originSize)
		fmt.Fprintf(&segs, `{"lv_uuid":"%s", "seg_start":"0", "segtype":"linear", "chunk_size":"%d"}`, lv.UUID, lv.ChunkSize)
	}
	b.WriteString(`], "seg": [`)
	b.Write(segs.Bytes())
	b.WriteString(`], "pvseg": [{"pvseg_start":"0"}]}]}`)
	return &benchReports{LVM: f, json: b.Bytes()}
}

func (r *benchReports) Report(context.Context, []string) (*lvm.Report, error) {
	r.reports.Add(1)
	return lvm.ParseReport(bytes.NewReader(r.json))
}

// benchDM is device-mapper for benchLVM: every LV's device, open by none,
// a snapshot's COW store 208 of 8192 sectors used. Each read makes a real
// DM_TABLE_STATUS ioctl (of a device that does not exist, when
// /dev/mapper/control can be opened), so that it costs a system call as in
// the VM, and is counted.
type benchDM struct {
	real  *lvm.DeviceMapper
	reads atomic.Int64
}

func newBenchDM() *benchDM {
	d := &benchDM{}
	if real, err := lvm.OpenDeviceMapper(); err == nil {
		d.real = real
	}
	return d
}

func (d *benchDM) Close() {
	if d.real != nil {
		d.real.Close()
	}
}

func (d *benchDM) Status(name string) (*lvm.DeviceStatus, error) {
	d.reads.Add(1)
	if d.real != nil {
		d.real.Status("snapfs-bench-none")
	}
	lv, ok := strings.CutPrefix(name, "bench-")
	if !ok || len(lv) != 5 {
		return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
	}
	st := &lvm.DeviceStatus{Name: name, Major: 254, Live: true}
	switch lv[0] {
	case 'o':
		st.Targets = []lvm.Target{{Length: 8192, Type: "snapshot-origin"}}
	case 's':
		st.Targets = []lvm.Target{{Length: 8192, Type: "snapshot", Params: "208/8192 16"}}
	default:
		return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
	}
	return st, nil
}

func (d *benchDM) TableStatus(name string) ([]lvm.Target, error) {
	st, err := d.Status(name)
	if err != nil {
		return nil, err
	}
	return st.Targets, nil
}

// benchTree is a snapfs tree over benchLVM, wired as cmd/snapfs wires it
// (the guard's numbers, events, metrics), mounted on dir.
type benchTree struct {
	fs     *FS
	server *Server
	store  *state.Store
}

func mountBenchTree(b testing.TB, dir string, fake *benchReports, dm *benchDM) *benchTree {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := state.New(fake, state.Options{VGs: []string{"bench"}, DM: dm, Logger: log,
		Stamp: func([]string) (string, bool) { return "unchanged", true }})
	var operations *ops.Ops
	mounts := snapmount.New(snapmount.Options{Mountpoint: dir, Logger: log, Path: store.Path,
		StagingDir: b.TempDir(), AdminGID: -1,
		Device: func(ctx context.Context, uuid string) (string, error) { return operations.Device(ctx, uuid) }})
	broker := events.NewBroker(0)
	operations = ops.New(fake.LVM, store, ops.Options{SnapshotSize: lvm.SizeSpec{Extents: "20%ORIGIN"},
		DM: dm, Logger: log, Files: mounts, Events: broker})
	store.OnReplace(operations.Announce)
	w := watch.New(store, dm, operations, watch.Options{Events: broker, Logger: log})
	f := New(Parts{Store: store, Ops: operations, Mounts: mounts, DM: dm, Extras: w.Extras(), Events: broker,
		Metrics: func(dm model.DeviceMapper) ([]byte, error) {
			t, err := store.Current()
			if err != nil {
				return nil, err
			}
			return metrics.Render(metrics.Input{Tree: t, DM: dm, MinFree: w.MinFreeBytes, Pools: w.Pool}), nil
		}}, Options{AdminGID: -1, Logger: log})
	server, err := f.Mount(dir, MountConfig{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	return &benchTree{fs: f, server: server, store: store}
}

func (t *benchTree) unmount(b testing.TB) {
	b.Helper()
	t.fs.Close()
	if err := t.server.Unmount(); err != nil {
		b.Fatal(err)
	}
	t.server.Wait()
}

// benchRoot skips a benchmark that cannot mount.
func benchRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("mounting needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		b.Skipf("no /dev/fuse: %v", err)
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lsWalk runs ls -lR of dir and returns the CPU this process spent
// serving it.
func lsWalk(b testing.TB, dir string) time.Duration {
	b.Helper()
	cpu := cpuTime()
	cmd := exec.Command("ls", "-lR", dir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("ls -lR %s: %v\n%s", dir, err, stderr.String())
	}
	return cpuTime() - cpu
}

// walkBench times the walks of what mount mounts on a fresh directory:
// cold, each on a fresh mount, or warm, each 1.1 s after the last on one
// mount.
func walkBench(b *testing.B, cold bool, mount func(dir string) (unmount func())) {
	dir := b.TempDir()
	var cpu time.Duration
	var allocs, bytes uint64
	if !cold {
		unmount := mount(dir)
		defer unmount()
		lsWalk(b, dir)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var unmount func()
		if cold {
			unmount = mount(dir)
		} else {
			time.Sleep(1100 * time.Millisecond)
		}
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		b.StartTimer()
		cpu += lsWalk(b, dir)
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		allocs += ms1.Mallocs - ms0.Mallocs
		bytes += ms1.TotalAlloc - ms0.TotalAlloc
		if cold {
			unmount()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/walk")
	b.ReportMetric(float64(allocs)/float64(b.N), "allocs/walk")
	b.ReportMetric(float64(bytes)/(1<<20)/float64(b.N), "MB-alloc/walk")
}

// BenchmarkWalk times ls -lR of snapfs and of its floor, cold and warm.
func BenchmarkWalk(b *testing.B) {
	benchRoot(b)
	n := benchLVs(b)
	for _, cold := range []bool{true, false} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run("snapfs/"+name, func(b *testing.B) {
			fake, dm := newBenchReports(n), newBenchDM()
			defer dm.Close()
			var reads int64
			walkBench(b, cold, func(dir string) func() {
				t := mountBenchTree(b, dir, fake, dm)
				return func() { t.unmount(b) }
			})
			reads = dm.reads.Load()
			b.ReportMetric(float64(reads)/float64(b.N), "dm-reads/walk")
		})
		b.Run("loopback/"+name, func(b *testing.B) {
			shape := benchShape(b, n)
			walkBench(b, cold, func(dir string) func() { return mountLoopback(b, shape, dir) })
		})
	}
}

// benchShape copies the shape of the snapfs tree of n LVs (directories,
// file names and sizes; files/ empty) to a fresh tmpfs, as make bench's
// floor does, and returns its directory.
func benchShape(b *testing.B, n int) string {
	b.Helper()
	shape := b.TempDir()
	if err := unix.Mount("bench-shape", shape, "tmpfs", 0, ""); err != nil {
		b.Fatalf("tmpfs: %v", err)
	}
	b.Cleanup(func() { unix.Unmount(shape, unix.MNT_DETACH) })
	src := b.TempDir()
	fake, dm := newBenchReports(n), newBenchDM()
	defer dm.Close()
	t := mountBenchTree(b, src, fake, dm)
	defer t.unmount(b)
	if err := CopyShape(src, shape); err != nil {
		b.Fatal(err)
	}
	return shape
}

// mountLoopback mounts go-fuse's loopback of dir on mnt as make bench's
// floor does: snapfs's mount options and readahead, one-second entry and
// attribute timeouts.
func mountLoopback(b *testing.B, dir, mnt string) func() {
	b.Helper()
	unmount, err := MountLoopback(dir, mnt)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		if err := unmount(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocated times cat of a snapshot's allocated, as make bench
// does, and the same content in a file on a tmpfs (its floor); the read
// variants open, read and close the file from this process, without
// starting cat.
func BenchmarkAllocated(b *testing.B) {
	benchRoot(b)
	n := benchLVs(b)
	fake, dm := newBenchReports(n), newBenchDM()
	defer dm.Close()
	dir := b.TempDir()
	t := mountBenchTree(b, dir, fake, dm)
	defer t.unmount(b)
	file := filepath.Join(dir, "bench", "o0001", "s0001", "allocated")
	content, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	shm := b.TempDir()
	if err := unix.Mount("bench-allocated", shm, "tmpfs", 0, ""); err != nil {
		b.Fatalf("tmpfs: %v", err)
	}
	defer unix.Unmount(shm, unix.MNT_DETACH)
	local := filepath.Join(shm, "allocated")
	if err := os.WriteFile(local, content, 0o644); err != nil {
		b.Fatal(err)
	}
	reports := fake.reports.Load()
	for _, c := range []struct{ name, path string }{{"snapfs", file}, {"tmpfs", local}} {
		b.Run("cat/"+c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if out, err := exec.Command("cat", c.path).Output(); err != nil || string(out) != string(content) {
					b.Fatalf("cat %s: %q, %v", c.path, out, err)
				}
			}
		})
		b.Run("read/"+c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if data, err := os.ReadFile(c.path); err != nil || len(data) != len(content) {
					b.Fatalf("read %s: %q, %v", c.path, data, err)
				}
			}
		})
	}
	if r := fake.reports.Load() - reports; r != 0 {
		b.Errorf("%d reports of LVM in the reads of allocated, want 0", r)
	}
}

// BenchmarkMemory reports the memory of a process that serves a tree of
// SNAPFS_BENCH_LVS LVs walked several times, as make bench reads snapfs's
// after its walks: a fresh process (this test binary, run again for
// TestMemoryServer), under cmd/snapfs's memory settings, does a cold walk
// and then b.N warm ones, each after a report, and tells its resident set
// (VmRSS), its resident set before mounting, and the Go heap in use.
//
//	go test -run '^$' -bench Memory -benchtime 5x ./fs
func BenchmarkMemory(b *testing.B) {
	benchRoot(b)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMemoryServer$", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SNAPFS_BENCH_MEMORY_WALKS=%d", b.N), fmt.Sprintf("SNAPFS_BENCH_LVS=%d", benchLVs(b)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	m := regexp.MustCompile(`memory: (.*)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no memory line in\n%s", out)
	}
	for _, metric := range strings.Fields(string(m[1])) {
		unit, value, _ := strings.Cut(metric, "=")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			b.Fatalf("%q: %v", metric, err)
		}
		b.ReportMetric(v, unit)
	}
}

// TestMemoryServer is BenchmarkMemory's process, as os/exec's tests have a
// helper process: it does nothing unless that benchmark starts it.
func TestMemoryServer(t *testing.T) {
	walks, err := strconv.Atoi(os.Getenv("SNAPFS_BENCH_MEMORY_WALKS"))
	if err != nil {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("SNAPFS_BENCH_LVS"))
	// As cmd/snapfs sets it, once it has read the model.
	if memlimit.Own() {
		debug.SetMemoryLimit(memlimit.For(n))
	}
	fake, dm := newBenchReports(n), newBenchDM()
	defer dm.Close()
	before := vmRSS(t)
	dir := t.TempDir()
	tree := mountBenchTree(t, dir, fake, dm)
	defer tree.unmount(t)
	lsWalk(t, dir)
	for i := 0; i < walks; i++ {
		time.Sleep(1100 * time.Millisecond)
		// A report before each walk, as after a change by hand.
		if _, err := tree.store.Refresh(true); err != nil {
			t.Fatal(err)
		}
		lsWalk(t, dir)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if path := os.Getenv("SNAPFS_BENCH_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	gcCPU := []runtimemetrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	runtimemetrics.Read(gcCPU)
	fmt.Printf("memory: rss-MB=%.1f rss-before-MB=%.1f heap-inuse-MB=%.1f gcs=%d gc-cpu-ms=%.0f\n",
		float64(vmRSS(t))/(1<<20), float64(before)/(1<<20), float64(ms.HeapInuse)/(1<<20), ms.NumGC, gcCPU[0].Value.Float64()*1000)
}

var vmRSSLine = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB$`)

// vmRSS is this process's resident set in bytes, as make bench reads
// snapfs's.
func vmRSS(b testing.TB) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	m := vmRSSLine.FindSubmatch(status)
	if m == nil {
		b.Fatal("no VmRSS in /proc/self/status")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}
