package lvmtest

import (
	"fmt"
	"sync"

	"github.com/snapfs/snapfs/lvm"
)

// DM serves device-mapper status lines set by a test, and for other
// active LVs of the fake LVM an empty snapshot or thin target.
type DM struct {
	Mu       sync.Mutex
	Tables   map[string][]lvm.Target
	Statuses map[string]*lvm.DeviceStatus
	LVM      *LVM
}

func (d *DM) Set(name string, targets ...lvm.Target) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if d.Tables == nil {
		d.Tables = map[string][]lvm.Target{}
	}
	d.Tables[name] = targets
}

func (d *DM) TableStatus(name string) ([]lvm.Target, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if t, ok := d.Tables[name]; ok {
		return t, nil
	}
	if d.LVM == nil {
		return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
	}
	d.LVM.Mu.Lock()
	defer d.LVM.Mu.Unlock()
	for _, lv := range d.LVM.LVs {
		if lvm.DMName(lv.VG, lv.Name) != name || !lv.Attr.Active() {
			continue
		}
		switch {
		case lv.Attr.IsCOWSnapshot():
			return []lvm.Target{{Type: "snapshot", Params: fmt.Sprintf("16/%d 16", lv.Size/512)}}, nil
		case lv.Attr.IsThin():
			return []lvm.Target{{Type: "thin", Params: "0 -"}}, nil
		}
		return []lvm.Target{{Type: "linear"}}, nil
	}
	return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
}

// Status answers for the devices set with SetStatus only: others are not
// found, and a mkdir then reads LVM again.
func (d *DM) Status(name string) (*lvm.DeviceStatus, error) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if st, ok := d.Statuses[name]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("device %s: %w", name, lvm.ErrNotFound)
}

func (d *DM) SetStatus(st *lvm.DeviceStatus) {
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if d.Statuses == nil {
		d.Statuses = map[string]*lvm.DeviceStatus{}
	}
	d.Statuses[st.Name] = st
}
