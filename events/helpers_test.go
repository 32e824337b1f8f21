package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hung is how long a test waits for something that should happen at once
// before it calls it hung and fails; nothing waits for it to pass.
const hung = 10 * time.Second

var at = time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)

// numbered is the i-th event of a test, told apart by its path.
func numbered(i int) Event {
	return Event{Time: at, Name: Created, Path: fmt.Sprintf("vg/web-disk/s%d", i),
		Extra: []Field{{"by", "snapfs"}}}
}

// lines returns the lines of the events numbered from..to-1, as a reader
// gets them.
func lines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, string(numbered(i).Line()))
	}
	return out
}

// readLines reads from r until it has n whole lines, and fails the test if
// they do not come within hung.
func readLines(t *testing.T, r *Reader, n int) []string {
	t.Helper()
	out, err := tryReadLines(r, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryReadLines is readLines for a goroutine other than the test's, which
// must not call t.Fatal.
func tryReadLines(r *Reader, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hung)
	defer cancel()
	var got []byte
	buf := make([]byte, 4096)
	for bytes.Count(got, []byte("\n")) < n {
		k, err := r.Read(ctx, buf)
		if err != nil {
			return nil, fmt.Errorf("read after %d of %d lines: %w", bytes.Count(got, []byte("\n")), n, err)
		}
		got = append(got, buf[:k]...)
	}
	out := strings.SplitAfter(string(got), "\n")
	if last := out[len(out)-1]; last != "" {
		return nil, fmt.Errorf("read past the %d lines wanted: %q", n, last)
	}
	return out[:len(out)-1], nil
}

// readNothing fails the test if r has anything to read: a Read with a
// cancelled context returns what is there, or else context.Canceled.
func readNothing(t *testing.T, r *Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	buf := make([]byte, 4096)
	if n, err := r.Read(ctx, buf); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("read %q, %v; want nothing", buf[:n], err)
	}
}

func equalLines(t *testing.T, who string, got, want []string) {
	t.Helper()
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("%s got\n%s\nwant\n%s", who, strings.Join(got, ""), strings.Join(want, ""))
	}
}

type result struct {
	n   int
	err error
	buf []byte
}

// blockedRead starts a Read of r on its own goroutine and returns once that
// Read waits for a line; the Read's result comes on the channel returned.
func blockedRead(t *testing.T, ctx context.Context, r *Reader) <-chan result {
	t.Helper()
	waiting := make(chan struct{}, 1)
	r.onWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, 4096)
		n, err := r.Read(ctx, buf)
		done <- result{n, err, buf[:n]}
	}()
	select {
	case <-waiting:
	case res := <-done:
		t.Fatalf("Read returned %q, %v without waiting", res.buf, res.err)
	case <-time.After(hung):
		t.Fatal("Read neither waited nor returned")
	}
	select {
	case res := <-done:
		t.Fatalf("Read returned %q, %v though nothing was published", res.buf, res.err)
	default:
	}
	return done
}

func awaitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(hung):
		t.Fatal("Read still blocked")
		return result{}
	}
}
