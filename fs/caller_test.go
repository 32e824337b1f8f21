package fs

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestChdirSyscall(t *testing.T) {
	for line, want := range map[string]bool{
		"80 0x7ffd5a3c 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n":  syscall.SYS_CHDIR == 80,
		"332 0xffffff9c 0x55 0x100 0x7ff 0x0 0x0 0x7ff 0x7f": false,
		"running": false,
		"":        false,
	} {
		if got := isChdirSyscall(line); got != want {
			t.Errorf("isChdirSyscall(%q) = %v", line, got)
		}
	}
}

// readProcSyscall reads the line of a real thread, and fails for a thread
// that does not exist.
func TestReadProcSyscall(t *testing.T) {
	line, err := readProcSyscall(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if nr, _, _ := strings.Cut(strings.TrimSpace(line), " "); nr != "running" {
		if _, err := strconv.Atoi(nr); err != nil {
			t.Errorf("/proc/PID/syscall = %q: neither running nor a syscall number", line)
		}
	}
	if _, err := readProcSyscall(1 << 30); err == nil {
		t.Error("no error for a thread that does not exist")
	}
}

// A request can reach snapfs before its caller sleeps, while
// /proc/PID/syscall still says "running": callerSyscall waits for the
// line of the sleeping caller. This lost a chdir into files/ once in CI.
func TestCallerSyscallWaitsOutRunning(t *testing.T) {
	reads := 0
	line := callerSyscall(42, func(pid int) (string, error) {
		if pid != 42 {
			t.Fatalf("read pid %d", pid)
		}
		if reads++; reads < 4 {
			return "running\n", nil
		}
		return "80 0x7ffd5a3c 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n", nil
	})
	if !isChdirSyscall(line) || reads != 4 {
		t.Errorf("after %d reads: %q, want the chdir line after 4", reads, line)
	}
	if got := callerSyscall(1, func(int) (string, error) { return "", os.ErrNotExist }); got != "" {
		t.Errorf("unreadable: %q", got)
	}
}

// ownThread finds this process's threads, and no other process's.
func TestOwnThread(t *testing.T) {
	if !ownThread(os.Getpid()) {
		t.Error("the main thread is not the process's own")
	}
	tid := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
	}()
	if n := <-tid; !ownThread(n) {
		t.Errorf("thread %d is not the process's own", n)
	}
	if ownThread(1) {
		t.Error("init's thread is the process's own")
	}
	if ownThread(1 << 30) {
		t.Error("a thread that does not exist is the process's own")
	}
}
