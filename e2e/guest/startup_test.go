//go:build vmguest

// Starting and stopping snapfs: a signal the moment its mount appears, and
// the command line.
package guest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalDuringStartup stops snapfs the moment its mount appears, before
// it logs that it serves: it must still unmount and exit 0.
func TestSignalDuringStartup(t *testing.T) {
	newVG(t, "e2e", 64)
	bin := os.Getenv("SNAPFS_BIN")
	for i := 0; i < 3; i++ {
		mnt := t.TempDir()
		cmd := exec.Command(bin, mnt)
		var logs syncBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the mount", func() bool { return isMounted(mnt) })
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit after an early SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("snapfs hung after an early SIGTERM:\n%s", logs.String())
		}
		if isMounted(mnt) {
			t.Errorf("%s still mounted after an early SIGTERM", mnt)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	}
}

// TestVersionAndConfigErrors checks the command line.
func TestVersionAndConfigErrors(t *testing.T) {
	bin := os.Getenv("SNAPFS_BIN")
	if out := mustSh(t, bin+" -version"); !strings.HasPrefix(out, "snapfs ") {
		t.Errorf("-version: %q", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("vgs = [\"e2e\"]\nsnapshot_sise = \"2G\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := sh(t, bin+" -config "+bad+" "+t.TempDir())
	if err == nil || !strings.Contains(out, "line 2") || !strings.Contains(out, "snapshot_sise") {
		t.Errorf("unknown key: %v %q", err, out)
	}
	if out, err := sh(t, bin+" -config /nonexistent.toml "+t.TempDir()); err == nil {
		t.Errorf("a missing -config file was accepted: %q", out)
	}
}
