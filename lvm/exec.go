package lvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ExecRunner runs commands as child processes. It is the Runner of the real
// daemon; tests use a fake that replays recorded outputs.
type ExecRunner struct {
	// Timeout bounds each command; DefaultTimeout when zero. When it
	// expires the command gets SIGTERM (LVM finishes or backs out of a
	// metadata update it is in the middle of) and, KillDelay later, SIGKILL.
	Timeout time.Duration
	// KillDelay is how long a command may take to end after SIGTERM;
	// DefaultKillDelay when zero.
	KillDelay time.Duration

	spawned atomic.Int64
}

// DefaultKillDelay is the ExecRunner's default KillDelay.
const DefaultKillDelay = 10 * time.Second

// lvmEnv is added to the environment of every command: LVM's messages are
// classified by their English wording, and LVM would otherwise warn on
// stderr about every file descriptor it inherits.
var lvmEnv = []string{"LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1"}

// Spawned returns how many processes the runner has started.
func (r *ExecRunner) Spawned() int64 { return r.spawned.Load() }

// Run runs argv with stdin on /dev/null and returns its standard output.
// A failure is a *CommandError carrying LVM's message and its classification.
func (r *ExecRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, &CommandError{ExitCode: -1, Message: "empty command", Kind: ErrInvalidArg}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	killDelay := r.KillDelay
	if killDelay <= 0 {
		killDelay = DefaultKillDelay
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), lvmEnv...)
	cmd.Stdin = nil // /dev/null
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = killDelay

	err := cmd.Start()
	if err == nil {
		r.spawned.Add(1)
		err = cmd.Wait()
	}
	if err == nil {
		return stdout.Bytes(), nil
	}

	var exitErr *exec.ExitError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		ce := commandError(argv, -1, stderr.Bytes(), stdout.Bytes())
		ce.Kind = ErrTimeout
		ce.Message = joinLines(ce.Message, "timed out after "+timeout.String())
		return stdout.Bytes(), ce
	case ctx.Err() != nil:
		ce := commandError(argv, -1, stderr.Bytes(), stdout.Bytes())
		ce.Kind = ErrFailed
		ce.Message = joinLines(ce.Message, ctx.Err().Error())
		return stdout.Bytes(), ce
	case errors.As(err, &exitErr) && exitErr.Exited():
		return stdout.Bytes(), commandError(argv, exitErr.ExitCode(), stderr.Bytes(), stdout.Bytes())
	}
	// Not started (no such binary), killed by a signal, or an I/O error
	// on its pipes: whatever LVM said, it did not finish.
	ce := commandError(argv, -1, stderr.Bytes(), stdout.Bytes())
	ce.Message = joinLines(ce.Message, err.Error())
	ce.Kind = ErrFailed
	return stdout.Bytes(), ce
}

// commandError describes a command that exited with exitCode, classified
// by its exit code and LVM's message.
func commandError(argv []string, exitCode int, stderr, stdout []byte) *CommandError {
	msg := commandMessage(stderr, stdout)
	return &CommandError{
		Argv:     append([]string(nil), argv...),
		ExitCode: exitCode,
		Message:  msg,
		Kind:     classify(exitCode, msg),
		Stdout:   stdout,
	}
}

// commandMessage returns LVM's own words about a failure: its stderr, and
// the errors of the JSON command log. From lvm 2.03.26 on, a command run
// with --reportformat json reports its log in a top-level "log" array of
// its output instead of printing it on stderr.
func commandMessage(stderr, stdout []byte) string {
	var lines []string
	for _, line := range strings.Split(string(stderr), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	lines = append(lines, jsonLogErrors(stdout)...)
	return strings.Join(lines, "\n")
}

// jsonLogErrors returns the messages of type error or fatal in the "log"
// array of an LVM JSON report; nothing when out is no such report.
func jsonLogErrors(out []byte) []string {
	out = bytes.TrimSpace(out)
	if len(out) == 0 || out[0] != '{' {
		return nil
	}
	var doc struct {
		Log []map[string]string `json:"log"`
	}
	if json.Unmarshal(out, &doc) != nil {
		return nil
	}
	var msgs []string
	for _, entry := range doc.Log {
		switch entry["log_type"] {
		case "error", "fatal":
			if msg := strings.TrimSpace(entry["log_message"]); msg != "" {
				msgs = append(msgs, msg)
			}
		}
	}
	return msgs
}

func joinLines(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}
