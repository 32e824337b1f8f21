package ops

import (
	"context"
	"sync"
	"time"

	"github.com/snapfs/snapfs/events"
	"github.com/snapfs/snapfs/model"
)

// Publisher takes the events of MOUNT/events. *events.Broker implements it.
type Publisher interface {
	Publish(events.Event)
}

// Who makes a change, as the events' "by" says: through the tree
// (ActorSnapfs), a schedule, or the guard; changes LVM shows that snapfs
// did not make are ActorOutside.
const (
	ActorSnapfs   = "snapfs"
	ActorSchedule = "schedule"
	ActorGuard    = "guard"
	ActorOutside  = "outside"
)

type actorKey struct{}

// WithActor returns ctx for a change snapfs makes by itself, for actor (a
// schedule, the guard); without one, a change is the tree's (ActorSnapfs).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok {
		return a
	}
	return ActorSnapfs
}

// expectTTL bounds how long a change snapfs makes waits for the model to
// show it; a change LVM refused never shows, and its expectation goes.
const expectTTL = time.Minute

// expectations are the changes snapfs is making, by kind and "vg/name"
// (the new name for a rename), so that the event the model's change brings
// names who made it.
type expectations struct {
	mu   sync.Mutex // guards m
	m    map[string]expectation
	now  func() time.Time
	sink Publisher
}

type expectation struct {
	actor string
	at    time.Time
	// event and reason, when set, tell a removal by retention or expiry:
	// the event is that (pruned, expired) instead of "removed".
	event, reason string
}

func expectKey(kind, vg, name string) string { return kind + " " + vg + "/" + name }

// expect says that snapfs is making a change of kind to vg/name for the
// actor of ctx.
func (o *Ops) expect(ctx context.Context, kind, vg, name string) {
	o.expectAs(ctx, kind, vg, name, "", "")
}

// expectAs is expect of a change told by another event, with a reason.
func (o *Ops) expectAs(ctx context.Context, kind, vg, name, event, reason string) {
	x := &o.expected
	x.mu.Lock()
	defer x.mu.Unlock()
	now := x.now()
	for k, e := range x.m {
		if now.Sub(e.at) > expectTTL {
			delete(x.m, k)
		}
	}
	k := expectKey(kind, vg, name)
	if e, ok := x.m[k]; ok && e.event != "" && event == "" {
		return // Remove within RemoveFor: keep the event RemoveFor set
	}
	x.m[k] = expectation{actor: actorOf(ctx), at: now, event: event, reason: reason}
}

// take returns what snapfs expected of a change the model shows, and
// forgets it; a change snapfs did not make was made outside.
func (x *expectations) take(kind, vg, name string) expectation {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := expectKey(kind, vg, name)
	if e, ok := x.m[k]; ok {
		delete(x.m, k)
		return e
	}
	return expectation{actor: ActorOutside}
}

// Announce publishes the events of the changes between two models: the
// store calls it with every model that replaces another, so that changes
// made through snapfs and by hand are told alike, once each.
func (o *Ops) Announce(old, cur *model.Tree) {
	x := &o.expected
	if x.sink == nil {
		return
	}
	for _, c := range model.Diff(old, cur) {
		ev := events.Event{Time: x.now(), Name: c.Kind, Path: c.Path}
		switch c.Kind {
		case model.ChangeCreated:
			ev.Extra = []events.Field{{Key: "by", Value: x.take(c.Kind, c.VG, c.Name).actor}}
		case model.ChangeRemoved:
			e := x.take(c.Kind, c.VG, c.Name)
			ev.Extra = []events.Field{{Key: "by", Value: e.actor}}
			if e.event != "" {
				ev.Name = e.event
				ev.Extra = append(ev.Extra, events.Field{Key: "reason", Value: e.reason})
			}
		case model.ChangeRenamed:
			ev.Path = c.OldPath
			ev.Extra = []events.Field{{Key: "by", Value: x.take(c.Kind, c.VG, c.Name).actor}, {Key: "to", Value: c.Path}}
		}
		x.sink.Publish(ev)
	}
}

// publish hands an event of snapfs's own (extended) to the events file.
func (o *Ops) publish(ev events.Event) {
	if o.expected.sink == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = o.expected.now()
	}
	o.expected.sink.Publish(ev)
}
