package xen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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

// Client reads the domains of this host and their disks, and pauses,
// unpauses, saves, restores and destroys them.
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

// Destroy ends the domain named name at once, as pulling its power would:
// `xl destroy NAME`. Its block backends close, so its disks are free for a
// merge or a restore.
func (c *Client) Destroy(ctx context.Context, name string) error {
	return c.control(ctx, "destroy", name)
}

// Save saves the memory of the domain named name to file with
// `xl save -p NAME FILE`: the guest is suspended cleanly, its memory
// written, and the domain left paused, its disks still attached (Unpause
// lets it run again; Restore of file starts it as it was at the save, once
// this domain is gone). file must be an absolute path: a relative one would
// depend on the daemon's working directory, and an absolute one cannot read
// as an option of xl.
func (c *Client) Save(ctx context.Context, name, file string) error {
	defer c.forget()
	if err := checkName("save", name); err != nil {
		return err
	}
	if err := checkFile("save", file); err != nil {
		return err
	}
	return c.run(ctx, c.xl, "save", "-p", name, file)
}

// Restore starts the domain saved in file by Save: `xl restore FILE`, or
// `xl restore -p FILE` when paused is true, which leaves it paused until
// Unpause. The domain has the name it was saved with, and a new ID; xl
// refuses when a domain of that name exists. As after `xl create`, xl leaves
// a process behind that waits for the domain's end to carry out its
// on_poweroff, on_reboot and on_crash actions.
func (c *Client) Restore(ctx context.Context, file string, paused bool) error {
	defer c.forget()
	if err := checkFile("restore", file); err != nil {
		return err
	}
	argv := []string{c.xl, "restore"}
	if paused {
		argv = append(argv, "-p")
	}
	return c.run(ctx, append(argv, file)...)
}

// Disks returns the block devices of the disks of the domain named name, in
// the order of their device IDs (xvda first), and how many disks it has in
// all. They are read from a fresh `xl list` (for the domain's ID) and the
// block backends in sysfs, as Using reads them. total counts every disk
// backend of the domain in dom0: blkback's (vbd), and also qemu's (qdisk) and
// the others, which have no physical_device and so yield no device, as does a
// blkback backend that has not opened its device yet. A caller that must act
// on every disk therefore compares len(devs) with total. A disk served by a
// driver domain other than dom0 has no backend here and is not counted.
//
// A file-backed disk is served by blkback through a loop device, whose number
// is returned like any other: the caller decides which devices it accepts.
func (c *Client) Disks(ctx context.Context, name string) (devs []Device, total int, err error) {
	if err := checkName("list", name); err != nil {
		return nil, 0, err
	}
	doms, err := c.Fresh(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, d := range doms {
		if d.Name == name {
			return ReadDisks(c.backends, d.ID)
		}
	}
	return nil, 0, fmt.Errorf("%s list: domain %q: %w", c.xl, name, ErrNoSuchDomain)
}

func (c *Client) control(ctx context.Context, verb, name string) error {
	defer c.forget()
	if err := checkName(verb, name); err != nil {
		return err
	}
	return c.run(ctx, c.xl, verb, name)
}

// run runs argv through the Runner. Its failures are *CommandError, which
// name the command; any other error is wrapped in one that does.
func (c *Client) run(ctx context.Context, argv ...string) error {
	_, err := c.runner.Run(ctx, argv...)
	var ce *CommandError
	if err != nil && !errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return err
}

// checkName refuses, before xl runs, a domain name that xl would read as
// something else. libxl itself takes any string as a name (it only keeps
// names unique, libxl__domain_rename), but xl reads an argument of digits
// alone as a domain ID (libxl_domain_qualifier_to_domid), and one starting
// with '-' as an option. A control character is refused too: `xl list`,
// from which the names come, prints one domain a line, so no name this
// package reads holds one.
func checkName(verb, name string) error {
	var why string
	switch {
	case name == "":
		why = "empty"
	case strings.TrimLeft(name, "0123456789") == "":
		why = "a domain is named, never numbered"
	case name[0] == '-':
		why = "it would read as an option"
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		why = "it holds a control character"
	default:
		return nil
	}
	return fmt.Errorf("xl %s %q: %s: %w", verb, name, why, ErrInvalidName)
}

// checkFile refuses a save file that is not an absolute path.
func checkFile(verb, file string) error {
	if filepath.IsAbs(file) {
		return nil
	}
	return fmt.Errorf("xl %s %q: the save file must be an absolute path: %w", verb, file, ErrInvalidName)
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
