package fs

import (
	"bytes"
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/splice"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/internal/leakcheck"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
	"github.com/snapfs/snapfs/metrics"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
	"github.com/snapfs/snapfs/quiesce"
	"github.com/snapfs/snapfs/snapmount"
	"github.com/snapfs/snapfs/state"
)

// TestMain has go-fuse's splice package open the /dev/null descriptor it
// keeps for the process's life (to empty a pipe of a reply it did not
// send), so that no test's leak check counts it.
func TestMain(m *testing.M) {
	if p, err := splice.Get(); err == nil {
		splice.Done(p)
		splice.ClearSplicePool()
	}
	os.Exit(m.Run())
}

// skipOrFail skips a test that cannot run here, but fails it in CI, where
// every test must run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// logBuffer collects the log lines of a mountedFS tree.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type mountedFS struct {
	server *Server
	events *events.Broker // with setup.events
	dir    string
	lvm    *lvmtest.LVM
	dm     *lvmtest.DM
	store  *state.Store
	fs     *FS
	logs   *logBuffer
	// metricsRenders counts the renderings of MOUNT/metrics (setup.metrics).
	metricsRenders atomic.Int32
}

// setup configures a mounted test tree: each part's own options, as
// cmd/snapfs gives them, and the test doubles to use.
type setup struct {
	fs    Options
	state state.Options
	ops   ops.Options
	files snapmount.Options
	// allowOther mounts with allow_other: other users see the tree.
	allowOther bool
	// fuseDebug logs every FUSE request and reply into the test's log.
	fuseDebug bool
	// keepFresh reads LVM's change every second whatever accesses the
	// tree, as serve does (state.Store.KeepFresh).
	keepFresh bool
	// noDM leaves the tree without device-mapper: it reads states from
	// the report.
	noDM bool
	// xen, when set, is the fake Xen host (xen_test.go): the domains
	// using LVs, and the pausing of them for quiesce.
	xen *fakeXen
	// pauseDir is where quiesce keeps its pause records; a fresh
	// directory when empty.
	pauseDir string
	// events and metrics add MOUNT/events and MOUNT/metrics.
	events, metrics bool
}

// mountFake mounts a tree over a fake LVM on a fresh directory, for real,
// and unmounts it when the test ends, checking then that no descriptor and
// no mount leaked.
func mountFake(t *testing.T, s setup) *mountedFS {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "FUSE mount tests need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "no /dev/fuse: %v", err)
	}
	m := &mountedFS{dir: t.TempDir(), lvm: lvmtest.New(), logs: &logBuffer{}}
	leakcheck.Check(t, m.dir)
	m.dm = &lvmtest.DM{LVM: m.lvm}
	m.dm.Set("vg-snap1", lvm.Target{Length: 2 << 20, Type: "snapshot", Params: "19904/409600 64"})
	level := slog.LevelInfo
	if s.fuseDebug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(m.logs, &slog.HandlerOptions{Level: level}))
	var dm model.DeviceMapper = m.dm
	if s.noDM {
		dm = nil
	}

	s.state.Logger, s.state.DM = log, dm
	m.store = state.New(m.lvm, s.state)
	if s.ops.SnapshotSize.IsZero() {
		s.ops.SnapshotSize = lvm.SizeSpec{Extents: "20%ORIGIN"}
	}
	s.ops.Logger, s.ops.DM = log, dm
	parts := Parts{Store: m.store, DM: dm}
	if s.xen != nil {
		if s.pauseDir == "" {
			s.pauseDir = t.TempDir()
		}
		doms := s.xen.attach(m.lvm)
		parts.Domains, s.ops.Domains = doms, doms
		s.ops.Quiescer = quiesce.New(s.xen, quiesce.Options{StateDir: s.pauseDir, Logger: log})
	}
	// The mounts activate a snapshot through the operations, which unmount
	// files/ in turn: one is made with a reference to the other's variable,
	// as cmd/snapfs does.
	var operations *ops.Ops
	if s.fs.AdminGID == 0 {
		s.fs.AdminGID = -1
	}
	s.files.Mountpoint, s.files.Logger, s.files.Path = m.dir, log, m.store.Path
	// The staging directory is root's only, as snapmount wants it.
	s.files.StagingDir, s.files.AdminGID = t.TempDir(), s.fs.AdminGID
	if err := os.Chmod(s.files.StagingDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.files.Device = func(ctx context.Context, uuid string) (string, error) { return operations.Device(ctx, uuid) }
	parts.Mounts = snapmount.New(s.files)
	s.ops.Files = parts.Mounts
	if s.events {
		m.events = events.NewBroker(0)
		parts.Events, s.ops.Events = m.events, m.events
	}
	operations = ops.New(m.lvm, m.store, s.ops)
	parts.Ops = operations
	if s.events {
		m.store.OnReplace(operations.Announce)
	}
	if s.metrics {
		parts.Metrics = func(dm model.DeviceMapper) ([]byte, error) {
			m.metricsRenders.Add(1)
			t, err := m.store.Current()
			if err != nil {
				return nil, err
			}
			return metrics.Render(metrics.Input{Tree: t, DM: dm}), nil
		}
	}
	s.fs.Logger = log
	m.fs = New(parts, s.fs)
	// SNAPFS_TEST_FUSE_DEBUG=1 logs every FUSE request and reply.
	server, err := m.fs.Mount(m.dir, MountConfig{AllowOther: s.allowOther, Debug: s.fuseDebug || os.Getenv("SNAPFS_TEST_FUSE_DEBUG") != "", Logger: log})
	if err != nil {
		skipOrFail(t, "mount: %v", err)
	}
	m.server = server
	if s.keepFresh {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.store.KeepFresh(ctx, time.Second); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	// Mount raised the readahead, or logged why not.
	if strings.Contains(m.logs.String(), "default readahead") {
		t.Errorf("raising the readahead:\n%s", m.logs.String())
	}
	t.Cleanup(func() {
		m.fs.Close()
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		// go-fuse keeps the pipes of spliced replies in a pool for the
		// process's life: every one must be back, and they are closed
		// for the leak check.
		if n := splice.Used(); n != 0 {
			t.Errorf("%d splice pipes still in use after the unmount", n)
		}
		splice.ClearSplicePool()
		if t.Failed() {
			t.Logf("snapfs log:\n%s", m.logs.String())
		}
	})
	return m
}

// mountFakeDebug mounts a tree as mountFake does, with every FUSE request
// and reply logged by go-fuse (to the standard logger, while the test runs)
// into the returned buffer, for a test that counts the kernel's requests.
func mountFakeDebug(t *testing.T) (*mountedFS, *logBuffer) {
	t.Helper()
	requests := &logBuffer{}
	log.SetOutput(requests)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	return mountFake(t, setup{fuseDebug: true}), requests
}

// refresh reads the fake LVM again, after a test changed it directly.
func (m *mountedFS) refresh(t *testing.T) {
	t.Helper()
	if _, err := m.store.Refresh(true); err != nil {
		t.Fatal(err)
	}
}

func (m *mountedFS) path(p string) string { return filepath.Join(m.dir, p) }

// sh runs a real shell tool line in the mount and returns its combined
// output and exit error. The command line is the test's own, never input.
func (m *mountedFS) sh(t *testing.T, line string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = m.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (m *mountedFS) mustSh(t *testing.T, line string) string {
	t.Helper()
	out, err := m.sh(t, line)
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return out
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}
