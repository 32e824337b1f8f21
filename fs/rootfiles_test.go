package fs

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
