package fs

import (
	"context"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// LVM is what the tree needs from LVM: one report for the whole state, the
// five changes the tree allows, and activation of a snapshot whose image or
// files/ is opened. *lvm.Client implements it.
type LVM interface {
	Report(ctx context.Context, vgs []string) (*lvm.Report, error)
	CreateSnapshot(ctx context.Context, vg, origin, name string, size lvm.SizeSpec) error
	Remove(ctx context.Context, vg, name string) error
	Rename(ctx context.Context, vg, oldName, newName string) error
	Merge(ctx context.Context, vg, name string) error
	Extend(ctx context.Context, vg, name, size string) error
	// Activate activates an LV even when it is flagged to skip activation,
	// as thin snapshots are (lvchange -ay -K).
	Activate(ctx context.Context, vg, name string) error
}

// Domains tells which Xen domains use a block device. A nil Domains means the
// host has no Xen: every domu file is empty.
type Domains interface {
	// Using returns the domains with a disk on block device major:minor,
	// sorted by name. The answer may be about a second old: reading many
	// domu files costs one look at Xen.
	Using(ctx context.Context, major, minor int) ([]model.Domain, error)
	// UsingNow is Using from a look at Xen made now, for decisions: the rmdir
	// guard and quiesce.
	UsingNow(ctx context.Context, major, minor int) ([]model.Domain, error)
}

// Quiescer pauses and unpauses Xen domains, by name, for quiesce = "pause".
type Quiescer interface {
	Pause(ctx context.Context, name string) error
	Unpause(ctx context.Context, name string) error
	// Domain returns the domain named name as it is now; false when there is
	// none.
	Domain(ctx context.Context, name string) (model.Domain, bool, error)
}
