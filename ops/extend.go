package ops

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/guard"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// extend grows snapshot e's COW store by size (LVM size syntax) and
// publishes the event "extended" with its sizes before and after.
func (o *Ops) extend(ctx context.Context, e *model.LVEntry, size string) error {
	if err := lockedHere(e); err != nil {
		return err
	}
	err := o.run(e.LV.VG, func() error { return o.lvm.Extend(ctx, e.LV.VG, e.LV.Name, size) })
	if err != nil {
		return err
	}
	to := e.LV.Size
	if cur, lerr := o.store.Lookup(e.LV.UUID); lerr == nil {
		to = cur.LV.Size
	}
	o.publish(events.Event{Name: events.Extended, Path: e.String(), Extra: []events.Field{
		{Key: "from", Value: e.LV.Size}, {Key: "to", Value: to}, {Key: "by", Value: actorOf(ctx)},
	}})
	return nil
}

// kib is bytes as an LVM size in KiB, rounded up: extensions are whole
// extents, which are whole KiB.
func kib(bytes uint64) string { return strconv.FormatUint((bytes+1023)/1024, 10) + "k" }

// ExtendStore grows snapshot e's COW store by bytes, as the guard decided:
// a change like ctl's extend, audited and announced.
func (o *Ops) ExtendStore(ctx context.Context, e *model.LVEntry, bytes uint64) error {
	return o.Change(ctx, "extend", e.String()+": +"+kib(bytes), func(ctx context.Context) error {
		return o.extend(ctx, e, kib(bytes))
	})
}

// ExtendPool grows the data (or, with metadata, the metadata) of thin pool
// pool by bytes, as the guard decided, and announces it with the VG's path
// and the pool's name.
func (o *Ops) ExtendPool(ctx context.Context, pool *model.LVEntry, bytes uint64, metadata bool) error {
	vg, name, part := pool.LV.VG, pool.LV.Name, "data"
	if metadata {
		part = "metadata"
	}
	return o.Change(ctx, "extend", vg+"/"+name+" "+part+": +"+kib(bytes), func(ctx context.Context) error {
		if err := lockedHere(pool); err != nil {
			return err
		}
		err := o.run(vg, func() error {
			if metadata {
				return o.lvm.ExtendPoolMetadata(ctx, vg, name, kib(bytes))
			}
			return o.lvm.Extend(ctx, vg, name, kib(bytes))
		})
		if err != nil {
			return err
		}
		o.publish(events.Event{Name: events.Extended, Path: vg, Extra: []events.Field{
			{Key: "pool", Value: name}, {Key: "part", Value: part},
			{Key: "by", Value: actorOf(ctx)}, {Key: "bytes", Value: bytes},
		}})
		return nil
	})
}

// checkMinFree refuses a snapshot of origin whose COW store would take the
// VG below the guard's min_free (ENOSPC, before LVM runs). A thin snapshot
// takes nothing from the VG.
func (o *Ops) checkMinFree(origin *model.LVEntry, size lvm.SizeSpec) error {
	if o.opts.MinFree == nil || size.IsZero() {
		return nil
	}
	minFree := o.opts.MinFree(origin.LV.VG + "/" + origin.LV.Name)
	if minFree.IsZero() {
		return nil
	}
	g := origin.VG.VG
	need, err := sizeBytes(size, origin.LV.Size, g)
	if err != nil {
		return nil // LVM judges the size itself
	}
	if !guard.MinFreeOK(guard.VG{Size: g.Size, Free: g.Free}, minFree, need) {
		return fmt.Errorf("a snapshot of %s takes %d bytes, which would leave less than min_free (%s) of %s's %d free: %w",
			origin, need, minFree, g.Name, g.Free, lvm.ErrNoSpace)
	}
	return nil
}

// sizeBytes is what LVM allocates for a COW store of size s of an origin
// of originSize in VG g: a size, or extents of ORIGIN, VG, FREE or PVS,
// rounded up to whole extents.
func sizeBytes(s lvm.SizeSpec, originSize uint64, g lvm.VG) (uint64, error) {
	var bytes uint64
	if s.Size != "" {
		b, err := lvm.SizeBytes(s.Size)
		if err != nil {
			return 0, err
		}
		bytes = b
	} else {
		n, of, found := strings.Cut(s.Extents, "%")
		pct, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("extents %q: %w", s.Extents, err)
		}
		if !found {
			return uint64(pct) * g.ExtentSize, nil
		}
		base := map[string]uint64{"ORIGIN": originSize, "VG": g.Size, "FREE": g.Free, "PVS": g.Size}[strings.ToUpper(of)]
		bytes = uint64(pct * float64(base) / 100)
	}
	if g.ExtentSize > 0 {
		bytes = (bytes + g.ExtentSize - 1) / g.ExtentSize * g.ExtentSize
	}
	return bytes, nil
}
