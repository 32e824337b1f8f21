package blockdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Loop is a read-only loop device over a block device, attached with
// partition scanning, so the kernel makes a device of each partition of a
// whole-disk image (/dev/loop7p1, ...): device-mapper devices get no
// partition devices of their own.
//
// It is attached with autoclear: the kernel detaches it when it is last
// closed, so Close detaches it unless a partition is still mounted, and then
// the unmount does. A loop device can therefore not outlive its users, even
// when snapfs is killed.
type Loop struct {
	Device string // /dev/loopN
	Number int
	file   *os.File
}

// Partition is a partition device the kernel made for a loop device.
type Partition struct {
	Number int    // 1 for the first partition
	Device string // /dev/loopNpM
}

// AttachLoop attaches a free loop device to the block device or file at
// backing, read-only, with partition scanning and autoclear.
func AttachLoop(backing string) (*Loop, error) {
	bf, err := os.OpenFile(backing, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("loop device for %s: %w", backing, err)
	}
	defer bf.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("loop device for %s: %w", backing, err)
	}
	defer ctl.Close()

	// Another process may take the free device between GET_FREE and our
	// configure: then ask for another one.
	var lastErr error
	for try := 0; try < 10; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("loop device for %s: LOOP_CTL_GET_FREE: %w", backing, err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		f, err := openLoop(dev)
		if err != nil {
			return nil, fmt.Errorf("loop device for %s: %w", backing, err)
		}
		err = configure(f, bf, backing)
		if errors.Is(err, unix.EBUSY) {
			f.Close()
			lastErr = err
			continue
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("loop device %s for %s: %w", dev, backing, err)
		}
		return &Loop{Device: dev, Number: n, file: f}, nil
	}
	return nil, fmt.Errorf("loop device for %s: every free device was taken: %w", backing, lastErr)
}

// openLoop opens a loop device node, waiting briefly for devtmpfs to make a
// node the loop driver has just added.
func openLoop(dev string) (*os.File, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func configure(loop, backing *os.File, name string) error {
	cfg := unix.LoopConfig{Fd: uint32(backing.Fd())}
	cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR | unix.LO_FLAGS_PARTSCAN
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], name)
	err := unix.IoctlLoopConfigure(int(loop.Fd()), &cfg)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
		return err
	}
	// Before Linux 5.8 there is no LOOP_CONFIGURE: bind, then set flags.
	if err := unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_SET_FD, int(backing.Fd())); err != nil {
		return fmt.Errorf("LOOP_SET_FD: %w", err)
	}
	if err := unix.IoctlLoopSetStatus64(int(loop.Fd()), &cfg.Info); err != nil {
		_ = unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		return fmt.Errorf("LOOP_SET_STATUS64: %w", err)
	}
	return nil
}

// Partitions lists the partitions the kernel found, by number, from sysfs.
// It waits briefly for their device nodes.
func (l *Loop) Partitions() ([]Partition, error) {
	name := "loop" + strconv.Itoa(l.Number)
	dir := filepath.Join("/sys/block", name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", l.Device, err)
	}
	var parts []Partition
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), name+"p") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "partition"))
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		parts = append(parts, Partition{Number: n, Device: "/dev/" + e.Name()})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	deadline := time.Now().Add(2 * time.Second)
	for _, p := range parts {
		for {
			if _, err := os.Stat(p.Device); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return parts, nil
}

// Close drops snapfs's reference. The kernel detaches the device once
// nothing else holds it (no partition mounted).
func (l *Loop) Close() error { return l.file.Close() }

// WaitDetached waits until the kernel has detached the loop device, and so
// closed its backing device, for at most limit. It tells whether it has.
func (l *Loop) WaitDetached(limit time.Duration) bool {
	backing := filepath.Join("/sys/block", "loop"+strconv.Itoa(l.Number), "loop", "backing_file")
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(backing); errors.Is(err, os.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
