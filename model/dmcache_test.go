package model

import (
	"fmt"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

// countingDM answers as lvm.DeviceMapper does, Status and TableStatus from
// one table, and counts the calls.
type countingDM struct {
	targets         map[string][]lvm.Target
	status, tstatus int
	noStatus        bool // Status fails, as the fs tests' fakeDM for most devices
}

func (d *countingDM) TableStatus(name string) ([]lvm.Target, error) {
	d.tstatus++
	if t, ok := d.targets[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%s: %w", name, lvm.ErrNotFound)
}

func (d *countingDM) Status(name string) (*lvm.DeviceStatus, error) {
	d.status++
	t, ok := d.targets[name]
	if !ok || d.noStatus {
		return nil, fmt.Errorf("%s: %w", name, lvm.ErrNotFound)
	}
	return &lvm.DeviceStatus{Name: name, OpenCount: 1, Targets: t}, nil
}

func TestStatusCacheOneReadPerDeviceAndAge(t *testing.T) {
	snap := []lvm.Target{{Type: "snapshot", Params: "16/4096 16"}}
	dm := &countingDM{targets: map[string][]lvm.Target{"vg-s": snap}}
	c := NewStatusCache(dm, 100*time.Millisecond).(*statusCache)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	// What one directory listing asks: the targets for allocated, state
	// and status, the open count for status.
	for i := 0; i < 3; i++ {
		if got, err := c.TableStatus("vg-s"); err != nil || len(got) != 1 || got[0] != snap[0] {
			t.Fatalf("TableStatus = %v, %v", got, err)
		}
		if st, err := c.Status("vg-s"); err != nil || st.OpenCount != 1 {
			t.Fatalf("Status = %v, %v", st, err)
		}
	}
	if dm.status != 1 || dm.tstatus != 0 {
		t.Errorf("device-mapper read %d times by Status and %d by TableStatus, want one Status", dm.status, dm.tstatus)
	}

	// Past the age, device-mapper is read again, and a change shows.
	now = now.Add(100 * time.Millisecond)
	dm.targets["vg-s"] = []lvm.Target{{Type: "snapshot", Params: "32/4096 16"}}
	if got, _ := c.TableStatus("vg-s"); got[0].Params != "32/4096 16" {
		t.Errorf("after the age, TableStatus = %v, want the new status", got)
	}
	if dm.status != 2 {
		t.Errorf("after the age, %d Status reads, want 2", dm.status)
	}

	// A missing device is an error from both, and cached too.
	for i := 0; i < 2; i++ {
		if _, err := c.TableStatus("vg-gone"); err == nil {
			t.Error("TableStatus of a missing device: no error")
		}
		if _, err := c.Status("vg-gone"); err == nil {
			t.Error("Status of a missing device: no error")
		}
	}
	if dm.status != 3 || dm.tstatus != 1 {
		t.Errorf("a missing device read %d times by Status and %d by TableStatus, want 1 and 1", dm.status-2, dm.tstatus)
	}
}

// Where Status does not answer, the targets still come from TableStatus;
// where the DeviceMapper has no Status at all, Status is an error, as
// IsOpen expects (it then takes the report's open flag).
func TestStatusCacheWithoutStatus(t *testing.T) {
	snap := []lvm.Target{{Type: "snapshot", Params: "16/4096 16"}}
	dm := &countingDM{targets: map[string][]lvm.Target{"vg-s": snap}, noStatus: true}
	c := NewStatusCache(dm, time.Hour)
	if got, err := c.TableStatus("vg-s"); err != nil || len(got) != 1 {
		t.Errorf("TableStatus where Status fails = %v, %v", got, err)
	}
	if _, err := c.(DeviceStatuser).Status("vg-s"); err == nil {
		t.Error("Status where the DeviceMapper's fails: no error")
	}

	only := NewStatusCache(onlyTables{targets: dm.targets}, time.Hour)
	if got, err := only.TableStatus("vg-s"); err != nil || len(got) != 1 {
		t.Errorf("TableStatus without Status = %v, %v", got, err)
	}
	if _, err := only.(DeviceStatuser).Status("vg-s"); err == nil {
		t.Error("Status without a Status behind: no error")
	}
	if NewStatusCache(nil, time.Hour) != nil {
		t.Error("a cache of no DeviceMapper is not nil")
	}
}

type onlyTables struct{ targets map[string][]lvm.Target }

func (d onlyTables) TableStatus(name string) ([]lvm.Target, error) {
	if t, ok := d.targets[name]; ok {
		return t, nil
	}
	return nil, lvm.ErrNotFound
}

// The cache keeps what it read within about two ages: entries past their
// age are dropped once an age, however many devices a listing reads.
func TestStatusCacheDropsOldEntries(t *testing.T) {
	dm := &countingDM{targets: map[string][]lvm.Target{}}
	for i := 0; i < 1000; i++ {
		dm.targets[fmt.Sprintf("vg-s%d", i)] = []lvm.Target{{Type: "snapshot", Params: "16/4096 16"}}
	}
	c := NewStatusCache(dm, 100*time.Millisecond).(*statusCache)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	for round := 0; round < 5; round++ {
		for i := 0; i < 1000; i++ {
			c.TableStatus(fmt.Sprintf("vg-s%d", i))
			now = now.Add(time.Millisecond / 2) // a read of all of them takes half an age
		}
		if n := len(c.entries); n > 1000 {
			t.Errorf("round %d: %d entries for 1000 devices", round, n)
		}
	}
	now = now.Add(time.Second)
	c.TableStatus("vg-s0")
	if n := len(c.entries); n != 1 {
		t.Errorf("%d entries a second after the last listing, want the one read now", n)
	}
	if dm.status != 5001 {
		t.Errorf("%d device-mapper reads, want one a device a listing and one more", dm.status)
	}
}
