package snapmount

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A staging directory that is a symbolic link, no directory, or not root's
// is refused; one with another mode is made 0700. A gate is given its owner
// and mode, but refused with anything in it.
func TestStagingDirChecked(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // in the error; "" for none
		log   string // in the log
	}{
		{"made", func(*testing.T, string) {}, "", ""},
		{"symbolic link", func(t *testing.T, dir string) { must(t, os.Symlink(t.TempDir(), dir)) }, "is a symbolic link", ""},
		{"not a directory", func(t *testing.T, dir string) { must(t, os.WriteFile(dir, nil, 0o600)) }, "not a directory", ""},
		{"not root's", func(t *testing.T, dir string) {
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Chown(dir, 1001, 1001))
		}, "owned by uid 1001, not root", ""},
		{"mode 0755", func(t *testing.T, dir string) {
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Chmod(dir, 0o755))
		}, "", "made it 0700"},
		{"gate not root's", func(t *testing.T, dir string) {
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Mkdir(filepath.Join(dir, gateName), 0o700))
			must(t, os.Chmod(filepath.Join(dir, gateName), 0o777))
			must(t, os.Chown(filepath.Join(dir, gateName), 1001, 1001))
		}, "", ""},
		{"gate not empty", func(t *testing.T, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, gateName), 0o700))
			must(t, os.WriteFile(filepath.Join(dir, gateName, "x"), nil, 0o600))
		}, "not empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run/snapfs/files")
			must(t, os.MkdirAll(filepath.Dir(dir), 0o755))
			tc.setup(t, dir)
			logs := &lockedBuffer{}
			m := New(Options{Mountpoint: "/nonexistent", StagingDir: dir, AdminGID: adminGID, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			defer m.Close()
			gate, err := m.stagingReady()
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
					t.Errorf("stagingReady: %v, want an error naming %s: %s", err, dir, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("stagingReady: %v", err)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("the log does not say %q:\n%s", tc.log, logs.String())
			}
			checkOwner(t, dir, 0o700, 0)
			checkOwner(t, gate, 0o750, adminGID)
		})
	}
	if _, err := New(Options{StagingDir: "run/snapfs"}).stagingReady(); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("a relative staging directory: %v", err)
	}
	if got := New(Options{}).opts.StagingDir; got != DefaultStagingDir {
		t.Errorf("the staging directory by default: %s", got)
	}
}

// A refused staging directory mounts nothing, and the log says why.
func TestEnterWithStagingDirRefused(t *testing.T) {
	staging := filepath.Join(t.TempDir(), "staging")
	must(t, os.Symlink(t.TempDir(), staging))
	h := wholeFS(t, Options{StagingDir: staging})
	h.mustEnter(t, "s", "", nil)
	if got := mountsUnder(t, h.dir); len(got) != 0 {
		t.Errorf("mounts: %v", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "mounting files/ failed") || !strings.Contains(logs, staging+" is a symbolic link") {
		t.Errorf("the log does not say why nothing is mounted:\n%s", logs)
	}
}

func checkOwner(t *testing.T, path string, mode, gid uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o7777 != mode || st.Uid != 0 || st.Gid != gid {
		t.Errorf("%s: mode %o owner %d:%d, want a directory %04o 0:%d", path, st.Mode, st.Uid, st.Gid, mode, gid)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
}
