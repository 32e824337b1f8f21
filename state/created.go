package state

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// AddCreated puts the COW snapshot vg/name that snapfs has just created of
// origin into the model, as the next report would show it, instead of
// reading LVM again, which costs as much as the lvcreate itself. What it
// knows comes from the kernel (the devices LVM activated: UUID, device
// numbers, sizes) and from the metadata backup the lvcreate wrote (creation
// time, chunk size), checked against each other. When any of it is missing
// (no device-mapper, backups off, an inactive origin) it returns nil and
// the caller reads LVM. The model keeps its age, so it is read anew when it
// would have been anyway.
func (s *Store) AddCreated(vg string, origin *model.LVEntry, name string) *model.LVEntry {
	start := s.now()
	lv, err := s.describeNew(vg, origin, name)
	if err != nil {
		s.log.Debug("reading LVM after lvcreate", "lv", vg+"/"+name, "reason", err)
		return nil
	}
	described := s.now()
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	locked := s.now()
	old := s.model()
	if old == nil || len(old.VGs) == 0 || old.VG(vg) == nil {
		return nil
	}
	if e := old.VG(vg).LVByName(name); e != nil {
		// A report since the lvcreate has it already.
		if e.LV.UUID != lv.UUID {
			return nil
		}
		return e
	}
	t := model.BuildTree(reportWith(old.VGs[0].Report(), lv), s.opts.VGs)
	s.replace(t, time.Time{}, "")
	s.log.Debug("model took in the new snapshot", "lv", vg+"/"+name, "describe", described.Sub(start),
		"wait", locked.Sub(described), "build", s.since(locked))
	return t.VG(vg).LVByName(name)
}

// describeNew describes the COW snapshot name of origin that snapfs has
// just created, from device-mapper and the metadata backup.
func (s *Store) describeNew(vg string, origin *model.LVEntry, name string) (lvm.LV, error) {
	if origin.IsThin() {
		return lvm.LV{}, errors.New("a thin snapshot")
	}
	b, err := s.opts.ReadBackup(s.opts.BackupDir, vg)
	if err != nil {
		return lvm.LV{}, err
	}
	return s.describeCreated(vg, &origin.LV, name, b)
}

// describeCreated returns the new COW snapshot name of origin as a report
// row, from device-mapper and the metadata backup b written after it.
func (s *Store) describeCreated(vg string, origin *lvm.LV, name string, b *lvm.Backup) (lvm.LV, error) {
	dm, ok := s.opts.DM.(model.DeviceStatuser)
	if !ok || origin.Attr.IsThin() {
		return lvm.LV{}, errors.New("no device-mapper status, or a thin snapshot")
	}
	snapB, err := b.Snapshot(name)
	if err != nil {
		return lvm.LV{}, err
	}
	if !snapB.Writable {
		return lvm.LV{}, fmt.Errorf("snapshot %s/%s is read-only", vg, name)
	}
	if snapB.Origin != origin.Name {
		return lvm.LV{}, fmt.Errorf("snapshot %s/%s is of %s, not %s", vg, name, snapB.Origin, origin.Name)
	}
	dmName := lvm.DMName(vg, name)
	snap, err := dm.Status(dmName)
	if err != nil {
		return lvm.LV{}, err
	}
	cow, err := dm.Status(dmName + "-cow")
	if err != nil {
		return lvm.LV{}, err
	}
	uuid, ok := lvUUIDOfDevice(snap.UUID)
	if !ok || len(snap.Targets) != 1 || snap.Targets[0].Type != "snapshot" {
		return lvm.LV{}, fmt.Errorf("device %s is not a snapshot of LVM (uuid %q)", dmName, snap.UUID)
	}
	if snapB.UUID != uuid {
		return lvm.LV{}, fmt.Errorf("metadata backup of %s is older than the lvcreate (UUID %s, the device's %s)", vg, snapB.UUID, uuid)
	}
	var cowSize uint64
	for _, t := range cow.Targets {
		cowSize += t.Length * 512
	}
	lv := lvm.LV{
		Name: name, VG: vg, UUID: uuid,
		Path: "/dev/" + vg + "/" + name, DMPath: "/dev/mapper/" + dmName,
		Origin: origin.Name, Size: cowSize, OriginSize: snap.Targets[0].Length * 512,
		ChunkSize: snapB.ChunkSize, Time: snapB.Created,
		KernelMajor: int(snap.Major), KernelMinor: int(snap.Minor),
		Layout: []string{"linear"}, Role: []string{"public", "snapshot", "thicksnapshot"},
		SegType: "linear", Segments: len(cow.Targets),
	}
	if lv.Attr, err = lvm.ParseAttr("swi-a-s---"); err != nil {
		return lvm.LV{}, err
	}
	if st := model.COWStatus(snap.Targets[0], cowSize); st.Allocated.Valid {
		lv.SnapPercent, lv.DataPercent = st.Allocated, st.Allocated
	}
	return lv, nil
}

// lvUUIDOfDevice returns the LV UUID in a device-mapper UUID of LVM
// ("LVM-" and the VG and LV UUIDs without hyphens), hyphenated as LVM
// prints it: 6-4-4-4-4-4-6.
func lvUUIDOfDevice(dmUUID string) (string, bool) {
	raw, ok := strings.CutPrefix(dmUUID, "LVM-")
	if !ok || len(raw) != 64 {
		return "", false
	}
	lv := raw[32:]
	var b strings.Builder
	for i, c := range lv {
		switch i {
		case 6, 10, 14, 18, 22, 26:
			b.WriteByte('-')
		}
		b.WriteRune(c)
	}
	return b.String(), true
}

// ForgetRemoved takes the LV vg/name (of that UUID) that snapfs has just
// removed out of the model, as the next report would: the VG gets its
// extents back and counts one LV (and one snapshot) less, and an origin left
// without snapshots is a plain volume again. The model keeps its age, so it
// is read anew when it would have been anyway.
func (s *Store) ForgetRemoved(vg, name, uuid string) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	old := s.model()
	if old == nil || len(old.VGs) == 0 || old.VG(vg) == nil || old.VG(vg).LVByName(name) == nil ||
		old.VG(vg).LVByName(name).LV.UUID != uuid {
		return // a report since the lvremove knows it already
	}
	next, ok := reportWithout(old.VGs[0].Report(), vg, uuid)
	if !ok {
		return
	}
	s.replace(model.BuildTree(next, s.opts.VGs), time.Time{}, "")
}
