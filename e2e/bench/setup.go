package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// populate makes the VGs of the bench: vgName with b.lvs LVs and the data
// LV of the image reads, and, unless b.small is 0, smallVG with b.small
// LVs.
func (b *bench) populate() error {
	if err := b.makeVG(vgName, b.lvs, true); err != nil {
		return err
	}
	if b.small == 0 {
		return nil
	}
	return b.makeVG(smallVG, b.small, false)
}

// makeVG makes VG vg on a sparse loop file of its own and fills it with lvs
// LVs, half of them COW snapshots: generated metadata with every LV,
// restored in one vgcfgrestore, activated in one vgchange -ay. Creating
// them with one lvcreate each would take an hour under emulation. With
// data, the VG also holds data, an LV of 64 MiB of random bytes, and its
// snapshot data-snap, for the image reads, and room for the LV of their
// floor.
func (b *bench) makeVG(vg string, lvs int, data bool) error {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	origins := lvs / 2
	dataExtents := 0
	if data {
		dataExtents = 64 / extentMB
	}
	// Every LV, the data LV, the snapshots the bench takes (A and B,
	// rounds of each at once, three for the trace, and data-snap), the LV
	// of the image reads' floor, and some slack.
	extents := lvs + dataExtents + (2*b.rounds+4)*(8/extentMB) + 16
	if data {
		extents += floorMB / extentMB
	}
	pv := filepath.Join(workDir, vg+".pv")
	if err := sh("truncate", "-s", fmt.Sprintf("%dM", extents*extentMB+64), pv); err != nil {
		return err
	}
	dev, err := output("losetup", "--find", "--show", pv)
	if err != nil {
		return err
	}
	dev = strings.TrimSpace(dev)
	if b.loops == nil {
		b.loops = map[string]string{}
	}
	b.loops[vg] = dev
	// Room for the metadata of some thousand LVs (about 0.5 KiB each, and
	// LVM keeps the old copy while writing the new one).
	if err := sh("pvcreate", "--metadatasize", "32m", dev); err != nil {
		return err
	}
	if err := sh("vgcreate", vg, dev); err != nil {
		return err
	}
	empty := filepath.Join(workDir, vg+"-empty.vg")
	if err := sh("vgcfgbackup", "-f", empty, vg); err != nil {
		return err
	}
	meta, err := os.ReadFile(empty)
	if err != nil {
		return err
	}
	full, err := addLVs(meta, population{Origins: origins, DataExtents: dataExtents}, time.Now())
	if err != nil {
		return err
	}
	filled := filepath.Join(workDir, vg+"-filled.vg")
	if err := os.WriteFile(filled, full, 0o644); err != nil {
		return err
	}
	if err := sh("vgcfgrestore", "-f", filled, vg); err != nil {
		return err
	}
	if err := sh("vgchange", "-ay", vg); err != nil {
		return err
	}
	if !data {
		return nil
	}
	// Data for the image reads, then its snapshot.
	if err := sh("dd", "if=/dev/urandom", "of=/dev/"+vg+"/data", "bs=1M", fmt.Sprint("count=", dataExtents*extentMB), "oflag=direct", "status=none"); err != nil {
		return err
	}
	return sh("lvcreate", "--snapshot", "--size", snapSize, "--name", "data-snap", vg+"/data")
}

// dropVG deactivates VG vg and detaches its loop device, and deletes its
// file: LVM no longer sees it, and the memory its file took is free.
func (b *bench) dropVG(vg string) error {
	if err := sh("vgchange", "-an", vg); err != nil {
		return err
	}
	if err := sh("losetup", "-d", b.loops[vg]); err != nil {
		return err
	}
	delete(b.loops, vg)
	return os.Remove(filepath.Join(workDir, vg+".pv"))
}

// startSnapfs mounts snapfs on b.mnt, showing VG vg only, with snapfs's
// own flags added (-debug for a trace). Without flags it logs at debug
// level, which adds a line per LVM command and per reading of LVM (no line
// per FUSE request), so that a change that costs more than its one LVM
// command can be explained.
func (b *bench) startSnapfs(vg string, flags ...string) error {
	if len(flags) == 0 {
		flags = []string{"-log-level", "debug"}
	}
	b.mnt = filepath.Join(workDir, "mnt")
	if err := os.MkdirAll(b.mnt, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(workDir, "snapfs.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("vgs = [%q]\nsnapshot_size = %q\n", vg, snapSize)+b.guardConfig), 0o644); err != nil {
		return err
	}
	b.logPath = filepath.Join(workDir, "snapfs.log")
	logFile, err := os.Create(b.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	b.daemon = exec.Command(b.snapfs, append(append([]string{"-config", cfg}, flags...), b.mnt)...)
	b.daemon.Stdout, b.daemon.Stderr = logFile, logFile
	b.daemon.Env = append(os.Environ(), "LC_ALL=C")
	if err := b.daemon.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if mounted(b.mnt) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("snapfs did not mount %s; its log:\n%s", b.mnt, readFile(b.logPath))
}

// stopSnapfs ends snapfs, which unmounts it.
func (b *bench) stopSnapfs() {
	if b.daemon == nil || b.daemon.Process == nil {
		return
	}
	b.daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { b.daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.daemon.Process.Kill()
		<-done
	}
	b.daemon = nil
}

// stop ends snapfs and drops the VGs, so that another run can follow in
// the same VM.
func (b *bench) stop() {
	b.stopSnapfs()
	for vg := range b.loops {
		if err := b.dropVG(vg); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
}

// mounted reports whether path is a mount point of snapfs: a FUSE mount.
func mounted(path string) bool {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != path || !strings.HasPrefix(m.FSType, "fuse"), false
	})
	return err == nil && len(mounts) > 0
}
