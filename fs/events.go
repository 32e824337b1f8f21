package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/model"
)

// The root's files: events, a stream of what happens, and metrics, every
// number of the tree in Prometheus's text format.

// eventsFile is MOUNT/events: each open subscribes to the events from that
// moment; a read blocks until the next comes, and returns when the reader
// gives up (Ctrl-C interrupts the FUSE request, which cancels its context).
type eventsFile struct {
	gofs.Inode
	fs *FS
}

var (
	_ = (gofs.NodeOpener)((*eventsFile)(nil))
	_ = (gofs.NodeGetattrer)((*eventsFile)(nil))
	_ = (gofs.NodeSetattrer)((*eventsFile)(nil))
)

func (f *FS) eventsInode(ctx context.Context, parent *gofs.Inode, out *fuse.EntryOut) *gofs.Inode {
	n := ino("root", "events")
	fileAttr(&out.Attr, n, 0o444, 0)
	out.SetAttrTimeout(infoAttrTimeout)
	return parent.NewInode(ctx, &eventsFile{fs: f}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: n})
}

func (n *eventsFile) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fileAttr(&out.Attr, n.StableAttr().Ino, 0o444, 0)
	out.SetTimeout(infoAttrTimeout)
	return 0
}

func (n *eventsFile) Setattr(context.Context, gofs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

// Open subscribes: the reader gets every event from now on. The file is a
// stream: no page cache, no seeking.
func (n *eventsFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EPERM
	}
	return &eventsHandle{r: n.fs.events.Subscribe()}, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NONSEEKABLE | noFlush, 0
}

// eventsHandle is one reader of the events.
type eventsHandle struct{ r *events.Reader }

var (
	_ = (gofs.FileReader)((*eventsHandle)(nil))
	_ = (gofs.FileReleaser)((*eventsHandle)(nil))
)

func (h *eventsHandle) Read(ctx context.Context, dest []byte, _ int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.r.Read(ctx, dest)
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return fuse.ReadResultData(dest[:n]), 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, syscall.EINTR
	}
	return nil, syscall.EIO
}

func (h *eventsHandle) Release(context.Context) syscall.Errno {
	h.r.Close()
	return 0
}

// metricsInode is MOUNT/metrics: an info file rendered at open.
func (f *FS) metricsInode(ctx context.Context, parent *gofs.Inode, out *fuse.EntryOut) *gofs.Inode {
	return f.sizedInfoInode(ctx, parent, ino("root", "metrics"), "metrics", out, func(t *model.Tree, dm model.DeviceMapper) ([]byte, error) {
		data, err := f.metrics(dm)
		if err == nil {
			f.metricsSize.record(t, len(data), time.Now())
		}
		return data, err
	}, func(t *model.Tree) (int, bool) { return f.metricsSize.of(t, time.Now()) })
}

// MetricsSizeAge is how long the size of MOUNT/metrics, once rendered,
// is what the kernel is told of it, while the model stays the same. The
// file renders every number of the tree, a device-mapper read for each LV
// (10,000 with 5,000 LVs), which a walk of the tree would otherwise pay
// at the root's listing only to tell its size. Open renders it anew and,
// when its size is not the one told, has the kernel forget the one told,
// as for every status file.
const MetricsSizeAge = 5 * time.Minute

// renderedSize is the size of the last rendering of a file, and the model
// it was rendered from.
type renderedSize struct {
	mu   sync.Mutex
	tree *model.Tree
	at   time.Time
	size int
}

func (r *renderedSize) record(t *model.Tree, size int, now time.Time) {
	r.mu.Lock()
	r.tree, r.at, r.size = t, now, size
	r.mu.Unlock()
}

// of returns the size rendered from model t less than MetricsSizeAge
// before now, if any.
func (r *renderedSize) of(t *model.Tree, now time.Time) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.size, r.tree == t && t != nil && now.Sub(r.at) < MetricsSizeAge
}

// rootFiles are the root's file entries, as the configuration has them.
func (f *FS) rootFiles() []fuse.DirEntry {
	var files []fuse.DirEntry
	if f.events != nil {
		files = append(files, fuse.DirEntry{Name: "events", Mode: syscall.S_IFREG, Ino: ino("root", "events")})
	}
	if f.metrics != nil {
		files = append(files, fuse.DirEntry{Name: "metrics", Mode: syscall.S_IFREG, Ino: ino("root", "metrics")})
	}
	if f.xen != nil && f.checkpoints != nil {
		files = append(files, fuse.DirEntry{Name: "xen", Mode: syscall.S_IFDIR, Ino: ino("xen")})
	}
	return files
}
