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

// populate makes the VG on a sparse loop file and fills it: generated
// metadata with every LV, restored in one vgcfgrestore, activated in one
// vgchange -ay. Creating them with one lvcreate each would take an hour
// under emulation.
func (b *bench) populate() error {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	origins := b.lvs / 2
	dataExtents := 64 / extentMB
	// Every LV, the data LV, the snapshots the bench takes (A and B,
	// rounds of each at once, and data-snap), the LV of the image reads'
	// floor, and some slack.
	extents := b.lvs + dataExtents + (2*b.rounds+1)*(8/extentMB) + floorMB/extentMB + 16
	pv := filepath.Join(workDir, "bench.pv")
	if err := sh("truncate", "-s", fmt.Sprintf("%dM", extents*extentMB+64), pv); err != nil {
		return err
	}
	dev, err := output("losetup", "--find", "--show", pv)
	if err != nil {
		return err
	}
	dev = strings.TrimSpace(dev)
	// Room for the metadata of some thousand LVs (about 0.5 KiB each, and
	// LVM keeps the old copy while writing the new one).
	if err := sh("pvcreate", "--metadatasize", "32m", dev); err != nil {
		return err
	}
	if err := sh("vgcreate", vgName, dev); err != nil {
		return err
	}
	empty := filepath.Join(workDir, "empty.vg")
	if err := sh("vgcfgbackup", "-f", empty, vgName); err != nil {
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
	filled := filepath.Join(workDir, "filled.vg")
	if err := os.WriteFile(filled, full, 0o644); err != nil {
		return err
	}
	if err := sh("vgcfgrestore", "-f", filled, vgName); err != nil {
		return err
	}
	if err := sh("vgchange", "-ay", vgName); err != nil {
		return err
	}
	// Data for the image reads, then its snapshot.
	if err := sh("dd", "if=/dev/urandom", "of=/dev/"+vgName+"/data", "bs=1M", fmt.Sprint("count=", dataExtents*extentMB), "oflag=direct", "status=none"); err != nil {
		return err
	}
	return sh("lvcreate", "--snapshot", "--size", snapSize, "--name", "data-snap", vgName+"/data")
}

func (b *bench) startSnapfs() error {
	b.mnt = filepath.Join(workDir, "mnt")
	if err := os.MkdirAll(b.mnt, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(workDir, "snapfs.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("vgs = [%q]\nsnapshot_size = %q\n", vgName, snapSize)+b.guardConfig), 0o644); err != nil {
		return err
	}
	b.logPath = filepath.Join(workDir, "snapfs.log")
	logFile, err := os.Create(b.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	b.daemon = exec.Command(b.snapfs, "-config", cfg, b.mnt)
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

func (b *bench) stop() {
	if b.daemon != nil && b.daemon.Process != nil {
		b.daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { b.daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.daemon.Process.Kill()
		}
	}
	sh("vgchange", "-an", vgName)
}

// mounted reports whether path is a mount point of snapfs: a FUSE mount.
func mounted(path string) bool {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != path || !strings.HasPrefix(m.FSType, "fuse"), false
	})
	return err == nil && len(mounts) > 0
}
