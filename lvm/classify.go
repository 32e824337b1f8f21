package lvm

import "strings"

// LVM's exit code for an invalid command line (tools/errors.h:
// EINVALID_CMD_LINE): bad arguments and names. A failed operation exits 5
// (ECMD_FAILED).
const exitInvalidCmdLine = 3

// messageKinds maps LVM's wording, lower-cased, to a sentinel. The first
// matching row wins, so more specific wordings come first. The phrases are
// LVM's own (lib/metadata/lv_manip.c, lib/activate/activate.c,
// lib/misc/lvm-string.c, lib/metadata/snapshot_manip.c, tools/toollib.c,
// tools/lvrename.c, tools/lvcreate.c) and are checked against lvm 2.03.16's
// real output in testdata/lvm/errors.
var messageKinds = []struct {
	phrase string
	kind   error
}{
	// Shared VGs (lib/locking/lvmlockd.c, recorded as errors/shared-*).
	// The VG's lock comes first: a command that cannot have it (lockspace
	// not started, lvmlockd or sanlock down) stops before any LV's lock.
	{`due to failed lock`, ErrNoLock}, // Cannot access VG vg due to failed lock.
	// The same, in an lvm shell that has read the VG before: LVM then
	// blames the lock LV. A lock LV really full says so too, and its lock
	// cannot be had here either.
	{`no space for sanlock lock`, ErrNoLock},              // No space for sanlock lock, extend the internal lvmlock LV.
	{`locked by other host`, ErrActiveElsewhere},          // LV locked by other host: vg/base
	{`failed to lock logical volume`, ErrActiveElsewhere}, // Failed to lock logical volume vg/base.
	{`failed to lock origin lv`, ErrActiveElsewhere},      // Failed to lock origin LV vg/base

	// Snapshots of an origin that has a merging snapshot are not supported.
	{`an origin that has a merging snapshot`, ErrInUse},
	// Can't remove merging snapshot logical volume vg/x.
	{`can't remove merging snapshot`, ErrInUse},

	// Names LVM rejects: reserved prefixes and substrings, characters,
	// length, and snapshots LVM refuses to take of a kind of LV.
	{`names starting "`, ErrInvalidName},      // Names starting "snapshot" are reserved. ...
	{`names including "`, ErrInvalidName},     // Names including "_tmeta" are reserved. ...
	{`logical volume name "`, ErrInvalidName}, // (New) Logical volume name "a b" is invalid.
	{`has invalid characters`, ErrInvalidName},
	{`may not exceed`, ErrInvalidName}, // New logical volume name "x" may not exceed 123 characters.
	{`lv name "`, ErrInvalidName},      // Internal error: LV name "vg/x" length 129 is not supported.
	{`too long`, ErrInvalidName},       // Name "vg-x-cow" too long.
	{`snapshots of `, ErrInvalidName},  // Snapshots of snapshots are not supported.

	{`already exists in volume group`, ErrExists}, // Logical Volume "x" already exists in volume group "vg"

	{`insufficient free space`, ErrNoSpace}, // Volume group "vg" has insufficient free space (21 extents): 81 required.
	{`insufficient suitable`, ErrNoSpace},   // Insufficient suitable allocatable extents found for logical volume s.
	{`insufficient allocatable`, ErrNoSpace},
	{`no space left`, ErrNoSpace},

	{`contains a filesystem in use`, ErrInUse}, // Logical volume vg/x contains a filesystem in use.
	{`is used by another device`, ErrInUse},    // Logical volume vg/x is used by another device.
	{`can't remove open logical volume`, ErrInUse},
	{`device or resource busy`, ErrInUse},
	{` in use.`, ErrInUse}, // Logical volume vg/x in use.

	{`failed to find logical volume`, ErrNotFound}, // Failed to find logical volume "vg/x"
	{`not found`, ErrNotFound},                     // Volume group "x" not found; Existing logical volume "x" not found in volume group "vg"

	{`please express size`, ErrInvalidArg}, // Please express size as %FREE, %ORIGIN, %PVS or %VG.
}

// classify turns LVM's exit code and message into one of the sentinel
// errors. The message decides when it names a known condition; warnings do
// not count (LVM warns about unrelated things, such as an overcommitted thin
// pool, on every lvcreate). Otherwise an invalid command line (exit 3) is
// ErrInvalidArg and anything else ErrFailed.
func classify(exitCode int, msg string) error {
	var text strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "WARNING:") {
			continue
		}
		text.WriteString(strings.ToLower(line))
		text.WriteByte('\n')
	}
	lower := text.String()
	for _, mk := range messageKinds {
		if strings.Contains(lower, mk.phrase) {
			return mk.kind
		}
	}
	if exitCode == exitInvalidCmdLine {
		return ErrInvalidArg
	}
	return ErrFailed
}
