package checkpoint

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/snapfs/snapfs/lvm"
)

// nameMax is Linux's NAME_MAX: the longest directory name.
const nameMax = 255

// SnapshotName is the name of the snapshot of origin in checkpoint name:
// ORIGIN.NAME.
func SnapshotName(origin, name string) string {
	return origin + "." + name
}

// CheckName refuses a checkpoint name that cannot name a checkpoint of
// these disks (each with VG and Origin set). The name must be a single path
// element that does not start with '.' (the store keeps its temporary files
// under such names) nor with '-' (so that it never reads as an option, as
// LVM requires of names too), and ORIGIN.NAME must be a name LVM accepts for
// a new LV in VG, for every disk (lvm.ValidateName: characters, length,
// reserved prefixes and substrings). The error names the origin it fails
// with and wraps lvm.ErrInvalidName.
func CheckName(name string, disks []Disk) error {
	if err := checkPathName(name); err != nil {
		return fmt.Errorf("checkpoint name %q: %w: %w", name, lvm.ErrInvalidName, err)
	}
	if name[0] == '-' {
		return fmt.Errorf("checkpoint name %q: %w: may not start with a hyphen", name, lvm.ErrInvalidName)
	}
	for _, d := range disks {
		if d.VG == "" || d.Origin == "" {
			return fmt.Errorf("checkpoint name %q: disk %s/%s: %w: volume group and origin must be set",
				name, d.VG, d.Origin, lvm.ErrInvalidName)
		}
		if err := lvm.ValidateName(d.VG, SnapshotName(d.Origin, name)); err != nil {
			return fmt.Errorf("checkpoint name %q with origin %s/%s: %w", name, d.VG, d.Origin, err)
		}
	}
	return nil
}

// ValidDomain refuses a domain name that cannot be a directory name in the
// store: empty, "." or "..", longer than NAME_MAX (255 bytes), or holding
// '/' or NUL. Any other name is stored as it is; Tag escapes what LVM does
// not allow in a tag. The error wraps fs.ErrInvalid.
func ValidDomain(domain string) error {
	if err := checkElement(domain); err != nil {
		return fmt.Errorf("domain %q: %w", domain, err)
	}
	return nil
}

// checkPathName refuses a checkpoint name that the store cannot keep: not a
// path element, or starting with '.', which the store keeps for its
// temporary files. The error wraps fs.ErrInvalid.
func checkPathName(name string) error {
	if err := checkElement(name); err != nil {
		return err
	}
	if name[0] == '.' {
		return fmt.Errorf("%w: may not start with '.'", fs.ErrInvalid)
	}
	return nil
}

// checkElement refuses a name that is not a single path element.
func checkElement(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", fs.ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("%w: may not be %q", fs.ErrInvalid, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: may not contain '/' or NUL", fs.ErrInvalid)
	case len(name) > nameMax:
		return fmt.Errorf("%w: longer than %d bytes", fs.ErrInvalid, nameMax)
	}
	return nil
}
