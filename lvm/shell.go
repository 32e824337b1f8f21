package lvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ShellProfile is the name of the LVM command profile a ShellRunner starts
// `lvm shell` with: dist/snapfs.profile, installed by make install as
// /etc/lvm/profile/snapfs.profile. It makes the shell report every command's
// log, with its exit status, as JSON on the report file descriptor.
const ShellProfile = "snapfs"

// ShellProfilePath is where LVM looks for ShellProfile by default
// (config/profile_dir).
const ShellProfilePath = "/etc/lvm/profile/" + ShellProfile + ".profile"

// shellPrompt ends what the shell prints once it is ready for a command.
const shellPrompt = "lvm> "

// ShellRunner runs LVM commands in one long-lived `lvm` shell, as lvmdbusd
// does, instead of one process each: LVM's start-up (loading its
// configuration, scanning devices) is paid once, and an idle snapfs holds
// one process that does nothing. Each command is one line on the shell's
// input; the shell answers with one JSON document on the report file
// descriptor (LVM_REPORT_FD): the report of a reporting command, and the
// command's log, whose last entry of context "shell" holds the exit status
// the command would have had as a process. LVM's error messages are the
// log's entries of type error, the words it would have printed on stderr, so
// failures are classified exactly as the ExecRunner's are.
//
// A command the shell cannot take (another binary, an argument its line
// splitting cannot quote, --devices) runs through Fallback, as does every
// command when the shell does not start. A command that runs past Timeout
// ends the shell (SIGTERM, then SIGKILL after KillDelay); the next command
// starts a new one.
type ShellRunner struct {
	Binary    string // the lvm binary; DefaultBinary when empty
	Profile   string // the command profile; ShellProfile when empty
	Timeout   time.Duration
	KillDelay time.Duration
	Fallback  *ExecRunner

	mu       sync.Mutex
	sh       *lvmShell
	failed   error // why the shell did not start; then Fallback runs everything
	spawned  atomic.Int64
	commands atomic.Int64
}

// Spawned returns how many processes the runner has started: the shells and
// the fallback's commands.
func (r *ShellRunner) Spawned() int64 { return r.spawned.Load() + r.Fallback.Spawned() }

// ShellCommands returns how many commands ran in the shell.
func (r *ShellRunner) ShellCommands() int64 { return r.commands.Load() }

// Start starts the shell now, so that a missing profile or an lvm without
// shell support shows at start; Run falls back to processes then.
func (r *ShellRunner) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.shell()
	return err
}

// Disable makes the runner run every command through Fallback.
func (r *ShellRunner) Disable() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = errors.New("lvm shell disabled")
}

// Close ends the shell.
func (r *ShellRunner) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sh != nil {
		r.sh.exit(r.killDelay())
		r.sh = nil
	}
}

func (r *ShellRunner) binary() string {
	if r.Binary == "" {
		return DefaultBinary
	}
	return r.Binary
}

func (r *ShellRunner) killDelay() time.Duration {
	if r.KillDelay <= 0 {
		return DefaultKillDelay
	}
	return r.KillDelay
}

// Run runs argv in the shell when argv[0] is its binary, else through
// Fallback. Its results are those the ExecRunner would give: the report
// (the JSON document) and a *CommandError on failure.
func (r *ShellRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	line, ok := shellLine(argv, r.binary())
	if !ok {
		return r.Fallback.Run(ctx, argv...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sh, err := r.shell()
	if err != nil {
		return r.Fallback.Run(ctx, argv...)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.commands.Add(1)
	doc, stderr, err := sh.run(ctx, line)
	if err != nil {
		// The shell is stuck in a command or gone: end it, whatever it
		// was doing, as the ExecRunner ends a command that timed out.
		sh.kill(r.killDelay())
		r.sh = nil
		ce := commandError(argv, -1, stderr, doc)
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			ce.Kind = ErrTimeout
			ce.Message = joinLines(ce.Message, "timed out after "+timeout.String())
		default:
			ce.Kind = ErrFailed
			ce.Message = joinLines(ce.Message, err.Error())
		}
		return doc, ce
	}
	code, ok := shellStatus(doc)
	switch {
	case !ok:
		ce := commandError(argv, -1, stderr, doc)
		ce.Kind = ErrFailed
		ce.Message = joinLines(ce.Message, "the lvm shell reported no status for the command")
		return doc, ce
	case code != 0:
		return doc, commandError(argv, code, stderr, doc)
	}
	return doc, nil
}

// shell returns the running shell, starting one when there is none. A shell
// that failed to start is not tried again. r.mu is held.
func (r *ShellRunner) shell() (*lvmShell, error) {
	if r.failed != nil {
		return nil, r.failed
	}
	if r.sh != nil && r.sh.alive() {
		return r.sh, nil
	}
	if r.sh != nil {
		r.sh.kill(r.killDelay())
		r.sh = nil
	}
	profile := r.Profile
	if profile == "" {
		profile = ShellProfile
	}
	sh, err := startShell(r.binary(), profile, &r.spawned)
	if err != nil {
		r.failed = err
		return nil, err
	}
	r.sh = sh
	return sh, nil
}

// shellLine returns argv, after the binary, as one line of the lvm shell,
// whose line splitting (lvm_split in tools/lvmcmdline.c) knows quotes but no
// escapes: a word that starts with ' or " runs to the next such quote. An
// argument holding both kinds of quote, or a newline, cannot be written.
// Nor is a command given --devices: lvm 2.03.16's shell crashes (SIGSEGV)
// on it, or on the command after it.
func shellLine(argv []string, binary string) (string, bool) {
	if len(argv) < 2 || argv[0] != binary || slices.Contains(argv, "--devices") {
		return "", false
	}
	words := make([]string, 0, len(argv)-1)
	for _, a := range argv[1:] {
		switch {
		case a == "" || strings.ContainsAny(a, "\n\r\x00"):
			return "", false
		case !strings.ContainsAny(a, " \t\v\f'\"#"):
			words = append(words, a)
		case !strings.Contains(a, "'"):
			words = append(words, "'"+a+"'")
		case !strings.Contains(a, `"`):
			words = append(words, `"`+a+`"`)
		default:
			return "", false
		}
	}
	return strings.Join(words, " "), true
}

// shellLogEntry is one entry of the log an lvm shell reports.
type shellLogEntry struct {
	Type    string `json:"log_type"`
	Context string `json:"log_context"`
	Message string `json:"log_message"`
	RetCode string `json:"log_ret_code"`
}

// shellStatus returns the exit status of the command a shell's report
// document is about: 0 for success, else LVM's code (5 failed, 3 invalid
// command line), from the log's last status entry of context "shell".
func shellStatus(doc []byte) (int, bool) {
	var d struct {
		Log []shellLogEntry `json:"log"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return 0, false
	}
	for i := len(d.Log) - 1; i >= 0; i-- {
		e := d.Log[i]
		if e.Context != "shell" || e.Type != "status" {
			continue
		}
		var code int
		if _, err := fmt.Sscan(e.RetCode, &code); err != nil {
			return 0, false
		}
		if code == 1 { // ECMD_PROCESSED
			return 0, true
		}
		return code, true
	}
	return 0, false
}

// lvmShell is one running `lvm` shell: its terminal (the shell reads
// commands with readline, which prompts only on a terminal), its standard
// error and its report descriptor.
type lvmShell struct {
	cmd    *exec.Cmd
	pty    *os.File
	done   chan struct{} // closed when the process has exited
	update chan struct{} // signalled when output arrives

	mu     sync.Mutex // guards the buffers
	out    bytes.Buffer
	report bytes.Buffer
	stderr bytes.Buffer
}

func startShell(binary, profile string, spawned *atomic.Int64) (*lvmShell, error) {
	master, slave, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("lvm shell: %w", err)
	}
	defer slave.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		master.Close()
		return nil, err
	}
	defer reportW.Close()
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		master.Close()
		reportR.Close()
		return nil, err
	}
	defer stderrW.Close()

	cmd := exec.Command(binary)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, stderrW
	cmd.ExtraFiles = []*os.File{reportW} // fd 3
	// HOME: the shell writes its history to $HOME/.lvm_history after every
	// command; snapfs's commands have no business in root's history.
	// NOTIFY_SOCKET: systemd's socket is snapfs's alone, and the shell
	// outlives the moment snapfs drops it from its own environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, lvmEnv...)
	cmd.Env = append(cmd.Env, "LVM_REPORT_FD=3", "LVM_COMMAND_PROFILE="+profile, "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		master.Close()
		reportR.Close()
		stderrR.Close()
		return nil, fmt.Errorf("lvm shell: %w", err)
	}
	spawned.Add(1)
	sh := &lvmShell{cmd: cmd, pty: master, done: make(chan struct{}), update: make(chan struct{}, 1)}
	go sh.drain(master, &sh.out)
	go sh.drain(reportR, &sh.report)
	go sh.drain(stderrR, &sh.stderr)
	go func() {
		cmd.Wait()
		close(sh.done)
		sh.notify()
	}()

	// The first prompt says the shell runs with the profile; a missing
	// profile ends it at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sh.wait(ctx, false); err != nil {
		_, stderr := sh.take()
		sh.kill(time.Second)
		return nil, fmt.Errorf("lvm shell: %w: %s", err, bytes.TrimSpace(stderr))
	}
	sh.take()
	return sh, nil
}

func (sh *lvmShell) drain(f *os.File, into *bytes.Buffer) {
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			sh.mu.Lock()
			into.Write(buf[:n])
			sh.mu.Unlock()
			sh.notify()
		}
		if err != nil {
			return
		}
	}
}

func (sh *lvmShell) notify() {
	select {
	case sh.update <- struct{}{}:
	default:
	}
}

func (sh *lvmShell) alive() bool {
	select {
	case <-sh.done:
		return false
	default:
		return true
	}
}

// take returns and clears what the shell reported and printed on stderr.
func (sh *lvmShell) take() (report, stderr []byte) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	report = append([]byte(nil), sh.report.Bytes()...)
	stderr = append([]byte(nil), sh.stderr.Bytes()...)
	sh.out.Reset()
	sh.report.Reset()
	sh.stderr.Reset()
	return report, stderr
}

// wait waits until the shell prompts again and, with doc, until its report
// descriptor holds one whole JSON document: the report is written before
// the prompt, but through another pipe.
func (sh *lvmShell) wait(ctx context.Context, doc bool) error {
	for {
		sh.mu.Lock()
		prompted := bytes.HasSuffix(sh.out.Bytes(), []byte(shellPrompt))
		complete := !doc || (prompted && wholeJSON(sh.report.Bytes()) != nil)
		sh.mu.Unlock()
		if prompted && complete {
			return nil
		}
		select {
		case <-sh.update:
		case <-sh.done:
			// Whatever it wrote last is read by now or never.
			time.Sleep(10 * time.Millisecond)
			return fmt.Errorf("the lvm shell exited (%v)", sh.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run runs one command line and returns the report document and stderr.
func (sh *lvmShell) run(ctx context.Context, line string) (doc, stderr []byte, err error) {
	sh.take()
	if _, err := sh.pty.Write([]byte(line + "\n")); err != nil {
		return nil, nil, err
	}
	err = sh.wait(ctx, true)
	doc, stderr = sh.take()
	if last := wholeJSON(doc); last != nil {
		doc = last
	}
	return bytes.TrimSpace(doc), stderr, err
}

// wholeJSON returns the last of the JSON documents in b when b holds only
// whole documents, else nil: a report still being written.
func wholeJSON(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	var last json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			return last
		}
		if err != nil {
			return nil
		}
		last = v
	}
}

// exit asks the shell to end, and kills it when it does not.
func (sh *lvmShell) exit(killDelay time.Duration) {
	sh.pty.Write([]byte("exit\n"))
	select {
	case <-sh.done:
		sh.pty.Close()
	case <-time.After(5 * time.Second):
		sh.kill(killDelay)
	}
}

// kill ends the shell: SIGTERM, then SIGKILL after killDelay, as the
// ExecRunner ends a command past its timeout.
func (sh *lvmShell) kill(killDelay time.Duration) {
	sh.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sh.done:
	case <-time.After(killDelay):
		sh.cmd.Process.Kill()
		<-sh.done
	}
	sh.pty.Close()
}

// openPTY opens a pseudo-terminal pair in raw mode: no echo, no line
// editing, no newline translation.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlocking the pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	t, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err == nil {
		// cfmakeraw(3)
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, t)
	}
	if err != nil {
		m.Close()
		s.Close()
		return nil, nil, fmt.Errorf("pty raw mode: %w", err)
	}
	return m, s, nil
}
