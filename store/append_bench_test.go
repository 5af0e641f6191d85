package store

import (
	"context"
	"testing"
	"time"
	"vigil/internal/cpuclock"

	"vigil/model"
)

// BenchmarkAppend measures the writer alone: pre-built events appended in
// batches of 1,000 by 4 producers. Reports events/s.
func BenchmarkAppend(b *testing.B) {
	s, err := Open(context.Background(), testDB(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const total = 400_000
	// Pre-built batches, so only the writer is measured.
	end := time.Now()
	var batches [][]model.Event
	for i := 0; i < total; i += 1000 {
		var evs []model.Event
		for j := i; j < i+1000; j++ {
			evs = append(evs, benchEvent(j, end))
		}
		batches = append(batches, evs)
	}
	b.ResetTimer()
	cpu0 := cpuclock.Used()
	start := time.Now()
	ch := make(chan []model.Event)
	done := make(chan struct{})
	for p := 0; p < 4; p++ {
		go func() {
			for evs := range ch {
				if _, err := s.AppendEvents(context.Background(), evs); err != nil {
					b.Error(err)
				}
			}
			done <- struct{}{}
		}()
	}
	for _, evs := range batches {
		ch <- evs
	}
	close(ch)
	for p := 0; p < 4; p++ {
		<-done
	}
	// Searchable too: wait for the full-text index to catch up.
	for s.ix.upto.Load() < s.writer.committed.Load() {
		s.ix.notify()
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(total/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64((cpuclock.Used()-cpu0).Microseconds())/total, "cpu-µs/event")
}
