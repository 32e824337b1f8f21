package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/retention"
)

// ErrHeld is a snapshot held with `echo hold > ctl` (tag snapfs_hold): rmdir,
// expiry, retention and the guard's pruning leave it alone.
var ErrHeld = errors.New("the snapshot is held")

// Held tells whether snapshot e carries the hold tag.
func Held(e *model.LVEntry) bool { return slices.Contains(e.LV.Tags, retention.TagHold) }

// setHold adds (hold) or removes (release) snapshot e's hold tag: lvchange
// --addtag/--deltag snapfs_hold. A hold of a held snapshot, or a release of
// one not held, changes nothing and runs nothing.
func (o *Ops) setHold(ctx context.Context, e *model.LVEntry, hold bool) error {
	if Held(e) == hold {
		return nil
	}
	return o.run(e.LV.VG, func() error {
		if hold {
			return o.lvm.AddTag(ctx, e.LV.VG, e.LV.Name, retention.TagHold)
		}
		return o.lvm.DelTag(ctx, e.LV.VG, e.LV.Name, retention.TagHold)
	})
}

// expire sets snapshot e's expiry to when (a duration from now, an RFC 3339
// time, or "never"): the new snapfs_expires_ tag is added first, then the
// old ones removed, so that a crash in between leaves the later of the two
// (retention.ParseTags reads the latest). A bad WHEN is EINVAL, with the
// tags as they were.
func (o *Ops) expire(ctx context.Context, e *model.LVEntry, when string) error {
	at, err := retention.ParseExpire(when, o.opts.Now())
	if err != nil {
		return fmt.Errorf("ctl %s: expire %q: %v: %w", e, when, err, ErrBadCommand)
	}
	var add string
	if !at.IsZero() {
		add = retention.ExpiresTag(at)
	}
	return o.run(e.LV.VG, func() error {
		if add != "" && !slices.Contains(e.LV.Tags, add) {
			if err := o.lvm.AddTag(ctx, e.LV.VG, e.LV.Name, add); err != nil {
				return err
			}
		}
		for _, tag := range e.LV.Tags {
			if strings.HasPrefix(tag, retention.TagExpiresPrefix) && tag != add {
				if err := o.lvm.DelTag(ctx, e.LV.VG, e.LV.Name, tag); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// RemoveFor removes snapshot e by a schedule's retention or its expiry: a
// change of snapfs's own, told by the event `event` (events.Pruned,
// events.Expired) with the reason, instead of "removed". A held snapshot is
// ErrHeld, as for rmdir.
func (o *Ops) RemoveFor(ctx context.Context, e *model.LVEntry, event, reason string) error {
	return o.Change(ctx, event, e.String(), func(ctx context.Context) error {
		o.expectAs(ctx, model.ChangeRemoved, e.LV.VG, e.LV.Name, event, reason)
		return o.Remove(ctx, e)
	})
}

// SnapshotTagged is Snapshot with tags set by lvcreate itself
// (--addtag): a scheduled snapshot is made with its snapfs_auto mark, never
// without it.
func (o *Ops) SnapshotTagged(ctx context.Context, parent *model.LVEntry, name string, tags ...string) (*model.LVEntry, error) {
	return o.snapshot(ctx, parent, name, tags)
}
