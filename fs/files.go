package fs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/snapfs/snapfs/model"
)

// renderFunc renders a file's content from the current model and the live
// status of dm (which may be nil).
type renderFunc func(t *model.Tree, dm model.DeviceMapper) ([]byte, error)

// infoFile is a read-only file whose content is rendered when it is opened,
// into a handle that keeps it while the file stays open. It is opened with
// FOPEN_DIRECT_IO, so reads are not cut at a stale st_size, and fstat on the
// open file reports the handle's length.
type infoFile struct {
	gofs.Inode
	fs     *FS
	name   string
	render renderFunc
	// sized, when set, may tell the file's size for the kernel without
	// rendering it (ok false: render).
	sized func(t *model.Tree) (size int, ok bool)
	// told is the size the kernel was told last, plus one (0: none yet),
	// for Open.
	told atomic.Int64
}

var (
	_ = (gofs.NodeOpener)((*infoFile)(nil))
	_ = (gofs.NodeGetattrer)((*infoFile)(nil))
	_ = (gofs.NodeSetattrer)((*infoFile)(nil))
)

func (f *FS) infoInode(ctx context.Context, parent *gofs.Inode, n uint64, name string, out *fuse.EntryOut, render renderFunc) *gofs.Inode {
	return f.sizedInfoInode(ctx, parent, n, name, out, render, nil)
}

// sizedInfoInode is infoInode for a file whose size sized may tell without
// rendering it.
func (f *FS) sizedInfoInode(ctx context.Context, parent *gofs.Inode, n uint64, name string, out *fuse.EntryOut, render renderFunc,
	sized func(*model.Tree) (int, bool)) *gofs.Inode {
	inode := f.childInode(ctx, parent, name, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: n}, func() gofs.InodeEmbedder {
		return &infoFile{fs: f, name: name, render: render, sized: sized}
	})
	// The node that renders is the one go-fuse keeps for the file.
	node, ok := inode.Operations().(*infoFile)
	if ok {
		render, sized = node.render, node.sized
	}
	size, _ := f.infoSize(render, sized)
	fileAttr(&out.Attr, n, 0o444, size)
	out.SetAttrTimeout(infoAttrTimeout)
	if ok {
		node.tellSize(size)
	}
	return inode
}

// infoSize is the size of an info file to tell the kernel: sized's, when
// it tells one, else the length of its content rendered with f.sizeDM.
func (f *FS) infoSize(render renderFunc, sized func(*model.Tree) (int, bool)) (int, syscall.Errno) {
	t, err := f.store.Current()
	if err != nil {
		return 0, toErrno(err)
	}
	if sized != nil {
		if size, ok := sized(t); ok {
			return size, 0
		}
	}
	data, err := render(t, f.sizeDM)
	if err != nil {
		return 0, toErrno(err)
	}
	return len(data), 0
}

// childInode returns the node of parent's child name for a lookup: the one
// go-fuse has when it has one of that identity (it keeps that one anyway,
// and would drop a new one at once), else a new one made by newNode.
func (f *FS) childInode(ctx context.Context, parent *gofs.Inode, name string, id gofs.StableAttr, newNode func() gofs.InodeEmbedder) *gofs.Inode {
	if child := parent.GetChild(name); child != nil && child.StableAttr() == id {
		return child
	}
	return parent.NewInode(ctx, newNode(), id)
}

// tellSize records the size the kernel is told of the file, for Open.
func (n *infoFile) tellSize(size int) { n.told.Store(int64(size) + 1) }

// toldSize returns the size the kernel was told last of the file.
func (n *infoFile) toldSize() (int, bool) {
	told := n.told.Load()
	return int(told - 1), told != 0
}

// infoAttrTimeout is how long the kernel may answer a stat of a status
// file from its cache (a walk of the tree then costs no request per file).
// The size it tells may be that long old, but a process gets the size of
// what it reads: Open renders the content, and when its size is not the
// one the kernel was told last, it has the kernel forget the attributes,
// so that an fstat of the open file asks snapfs (Getattr of the handle).
const infoAttrTimeout = time.Second

func fileAttr(a *fuse.Attr, n uint64, perm uint32, size int) {
	a.Ino = n
	a.Mode = syscall.S_IFREG | perm
	a.Nlink = 1
	a.Size = uint64(size)
	a.SetTimes(&startTime, &startTime, &startTime)
}

// content renders the file from the current model and dm: f.dm for what a
// process reads, f.sizeDM for a size the kernel is told.
func (n *infoFile) content(dm model.DeviceMapper) ([]byte, syscall.Errno) {
	return n.fs.content(n.render, dm)
}

// content renders with render from the current model and dm.
func (f *FS) content(render renderFunc, dm model.DeviceMapper) ([]byte, syscall.Errno) {
	t, err := f.store.Current()
	if err != nil {
		return nil, toErrno(err)
	}
	data, err := render(t, dm)
	if err != nil {
		return nil, toErrno(err)
	}
	return data, 0
}

func (n *infoFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var size int
	if h, ok := fh.(*contentHandle); ok {
		size = len(h.data)
	} else {
		var errno syscall.Errno
		if size, errno = n.fs.infoSize(n.render, n.sized); errno != 0 {
			return errno
		}
	}
	fileAttr(&out.Attr, n.StableAttr().Ino, 0o444, size)
	out.SetTimeout(infoAttrTimeout)
	n.tellSize(size)
	return 0
}

func (n *infoFile) Setattr(context.Context, gofs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

func (n *infoFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EPERM
	}
	data, errno := n.content(n.fs.dm)
	if errno != 0 {
		return nil, 0, errno
	}
	if told, ok := n.toldSize(); !ok || told != len(data) {
		// Attributes only (offset -1): there is no page cache to drop.
		n.NotifyContent(-1, 0)
	}
	return &contentHandle{data: data}, fuse.FOPEN_DIRECT_IO | noFlush, 0
}

// noFlush (FOPEN_NOFLUSH) spares each close of a file of snapfs a FLUSH
// request, a round trip the closing process waits for: no file of snapfs
// does anything at flush (a ctl command acts, and answers, at its write;
// an image's device is closed at release, which comes after the close
// either way). A kernel without it (before 5.16) sends FLUSH as before.
const noFlush = fuse.FOPEN_NOFLUSH

// contentHandle is one open of an infoFile: the content rendered at open.
type contentHandle struct{ data []byte }

var _ = (gofs.FileReader)((*contentHandle)(nil))

func (h *contentHandle) Read(_ context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(h.data)) {
		end = int64(len(h.data))
	}
	return fuse.ReadResultData(h.data[off:end]), 0
}

// lvRenderer returns the renderer of file name in the directory of LV uuid.
func (f *FS) lvRenderer(uuid, name string) renderFunc {
	return func(t *model.Tree, dm model.DeviceMapper) ([]byte, error) {
		e := t.LV(uuid)
		if e == nil {
			return nil, model.ErrGone
		}
		return model.RenderLVFile(e, name, dm, f.domainsOf, f.extras)
	}
}

// ctlFile is a write-only control file (a snapshot's, a checkpoint's):
// each write is one command, which apply carries out when the write
// arrives; where names the file's directory for the audit line.
type ctlFile struct {
	gofs.Inode
	fs    *FS
	where func() string
	alive func() error // ENOENT's error once the directory is gone
	apply func(ctx context.Context, data []byte) error
}

var (
	_ = (gofs.NodeOpener)((*ctlFile)(nil))
	_ = (gofs.NodeGetattrer)((*ctlFile)(nil))
	_ = (gofs.NodeSetattrer)((*ctlFile)(nil))
)

func (f *FS) ctlInode(ctx context.Context, parent *gofs.Inode, e *model.LVEntry, out *fuse.EntryOut) *gofs.Inode {
	n := ino("lv", e.LV.UUID, "ctl")
	f.ctlAttr(&out.Attr, n)
	// Its attributes never change.
	out.SetAttrTimeout(infoAttrTimeout)
	uuid := e.LV.UUID
	return f.childInode(ctx, parent, "ctl", gofs.StableAttr{Mode: syscall.S_IFREG, Ino: n}, func() gofs.InodeEmbedder {
		where := func() string {
			if e, err := f.store.Lookup(uuid); err == nil {
				return e.String()
			}
			return uuid
		}
		apply := func(ctx context.Context, data []byte) error {
			e, err := f.store.Lookup(uuid)
			if err != nil {
				return err
			}
			return f.ops.Control(ctx, e, data)
		}
		alive := func() error { _, err := f.store.Lookup(uuid); return err }
		return &ctlFile{fs: f, where: where, alive: alive, apply: apply}
	})
}

func (f *FS) ctlAttr(a *fuse.Attr, n uint64) {
	perm := uint32(0o200)
	if f.opts.AdminGID >= 0 {
		perm = 0o220
		a.Gid = uint32(f.opts.AdminGID)
	}
	fileAttr(a, n, perm, 0)
}

func (n *ctlFile) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if err := n.alive(); err != nil {
		return toErrno(err)
	}
	n.fs.ctlAttr(&out.Attr, n.StableAttr().Ino)
	out.SetTimeout(infoAttrTimeout)
	return 0
}

// Setattr accepts only the truncation to zero that `echo cmd > ctl` asks for.
func (n *ctlFile) Setattr(ctx context.Context, _ gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); !ok || sz != 0 {
		return syscall.EPERM
	}
	n.fs.ctlAttr(&out.Attr, n.StableAttr().Ino)
	return 0
}

// Open allows writing only: reading ctl is refused with EACCES, as its mode
// says, also for root (which the kernel lets past the mode bits).
func (n *ctlFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_WRONLY {
		return nil, 0, syscall.EACCES
	}
	return &ctlHandle{node: n}, fuse.FOPEN_DIRECT_IO | noFlush, 0
}

// ctlHandle is one open of ctl.
type ctlHandle struct {
	node *ctlFile
	mu   sync.Mutex
}

var _ = (gofs.FileWriter)((*ctlHandle)(nil))

func (h *ctlHandle) Write(ctx context.Context, data []byte, _ int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	path := h.node.where() + ": " + string(trimNewline(data))
	errno := h.node.fs.change(ctx, "ctl", path, func(lctx context.Context) error {
		return h.node.apply(lctx, data)
	})
	if errno != 0 {
		return 0, errno
	}
	return uint32(len(data)), 0
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
