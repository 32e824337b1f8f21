package fs

import (
	"context"
	"errors"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/snapmount"
)

// filesDir is a snapshot's files/ directory (part ""), or the directory
// files/pN of partition N of a whole-disk image. Either is a mount point:
// snapfs itself only ever shows it empty (nothing mountable) or listing the
// partition directories; what a process sees inside is the snapshot's
// filesystem, which snapmount mounts over it when the process first looks
// inside. The nodes tell snapmount who asks (snapfs's own walks must never
// wait for a mount) and whether a getattr is a chdir.
type filesDir struct {
	gofs.Inode
	refusals
	fs   *FS
	uuid string
	part string
}

var (
	_ = (gofs.NodeLookuper)((*filesDir)(nil))
	_ = (gofs.NodeOpendirer)((*filesDir)(nil))
	_ = (gofs.NodeReaddirer)((*filesDir)(nil))
	_ = (gofs.NodeGetattrer)((*filesDir)(nil))
	_ = (gofs.NodeMkdirer)((*filesDir)(nil))
	_ = (gofs.NodeRmdirer)((*filesDir)(nil))
	_ = (gofs.NodeRenamer)((*filesDir)(nil))
)

// mountErrno is the answer to a look inside a mount point: ESTALE makes the
// kernel walk the path again (LOOKUP_REVAL), this time into the mount;
// EINTR when the caller gave up waiting; else as ops.Errno says.
func mountErrno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, snapmount.ErrWalkAgain):
		return syscall.ESTALE
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	}
	return toErrno(err)
}

func filesIno(uuid, part string) uint64 {
	if part == "" {
		return ino("lv", uuid, "files")
	}
	return ino("lv", uuid, "files", part)
}

func (f *FS) filesInode(ctx context.Context, parent *gofs.Inode, e *model.LVEntry, part string, out *fuse.EntryOut) *gofs.Inode {
	n := filesIno(e.LV.UUID, part)
	f.filesAttr(&out.Attr, n, e, 0)
	out.SetAttrTimeout(f.filesAttrTimeout(e.LV.UUID, part))
	name := part
	if name == "" {
		name = "files"
	}
	return f.childInode(ctx, parent, name, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: n}, func() gofs.InodeEmbedder {
		return &filesDir{fs: f, uuid: e.LV.UUID, part: part}
	})
}

// filesAttr fills the attributes of the directory under the mount: entered
// by root (and admin_group) only, as the filesystem mounted over it is
// (snapmount's gate), and writable by none, since nothing can change in it.
func (f *FS) filesAttr(a *fuse.Attr, n uint64, e *model.LVEntry, subdirs int) {
	a.Ino = n
	f.dataMode(a, syscall.S_IFDIR|0o700)
	a.Nlink = uint32(2 + subdirs)
	if t := e.LV.Time; !t.IsZero() {
		a.SetTimes(&t, &t, &t)
	}
}

// filesAttrTimeout is how long the kernel may cache the attributes of
// mount point part of snapshot uuid: not at all (0) while a chdir into it
// may mount something, since chdir's permission check must reach snapfs
// (see Getattr); as long as a directory's once the snapshot is known to
// hold nothing to mount there, where Getattr would not look at a chdir
// anyway. A walk of the tree then costs no round trip for the stat and the
// permission checks of each files/ besides listing it.
func (f *FS) filesAttrTimeout(uuid, part string) time.Duration {
	if f.mounts.NothingToMount(uuid, part) {
		return dirTimeout
	}
	return 0
}

// waitMounted holds a lookup of mount point part of snapshot uuid while it
// is being mounted, so the walk that looks it up crosses into the new mount.
// snapfs's own walks (the mounting goroutine's) never wait.
func (f *FS) waitMounted(ctx context.Context, uuid, part string) syscall.Errno {
	// Every listing of a snapshot directory looks files up: only while it
	// is being mounted does it matter who asks.
	if !f.mounts.Mounting(uuid, part) || ownRequest(ctx) {
		return 0
	}
	return mountErrno(f.mounts.WaitMounted(ctx, uuid, part))
}

func (n *filesDir) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, err := n.fs.store.Lookup(n.uuid)
	if err != nil {
		return toErrno(err)
	}
	// chdir into files/ shows up here only, as the permission check of the
	// directory it is about to enter. snapfs never calls chdir, so its own
	// requests are told apart only then. The caller's system call is read
	// only when a chdir could mount something: a walk of the tree checks
	// each files/ four times, and a snapshot found to hold nothing to mount
	// (once a look inside prepared it) needs none of those reads, nor,
	// with the attributes cached then, the round trips.
	if !n.fs.mounts.NothingToMount(n.uuid, n.part) && callerInChdir(ctx) && !ownRequest(ctx) {
		if errno := mountErrno(n.fs.mounts.Enter(withCaller(ctx), n.uuid, n.part, true)); errno != 0 {
			return errno
		}
	}
	subdirs := 0
	if n.part == "" {
		subdirs = len(n.fs.mounts.Partitions(n.uuid))
	}
	n.fs.filesAttr(&out.Attr, n.StableAttr().Ino, e, subdirs)
	out.SetTimeout(n.fs.filesAttrTimeout(n.uuid, n.part))
	return 0
}

func (n *filesDir) Opendir(ctx context.Context) syscall.Errno {
	if ownRequest(ctx) {
		return 0
	}
	return mountErrno(n.fs.mounts.Enter(withCaller(ctx), n.uuid, n.part, true))
}

func (n *filesDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	if _, err := n.fs.store.Lookup(n.uuid); err != nil {
		return nil, toErrno(err)
	}
	var entries []fuse.DirEntry
	if n.part == "" {
		n.fs.mounts.Touch(n.uuid)
		// Prepared at opendir, unless forgotten since: a directory left
		// open (a shell in files/) outlives files_idle.
		if !ownRequest(ctx) {
			if err := n.fs.mounts.Prepare(withCaller(ctx), n.uuid); err != nil {
				return nil, mountErrno(err)
			}
		}
		for _, p := range n.fs.mounts.Partitions(n.uuid) {
			entries = append(entries, fuse.DirEntry{Name: p, Mode: syscall.S_IFDIR, Ino: filesIno(n.uuid, p)})
		}
	}
	return sortedStream(entries), 0
}

func (n *filesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := n.fs.store.Lookup(n.uuid)
	if err != nil {
		return nil, toErrno(err)
	}
	own := ownRequest(ctx)
	if n.part == "" && !own {
		if err := n.fs.mounts.Prepare(withCaller(ctx), n.uuid); err != nil {
			return nil, mountErrno(err)
		}
	}
	if parts := n.fs.mounts.Partitions(n.uuid); n.part == "" && len(parts) > 0 {
		for _, p := range parts {
			if p != name {
				continue
			}
			if errno := n.fs.waitMounted(ctx, n.uuid, p); errno != 0 {
				return nil, errno
			}
			return n.fs.filesInode(ctx, &n.Inode, e, p, out), 0
		}
		return nil, syscall.ENOENT
	}
	if own {
		return nil, syscall.ENOENT
	}
	// A name inside a mount point: the caller is under the mount.
	if errno := mountErrno(n.fs.mounts.Enter(withCaller(ctx), n.uuid, n.part, false)); errno != 0 {
		return nil, errno
	}
	return nil, syscall.ENOENT
}

func (n *filesDir) Mkdir(ctx context.Context, name string, _ uint32, _ *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *filesDir) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EPERM }

func (n *filesDir) Rename(ctx context.Context, name string, _ gofs.InodeEmbedder, newName string, _ uint32) syscall.Errno {
	return syscall.EPERM
}
