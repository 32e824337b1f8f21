package fs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// MountConfig says how the tree is mounted.
type MountConfig struct {
	// AllowOther lets users other than root see the tree (allow_other).
	AllowOther bool
	// Debug logs every FUSE request and reply.
	Debug bool
	// Source is the mount's source (fsname): what /proc/mounts and df show.
	Source string
	// Flags are the mount(2) flags (MS_NOSUID, MS_NODEV, ...).
	Flags uintptr
	// Logger receives go-fuse's own messages: its warnings, and with Debug
	// every request.
	Logger *slog.Logger
}

// Server is the tree, mounted and served.
type Server struct {
	*fuse.Server
}

// Passthrough tells whether the kernel took FUSE passthrough (Linux 6.9
// and later): image reads of a regular file then never reach snapfs.
func (s *Server) Passthrough() bool {
	return s.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0
}

// Mount mounts the tree on mountpoint, an absolute path, and serves it; it
// returns once the kernel's first request through the mount has been
// answered. It then raises the mount's readahead (RaiseReadahead), logging
// when it cannot. go-fuse's Mount also fails after mounting, when that
// first request fails (LVM ran past command_timeout, say): the mount does
// not stay behind, stale, and the files/ mounts are let go.
func (f *FS) Mount(mountpoint string, c MountConfig) (*Server, error) {
	opts := MountOptions(c.AllowOther, c.Debug)
	if c.Source != "" {
		opts.FsName = c.Source
	}
	opts.DirectMountFlags = c.Flags
	if c.Logger != nil {
		level := slog.LevelWarn
		if c.Debug {
			level = slog.LevelDebug
		}
		opts.Logger = slog.NewLogLogger(c.Logger.Handler(), level)
	}
	server, err := gofs.Mount(mountpoint, f.Root(), opts)
	if err != nil {
		f.Close()
		if _, found, _ := fuseMountDevice(mountpoint); found {
			if uerr := unix.Unmount(mountpoint, unix.MNT_DETACH); uerr != nil {
				f.log().Error("unmounting after the failed start", "mountpoint", mountpoint, "err", uerr)
			}
		}
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	if err := RaiseReadahead(mountpoint); err != nil {
		f.log().Warn("image reads keep the kernel's default readahead", "err", err)
	}
	return &Server{server}, nil
}

// MountLoopback mounts go-fuse's own loopback file system of dir on mnt
// with snapfs's mount options and readahead, and the one-second entry and
// attribute timeouts of snapfs's directories and status files for every
// node: what any go-fuse file system of that tree costs, the floor the
// benchmarks (make bench, and fs's walk benchmark) hold snapfs to. It
// returns the function that unmounts it.
func MountLoopback(dir, mnt string) (unmount func() error, err error) {
	root, err := gofs.NewLoopbackRoot(dir)
	if err != nil {
		return nil, err
	}
	opts := MountOptions(false, false)
	second := time.Second
	opts.EntryTimeout, opts.AttrTimeout = &second, &second
	server, err := gofs.Mount(mnt, root, opts)
	if err != nil {
		return nil, err
	}
	unmount = func() error {
		err := server.Unmount()
		server.Wait()
		return err
	}
	if err := RaiseReadahead(mnt); err != nil {
		unmount()
		return nil, err
	}
	return unmount, nil
}

// CopyShape copies the shape of the tree at src to dst, for the floor of
// MountLoopback: its directories, and empty (sparse) files of the same
// names and sizes; files/ directories are left empty.
func CopyShape(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			if d.Name() == "files" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Create(to)
		if err != nil {
			return err
		}
		if err := f.Truncate(info.Size()); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}
