package model

import (
	"errors"
	"sync"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

// SizeStatusAge is how long the status of a device-mapper device read for
// the size of a status file serves other sizes. A directory listing
// (READDIRPLUS) tells the size of each of a snapshot's status files, and
// most of them come from the same DM_TABLE_STATUS; with this they cost one
// ioctl instead of six. Content is never rendered from it: open reads
// device-mapper anew.
const SizeStatusAge = 100 * time.Millisecond

// statusCache is a DeviceMapper that answers from one DM_TABLE_STATUS per
// device and SizeStatusAge: TableStatus and Status (the open count) of a
// device read together cost one ioctl.
type statusCache struct {
	dm  DeviceMapper
	age time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedStatus
	swept   time.Time // when entries past their age were last dropped
}

type cachedStatus struct {
	at      time.Time
	st      *lvm.DeviceStatus // from Status, when it answered
	stErr   error
	targets []lvm.Target
	tErr    error
}

// NewStatusCache returns dm behind a cache of age, or nil when dm is nil.
func NewStatusCache(dm DeviceMapper, age time.Duration) DeviceMapper {
	if dm == nil {
		return nil
	}
	return &statusCache{dm: dm, age: age, now: time.Now, entries: map[string]cachedStatus{}}
}

var errNoDeviceStatus = errors.New("device-mapper status without the device's state")

// Status returns the device's status, from the cache when it is younger
// than the cache's age. Without a Status of the DeviceMapper behind, it is
// an error, as for a DeviceMapper without one.
func (c *statusCache) Status(name string) (*lvm.DeviceStatus, error) {
	e := c.read(name)
	return e.st, e.stErr
}

// TableStatus returns the device's targets, from the cache when it is
// younger than the cache's age.
func (c *statusCache) TableStatus(name string) ([]lvm.Target, error) {
	e := c.read(name)
	return e.targets, e.tErr
}

// read returns the cached entry of name, reading device-mapper when there
// is none young enough: the device's Status, whose targets serve
// TableStatus, and TableStatus itself only where Status did not answer.
func (c *statusCache) read(name string) cachedStatus {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.age {
		return e
	}
	e = cachedStatus{at: now, stErr: errNoDeviceStatus}
	if ds, ok := c.dm.(DeviceStatuser); ok {
		e.st, e.stErr = ds.Status(name)
	}
	if e.stErr == nil {
		e.targets = e.st.Targets
	} else {
		e.targets, e.tErr = c.dm.TableStatus(name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Old entries go at most once an age: a listing of the metrics reads
	// every device, and a sweep at each read would cost it the square of
	// their number.
	if len(c.entries) >= 64 && now.Sub(c.swept) >= c.age {
		for k, old := range c.entries {
			if now.Sub(old.at) >= c.age {
				delete(c.entries, k)
			}
		}
		c.swept = now
	}
	c.entries[name] = e
	return e
}
