package ops

import (
	"fmt"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// lockedHere refuses, with lvm.ErrActiveElsewhere (EBUSY), a change to LV
// e of a shared VG, or the use of its device, on a host that does not have
// the LV that holds its lock active (model.LVEntry.LockedHere): the LV may
// be in use on another host, and LVM would not stop snapfs from removing,
// renaming or merging a snapshot there, nor from activating it here behind
// the other host's back. In a local VG it lets everything through.
func lockedHere(e *model.LVEntry) error {
	if e.LockedHere() {
		return nil
	}
	h := e.LockHolder()
	return fmt.Errorf("%s: VG %s is shared (lock type %s) and %s is not active on this host; another host may be using it "+
		"(lvchange -aey %s/%s takes it here, once no other host has it active): %w",
		e, e.LV.VG, e.VG.VG.LockType, h, h.LV.VG, h.LV.Name, lvm.ErrActiveElsewhere)
}
