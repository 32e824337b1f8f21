package fs

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// callerPid returns the thread id of the process a FUSE request is for, or 0
// when the kernel did not say (a request of the kernel itself, or a caller
// outside snapfs's pid namespace).
func callerPid(ctx context.Context) (int, bool) {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return 0, false
	}
	return int(c.Pid), true
}

// ownRequest tells whether a FUSE request comes from snapfs itself: the path
// walks snapfs makes to mount a snapshot's files/ go through its own FUSE
// mount, and must never wait for that mount. The kernel names the calling
// thread, so snapfs looks for it among its own threads.
func ownRequest(ctx context.Context) bool {
	pid, ok := callerPid(ctx)
	if !ok {
		return true // not a FUSE request: a call from snapfs's own code
	}
	if pid == 0 {
		return false
	}
	return ownThread(pid)
}

// ownThread tells whether thread tid is one of this process's: tgkill with
// signal 0 sends nothing and fails with ESRCH unless the thread is in the
// thread group. One system call, where a stat of /proc/self/task/TID walks
// procfs and allocates; it runs for every look at a snapshot's files/ (a
// walk of the tree looks at each).
func ownThread(tid int) bool {
	pid := os.Getpid()
	if tid == pid {
		return true
	}
	err := unix.Tgkill(pid, tid, 0)
	for err == unix.EINTR {
		err = unix.Tgkill(pid, tid, 0)
	}
	return err == nil
}

// callerInChdir tells whether the thread a FUSE request is for is inside a
// chdir(2) call, from /proc/PID/syscall. A chdir into files/ must end below
// the snapshot's filesystem, but the kernel only asks snapfs for the
// directory's attributes (its permission check), just as for a stat, which
// must not mount anything. When the calling syscall cannot be read, it is
// taken as no chdir.
func callerInChdir(ctx context.Context) bool {
	pid, ok := callerPid(ctx)
	if !ok || pid == 0 {
		return false
	}
	return isChdirSyscall(callerSyscall(pid, readProcSyscall))
}

// readProcSyscall reads /proc/PID/syscall with bare system calls: it runs
// for every permission check of a files/ directory (four in a walk of it),
// and os.ReadFile's stat, poller registration and buffer growth cost more
// than the read.
func readProcSyscall(pid int) (string, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/syscall"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	// The line is the syscall number, six arguments, the stack and the
	// program counter: well under 256 bytes. An error here would read as
	// no chdir, and a cd would end in the bare directory: an interrupted
	// read is read again.
	var buf [256]byte
	n, err := unix.Read(fd, buf[:])
	for err == unix.EINTR {
		n, err = unix.Read(fd, buf[:])
	}
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// syscallWait bounds how long callerSyscall waits for a caller to sleep.
const syscallWait = time.Second

// callerSyscall returns the /proc/PID/syscall line of a FUSE caller. The
// kernel reads a thread's registers only once it sleeps, and says "running"
// until then: a request can reach snapfs before its caller has gone to
// sleep waiting for the answer. The caller of a request always sleeps
// until snapfs answers, so a "running" is waited out (for syscallWait at
// most; past that the line says "running", which is no chdir).
func callerSyscall(pid int, read func(int) (string, error)) string {
	deadline := time.Now().Add(syscallWait)
	pause := 20 * time.Microsecond
	for {
		line, err := read(pid)
		if err != nil {
			return ""
		}
		if strings.TrimSpace(line) != "running" || time.Now().After(deadline) {
			return line
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// isChdirSyscall reads the syscall number from a /proc/PID/syscall line
// ("80 0x7ffd... 0x0 ..." while in chdir on x86-64).
func isChdirSyscall(line string) bool {
	nr, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	n, err := strconv.Atoi(nr)
	return err == nil && n == syscall.SYS_CHDIR
}
