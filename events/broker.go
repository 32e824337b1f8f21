package events

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// DefaultBacklog is how many lines a reader may fall behind before it loses
// the oldest: 10,000, as SPEC says.
const DefaultBacklog = 10000

// Broker hands every event published to every Reader subscribed at the
// time. Each reader has its own queue of lines; Publish appends to every
// queue and returns, so a reader that stops reading costs the publisher
// nothing but memory, bounded by the backlog: a reader with backlog lines
// queued unread loses the oldest when the next comes, and gets a lost line
// in their place.
//
// One mutex guards the set of readers and every reader's queue. Nobody
// holds it while waiting for anything (Read waits with it released), so
// Publish never blocks for longer than it takes to append a line to each
// queue.
type Broker struct {
	backlog   int
	published atomic.Uint64 // events published, for the metrics

	mu      sync.Mutex
	readers map[*Reader]struct{}
}

// Published is how many events were published since the broker was made.
func (b *Broker) Published() uint64 { return b.published.Load() }

// NewBroker returns a broker whose readers may fall backlog lines behind
// before they lose the oldest; backlog <= 0 means DefaultBacklog.
func NewBroker(backlog int) *Broker {
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	return &Broker{backlog: backlog, readers: make(map[*Reader]struct{})}
}

// Publish hands e to every reader subscribed now. It never blocks, whatever
// the readers do. The line is encoded once and shared by all the queues.
func (b *Broker) Publish(e Event) {
	b.published.Add(1)
	line := e.Line()
	b.mu.Lock()
	defer b.mu.Unlock()
	for r := range b.readers {
		if len(r.queue) >= b.backlog {
			r.queue[0] = nil // let the line go once every reader has dropped it
			r.queue = r.queue[1:]
			r.lost++
		}
		r.queue = append(r.queue, line)
		r.signal()
	}
}

// Subscribe returns a reader that gets every event published from now on.
// The caller must Close it, which unsubscribes it.
func (b *Broker) Subscribe() *Reader {
	r := &Reader{
		broker: b,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	b.mu.Lock()
	b.readers[r] = struct{}{}
	b.mu.Unlock()
	return r
}

// Subscribers is how many readers are subscribed (for tests and metrics).
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.readers)
}

// Reader is one subscription: the stream of lines published since it
// subscribed, as one open of MOUNT/events reads it.
type Reader struct {
	broker *Broker
	// wake holds a token when lines may have come since Read last looked;
	// its buffer of one means Publish never waits to leave it.
	wake chan struct{}
	done chan struct{} // closed by Close

	// onWait, when set (by tests), is called each time Read is about to
	// wait, so that a test knows a Read is blocked without sleeping.
	onWait func()

	// Guarded by broker.mu.
	partial []byte   // the rest of a line a Read has begun; never dropped
	lost    int      // lines dropped since the last lost line was begun
	queue   [][]byte // whole lines not begun, oldest first
	closed  bool
}

// signal leaves a wake token for Read, unless one is there already.
func (r *Reader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Read copies the next bytes of the stream into p, blocking until there
// are some or ctx is done (then it returns 0 and ctx.Err()). It returns the
// rest of a line begun by an earlier read, then as many whole lines as fit;
// it begins a line it cannot finish only when that line is the first thing
// it returns, so a line longer than p is returned over several reads. Lines
// already there are returned even when ctx is done. After Close, Read
// returns 0, io.EOF.
func (r *Reader) Read(ctx context.Context, p []byte) (int, error) {
	b := r.broker
	for {
		b.mu.Lock()
		if r.closed {
			b.mu.Unlock()
			return 0, io.EOF
		}
		if len(p) == 0 {
			b.mu.Unlock()
			return 0, nil
		}
		n := r.fill(p)
		more := r.pending()
		b.mu.Unlock()
		if n > 0 {
			if more {
				// Another Read of this reader may be waiting for what is left.
				r.signal()
			}
			return n, nil
		}
		if r.onWait != nil {
			r.onWait()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-r.done:
			return 0, io.EOF
		case <-r.wake:
		}
	}
}

// fill copies into p what Read returns and takes it off the reader.
// Called with broker.mu held.
func (r *Reader) fill(p []byte) int {
	n := 0
	for {
		if len(r.partial) > 0 {
			c := copy(p[n:], r.partial)
			r.partial = r.partial[c:]
			n += c
			if len(r.partial) > 0 {
				return n // p is full
			}
		}
		var next []byte
		switch {
		case r.lost > 0:
			next = lostLine(r.lost)
		case len(r.queue) > 0:
			next = r.queue[0]
		default:
			return n
		}
		if n > 0 && len(next) > len(p)-n {
			return n // do not begin a line this read cannot finish
		}
		if r.lost > 0 {
			r.lost = 0
		} else {
			r.queue[0] = nil
			r.queue = r.queue[1:]
		}
		r.partial = next
	}
}

// pending reports whether anything is left to read. Called with broker.mu
// held.
func (r *Reader) pending() bool {
	return len(r.partial) > 0 || r.lost > 0 || len(r.queue) > 0
}

// Close unsubscribes the reader, drops what it has not read and wakes a
// Read in progress, which returns io.EOF. It is idempotent.
func (r *Reader) Close() {
	b := r.broker
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	delete(b.readers, r)
	r.partial, r.queue, r.lost = nil, nil, 0
	close(r.done)
}
