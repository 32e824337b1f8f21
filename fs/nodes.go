package fs

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
)

// The node types only translate between FUSE and the model: each looks its
// volume group or LV up in the current model, by name for a VG and by UUID
// for an LV, so a renamed LV keeps its node and inode number.

// refusals answers every change a directory does not offer with EPERM, so
// that go-fuse's silent-success defaults never apply.
type refusals struct{}

var (
	_ = (gofs.NodeUnlinker)((*refusals)(nil))
	_ = (gofs.NodeCreater)((*refusals)(nil))
	_ = (gofs.NodeMknoder)((*refusals)(nil))
	_ = (gofs.NodeSymlinker)((*refusals)(nil))
	_ = (gofs.NodeLinker)((*refusals)(nil))
	_ = (gofs.NodeSetattrer)((*refusals)(nil))
)

func (refusals) Unlink(context.Context, string) syscall.Errno { return syscall.EPERM }
func (refusals) Create(context.Context, string, uint32, uint32, *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}
func (refusals) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}
func (refusals) Symlink(context.Context, string, string, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}
func (refusals) Link(context.Context, gofs.InodeEmbedder, string, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}
func (refusals) Setattr(context.Context, gofs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

// dirTimeout is how long the kernel may cache what invalidate does not
// keep true: the entries of events, metrics, image, ctl and files/, and
// the xen/ tree (the mount's default entry timeout). Status files'
// attributes have their own (infoAttrTimeout).
const dirTimeout = time.Second

// treeTimeout is how long the kernel may cache the tree that the model
// shows: the root's attributes, the entries and attributes of the VG and
// LV directories, and the entries of their status files. With
// default_permissions every path walk needs the attributes of each
// directory it passes, and every name not in the cache costs a LOOKUP: at
// one second, a cold cat of V/O/s/allocated made seven round trips to
// snapfs (a LOOKUP of each of its four names, the open, two reads), with
// this four (the file's attributes, which stay at infoAttrTimeout, the
// open, two reads). What keeps the cache true is invalidate: each new
// model is compared with the last, and the kernel is told of every name
// gone or moved and of every directory whose link count changed. The
// change stamp is read every second (state.Store.KeepFresh, which serve
// runs), so a change made by hand reaches the model, and with it the
// kernel, within two seconds plus one report. A new name needs no notice:
// a failed lookup is not cached (no NegativeTimeout).
const treeTimeout = time.Hour

// treeEntry sets treeTimeout for the entry and attributes of a VG or LV
// directory.
func treeEntry(out *fuse.EntryOut) {
	out.SetEntryTimeout(treeTimeout)
	out.SetAttrTimeout(treeTimeout)
}

// dirAttr fills the attributes of a directory.
func (f *FS) dirAttr(a *fuse.Attr, n uint64, t time.Time, subdirs int) {
	a.Ino = n
	a.Mode = syscall.S_IFDIR | 0o755
	if f.opts.AdminGID >= 0 {
		a.Mode = syscall.S_IFDIR | 0o775
		a.Gid = uint32(f.opts.AdminGID)
	}
	a.Nlink = uint32(2 + subdirs)
	if !t.IsZero() {
		a.SetTimes(&t, &t, &t)
	}
}

// dataMode sets the mode of a snapshot's data (image, files/), which only
// root may read: mode, with the owner's read and execute bits given to
// admin_group, when there is one.
func (f *FS) dataMode(a *fuse.Attr, mode uint32) {
	a.Mode, a.Gid = mode, 0
	if f.opts.AdminGID >= 0 {
		a.Mode |= (mode & 0o500) >> 3
		a.Gid = uint32(f.opts.AdminGID)
	}
}

// startTime is when snapfs started: the time of the root and VG directories
// and of the status files.
var startTime = time.Now()

// ---- root ----

type rootNode struct {
	gofs.Inode
	refusals
	fs *FS
}

var (
	_ = (gofs.NodeLookuper)((*rootNode)(nil))
	_ = (gofs.NodeReaddirer)((*rootNode)(nil))
	_ = (gofs.NodeGetattrer)((*rootNode)(nil))
	_ = (gofs.NodeMkdirer)((*rootNode)(nil))
	_ = (gofs.NodeRmdirer)((*rootNode)(nil))
	_ = (gofs.NodeRenamer)((*rootNode)(nil))
)

func (n *rootNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	t, err := n.fs.store.Current()
	if err != nil {
		return toErrno(err)
	}
	n.fs.dirAttr(&out.Attr, 1, startTime, len(t.VGs))
	out.SetTimeout(treeTimeout)
	return 0
}

func (n *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, err := n.fs.store.Current()
	if err != nil {
		return nil, toErrno(err)
	}
	switch {
	case name == "events" && n.fs.events != nil:
		return n.fs.eventsInode(ctx, &n.Inode, out), 0
	case name == "metrics" && n.fs.metrics != nil:
		return n.fs.metricsInode(ctx, &n.Inode, out), 0
	case name == "xen" && n.fs.xen != nil && n.fs.checkpoints != nil:
		return n.fs.xenInode(ctx, &n.Inode, out), 0
	}
	v := t.VG(name)
	if v == nil {
		return nil, syscall.ENOENT
	}
	treeEntry(out)
	return n.fs.vgInode(ctx, &n.Inode, v, &out.Attr), 0
}

func (n *rootNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	t, err := n.fs.store.Current()
	if err != nil {
		return nil, toErrno(err)
	}
	entries := append(make([]fuse.DirEntry, 0, len(t.VGs)+2), n.fs.rootFiles()...)
	for _, v := range t.VGs {
		entries = append(entries, fuse.DirEntry{Name: v.VG.Name, Mode: syscall.S_IFDIR, Ino: vgIno(v)})
	}
	return sortedStream(entries), 0
}

func (n *rootNode) Mkdir(ctx context.Context, name string, _ uint32, _ *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, n.fs.change(ctx, "mkdir", name, func(context.Context) error {
		return fmt.Errorf("mkdir at the root (volume groups are made with vgcreate): %w", ops.ErrNotAllowed)
	})
}

func (n *rootNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(ctx, "rmdir", name, func(context.Context) error {
		return fmt.Errorf("rmdir of volume group %s: %w", name, ops.ErrNotAllowed)
	})
}

func (n *rootNode) Rename(ctx context.Context, name string, _ gofs.InodeEmbedder, newName string, _ uint32) syscall.Errno {
	return n.fs.change(ctx, "rename", name, func(context.Context) error {
		return fmt.Errorf("rename of volume group %s to %s: %w", name, newName, ops.ErrNotAllowed)
	})
}

// ---- volume group ----

type vgNode struct {
	gofs.Inode
	refusals
	fs   *FS
	name string
}

var (
	_ = (gofs.NodeLookuper)((*vgNode)(nil))
	_ = (gofs.NodeReaddirer)((*vgNode)(nil))
	_ = (gofs.NodeGetattrer)((*vgNode)(nil))
	_ = (gofs.NodeMkdirer)((*vgNode)(nil))
	_ = (gofs.NodeRmdirer)((*vgNode)(nil))
	_ = (gofs.NodeRenamer)((*vgNode)(nil))
)

func vgIno(v *model.VGEntry) uint64 { return ino("vg", v.VG.UUID) }

func (f *FS) vgInode(ctx context.Context, parent *gofs.Inode, v *model.VGEntry, a *fuse.Attr) *gofs.Inode {
	f.dirAttr(a, vgIno(v), startTime, len(v.Origins))
	return f.childInode(ctx, parent, v.VG.Name, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: vgIno(v)}, func() gofs.InodeEmbedder {
		return &vgNode{fs: f, name: v.VG.Name}
	})
}

func (n *vgNode) vg() (*model.VGEntry, syscall.Errno) {
	t, err := n.fs.store.Current()
	if err != nil {
		return nil, toErrno(err)
	}
	v := t.VG(n.name)
	if v == nil {
		return nil, syscall.ENOENT
	}
	return v, 0
}

func (n *vgNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	v, errno := n.vg()
	if errno != 0 {
		return errno
	}
	n.fs.dirAttr(&out.Attr, vgIno(v), startTime, len(v.Origins))
	out.SetTimeout(treeTimeout)
	return 0
}

func (n *vgNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	v, errno := n.vg()
	if errno != 0 {
		return nil, errno
	}
	if model.IsFixedName(name, model.VGFiles) {
		vgName := v.VG.Name
		inode := n.fs.infoInode(ctx, &n.Inode, ino("vg", v.VG.UUID, name), name, out, func(t *model.Tree, _ model.DeviceMapper) ([]byte, error) {
			v := t.VG(vgName)
			if v == nil {
				return nil, model.ErrGone
			}
			return model.RenderVGFile(name, v, n.fs.extras), nil
		})
		out.SetEntryTimeout(treeTimeout)
		return inode, 0
	}
	o := v.Origin(name)
	if o == nil {
		return nil, syscall.ENOENT
	}
	treeEntry(out)
	return n.fs.lvInode(ctx, &n.Inode, o, &out.Attr), 0
}

func (n *vgNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	v, errno := n.vg()
	if errno != 0 {
		return nil, errno
	}
	entries := make([]fuse.DirEntry, 0, len(v.Origins)+len(model.VGFiles))
	for _, name := range model.VGFiles {
		entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: ino("vg", v.VG.UUID, name)})
	}
	for _, o := range v.Origins {
		entries = append(entries, fuse.DirEntry{Name: o.LV.Name, Mode: syscall.S_IFDIR, Ino: lvIno(o)})
	}
	return sortedStream(entries), 0
}

func (n *vgNode) Mkdir(ctx context.Context, name string, _ uint32, _ *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, n.fs.change(ctx, "mkdir", n.name+"/"+name, func(context.Context) error {
		return fmt.Errorf("mkdir in a volume group directory (origins are made with lvcreate): %w", ops.ErrNotAllowed)
	})
}

func (n *vgNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(ctx, "rmdir", n.name+"/"+name, func(context.Context) error {
		return fmt.Errorf("rmdir of origin %s/%s: %w", n.name, name, ops.ErrNotAllowed)
	})
}

func (n *vgNode) Rename(ctx context.Context, name string, _ gofs.InodeEmbedder, newName string, _ uint32) syscall.Errno {
	return n.fs.change(ctx, "rename", n.name+"/"+name, func(context.Context) error {
		return fmt.Errorf("rename of origin %s/%s to %s: %w", n.name, name, newName, ops.ErrNotAllowed)
	})
}

// ---- origin and snapshot directories ----

// lvNode is the directory of an LV: an origin, or a snapshot. Both list the
// snapshots taken of them (only thin snapshots have snapshots of their own)
// and answer mkdir, rmdir and rename of those snapshots; they differ in their
// fixed files.
type lvNode struct {
	gofs.Inode
	refusals
	fs   *FS
	uuid string
}

var (
	_ = (gofs.NodeLookuper)((*lvNode)(nil))
	_ = (gofs.NodeReaddirer)((*lvNode)(nil))
	_ = (gofs.NodeGetattrer)((*lvNode)(nil))
	_ = (gofs.NodeMkdirer)((*lvNode)(nil))
	_ = (gofs.NodeRmdirer)((*lvNode)(nil))
	_ = (gofs.NodeRenamer)((*lvNode)(nil))
)

func lvIno(e *model.LVEntry) uint64 { return ino("lv", e.LV.UUID) }

func (f *FS) lvAttr(a *fuse.Attr, e *model.LVEntry) {
	subdirs := len(e.Snaps)
	if e.IsSnapshot() {
		subdirs++ // files/
	}
	f.dirAttr(a, lvIno(e), e.LV.Time, subdirs)
}

func (f *FS) lvInode(ctx context.Context, parent *gofs.Inode, e *model.LVEntry, a *fuse.Attr) *gofs.Inode {
	f.lvAttr(a, e)
	return f.childInode(ctx, parent, e.LV.Name, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: lvIno(e)}, func() gofs.InodeEmbedder {
		return &lvNode{fs: f, uuid: e.LV.UUID}
	})
}

func (n *lvNode) entry() (*model.LVEntry, syscall.Errno) {
	e, err := n.fs.store.Lookup(n.uuid)
	return e, toErrno(err)
}

// path names a child of this directory for the audit log: "vg/lv/name".
func (n *lvNode) path(name string) string {
	if e, err := n.fs.store.Lookup(n.uuid); err == nil {
		return e.String() + "/" + name
	}
	return n.uuid + "/" + name
}

func (n *lvNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, errno := n.entry()
	if errno != 0 {
		return errno
	}
	n.fs.lvAttr(&out.Attr, e)
	out.SetTimeout(treeTimeout)
	return 0
}

func (n *lvNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, errno := n.entry()
	if errno != 0 {
		return nil, errno
	}
	if e.IsSnapshot() {
		switch name {
		case "ctl":
			return n.fs.ctlInode(ctx, &n.Inode, e, out), 0
		case "image":
			return n.fs.imageInode(ctx, &n.Inode, e, out), 0
		case "files":
			// The walk of a process that looked inside files/ before it
			// was mounted comes back here (see snapmount): hold it until the
			// mount is there to cross into.
			if errno := n.fs.waitMounted(ctx, n.uuid, ""); errno != 0 {
				return nil, errno
			}
			return n.fs.filesInode(ctx, &n.Inode, e, "", out), 0
		}
	}
	if model.IsFixedName(name, e.FileNames()) {
		inode := n.fs.infoInode(ctx, &n.Inode, ino("lv", e.LV.UUID, name), name, out, n.fs.lvRenderer(n.uuid, name))
		out.SetEntryTimeout(treeTimeout)
		return inode, 0
	}
	s := e.Child(name)
	if s == nil {
		return nil, syscall.ENOENT
	}
	treeEntry(out)
	return n.fs.lvInode(ctx, &n.Inode, s, &out.Attr), 0
}

func (n *lvNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	e, errno := n.entry()
	if errno != 0 {
		return nil, errno
	}
	files := e.FileNames()
	entries := make([]fuse.DirEntry, 0, len(files)+len(e.Snaps))
	for _, name := range files {
		entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: ino("lv", e.LV.UUID, name)})
	}
	if e.IsSnapshot() {
		entries = append(entries,
			fuse.DirEntry{Name: "image", Mode: syscall.S_IFREG, Ino: ino("lv", e.LV.UUID, "image")},
			fuse.DirEntry{Name: "files", Mode: syscall.S_IFDIR, Ino: filesIno(e.LV.UUID, "")})
	}
	for _, s := range e.Snaps {
		entries = append(entries, fuse.DirEntry{Name: s.LV.Name, Mode: syscall.S_IFDIR, Ino: lvIno(s)})
	}
	return sortedStream(entries), 0
}

func (n *lvNode) Mkdir(ctx context.Context, name string, _ uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	var made *model.LVEntry
	errno := n.fs.change(ctx, "mkdir", n.path(name), func(lctx context.Context) error {
		e, err := n.fs.store.Lookup(n.uuid)
		if err != nil {
			return err
		}
		made, err = n.fs.ops.Snapshot(lctx, e, name)
		return err
	})
	if errno != 0 {
		return nil, errno
	}
	treeEntry(out)
	return n.fs.lvInode(ctx, &n.Inode, made, &out.Attr), 0
}

func (n *lvNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(ctx, "rmdir", n.path(name), func(lctx context.Context) error {
		e, err := n.fs.store.Lookup(n.uuid)
		if err != nil {
			return err
		}
		s := e.Child(name)
		if s == nil {
			if model.IsFixedName(name, e.FileNames()) {
				return fmt.Errorf("rmdir of file %s/%s: %w", e, name, ops.ErrNotAllowed)
			}
			return fmt.Errorf("%s/%s: %w", e, name, model.ErrGone)
		}
		return n.fs.ops.Remove(lctx, s)
	})
}

func (n *lvNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return n.fs.change(ctx, "rename", n.path(name)+" -> "+newName, func(lctx context.Context) error {
		e, err := n.fs.store.Lookup(n.uuid)
		if err != nil {
			return err
		}
		target, ok := newParent.(*lvNode)
		if !ok || target.uuid != n.uuid {
			return fmt.Errorf("rename of %s/%s out of its origin: %w", e, name, ops.ErrNotAllowed)
		}
		if flags&^uint32(unixRenameNoReplace) != 0 {
			return fmt.Errorf("rename flags %#x: %w", flags, ops.ErrNotAllowed)
		}
		s := e.Child(name)
		if s == nil {
			if model.IsFixedName(name, e.FileNames()) {
				return fmt.Errorf("rename of file %s/%s: %w", e, name, ops.ErrNotAllowed)
			}
			return fmt.Errorf("%s/%s: %w", e, name, model.ErrGone)
		}
		return n.fs.ops.Rename(lctx, s, newName)
	})
}

// unixRenameNoReplace is RENAME_NOREPLACE: harmless, since a rename never
// replaces an existing LV.
const unixRenameNoReplace = 1

func sortedStream(entries []fuse.DirEntry) gofs.DirStream {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return gofs.NewListDirStream(entries)
}
