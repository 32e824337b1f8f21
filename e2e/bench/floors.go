package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	snapfs "github.com/snapfs/snapfs/fs"
)

// walkFloor measures what the walk would cost with snapfs's own work taken
// away. It copies the shape of the tree (directories, file names and sizes;
// files/ left empty, as it is here) to a tmpfs, and times ls -lR of that
// copy (what ls and the kernel cost without FUSE), then of the same copy
// served by go-fuse's own loopback file system, mounted with snapfs's mount
// options and timeouts (what any go-fuse file system with this tree costs
// on this machine), cold and warm as the walk, each pair against one
// lvs -a. The loopback rows are floors, not targets: snapfs cannot walk
// faster than a file system that does nothing but answer from a tmpfs.
func (b *bench) walkFloor() error {
	dir, err := os.MkdirTemp("", "bench-tree-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := sh("mount", "-t", "tmpfs", "bench-tree", dir); err != nil {
		return err
	}
	defer sh("umount", dir)
	if err := copyShape(b.mnt, dir); err != nil {
		return err
	}
	var local []time.Duration
	for i := 0; i < b.rounds; i++ {
		d, err := timed("ls", "-lR", dir)
		if err != nil {
			return err
		}
		local = append(local, d)
	}
	b.notes = append(b.notes, fmt.Sprintf("walk the tree: ls -lR of a copy of the tree on tmpfs (the same directories, names and sizes) takes %s: ls's own share", ms(median(local))))

	mnt := filepath.Join(workDir, "loopback")
	unmount, err := mountLoopback(dir, mnt)
	if err != nil {
		return err
	}
	defer unmount()
	var cold, warm, lvs []time.Duration
	for i := 0; i < b.rounds; i++ {
		a := func() error {
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
				return err
			}
			time.Sleep(1100 * time.Millisecond)
			d, err := timed("ls", "-lR", mnt)
			cold = append(cold, d)
			if err != nil {
				return err
			}
			d, err = timed("ls", "-lR", mnt)
			warm = append(warm, d)
			return err
		}
		if err := pair(i, a, timing(&lvs, "lvs", "-a", vgName)); err != nil {
			return err
		}
	}
	b.floorRow("walk the tree, cold", "ls -lR LOOPBACK", "lvs -a VG", cold, lvs, 2.0)
	b.floorRow("walk the tree, warm", "ls -lR LOOPBACK", "lvs -a VG", warm, lvs, 2.0)
	return nil
}

// copyShape copies the directories of the tree at src to dst, with empty
// files of the same names and sizes, and files/ directories left empty.
func copyShape(src, dst string) error {
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

// mountLoopback mounts go-fuse's loopback file system of dir on mnt, with
// the mount options and readahead snapfs mounts with, and the one-second
// entry and attribute timeouts of snapfs's directories and status files for
// every node (snapfs gives files/ none: the floor is, if anything, too low).
// It returns the function that unmounts it.
func mountLoopback(dir, mnt string) (func(), error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	root, err := gofs.NewLoopbackRoot(dir)
	if err != nil {
		return nil, err
	}
	opts := snapfs.MountOptions(false, false)
	second := time.Second
	opts.EntryTimeout, opts.AttrTimeout = &second, &second
	server, err := gofs.Mount(mnt, root, opts)
	if err != nil {
		return nil, err
	}
	unmount := func() {
		server.Unmount()
		server.Wait()
	}
	if err := snapfs.RaiseReadahead(mnt); err != nil {
		unmount()
		return nil, err
	}
	return unmount, nil
}

// floorRow adds a row of what a file system doing none of snapfs's work
// costs for a measure with the given target for snapfs: informative, never
// failing the bench. Its result says whether even that floor is within the
// target.
func (b *bench) floorRow(measure, cmdA, cmdB string, a, h []time.Duration, target float64) {
	ma, mb := median(a), median(h)
	ratio := ma.Seconds() / mb.Seconds()
	result := "floor within the target"
	if ratio > target {
		result = "floor above the target"
	}
	b.rows = append(b.rows, row{
		measure: "floor: " + measure,
		a:       fmt.Sprintf("%s: %s", cmdA, ms(ma)),
		b:       fmt.Sprintf("%s: %s", cmdB, ms(mb)),
		ratio:   fmt.Sprintf("%.3f", ratio),
		target:  fmt.Sprintf("(snapfs ≤ %g)", target),
		result:  result,
	})
}

// imageFloor measures what reading the same bytes costs through a file
// system that only passes reads on: a file on ext4 on an LV of the VG, read
// by dd directly and through go-fuse's loopback of that ext4, mounted with
// snapfs's options and readahead. snapfs serves image reads the way the
// loopback serves file reads: a positional read of a descriptor, spliced
// into the reply.
func (b *bench) imageFloor(size int64, target float64) error {
	lv := vgName + "/floor"
	if err := sh("lvcreate", "-q", "-y", "-L", fmt.Sprintf("%dM", floorMB), "-n", "floor", vgName); err != nil {
		return err
	}
	defer sh("lvremove", "-q", "-y", lv)
	if err := sh("mkfs.ext4", "-q", "/dev/"+lv); err != nil {
		return err
	}
	dir := filepath.Join(workDir, "floor-ext4")
	mnt := filepath.Join(workDir, "floor-loopback")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := sh("mount", "/dev/"+lv, dir); err != nil {
		return err
	}
	defer sh("umount", dir)
	file := filepath.Join(dir, "data")
	if err := sh("dd", "if=/dev/"+vgName+"/data", "of="+file, "bs=1M", fmt.Sprint("count=", size>>20), "conv=fsync", "status=none"); err != nil {
		return err
	}
	unmount, err := mountLoopback(dir, mnt)
	if err != nil {
		return err
	}
	defer unmount()
	var a, h []time.Duration
	for i := 0; i < b.rounds; i++ {
		if err := pair(i, ddTimed(filepath.Join(mnt, "data"), &a), ddTimed(file, &h)); err != nil {
			return err
		}
	}
	ta, tb := float64(size)/median(a).Seconds()/1e6, float64(size)/median(h).Seconds()/1e6
	result := "floor within the target"
	if ta/tb < target {
		result = "floor below the target"
	}
	b.rows = append(b.rows, row{
		measure: "floor: read 64 MiB",
		a:       fmt.Sprintf("dd FILE via LOOPBACK: %.1f MB/s", ta),
		b:       fmt.Sprintf("dd FILE on ext4: %.1f MB/s", tb),
		ratio:   fmt.Sprintf("%.2f", ta/tb),
		target:  fmt.Sprintf("(snapfs ≥ %g)", target),
		result:  result,
	})
	return nil
}
