package fs

import (
	"context"
	"fmt"
	"sort"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/ops"
)

// XenDomains lists the Xen domains (Domain-0 left out), for MOUNT/xen.
type XenDomains interface {
	List(ctx context.Context) ([]ops.XenDomain, error)
}

// MOUNT/xen: a directory per Xen domain, with its checkpoints.

type xenDir struct {
	gofs.Inode
	refusals
	fs *FS
}

var (
	_ = (gofs.NodeLookuper)((*xenDir)(nil))
	_ = (gofs.NodeReaddirer)((*xenDir)(nil))
	_ = (gofs.NodeGetattrer)((*xenDir)(nil))
	_ = (gofs.NodeMkdirer)((*xenDir)(nil))
	_ = (gofs.NodeRmdirer)((*xenDir)(nil))
	_ = (gofs.NodeRenamer)((*xenDir)(nil))
)

func (f *FS) xenInode(ctx context.Context, parent *gofs.Inode, out *fuse.EntryOut) *gofs.Inode {
	f.dirAttr(&out.Attr, ino("xen"), startTime, 0)
	out.SetAttrTimeout(dirTimeout)
	return parent.NewInode(ctx, &xenDir{fs: f}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("xen")})
}

func (n *xenDir) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fs.dirAttr(&out.Attr, ino("xen"), startTime, 0)
	out.SetTimeout(dirTimeout)
	return 0
}

// xenDomains are the domains xl lists and those with checkpoints, by name.
func (f *FS) xenDomains(ctx context.Context) (map[string]*ops.XenDomain, map[string][]checkpoint.Record) {
	doms := map[string]*ops.XenDomain{}
	if list, err := f.xen.List(ctx); err == nil {
		for i := range list {
			doms[list[i].Name] = &list[i]
		}
	} else {
		f.warn.Warn("xen:"+err.Error(), "listing Xen domains", "err", err)
	}
	ckpts := map[string][]checkpoint.Record{}
	recs, _ := f.checkpoints.List()
	for _, r := range recs {
		ckpts[r.Domain] = append(ckpts[r.Domain], r)
		if doms[r.Domain] == nil {
			doms[r.Domain] = nil
		}
	}
	return doms, ckpts
}

func (n *xenDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	doms, _ := n.fs.xenDomains(ctx)
	entries := make([]fuse.DirEntry, 0, len(doms))
	for name := range doms {
		entries = append(entries, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: ino("xen", name)})
	}
	return sortedStream(entries), 0
}

func (n *xenDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	doms, _ := n.fs.xenDomains(ctx)
	if _, ok := doms[name]; !ok {
		return nil, syscall.ENOENT
	}
	n.fs.dirAttr(&out.Attr, ino("xen", name), startTime, 0)
	out.SetAttrTimeout(dirTimeout)
	return n.NewInode(ctx, &domainDir{fs: n.fs, name: name}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("xen", name)}), 0
}

func (n *xenDir) Mkdir(ctx context.Context, name string, _ uint32, _ *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, n.fs.change(ctx, "mkdir", "xen/"+name, func(context.Context) error {
		return fmt.Errorf("mkdir in xen/ (domains are made with xl create): %w", ops.ErrNotAllowed)
	})
}

func (n *xenDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(ctx, "rmdir", "xen/"+name, func(context.Context) error {
		return fmt.Errorf("rmdir of domain %s: %w", name, ops.ErrNotAllowed)
	})
}

func (n *xenDir) Rename(ctx context.Context, name string, _ gofs.InodeEmbedder, newName string, _ uint32) syscall.Errno {
	return n.fs.change(ctx, "rename", "xen/"+name, func(context.Context) error {
		return fmt.Errorf("rename of domain %s: %w", name, ops.ErrNotAllowed)
	})
}

// domainDir is MOUNT/xen/DOMAIN: its status and its checkpoints.
type domainDir struct {
	gofs.Inode
	refusals
	fs   *FS
	name string
}

var (
	_ = (gofs.NodeLookuper)((*domainDir)(nil))
	_ = (gofs.NodeReaddirer)((*domainDir)(nil))
	_ = (gofs.NodeGetattrer)((*domainDir)(nil))
	_ = (gofs.NodeMkdirer)((*domainDir)(nil))
	_ = (gofs.NodeRmdirer)((*domainDir)(nil))
	_ = (gofs.NodeRenamer)((*domainDir)(nil))
)

func (n *domainDir) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fs.dirAttr(&out.Attr, ino("xen", n.name), startTime, 0)
	out.SetTimeout(dirTimeout)
	return 0
}

func (n *domainDir) records() []checkpoint.Record {
	_, ckpts := n.fs.xenDomains(context.Background())
	recs := ckpts[n.name]
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	return recs
}

func (n *domainDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	entries := []fuse.DirEntry{
		{Name: "status", Mode: syscall.S_IFREG, Ino: ino("xen", n.name, "status")},
		{Name: "status.json", Mode: syscall.S_IFREG, Ino: ino("xen", n.name, "status.json")},
	}
	for _, r := range n.records() {
		entries = append(entries, fuse.DirEntry{Name: r.Name, Mode: syscall.S_IFDIR, Ino: ino("xen", n.name, "ckpt", r.Name)})
	}
	return sortedStream(entries), 0
}

// status renders the domain's status: id and state from xl, its disks as
// the LVs the tree shows, and its checkpoints.
func (n *domainDir) status(file string) ([]byte, error) {
	doms, ckpts := n.fs.xenDomains(context.Background())
	st := model.DomainStatus{Name: n.name, ID: -1}
	if d := doms[n.name]; d != nil {
		st.ID, st.State = d.ID, d.State
		if t, err := n.fs.store.Current(); err == nil {
			for _, dev := range d.Devices {
				st.Disks = append(st.Disks, diskName(t, dev))
			}
		}
	}
	for _, r := range ckpts[n.name] {
		st.Checkpoints = append(st.Checkpoints, r.Name)
	}
	sort.Strings(st.Checkpoints)
	return model.RenderDomain(file, st), nil
}

// diskName is the LV a disk is, "VG/LV", or its device number when it is
// no LV of the tree.
func diskName(t *model.Tree, dev [2]int) string {
	for _, v := range t.VGs {
		for _, o := range v.Origins {
			if o.LV.KernelMajor == dev[0] && o.LV.KernelMinor == dev[1] {
				return o.LV.VG + "/" + o.LV.Name
			}
		}
	}
	return fmt.Sprintf("%d:%d", dev[0], dev[1])
}

func (n *domainDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name == "status" || name == "status.json" {
		return n.fs.infoInode(ctx, &n.Inode, ino("xen", n.name, name), name, out, func(*model.Tree, model.DeviceMapper) ([]byte, error) {
			return n.status(name)
		}), 0
	}
	if _, err := n.fs.checkpoints.Get(n.name, name); err != nil {
		return nil, syscall.ENOENT
	}
	return n.ckptInode(ctx, name, out), 0
}

func (n *domainDir) ckptInode(ctx context.Context, name string, out *fuse.EntryOut) *gofs.Inode {
	i := ino("xen", n.name, "ckpt", name)
	n.fs.dirAttr(&out.Attr, i, startTime, 0)
	out.SetAttrTimeout(dirTimeout)
	return n.NewInode(ctx, &checkpointDir{fs: n.fs, domain: n.name, name: name}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: i})
}

func (n *domainDir) Mkdir(ctx context.Context, name string, _ uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	errno := n.fs.change(ctx, "checkpoint", "xen/"+n.name+"/"+name, func(lctx context.Context) error {
		return n.fs.ops.Checkpoint(lctx, n.name, name)
	})
	if errno != 0 {
		return nil, errno
	}
	return n.ckptInode(ctx, name, out), 0
}

func (n *domainDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(ctx, "rmdir", "xen/"+n.name+"/"+name, func(lctx context.Context) error {
		return n.fs.ops.RemoveCheckpoint(lctx, n.name, name)
	})
}

func (n *domainDir) Rename(ctx context.Context, name string, _ gofs.InodeEmbedder, newName string, _ uint32) syscall.Errno {
	return n.fs.change(ctx, "rename", "xen/"+n.name+"/"+name, func(context.Context) error {
		return fmt.Errorf("rename of checkpoint %s/%s: %w", n.name, name, ops.ErrNotAllowed)
	})
}

// checkpointDir is MOUNT/xen/DOMAIN/NAME: disks, status and ctl.
type checkpointDir struct {
	gofs.Inode
	refusals
	fs           *FS
	domain, name string
}

var (
	_ = (gofs.NodeLookuper)((*checkpointDir)(nil))
	_ = (gofs.NodeReaddirer)((*checkpointDir)(nil))
	_ = (gofs.NodeGetattrer)((*checkpointDir)(nil))
	_ = (gofs.NodeMkdirer)((*checkpointDir)(nil))
	_ = (gofs.NodeRmdirer)((*checkpointDir)(nil))
	_ = (gofs.NodeRenamer)((*checkpointDir)(nil))
)

func (n *checkpointDir) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if _, err := n.fs.checkpoints.Get(n.domain, n.name); err != nil {
		return syscall.ENOENT
	}
	n.fs.dirAttr(&out.Attr, n.StableAttr().Ino, startTime, 0)
	out.SetTimeout(dirTimeout)
	return 0
}

var checkpointFiles = []string{"ctl", "disks", "status", "status.json"}

func (n *checkpointDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	var entries []fuse.DirEntry
	for _, f := range checkpointFiles {
		entries = append(entries, fuse.DirEntry{Name: f, Mode: syscall.S_IFREG, Ino: ino("xen", n.domain, "ckpt", n.name, f)})
	}
	return sortedStream(entries), 0
}

// status is the checkpoint as its record and the model show it.
func (n *checkpointDir) status() (model.CheckpointStatus, error) {
	rec, err := n.fs.checkpoints.Get(n.domain, n.name)
	if err != nil {
		return model.CheckpointStatus{}, fmt.Errorf("checkpoint %s/%s: %v: %w", n.domain, n.name, err, model.ErrGone)
	}
	st := model.CheckpointStatus{Name: rec.Name, Domain: rec.Domain, Created: rec.Created, Memory: rec.Memory, State: rec.Phase}
	t, _ := n.fs.store.Current()
	for _, d := range rec.Disks {
		st.Disks = append(st.Disks, d.VG+"/"+d.Origin+" "+d.VG+"/"+d.Snapshot)
		if t == nil || t.VG(d.VG) == nil {
			continue
		}
		if s := t.VG(d.VG).LVByName(d.Snapshot); s != nil && s.IsSnapshot() && model.SnapshotStatus(n.fs.dm, s).State == model.StateInvalid {
			st.State = model.StateInvalid
		}
	}
	return st, nil
}

func (n *checkpointDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	i := ino("xen", n.domain, "ckpt", n.name, name)
	switch name {
	case "disks", "status", "status.json":
		return n.fs.infoInode(ctx, &n.Inode, i, name, out, func(*model.Tree, model.DeviceMapper) ([]byte, error) {
			st, err := n.status()
			if err != nil {
				return nil, err
			}
			if name == "disks" {
				return model.RenderCheckpointDisks(st), nil
			}
			return model.RenderCheckpoint(name, st), nil
		}), 0
	case "ctl":
		n.fs.ctlAttr(&out.Attr, i)
		out.SetAttrTimeout(infoAttrTimeout)
		where := "xen/" + n.domain + "/" + n.name
		alive := func() error {
			if _, err := n.fs.checkpoints.Get(n.domain, n.name); err != nil {
				return fmt.Errorf("checkpoint %s: %v: %w", where, err, model.ErrGone)
			}
			return nil
		}
		return n.NewInode(ctx, &ctlFile{fs: n.fs, where: func() string { return where }, alive: alive, apply: func(ctx context.Context, data []byte) error {
			return n.fs.ops.CheckpointControl(ctx, n.domain, n.name, data)
		}}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: i}), 0
	}
	return nil, syscall.ENOENT
}

func (n *checkpointDir) Mkdir(ctx context.Context, name string, _ uint32, _ *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *checkpointDir) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EPERM }

func (n *checkpointDir) Rename(ctx context.Context, name string, _ gofs.InodeEmbedder, newName string, _ uint32) syscall.Errno {
	return syscall.EPERM
}
