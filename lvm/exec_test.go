package lvm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// These tests run /bin/sh in place of lvm: ExecRunner only runs argv.

func TestExecRunnerSuccess(t *testing.T) {
	r := &ExecRunner{}
	out, err := r.Run(context.Background(), "/bin/sh", "-c",
		`echo "$LC_ALL $LVM_SUPPRESS_FD_WARNINGS"; readlink /proc/self/fd/0; echo "$1"`, "sh", "a b")
	if err != nil {
		t.Fatal(err)
	}
	if want := "C 1\n/dev/null\na b\n"; string(out) != want {
		t.Errorf("output %q, want %q (LC_ALL=C, fd warnings off, stdin /dev/null, argv untouched)", out, want)
	}
	if got := r.Spawned(); got != 1 {
		t.Errorf("Spawned() = %d, want 1", got)
	}
}

func TestExecRunnerOverridesLocale(t *testing.T) {
	t.Setenv("LC_ALL", "de_DE.UTF-8")
	out, err := (&ExecRunner{}).Run(context.Background(), "/bin/sh", "-c", `echo "$LC_ALL"`)
	if err != nil || string(out) != "C\n" {
		t.Errorf("LC_ALL in the command: %q, %v; want C", out, err)
	}
}

func TestExecRunnerFailure(t *testing.T) {
	r := &ExecRunner{}
	argv := []string{"/bin/sh", "-c", `echo partial; echo "  WARNING: noise." >&2; echo "  Logical volume vg/x in use." >&2; exit 5`}
	out, err := r.Run(context.Background(), argv...)
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %#v, want a *CommandError", err)
	}
	if ce.ExitCode != 5 || ce.Kind != ErrInUse || !errors.Is(err, ErrInUse) {
		t.Errorf("exit %d, kind %v; want 5, ErrInUse", ce.ExitCode, ce.Kind)
	}
	if ce.Message != "WARNING: noise.\nLogical volume vg/x in use." {
		t.Errorf("Message = %q", ce.Message)
	}
	if strings.Join(ce.Argv, "\x00") != strings.Join(argv, "\x00") {
		t.Errorf("Argv = %q", ce.Argv)
	}
	if string(out) != "partial\n" || string(ce.Stdout) != "partial\n" {
		t.Errorf("stdout %q / %q, want what the command printed", out, ce.Stdout)
	}
}

func TestExecRunnerInvalidCommandLine(t *testing.T) {
	_, err := (&ExecRunner{}).Run(context.Background(), "/bin/sh", "-c", `echo "  Option --bogus not recognised." >&2; exit 3`)
	if !errors.Is(err, ErrInvalidArg) {
		t.Errorf("err = %v, want ErrInvalidArg", err)
	}
}

func TestExecRunnerJSONLog(t *testing.T) {
	_, err := (&ExecRunner{}).Run(context.Background(), "/bin/sh", "-c",
		`echo '{"report": [], "log": [{"log_type":"error", "log_message":"Volume group \"x\" not found"}]}'; exit 5`)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Kind != ErrNotFound || ce.Message != `Volume group "x" not found` {
		t.Errorf("err = %#v, want ErrNotFound with the log's message", err)
	}
}

func TestExecRunnerTimeout(t *testing.T) {
	r := &ExecRunner{Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := r.Run(context.Background(), "sleep", "10")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Kind != ErrTimeout || ce.ExitCode != -1 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %#v, want ErrTimeout with exit code -1", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; SIGTERM should end sleep at once", d)
	}
	if !strings.Contains(ce.Error(), "timed out") {
		t.Errorf("Error() = %q", ce.Error())
	}
}

func TestExecRunnerKillsWhatIgnoresSIGTERM(t *testing.T) {
	r := &ExecRunner{Timeout: 100 * time.Millisecond, KillDelay: 300 * time.Millisecond}
	start := time.Now()
	_, err := r.Run(context.Background(), "/bin/sh", "-c", `trap "" TERM; sleep 10; echo done`)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; want SIGKILL after KillDelay", d)
	}
}

func TestExecRunnerCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&ExecRunner{}).Run(ctx, "sleep", "10")
	if !errors.Is(err, ErrFailed) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrFailed", err)
	}
}

func TestExecRunnerNoBinary(t *testing.T) {
	r := &ExecRunner{}
	_, err := r.Run(context.Background(), "/nonexistent/lvm", "lvs")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != -1 || ce.Kind != ErrFailed {
		t.Fatalf("err = %#v, want ErrFailed with exit code -1", err)
	}
	if r.Spawned() != 0 {
		t.Errorf("Spawned() = %d, want 0", r.Spawned())
	}
	if _, err := r.Run(context.Background()); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("empty argv: %v", err)
	}
}
