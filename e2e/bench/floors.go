package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	snapfs "github.com/snapfs/snapfs/fs"
)

// loopbackTree makes the walk's floor: what the walk costs with snapfs's
// own work taken away. It copies the shape of the tree (directories, file
// names and sizes; files/ left empty, as it is here) to a tmpfs, times
// ls -lR of that copy (what ls and the kernel cost without FUSE: a note),
// and mounts the copy with go-fuse's own loopback file system, with
// snapfs's mount options and timeouts: what any go-fuse file system with
// this tree costs on this machine. It returns the loopback's mount point
// and the function that takes it all down.
func (b *bench) loopbackTree() (string, func(), error) {
	dir, removeCopy, err := freshTmpfs("bench-tree")
	if err != nil {
		return "", nil, err
	}
	if err := snapfs.CopyShape(b.mnt, dir); err != nil {
		removeCopy()
		return "", nil, err
	}
	var local []time.Duration
	for i := 0; i < b.rounds; i++ {
		if err := timing(&local, "ls", "-lR", dir)(); err != nil {
			removeCopy()
			return "", nil, err
		}
	}
	b.notes = append(b.notes, fmt.Sprintf("walk the tree: ls -lR of a copy of the tree on tmpfs (the same directories, names and sizes) takes %s: ls's own share", ms(median(local))))
	mnt := filepath.Join(workDir, "loopback")
	unmount, err := mountLoopback(dir, mnt)
	if err != nil {
		removeCopy()
		return "", nil, err
	}
	return mnt, func() { unmount(); removeCopy() }, nil
}

// freshTmpfs mounts a new tmpfs named name on a new temporary directory
// and returns the directory and the function that unmounts and removes it.
func freshTmpfs(name string) (string, func(), error) {
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return "", nil, err
	}
	if err := sh("mount", "-t", "tmpfs", name, dir); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() { sh("umount", dir); os.RemoveAll(dir) }, nil
}

// walkFloorTwice walks the loopback copy of the tree at mnt as walkTwice
// walks snapfs: cold (the kernel's caches dropped, its timeouts waited
// out), then warm.
func walkFloorTwice(mnt string) (cold, warm time.Duration, err error) {
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		return 0, 0, err
	}
	time.Sleep(1100 * time.Millisecond)
	if cold, err = timed("ls", "-lR", mnt); err != nil {
		return cold, 0, err
	}
	warm, err = timed("ls", "-lR", mnt)
	return cold, warm, err
}

// mountLoopback mounts go-fuse's loopback of dir on mnt as snapfs mounts
// itself (snapfs.MountLoopback), making mnt first, and returns the
// function that unmounts it.
func mountLoopback(dir, mnt string) (func(), error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	unmount, err := snapfs.MountLoopback(dir, mnt)
	if err != nil {
		return nil, err
	}
	return func() { unmount() }, nil
}

// imageFloor makes the image's floor: the same bytes in a file on ext4 on
// an LV of the VG, to be read by dd directly and through go-fuse's
// loopback of that ext4, mounted with snapfs's options and readahead.
// snapfs serves image reads the way the loopback serves file reads: a
// positional read of a descriptor, spliced into the reply. It returns the
// file through the loopback, the file on ext4 and the function that takes
// it all down.
func (b *bench) imageFloor(size int64) (viaLoopback, onExt4 string, cleanup func(), err error) {
	lv := vgName + "/floor"
	if err := sh("lvcreate", "-q", "-y", "-L", fmt.Sprintf("%dM", floorMB), "-n", "floor", vgName); err != nil {
		return "", "", nil, err
	}
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	undo = append(undo, func() { sh("lvremove", "-q", "-y", lv) })
	if err := sh("mkfs.ext4", "-q", "/dev/"+lv); err != nil {
		return "", "", nil, err
	}
	dir := filepath.Join(workDir, "floor-ext4")
	mnt := filepath.Join(workDir, "floor-loopback")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", nil, err
	}
	if err := sh("mount", "/dev/"+lv, dir); err != nil {
		return "", "", nil, err
	}
	undo = append(undo, func() { sh("umount", dir) })
	file := filepath.Join(dir, "data")
	if err := sh("dd", "if=/dev/"+vgName+"/data", "of="+file, "bs=1M", fmt.Sprint("count=", size>>20), "conv=fsync", "status=none"); err != nil {
		return "", "", nil, err
	}
	unmount, err := mountLoopback(dir, mnt)
	if err != nil {
		return "", "", nil, err
	}
	undo = append(undo, unmount)
	return filepath.Join(mnt, "data"), file, cleanup, nil
}
