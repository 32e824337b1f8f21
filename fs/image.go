package fs

import (
	"context"
	"os"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/snapfs/snapfs/model"
	"golang.org/x/sys/unix"
)

// imageFile is a snapshot's image: a read-only regular file whose content is
// the snapshot's block device, st_size bytes long, so that image-level
// backup tools copy it as a plain file.
//
// Reads go straight to the device. Where the kernel takes the device as a
// FUSE passthrough backing file, it reads it without asking snapfs at all;
// otherwise each read is a positional read of the device, spliced into the
// FUSE reply without a copy in snapfs. The kernel's page cache and readahead
// work as for any file (no direct I/O), with requests of up to 1 MiB (see
// MountOptions and RaiseReadahead).
type imageFile struct {
	gofs.Inode
	fs   *FS
	uuid string
}

var (
	_ = (gofs.NodeOpener)((*imageFile)(nil))
	_ = (gofs.NodeGetattrer)((*imageFile)(nil))
	_ = (gofs.NodeSetattrer)((*imageFile)(nil))
)

func (f *FS) imageInode(ctx context.Context, parent *gofs.Inode, e *model.LVEntry, out *fuse.EntryOut) *gofs.Inode {
	n := ino("lv", e.LV.UUID, "image")
	f.imageAttr(&out.Attr, n, e)
	out.SetAttrTimeout(imageAttrTimeout)
	return f.childInode(ctx, parent, "image", gofs.StableAttr{Mode: syscall.S_IFREG, Ino: n}, func() gofs.InodeEmbedder {
		return &imageFile{fs: f, uuid: e.LV.UUID}
	})
}

// imageAttrTimeout is how long the kernel may cache an image's attributes.
// Its size changes only when the origin is extended; without caching, the
// kernel would ask for them before every read (auto_inval_data).
const imageAttrTimeout = time.Second

// imageAttr fills the attributes of snapshot e's image: readable by root
// (and admin_group) only, as the block device is. Its times are the
// snapshot's creation, when its content was taken: a backup tool that skips
// unchanged files by size, time and inode reads a snapshot made anew under
// the same name again (its inode follows the LV's UUID). st_blocks counts
// every byte as allocated: a block device has no holes.
func (f *FS) imageAttr(a *fuse.Attr, n uint64, e *model.LVEntry) {
	size := model.VisibleSize(e)
	fileAttr(a, n, 0o444, 0)
	f.dataMode(a, syscall.S_IFREG|0o400)
	a.Size = size
	a.Blocks = (size + 511) / 512
	if t := e.LV.Time; !t.IsZero() {
		a.SetTimes(&t, &t, &t)
	}
}

func (n *imageFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(imageAttrTimeout)
	if h, ok := fh.(*imageHandle); ok {
		n.fs.imageAttr(&out.Attr, n.StableAttr().Ino, h.entry)
		return 0
	}
	e, err := n.fs.store.Lookup(n.uuid)
	if err != nil {
		return toErrno(err)
	}
	n.fs.imageAttr(&out.Attr, n.StableAttr().Ino, e)
	return 0
}

func (n *imageFile) Setattr(context.Context, gofs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

func (n *imageFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EPERM
	}
	e, err := n.fs.store.Lookup(n.uuid)
	if err != nil {
		return nil, 0, toErrno(err)
	}
	dev, err := n.fs.ops.Device(withCaller(ctx), e.LV.UUID)
	if err != nil {
		return nil, 0, toErrno(err)
	}
	file, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		n.fs.log().Error("opening image", "snapshot", e.String(), "err", err)
		return nil, 0, syscall.EIO
	}
	// No FOPEN_KEEP_CACHE: each open reads the device anew.
	return &imageHandle{fs: n.fs, file: file, size: model.VisibleSize(e), entry: e}, noFlush, 0
}

// imageHandle is one open of an image: the snapshot's device, open.
type imageHandle struct {
	fs    *FS
	file  *os.File
	size  uint64
	entry *model.LVEntry // as the model showed it at open
}

var (
	_ = (gofs.FileReader)((*imageHandle)(nil))
	_ = (gofs.FileReleaser)((*imageHandle)(nil))
	_ = (gofs.FileGetattrer)((*imageHandle)(nil))
	_ = (gofs.FilePassthroughFder)((*imageHandle)(nil))
)

// PassthroughFd offers the device to the kernel as the passthrough backing
// file. go-fuse registers it when the kernel negotiated passthrough (Linux
// 6.9 and later); when the kernel refuses it, go-fuse turns passthrough off
// for the mount and the kernel sends reads to Read. Linux up to at least
// 6.18 takes only regular files as backing files, so LVM block devices are
// served by Read; a regular file standing in for a device (in the tests)
// is passed through.
func (h *imageHandle) PassthroughFd() (int, bool) { return int(h.file.Fd()), true }

func (h *imageHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.fs.imageReads.Add(1) == 1 {
		h.fs.log().Info("image reads are served by snapfs (no kernel passthrough for the device)", "snapshot", h.entry.String(), "max_read", maxRead)
	}
	if off >= int64(h.size) {
		return fuse.ReadResultData(nil), 0
	}
	size := min(int64(len(dest)), int64(h.size)-off)
	return fuse.ReadResultFd(h.file.Fd(), off, int(size)), 0
}

// Getattr answers fstat of an open image with what the file was at open.
func (h *imageHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(imageAttrTimeout)
	h.fs.imageAttr(&out.Attr, ino("lv", h.entry.LV.UUID, "image"), h.entry)
	return 0
}

func (h *imageHandle) Release(ctx context.Context) syscall.Errno {
	if err := h.file.Close(); err != nil {
		return syscall.EIO
	}
	return 0
}
