package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// A mount helper must return once the mount serves, and leave the daemon
// running, as mount(8) and mount.fuse3 expect. snapfs does it like this:
// the process mount.fuse3 started (the parent) starts the same program
// again with the same arguments, detached in a new session, and passes it
// the write end of a pipe. That daemon mounts and serves; once the mount
// serves it writes readyMessage to the pipe, and lets go of the standard
// streams it inherited. The parent exits 0 when it reads the message, or
// with the daemon's exit status when the daemon exits before. The daemon
// logs to syslog, and until then also shows its warnings and errors on the
// inherited standard error, so that what goes wrong at the start reaches
// whoever ran mount. When standard error is the journal (mount run by a
// systemd mount unit), it keeps logging there instead.

// readyFDEnv tells the daemon which file descriptor the pipe is.
const readyFDEnv = "SNAPFS_READY_FD"

const readyMessage = "ready\n"

// daemonize starts the daemon and waits for it as described above, and
// returns the exit status for the parent.
func daemonize(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "snapfs: cannot find its own executable to daemonize: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "snapfs: %v\n", err)
		return 1
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The daemon must not keep the caller's working directory busy.
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		fmt.Fprintf(stderr, "snapfs: starting the daemon: %v\n", err)
		return 1
	}

	msg := make([]byte, len(readyMessage))
	if _, err := io.ReadFull(r, msg); err == nil && string(msg) == readyMessage {
		return 0
	}
	// The daemon closed the pipe without reporting: it failed, and said
	// why on standard error.
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return exit.ExitCode()
	}
	fmt.Fprintf(stderr, "snapfs: the daemon ended before the mount served: %v\n", err)
	return 1
}

// daemonPipe returns the pipe to the parent when this process is the
// daemon a mount helper started, and takes it out of the environment so
// that LVM and xl do not inherit it.
func daemonPipe() (*os.File, error) {
	v, ok := os.LookupEnv(readyFDEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a file descriptor", readyFDEnv, v)
	}
	// Commands started before the pipe is closed must not hold it open.
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "ready-pipe"), nil
}

// daemonLog sets up the log of the daemon: syslog, with warnings and errors
// also on standard error until detach; or only standard error when that is
// the journal, or when there is no syslog.
func daemonLog(sink *logSink, log *slog.Logger) {
	if stderrIsJournal(os.Stderr) {
		return
	}
	sys, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "snapfs")
	if err != nil {
		log.Warn("no syslog: once the mount serves, the log ends", "err", err)
		return
	}
	sink.useSyslog(sys, os.Stderr)
}

// detach tells the parent that the mount serves and lets go of the standard
// streams, unless standard error is the journal.
func detach(pipe *os.File, sink *logSink) error {
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()
	if _, err := pipe.WriteString(readyMessage); err != nil {
		return fmt.Errorf("reporting to the mount helper: %w", err)
	}
	pipe.Close()

	fds := []int{0, 1, 2}
	if stderrIsJournal(os.Stderr) {
		fds = fds[:2]
	} else {
		sink.mu.Lock()
		if sink.syslog != nil {
			sink.tee = nil
		} else {
			sink.w = io.Discard
		}
		sink.mu.Unlock()
	}
	for _, fd := range fds {
		if err := unix.Dup2(int(devNull.Fd()), fd); err != nil {
			return fmt.Errorf("redirecting fd %d to %s: %w", fd, os.DevNull, err)
		}
	}
	return nil
}
