package snapmount

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/snapfs/snapfs/blockdev"
)

// snapshotMounts is what snapmount holds for one snapshot's files/: what
// its device holds, and its mount points.
type snapshotMounts struct {
	uuid string

	// prepareMu is held for the whole of a prepare, which activates and
	// probes and takes seconds: it keeps a second prepare of the snapshot
	// from running alongside, and settle waits on it.
	prepareMu sync.Mutex

	mu          sync.Mutex // guards every field below
	prepared    bool
	content     blockdev.Content
	device      string         // the device of a whole-device filesystem
	loop        *blockdev.Loop // for a partition table
	partitions  []partition    // partitions that hold a filesystem, by number
	mountPoints map[string]*mountPoint
	lastUse     time.Time
	holds       int // rmdir or merge in progress: no new mounts
}

// partition is a partition of a whole-disk image that holds a filesystem.
type partition struct {
	name   string // "p1"
	device string
	fstype string
}

// mountTarget is what to mount on a mount point.
type mountTarget struct {
	device, fstype string
}

func (s *snapshotMounts) touch() {
	s.mu.Lock()
	s.lastUse = time.Now()
	s.mu.Unlock()
}

// prepare finds out, once, what the snapshot holds: it activates the
// snapshot when it is inactive, reads the start of its device, and for a
// partition table attaches a loop device and reads each partition. When
// there is nothing to show, the log says why.
func (m *Manager) prepare(ctx context.Context, s *snapshotMounts) error {
	s.prepareMu.Lock()
	defer s.prepareMu.Unlock()
	s.mu.Lock()
	done := s.prepared || s.holds > 0 || m.isClosed()
	s.mu.Unlock()
	if done {
		return nil
	}
	// The janitor forgets what was found once files/ is idle, so that a
	// filesystem made later is found.
	m.startJanitor()
	name, err := m.opts.Path(s.uuid)
	if err != nil {
		return err
	}
	dev, err := m.opts.Device(ctx, s.uuid)
	if err != nil {
		return err
	}
	content, err := probeDevice(dev)
	var (
		loop  *blockdev.Loop
		parts []partition
	)
	switch {
	case err != nil:
		content = blockdev.Content{Reason: err.Error()}
	case content.Kind == blockdev.PartitionTable:
		loop, parts, content = attachPartitions(dev, content)
	}
	s.mu.Lock()
	s.prepared, s.content, s.device, s.loop, s.partitions = true, content, dev, loop, parts
	// Preparing can take longer than the idle time: count from its end, or
	// the janitor forgets what it found before the caller reads it.
	s.lastUse = time.Now()
	s.mu.Unlock()

	switch content.Kind {
	case blockdev.Nothing:
		m.log.Warn("files/ is empty: the snapshot holds no filesystem snapfs can mount", "snapshot", name, "device", dev, "reason", content.Reason)
	case blockdev.PartitionTable:
		names := make([]string, len(parts))
		for i, p := range parts {
			names[i] = p.name + "=" + p.fstype
		}
		m.log.Info("files/ shows the partitions of a whole-disk image that hold a filesystem", "snapshot", name,
			"table", content.Type, "loop", loop.Device, "partitions", strings.Join(names, " "), "left_out", content.Reason)
	}
	return nil
}

func probeDevice(dev string) (blockdev.Content, error) {
	file, err := os.Open(dev)
	if err != nil {
		return blockdev.Content{}, err
	}
	defer file.Close()
	c, err := blockdev.Probe(file)
	if err != nil {
		return c, fmt.Errorf("%s: %w", dev, err)
	}
	return c, nil
}

// attachPartitions attaches a loop device to a whole-disk image and probes
// its partitions. Without a partition that holds a filesystem, the loop
// device is let go, and the content says why there is nothing.
func attachPartitions(dev string, table blockdev.Content) (*blockdev.Loop, []partition, blockdev.Content) {
	loop, err := blockdev.AttachLoop(dev)
	if err != nil {
		return nil, nil, blockdev.Content{Reason: fmt.Sprintf("a %s partition table, but: %v", table.Type, err)}
	}
	found, err := loop.Partitions()
	if err != nil || len(found) == 0 {
		loop.Close()
		why := fmt.Sprintf("a %s partition table in which the kernel found no partitions on %s", table.Type, loop.Device)
		if err != nil {
			why += ": " + err.Error()
		}
		return nil, nil, blockdev.Content{Reason: why}
	}
	var parts []partition
	var skipped []string
	for _, p := range found {
		name := "p" + strconv.Itoa(p.Number)
		c, err := probeDevice(p.Device)
		switch {
		case err != nil:
			skipped = append(skipped, name+": "+err.Error())
		case c.Kind != blockdev.Filesystem:
			skipped = append(skipped, name+": "+c.String())
		default:
			parts = append(parts, partition{name: name, device: p.Device, fstype: c.Type})
		}
	}
	if len(parts) == 0 {
		loop.Close()
		return nil, nil, blockdev.Content{Reason: fmt.Sprintf("a %s partition table whose partitions hold no filesystem (%s)", table.Type, strings.Join(skipped, "; "))}
	}
	// Reason says which partitions are left out, and why.
	table.Reason = strings.Join(skipped, "; ")
	return loop, parts, table
}

// target returns what to mount on mount point part, if anything.
func (s *snapshotMounts) target(part string) (mountTarget, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.prepared {
		return mountTarget{}, false
	}
	if part == "" {
		if s.content.Kind != blockdev.Filesystem {
			return mountTarget{}, false
		}
		return mountTarget{s.device, s.content.Type}, true
	}
	for _, p := range s.partitions {
		if p.name == part {
			return mountTarget{p.device, p.fstype}, true
		}
	}
	return mountTarget{}, false
}

// settle waits for the mounts under way to finish, once no preparing runs.
// locked, when not nil, runs under s.mu while the mounts under way are
// collected (Hold counts its hold there, so no new one starts).
func (s *snapshotMounts) settle(locked func()) {
	s.prepareMu.Lock()
	s.mu.Lock()
	if locked != nil {
		locked()
	}
	var jobs []*mountJob
	for _, pt := range s.mountPoints {
		if pt.job != nil {
			jobs = append(jobs, pt.job)
		}
	}
	s.mu.Unlock()
	s.prepareMu.Unlock()
	for _, j := range jobs {
		<-j.done
	}
}
