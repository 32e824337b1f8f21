package events_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/snapfs/snapfs/events"
)

func ExampleEvent_Line() {
	e := events.Event{
		Time:  time.Date(2024, 5, 1, 12, 30, 0, 0, time.FixedZone("CEST", 2*60*60)),
		Name:  events.Extended,
		Path:  "vg/web-disk/nightly",
		Extra: []events.Field{{Key: "from", Value: int64(1 << 30)}, {Key: "to", Value: int64(3 << 29)}, {Key: "by", Value: "guard"}},
	}
	os.Stdout.Write(e.Line())
	// Output:
	// {"time":"2024-05-01T10:30:00Z","event":"extended","path":"vg/web-disk/nightly","from":1073741824,"to":1610612736,"by":"guard"}
}

// A reader gets what is published after it subscribed; one that falls more
// than the backlog behind loses the oldest and is told how many.
func ExampleBroker() {
	broker := events.NewBroker(2)
	at := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	broker.Publish(events.Event{Time: at, Name: events.Created, Path: "vg/web-disk/before"})

	r := broker.Subscribe()
	defer r.Close()
	for _, name := range []string{"a", "b", "c"} {
		broker.Publish(events.Event{Time: at, Name: events.Created, Path: "vg/web-disk/" + name,
			Extra: []events.Field{{Key: "by", Value: "snapfs"}}})
	}
	buf := make([]byte, 4096)
	n, _ := r.Read(context.Background(), buf)
	fmt.Print(string(buf[:n]))
	// Output:
	// {"event":"lost","count":1}
	// {"time":"2024-05-01T10:30:00Z","event":"created","path":"vg/web-disk/b","by":"snapfs"}
	// {"time":"2024-05-01T10:30:00Z","event":"created","path":"vg/web-disk/c","by":"snapfs"}
}
