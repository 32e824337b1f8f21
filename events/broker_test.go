package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReaderGetsWhatCameAfterItSubscribed(t *testing.T) {
	b := NewBroker(0)
	b.Publish(numbered(0))
	r := b.Subscribe()
	defer r.Close()
	for i := 1; i < 4; i++ {
		b.Publish(numbered(i))
	}
	equalLines(t, "reader", readLines(t, r, 3), lines(1, 4))
	readNothing(t, r)
}

func TestTwoReadersEachGetEverything(t *testing.T) {
	b := NewBroker(0)
	r1, r2 := b.Subscribe(), b.Subscribe()
	defer r1.Close()
	defer r2.Close()
	for i := range 5 {
		b.Publish(numbered(i))
	}
	equalLines(t, "first reader", readLines(t, r1, 5), lines(0, 5))
	equalLines(t, "second reader", readLines(t, r2, 5), lines(0, 5))
	readNothing(t, r1)
	readNothing(t, r2)
}

func TestSlowReaderLosesTheOldest(t *testing.T) {
	b := NewBroker(3)
	fast, slow := b.Subscribe(), b.Subscribe()
	defer fast.Close()
	defer slow.Close()
	var fastGot []string
	for i := range 10 {
		b.Publish(numbered(i))
		fastGot = append(fastGot, readLines(t, fast, 1)...)
	}
	equalLines(t, "fast reader", fastGot, lines(0, 10))
	readNothing(t, fast)

	want := append([]string{"{\"event\":\"lost\",\"count\":7}\n"}, lines(7, 10)...)
	equalLines(t, "slow reader", readLines(t, slow, 4), want)
	readNothing(t, slow)

	// The count starts again after a lost line.
	for i := 10; i < 15; i++ {
		b.Publish(numbered(i))
	}
	want = append([]string{"{\"event\":\"lost\",\"count\":2}\n"}, lines(12, 15)...)
	equalLines(t, "slow reader, again", readLines(t, slow, 4), want)
}

func TestPartialReadsReassemble(t *testing.T) {
	b := NewBroker(0)
	r := b.Subscribe()
	defer r.Close()
	long := Event{Time: at, Name: Expired, Path: "vg/web-disk/nightly",
		Extra: []Field{{"reason", strings.Repeat("past its expiry ", 20)}}}
	b.Publish(long)
	b.Publish(numbered(1))
	want := string(long.Line()) + string(numbered(1).Line())

	ctx, cancel := context.WithTimeout(context.Background(), hung)
	defer cancel()
	var got []byte
	buf := make([]byte, 5)
	for len(got) < len(want) {
		n, err := r.Read(ctx, buf)
		if err != nil || n == 0 || n > len(buf) {
			t.Fatalf("read %d, %v after %d bytes", n, err, len(got))
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 && i != n-1 {
			t.Fatalf("one read returned bytes of two lines: %q", buf[:n])
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		t.Errorf("reassembled\n%q\nwant\n%q", got, want)
	}
	readNothing(t, r)
}

// A line a reader has begun is never dropped: what it loses comes after.
func TestBegunLineIsNotDropped(t *testing.T) {
	b := NewBroker(2)
	r := b.Subscribe()
	defer r.Close()
	b.Publish(numbered(0))
	ctx, cancel := context.WithTimeout(context.Background(), hung)
	defer cancel()
	first := make([]byte, 5)
	if n, err := r.Read(ctx, first); n != 5 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	for i := 1; i < 5; i++ {
		b.Publish(numbered(i))
	}
	got := readLines(t, r, 4)
	got[0] = string(first) + got[0]
	want := append(lines(0, 1), "{\"event\":\"lost\",\"count\":2}\n")
	equalLines(t, "reader", got, append(want, lines(3, 5)...))
}

func TestReadBlocksUntilPublish(t *testing.T) {
	b := NewBroker(0)
	r := b.Subscribe()
	defer r.Close()
	done := blockedRead(t, context.Background(), r)
	b.Publish(numbered(1))
	res := awaitResult(t, done)
	if res.err != nil || string(res.buf) != lines(1, 2)[0] {
		t.Errorf("Read returned %q, %v; want %q", res.buf, res.err, lines(1, 2)[0])
	}
}

func TestCancelEndsBlockedRead(t *testing.T) {
	b := NewBroker(0)
	r := b.Subscribe()
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := blockedRead(t, ctx, r)
	cancel()
	if res := awaitResult(t, done); res.n != 0 || !errors.Is(res.err, context.Canceled) {
		t.Errorf("Read returned %q, %v; want context.Canceled", res.buf, res.err)
	}
	// The reader stays subscribed: the next Read gets what comes.
	b.Publish(numbered(1))
	equalLines(t, "reader", readLines(t, r, 1), lines(1, 2))
}

func TestCloseWakesBlockedRead(t *testing.T) {
	b := NewBroker(0)
	other := b.Subscribe()
	defer other.Close()
	r := b.Subscribe()
	done := blockedRead(t, context.Background(), r)
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("Subscribers() = %d before Close, want 2", n)
	}
	r.Close()
	if res := awaitResult(t, done); res.n != 0 || res.err != io.EOF {
		t.Errorf("Read returned %q, %v; want io.EOF", res.buf, res.err)
	}
	if n := b.Subscribers(); n != 1 {
		t.Errorf("Subscribers() = %d after Close, want 1", n)
	}
	r.Close() // idempotent
	b.Publish(numbered(1))
	if n, err := r.Read(context.Background(), make([]byte, 4096)); n != 0 || err != io.EOF {
		t.Errorf("Read after Close returned %d, %v; want io.EOF", n, err)
	}
	if n := b.Subscribers(); n != 1 {
		t.Errorf("Subscribers() = %d after a second Close, want 1", n)
	}
}

func TestClosedReadersLeaveNothingBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	b := NewBroker(0)
	var readers []*Reader
	var results []<-chan result
	for range 100 {
		r := b.Subscribe()
		readers = append(readers, r)
		results = append(results, blockedRead(t, context.Background(), r))
	}
	if n := b.Subscribers(); n != 100 {
		t.Fatalf("Subscribers() = %d, want 100", n)
	}
	for _, r := range readers {
		r.Close()
	}
	for _, done := range results {
		if res := awaitResult(t, done); res.err != io.EOF {
			t.Errorf("Read returned %q, %v; want io.EOF", res.buf, res.err)
		}
	}
	if n := b.Subscribers(); n != 0 {
		t.Errorf("Subscribers() = %d after closing all, want 0", n)
	}
	// A goroutine that has sent its result may not have exited yet.
	deadline := time.Now().Add(hung)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	b := NewBroker(10)
	var readers []*Reader
	for range 1000 {
		readers = append(readers, b.Subscribe())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			b.Publish(numbered(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(hung):
		t.Fatal("Publish blocked on readers that do not read")
	}
	want := append([]string{"{\"event\":\"lost\",\"count\":90}\n"}, lines(90, 100)...)
	equalLines(t, "last reader", readLines(t, readers[999], 11), want)
	for _, r := range readers {
		r.Close()
	}
	if n := b.Subscribers(); n != 0 {
		t.Errorf("Subscribers() = %d after closing all, want 0", n)
	}
}

// Publishers and readers at once, for the race detector: each reader gets
// every line, and each publisher's lines in the order it published them.
func TestConcurrentPublishersAndReaders(t *testing.T) {
	const publishers, each, readers = 4, 200, 4
	b := NewBroker(0)
	var subs []*Reader
	for range readers {
		subs = append(subs, b.Subscribe())
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				b.Publish(Event{Time: at, Name: Created, Path: fmt.Sprintf("vg/p%d/%d", p, i)})
			}
		})
	}
	got := make([][]string, readers)
	errs := make([]error, readers)
	for i, r := range subs {
		wg.Go(func() { got[i], errs[i] = tryReadLines(r, publishers*each) })
	}
	wg.Wait()
	for i, read := range got {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		next := make([]int, publishers)
		for _, line := range read {
			var p, n int
			if _, err := fmt.Sscanf(line[strings.Index(line, `"path":"vg/p`)+12:], "%d/%d", &p, &n); err != nil {
				t.Fatalf("reader %d: %q: %v", i, line, err)
			}
			if n != next[p] {
				t.Fatalf("reader %d: publisher %d's line %d came when %d was due", i, p, n, next[p])
			}
			next[p]++
		}
		subs[i].Close()
	}
}
