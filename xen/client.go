package xen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Runner runs one command, argv only, and returns its standard output. A
// failure is a *CommandError. It has the shape of lvm.Runner, so one wrapper
// can record the commands of both.
type Runner interface {
	Run(ctx context.Context, argv ...string) (stdout []byte, err error)
}

// DefaultBackends is where sysfs lists the Xen backend devices.
const DefaultBackends = "/sys/bus/xen-backend/devices"

// DefaultMaxAge is how long a Client reuses what it read.
const DefaultMaxAge = time.Second

// Client reads the domains of this host and pauses and unpauses them.
type Client struct {
	runner   Runner
	xl       string
	backends fs.FS
	maxAge   time.Duration

	refreshMu sync.Mutex // one refresh at a time; waiters reuse its result
	mu        sync.Mutex // guards doms, err, taken
	doms      []Domain
	err       error // of the last read: a failing xl is not run for every read either
	taken     time.Time
	lists     atomic.Int64
}

// NewClient returns a Client that runs xl (a binary name or path) through
// runner and reads the block backends from backends (DefaultBackends when
// nil). It reuses what it read for maxAge (DefaultMaxAge when zero).
func NewClient(runner Runner, xl string, backends fs.FS, maxAge time.Duration) *Client {
	if backends == nil {
		backends = os.DirFS(DefaultBackends)
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Client{runner: runner, xl: xl, backends: backends, maxAge: maxAge}
}

// Lists returns how many times the Client has run `xl list`.
func (c *Client) Lists() int64 { return c.lists.Load() }

// Domains returns every domain with its disks, read at most MaxAge ago.
func (c *Client) Domains(ctx context.Context) ([]Domain, error) {
	return c.read(ctx, false)
}

// Fresh returns every domain with its disks, read now (or by a read that
// started after this call).
func (c *Client) Fresh(ctx context.Context) ([]Domain, error) {
	return c.read(ctx, true)
}

// Using returns the domains that have a disk on dev, sorted by name, from a
// read at most MaxAge old.
func (c *Client) Using(ctx context.Context, dev Device) ([]Domain, error) {
	doms, err := c.Domains(ctx)
	return using(doms, dev), err
}

// UsingNow is Using from a fresh read.
func (c *Client) UsingNow(ctx context.Context, dev Device) ([]Domain, error) {
	doms, err := c.Fresh(ctx)
	return using(doms, dev), err
}

func using(doms []Domain, dev Device) []Domain {
	var out []Domain
	for _, d := range doms {
		if d.Uses(dev) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// read returns the cached domains, or reads them anew when they are older
// than MaxAge or fresh is asked. Callers that wait while another reads reuse
// its result when it started after they asked.
func (c *Client) read(ctx context.Context, fresh bool) ([]Domain, error) {
	asked := time.Now()
	c.mu.Lock()
	doms, err, taken := c.doms, c.err, c.taken
	c.mu.Unlock()
	if !fresh && !taken.IsZero() && time.Since(taken) < c.maxAge {
		return doms, err
	}

	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	doms, err, taken = c.doms, c.err, c.taken
	c.mu.Unlock()
	if !taken.IsZero() && (taken.After(asked) || (!fresh && time.Since(taken) < c.maxAge)) {
		return doms, err
	}

	start := time.Now()
	doms, err = c.list(ctx)
	c.mu.Lock()
	c.doms, c.err, c.taken = doms, err, start
	c.mu.Unlock()
	return doms, err
}

// list runs xl list and joins the block backends to its domains.
func (c *Client) list(ctx context.Context) ([]Domain, error) {
	c.lists.Add(1)
	out, err := c.runner.Run(ctx, c.xl, "list")
	if err != nil {
		return nil, err
	}
	doms, err := ParseList(bytes.NewReader(out))
	if err != nil {
		return nil, err
	}
	// The backends are read after xl list: a domain created in between has
	// backends but no row, and is left out until the next read, rather than
	// shown without its disks.
	backends, err := ReadBackends(c.backends)
	if err != nil {
		return nil, err
	}
	byID := map[int]int{}
	for i, d := range doms {
		byID[d.ID] = i
	}
	for _, b := range backends {
		if i, ok := byID[b.DomID]; ok {
			doms[i].Disks = append(doms[i].Disks, b.Device)
		}
	}
	return doms, nil
}

// forget drops the cached domains, so the next read runs xl list.
func (c *Client) forget() {
	c.mu.Lock()
	c.doms, c.err, c.taken = nil, nil, time.Time{}
	c.mu.Unlock()
}

// Pause pauses the domain named name (xl pause NAME). Domains are named, not
// numbered: xl pause of an unknown numeric ID exits 0, while an unknown name
// is an error (ErrNoSuchDomain).
func (c *Client) Pause(ctx context.Context, name string) error {
	return c.control(ctx, "pause", name)
}

// Unpause unpauses the domain named name (xl unpause NAME). Xen counts
// pauses: a domain paused twice runs again after the second unpause only.
func (c *Client) Unpause(ctx context.Context, name string) error {
	return c.control(ctx, "unpause", name)
}

func (c *Client) control(ctx context.Context, verb, name string) error {
	defer c.forget()
	if name == "" || strings.TrimLeft(name, "0123456789") == "" {
		return fmt.Errorf("xl %s %q: a domain is named, never numbered: %w", verb, name, ErrFailed)
	}
	_, err := c.runner.Run(ctx, c.xl, verb, name)
	return err
}

// ExecRunner runs commands as child processes, with LC_ALL=C, standard
// input on /dev/null and a timeout.
type ExecRunner struct {
	// Timeout bounds each command (DefaultTimeout when zero): then it gets
	// SIGTERM, and SIGKILL ten seconds later.
	Timeout time.Duration
}

// DefaultTimeout is the ExecRunner's default Timeout.
const DefaultTimeout = 2 * time.Minute

// Run runs argv and returns its standard output. xl exits 0 after some
// failures (a pause or unpause that libxl refused) and says so only on
// standard error, in a line starting "libxl: error:" or holding "failed":
// such a run is a failure too.
func (r *ExecRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, &CommandError{ExitCode: -1, Message: "empty command", Kind: ErrFailed}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	msg := strings.TrimSpace(stderr.String())
	ce := &CommandError{Argv: append([]string(nil), argv...), ExitCode: -1, Message: msg, Kind: ErrFailed}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		if !reportsFailure(msg) {
			return stdout.Bytes(), nil
		}
		ce.ExitCode = 0
	case ctx.Err() != nil:
		ce.Message = joinLines(msg, fmt.Sprintf("%v (timeout %v)", ctx.Err(), timeout))
	case errors.As(err, &exitErr) && exitErr.Exited():
		ce.ExitCode = exitErr.ExitCode()
	default:
		ce.Message = joinLines(msg, err.Error())
	}
	if strings.Contains(msg, "invalid domain identifier") {
		ce.Kind = ErrNoSuchDomain
	}
	return stdout.Bytes(), ce
}

// reportsFailure reports whether xl's standard error says a command failed.
func reportsFailure(stderr string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "libxl: error:") || strings.Contains(line, "failed") {
			return true
		}
	}
	return false
}

func joinLines(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}
