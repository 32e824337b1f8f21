package fs

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/snapfs/snapfs/lvm"
	lmodel "github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/state"
)

// The root lists events and metrics with the VGs when they are on, and not
// otherwise.
func TestRootFiles(t *testing.T) {
	if got := mountFake(t, setup{}).mustSh(t, "ls"); got != "vg\nvg2\n" {
		t.Errorf("ls of the root without events and metrics: %q", got)
	}
	m := mountFake(t, setup{events: true, metrics: true})
	if got := m.mustSh(t, "ls"); got != "events\nmetrics\nvg\nvg2\n" {
		t.Errorf("ls of the root: %q", got)
	}
	if got := m.mustSh(t, "stat -c '%A %n' events metrics"); got != "-r--r--r-- events\n-r--r--r-- metrics\n" {
		t.Errorf("modes of the root's files:\n%s", got)
	}
	if err := os.Mkdir(m.path("events/x"), 0o755); err == nil {
		t.Error("mkdir inside events worked")
	}
}

// cat MOUNT/events follows what happens, from the moment it opened, a JSON
// line an event; Ctrl-C ends it at once, and it lets go of its reader.
func TestEventsFile(t *testing.T) {
	m := mountFake(t, setup{events: true})
	cat := exec.Command("cat", m.path("events"))
	out, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "cat to open events", func() bool { return m.events.Subscribers() == 1 })
	lines := bufio.NewScanner(out)
	next := func() string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			if lines.Scan() {
				got <- lines.Text()
			} else {
				got <- "EOF: " + lines.Text()
			}
		}()
		select {
		case l := <-got:
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("no event line within 5 s")
			return ""
		}
	}
	m.mustSh(t, "mkdir vg/web/new && mv vg/web/new vg/web/newer && rmdir vg/web/newer")
	for _, want := range []string{
		`"event":"created","path":"vg/web/new","by":"snapfs"}`,
		`"event":"renamed","path":"vg/web/new","by":"snapfs","to":"vg/web/newer"}`,
		`"event":"removed","path":"vg/web/newer","by":"snapfs"}`,
	} {
		if got := next(); !strings.HasPrefix(got, `{"time":"`) || !strings.HasSuffix(got, want) {
			t.Errorf("event %s, want ...%s", got, want)
		}
	}
	start := time.Now()
	if err := cat.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cat.Wait() }()
	select {
	case <-done:
		t.Logf("cat events ended %v after SIGINT", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		cat.Process.Kill()
		t.Fatal("cat events did not end after SIGINT")
	}
	waitUntil(t, 5*time.Second, "the reader to be let go", func() bool { return m.events.Subscribers() == 0 })

	// 100 readers opened and closed leave none behind (and, the harness
	// checks, no descriptor).
	for i := 0; i < 100; i++ {
		f, err := os.Open(m.path("events"))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	waitUntil(t, 5*time.Second, "100 readers to be let go", func() bool { return m.events.Subscribers() == 0 })
}

// MOUNT/metrics is what Prometheus's own parser reads.
func TestMetricsFile(t *testing.T) {
	m := mountFake(t, setup{metrics: true})
	f, err := os.Open(m.path("metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	fam := families["snapfs_snapshot_allocated_percent"]
	if fam == nil || len(fam.Metric) != 1 || fam.Metric[0].GetGauge().GetValue() != 4.86 {
		t.Errorf("snapfs_snapshot_allocated_percent: %v", fam)
	}
}

// MOUNT/metrics renders every number of the tree: a stat tells the size
// of its last rendering while the model is the same, and only open
// renders it again; what a process reads is whole, and an fstat of it
// tells its size, whatever the stat before said.
func TestMetricsSizeWithoutRendering(t *testing.T) {
	// The model stays the same until the test reads LVM again.
	m := mountFake(t, setup{metrics: true, state: state.Options{MaxAge: time.Hour}})
	path := m.path("metrics")
	stat := func() int64 {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	renders := func(what string, want int32) {
		t.Helper()
		if got := m.metricsRenders.Load(); got != want {
			t.Errorf("%s: %d renderings in all, want %d", what, got, want)
		}
	}
	told := stat()
	renders("the first stat", 1)
	time.Sleep(1100 * time.Millisecond) // past the kernel's cache of it
	if again := stat(); again != told {
		t.Errorf("stat again: size %d, was %d", again, told)
	}
	renders("a stat of the same model", 1)

	// The content shrinks (4.86% → 10%); the size told is the old one.
	m.dm.Set("vg-snap1", lvm.Target{Length: 2 << 20, Type: "snapshot", Params: "40960/409600 64"})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	renders("an open", 2)
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != int64(len(data)) || len(data) == int(told) || !strings.Contains(string(data), "} 10\n") {
		t.Errorf("fstat of the open file: size %d, read %d bytes (told %d before)", st.Size(), len(data), told)
	}
	if _, err := m.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := stat(); got != int64(len(data)) {
		t.Errorf("stat of a new model: size %d, want %d", got, len(data))
	}
	renders("a stat of a new model", 3)
}

func TestRenderedSize(t *testing.T) {
	var r renderedSize
	t1, t2 := &lmodel.Tree{}, &lmodel.Tree{}
	now := time.Unix(1000, 0)
	if _, ok := r.of(nil, now); ok {
		t.Error("nothing rendered: a size")
	}
	r.record(t1, 42, now)
	for _, tc := range []struct {
		tree *lmodel.Tree
		at   time.Time
		ok   bool
	}{
		{t1, now, true},
		{t1, now.Add(MetricsSizeAge - time.Second), true},
		{t1, now.Add(MetricsSizeAge), false},
		{t2, now, false},
		{nil, now, false},
	} {
		if size, ok := r.of(tc.tree, tc.at); ok != tc.ok || (ok && size != 42) {
			t.Errorf("of(%p, +%v) = %d, %v; want 42, %v", tc.tree, tc.at.Sub(now), size, ok, tc.ok)
		}
	}
}
