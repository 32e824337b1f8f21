package lvm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play an lvm shell (see fakeShell) when
// SNAPFS_FAKE_LVM_SHELL is set, so that ShellRunner is tested through a real
// terminal, pipe and report descriptor without LVM.
func TestMain(m *testing.M) {
	if os.Getenv("SNAPFS_FAKE_LVM_SHELL") != "" {
		fakeShell()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeShell answers like `lvm` with the snapfs profile: a prompt on its
// terminal, and for each command line the document recorded from the real
// shell for it (testdata/lvm/shell/NAME.json, NAME being the line's first
// word and the last word's suffix after "#"), written to descriptor 3.
// "sleep" never answers; "exit" ends it.
func fakeShell() {
	report := os.NewFile(3, "report")
	dir := os.Getenv("SNAPFS_FAKE_LVM_SHELL")
	in := bufio.NewScanner(os.Stdin)
	fmt.Print(shellPrompt)
	for in.Scan() {
		words := strings.Fields(in.Text())
		switch {
		case len(words) == 0:
		case words[0] == "exit":
			return
		case words[0] == "sleep":
			time.Sleep(time.Hour)
		default:
			doc, err := os.ReadFile(filepath.Join(dir, words[len(words)-1]+".json"))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			report.Write(doc)
		}
		fmt.Print(shellPrompt)
	}
}

func TestShellLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		want string
		ok   bool
	}{
		{"plain", []string{"lvm", "lvremove", "--yes", "vg/s"}, "lvremove --yes vg/s", true},
		{"spaces and double quotes", []string{"lvm", "fullreport", "--config", `report { time_format="%Y %T" }`},
			`fullreport --config 'report { time_format="%Y %T" }'`, true},
		{"single quote", []string{"lvm", "x", "it's"}, `x "it's"`, true},
		{"comment sign", []string{"lvm", "x", "#a"}, "x '#a'", true},
		{"both quotes", []string{"lvm", "x", `'"`}, "", false},
		{"newline", []string{"lvm", "x", "a\nb"}, "", false},
		{"empty", []string{"lvm", "x", ""}, "", false},
		{"other binary", []string{"xl", "list"}, "", false},
		{"no command", []string{"lvm"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := shellLine(tc.argv, "lvm")
			if got != tc.want || ok != tc.ok {
				t.Errorf("shellLine(%q) = %q, %v; want %q, %v", tc.argv, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestShellStatus reads the exit status and LVM's message from documents
// recorded from lvm 2.03.16's shell, and classifies them as the same
// failure of a process would be.
func TestShellStatus(t *testing.T) {
	for _, tc := range []struct {
		file string
		code int
		kind error
		msg  string
	}{
		{"lvcreate-ok", 0, nil, ""},
		{"lvcreate-exists", 5, ErrExists, `Logical Volume "s0001" already exists in volume group "bench"`},
		{"lvcreate-invalid-name", 3, ErrInvalidName, `Logical volume name "a b" is invalid.`},
		{"lvremove-not-found", 5, ErrNotFound, `Failed to find logical volume "bench/nonexist"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(testdataDir, "shell", tc.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			code, ok := shellStatus(doc)
			if !ok || code != tc.code {
				t.Fatalf("shellStatus = %d, %v; want %d", code, ok, tc.code)
			}
			if code == 0 {
				return
			}
			ce := commandError([]string{"lvm", "x"}, code, nil, doc)
			if !errors.Is(ce, tc.kind) || ce.Message != tc.msg {
				t.Errorf("got %v (%q), want %v (%q)", ce.Kind, ce.Message, tc.kind, tc.msg)
			}
		})
	}
	if _, ok := shellStatus([]byte(`{"log": []}`)); ok {
		t.Error("a log without a shell status entry has a status")
	}
}

// TestShellRunner drives the fake shell through a ShellRunner: results,
// errors, one process for many commands, a timeout that ends the shell and
// a new shell after it, and the fallback for what the shell cannot take.
func TestShellRunner(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(filepath.Join(testdataDir, "shell"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SNAPFS_FAKE_LVM_SHELL", dir)
	r := &ShellRunner{Binary: self, Timeout: 2 * time.Second, KillDelay: time.Second, Fallback: &ExecRunner{}}
	t.Cleanup(r.Close)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		out, err := r.Run(ctx, self, "lvcreate", "--name", "x", "lvcreate-ok")
		if err != nil || !strings.Contains(string(out), `"log_context":"shell"`) {
			t.Fatalf("lvcreate: %v\n%s", err, out)
		}
	}
	_, err = r.Run(ctx, self, "lvcreate", "--name", "s0001", "lvcreate-exists")
	var ce *CommandError
	if !errors.Is(err, ErrExists) || !errors.As(err, &ce) || ce.ExitCode != 5 {
		t.Errorf("lvcreate of a taken name: %v", err)
	}
	if got := r.Spawned(); got != 1 {
		t.Errorf("%d processes for 4 commands, want 1", got)
	}
	if got := r.ShellCommands(); got != 4 {
		t.Errorf("%d shell commands, want 4", got)
	}

	if _, err := r.Run(ctx, self, "sleep"); !errors.Is(err, ErrTimeout) {
		t.Errorf("a command past its timeout: %v", err)
	}
	if _, err := r.Run(ctx, self, "lvcreate", "lvcreate-ok"); err != nil {
		t.Errorf("after a timeout: %v", err)
	}
	if got := r.Spawned(); got != 2 {
		t.Errorf("%d processes after a timeout and a command, want 2", got)
	}

	// What the shell cannot take runs as a process.
	if _, err := r.Run(ctx, "true", "a"); err != nil {
		t.Errorf("fallback: %v", err)
	}
	if got := r.Spawned(); got != 3 {
		t.Errorf("%d processes after a fallback, want 3", got)
	}
	// lvm 2.03.16's shell crashes on --devices: such a command is a
	// process of its own.
	if _, err := r.Run(ctx, self, "lvcreate", "--devices", "/dev/loop0", "lvcreate-ok"); err != nil {
		t.Errorf("lvcreate --devices: %v", err)
	}
	if got, cmds := r.Spawned(), r.ShellCommands(); got != 4 || cmds != 6 {
		t.Errorf("lvcreate --devices: %d processes and %d shell commands in all, want 4 and 6", got, cmds)
	}
}
