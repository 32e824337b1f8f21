package xen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// listRow is one domain of `xl list`: the name, then ID, Mem, VCPUs, State
// and Time(s). The name is printed left-aligned in 40 columns, and a longer
// one pushes the other columns right; it may even hold spaces. So a row is
// read from the right: the last five fields are the numbers and flags, and
// the name is whatever comes before them.
var listRow = regexp.MustCompile(`^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S{6})\s+(\d+(?:\.\d+)?)\s*$`)

// ParseList parses the output of `xl list`: a header line, then one row per
// domain. The domains keep xl's order (by ID). Disks are not set.
func ParseList(r io.Reader) ([]Domain, error) {
	var doms []Domain
	sc := bufio.NewScanner(r)
	header := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" {
			continue
		}
		if !header {
			if !strings.HasPrefix(line, "Name") || !strings.Contains(line, "ID") {
				return nil, fmt.Errorf("xl list: line %d: %q is not the header", n, line)
			}
			header = true
			continue
		}
		m := listRow.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("xl list: line %d: cannot read %q", n, line)
		}
		id, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, fmt.Errorf("xl list: line %d: domain id %q: %w", n, m[2], err)
		}
		state, err := StateOf(m[5])
		if err != nil {
			return nil, fmt.Errorf("xl list: line %d: %w", n, err)
		}
		doms = append(doms, Domain{Name: strings.TrimSpace(m[1]), ID: id, State: state, Flags: m[5]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("xl list: %w", err)
	}
	if !header {
		return nil, fmt.Errorf("xl list: empty output")
	}
	return doms, nil
}

// StateOf turns the six state letters of `xl list` into one state word.
// The letters are, in order: r running, b blocked, p paused, s shutdown, the
// shutdown reason (- poweroff, r reboot, s suspend, c crash, w watchdog,
// S soft reset), d dying; "-" where unset. More than one may be set; the
// word is the one that matters most to an administrator: dying, crashed,
// shutdown, paused, running, blocked. A domain with no letter set is
// runnable and waiting for a CPU: running.
func StateOf(flags string) (string, error) {
	if len(flags) != 6 {
		return "", fmt.Errorf("state %q: want six letters", flags)
	}
	for i, want := range []string{"r-", "b-", "p-", "s-", "-rscwS?", "d-"} {
		if !strings.ContainsRune(want, rune(flags[i])) {
			return "", fmt.Errorf("state %q: unknown letter %q at %d", flags, flags[i], i+1)
		}
	}
	switch {
	case flags[5] == 'd':
		return Dying, nil
	case flags[3] == 's' && flags[4] == 'c':
		return Crashed, nil
	case flags[3] == 's':
		return Shutdown, nil
	case flags[2] == 'p':
		return Paused, nil
	case flags[0] == 'r':
		return Running, nil
	case flags[1] == 'b':
		return Blocked, nil
	}
	return Running, nil
}

// ParsePhysicalDevice parses a block backend's physical_device file: the
// device number in hex, "major:minor" ("fe:0"). blkback shows 0:0 until it
// has opened the device.
func ParsePhysicalDevice(r io.Reader) (Device, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return Device{}, err
	}
	s := strings.TrimSpace(string(b))
	major, minor, ok := strings.Cut(s, ":")
	if !ok {
		return Device{}, fmt.Errorf("physical device %q: want hex major:minor", s)
	}
	ma, err1 := strconv.ParseUint(major, 16, 32)
	mi, err2 := strconv.ParseUint(minor, 16, 32)
	if err1 != nil || err2 != nil {
		return Device{}, fmt.Errorf("physical device %q: want hex major:minor", s)
	}
	return Device{int(ma), int(mi)}, nil
}

// Backend is one block backend: a disk of domain DomID, device DevID as the
// domain sees it (51712 is xvda), served from block device Device.
type Backend struct {
	DomID  int
	DevID  int
	Device Device
}

// ReadBackends reads the block backends from the xen-backend devices
// directory of sysfs (/sys/bus/xen-backend/devices), given as fsys: the
// entries vbd-DOMID-DEVID with a physical_device file. Backends that have not
// opened their device yet (0:0) are left out; so are entries that vanish
// while being read (a domain being destroyed). A missing directory means no
// backends: blkback is not loaded, so no domain has a disk it serves.
func ReadBackends(fsys fs.FS) ([]Backend, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("xen backends: %w", err)
	}
	var backends []Backend
	for _, e := range entries {
		var domID, devID int
		if _, err := fmt.Sscanf(e.Name(), "vbd-%d-%d", &domID, &devID); err != nil || e.Name() != fmt.Sprintf("vbd-%d-%d", domID, devID) {
			continue
		}
		f, err := fsys.Open(e.Name() + "/physical_device")
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("xen backend %s: %w", e.Name(), err)
		}
		dev, err := ParsePhysicalDevice(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("xen backend %s: %w", e.Name(), err)
		}
		if dev == (Device{}) {
			continue
		}
		backends = append(backends, Backend{DomID: domID, DevID: devID, Device: dev})
	}
	sort.Slice(backends, func(i, j int) bool {
		a, b := backends[i], backends[j]
		if a.DomID != b.DomID {
			return a.DomID < b.DomID
		}
		return a.DevID < b.DevID
	})
	return backends, nil
}

// diskKinds are the kinds of backend that libxl gives a disk
// (libxl__device_from_disk): blkback's vbd, qemu's qdisk, tapdisk's vbd3 and
// a standalone virtio_disk. Each backend in dom0's xenstore shows in sysfs as
// KIND-DOMID-DEVID, with or without a driver; only blkback adds
// physical_device.
var diskKinds = map[string]bool{"vbd": true, "vbd3": true, "qdisk": true, "virtio_disk": true}

// ReadDisks reads the disk backends of domain domID from the xen-backend
// devices directory of sysfs, given as fsys. total counts them all; devs
// holds the block device of each that has one, in the order of their device
// IDs. A backend without a device (of another kind than vbd, one that has not
// opened its device yet, or one that vanished while being read) counts but
// yields none, so that a caller that needs every disk's device sees that one
// is missing.
func ReadDisks(fsys fs.FS, domID int) (devs []Device, total int, err error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		if isNotExist(err) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("xen backends: %w", err)
	}
	type disk struct {
		devID int
		dev   Device
	}
	var disks []disk
	for _, e := range entries {
		kind, dom, devID, ok := backendName(e.Name())
		if !ok || dom != domID || !diskKinds[kind] {
			continue
		}
		total++
		f, err := fsys.Open(e.Name() + "/physical_device")
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return nil, 0, fmt.Errorf("xen backend %s: %w", e.Name(), err)
		}
		dev, err := ParsePhysicalDevice(f)
		f.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("xen backend %s: %w", e.Name(), err)
		}
		if dev != (Device{}) {
			disks = append(disks, disk{devID, dev})
		}
	}
	sort.Slice(disks, func(i, j int) bool { return disks[i].devID < disks[j].devID })
	for _, d := range disks {
		devs = append(devs, d.dev)
	}
	return devs, total, nil
}

// backendName splits the name of a backend device in sysfs, KIND-DOMID-DEVID
// (the kind may hold '-' or '_'), into its parts.
func backendName(name string) (kind string, domID, devID int, ok bool) {
	rest, dev, ok1 := cutLast(name, "-")
	kind, dom, ok2 := cutLast(rest, "-")
	if !ok1 || !ok2 || kind == "" {
		return "", 0, 0, false
	}
	domID, err1 := strconv.Atoi(dom)
	devID, err2 := strconv.Atoi(dev)
	if err1 != nil || err2 != nil || strconv.Itoa(domID) != dom || strconv.Itoa(devID) != dev || domID < 0 || devID < 0 {
		return "", 0, 0, false
	}
	return kind, domID, devID, true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// isNotExist is errors.Is(err, fs.ErrNotExist), also for ENODEV, which a
// sysfs attribute of a device being removed may return.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}
