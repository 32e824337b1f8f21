package events

import (
	"context"
	"sync"
	"testing"
)

// Publish to 10 readers that never read (each queue full, so every
// Publish drops a line from each) and to 10 that read as fast as they can.
func BenchmarkPublish10Readers(b *testing.B) {
	for _, reading := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "reading"}[reading]
		b.Run(name, func(b *testing.B) {
			broker := NewBroker(0)
			var wg sync.WaitGroup
			var readers []*Reader
			for range 10 {
				r := broker.Subscribe()
				readers = append(readers, r)
				if reading {
					wg.Go(func() {
						buf := make([]byte, 64<<10)
						for {
							if _, err := r.Read(context.Background(), buf); err != nil {
								return
							}
						}
					})
				}
			}
			e := numbered(1)
			for b.Loop() {
				broker.Publish(e)
			}
			for _, r := range readers {
				r.Close()
			}
			wg.Wait()
		})
	}
}
