// Package xen tells which Xen domains run on this host, in which state, and
// which block devices their disks are, and pauses, unpauses, saves, restores
// and destroys domains. It is a plain library: it runs xl through a Runner,
// reads sysfs, and returns typed values; it knows nothing of FUSE or LVM.
//
// # Where the disks come from
//
// A domain's disks are read from the block backends in sysfs:
// /sys/bus/xen-backend/devices/vbd-DOMID-DEVID/physical_device holds the
// device number that xen-blkback opened for that disk, in hex ("fe:0"). The
// domain names and states come from one `xl list`. A refresh therefore costs
// one process and a few small sysfs reads, however many domains and disks
// there are.
//
// The alternatives cost more and are no more correct:
//
//   - `xenstore-ls -f /local/domain/0/backend/vbd` holds the same
//     physical-device numbers (the hotplug script writes them there, and
//     blkback opens what it reads), but costs a second process on every
//     refresh, and fails when no domain has a disk.
//   - `xl list -l` gives each disk's configured path (pdev_path), which must
//     then be stat'ed: a second process that reads every domain's stored
//     configuration, and a path that says what the device was called when the
//     domain started, not which device it holds now (an LV renamed or
//     re-created since then has another number).
//
// Device numbers are what blkback holds open, so a domain configured with
// /dev/VG/LV, /dev/mapper/VG-LV or /dev/dm-N is matched alike. The limit is the
// one of blkback itself: a disk served by another backend (qdisk, that is
// qemu in dom0, or a driver domain) has no physical_device and is not seen.
// Disks, for callers that must act on every disk of a domain, counts the
// backends of the other kinds in dom0 too, so that they can refuse such a
// domain.
//
// # Cost
//
// A Client caches what it read, or how it failed, for MaxAge (a second by
// default), and callers that ask while a refresh runs share its result, so
// reading a hundred domu files costs one `xl list`. Pause, Unpause, Save,
// Restore and Destroy drop the cache, and Fresh reads anew, for decisions
// that must not rest on a state a second old.
package xen

import (
	"errors"
	"fmt"
	"strings"
)

// The states of a domain, as the flags of `xl list` show them.
const (
	Running  = "running"  // r, or no flag: runnable, waiting for a CPU
	Blocked  = "blocked"  // b: idle, waiting for an event
	Paused   = "paused"   // p: paused by xl pause (or while being created)
	Shutdown = "shutdown" // s: shut down, not yet destroyed
	Crashed  = "crashed"  // s with shutdown reason c
	Dying    = "dying"    // d: being destroyed
)

// Domain is one Xen domain.
type Domain struct {
	Name  string
	ID    int
	State string
	// Flags are the six state letters xl prints, e.g. "-b----".
	Flags string
	// Disks are the block devices its disks are, from the block backends.
	Disks []Device
}

// Uses reports whether one of d's disks is block device dev.
func (d Domain) Uses(dev Device) bool {
	for _, disk := range d.Disks {
		if disk == dev {
			return true
		}
	}
	return false
}

// Device is a block device number.
type Device struct{ Major, Minor int }

func (d Device) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// ErrNoSuchDomain is a domain name xl does not know.
var ErrNoSuchDomain = errors.New("no such domain")

// ErrInvalidName is a domain name (or save file) that xl could misread: a
// number, which xl takes for a domain ID, or a string starting with '-',
// which it takes for an option. It is refused before xl runs.
var ErrInvalidName = errors.New("invalid domain name")

// ErrFailed is any other failure of an xl command.
var ErrFailed = errors.New("xl command failed")

// CommandError is a failed command: its argv, exit status and message.
type CommandError struct {
	Argv     []string
	ExitCode int    // -1 when it did not exit normally (timeout, signal, not started)
	Message  string // its standard error, trimmed
	Kind     error  // ErrNoSuchDomain or ErrFailed
}

func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString(strings.Join(e.Argv, " "))
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(e.Message, "\n", "; "))
	}
	return b.String()
}

// Unwrap returns the classification of the failure.
func (e *CommandError) Unwrap() error {
	if e.Kind == nil {
		return ErrFailed
	}
	return e.Kind
}
