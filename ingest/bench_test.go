package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// benchMessages is the workload of one benchmark iteration (make bench
// runs one iteration).
const benchMessages = 200_000

// benchMessage returns message i: RFC 5424 with structured data, exactly
// 250 bytes, octet-counted.
func benchMessage(i int) string {
	m := fmt.Sprintf(`<134>1 2026-11-21T23:50:00.123456Z agent-03.example.com ca-agent 4242 CERT_USED `+
		`[vigil@32473 user="svc-build" agent_id="agent-03" outcome="ALLOWED" policy="code-signing" cert_serial="4F2A91"] `+
		`certificate used to sign build %08d `, i)
	m += strings.Repeat("x", 250-len(m))
	return octet(m)
}

// BenchmarkTCPIngest drives the TCP listener end to end into a real store
// in a temporary directory: conns connections send benchMessages
// octet-counted RFC 5424 messages of 250 bytes as fast as the listener
// takes them, and the clock stops when the last one is durably stored.
//
//	go test -tags sqlite_fts5 -run '^$' -bench TCPIngest -benchtime 1x ./ingest
func BenchmarkTCPIngest(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			streams := make([][]byte, conns)
			for c := range conns {
				var sb strings.Builder
				for i := c; i < benchMessages; i += conns {
					sb.WriteString(benchMessage(i))
				}
				streams[c] = []byte(sb.String())
			}
			var stored float64
			var elapsed, drain, searchable time.Duration
			for b.Loop() {
				b.StopTimer()
				h := newHarness(b, Config{}, store.Options{}, "tcp")
				before := h.metric(b, "stored_total", "tcp")
				b.StartTimer()
				start := time.Now()
				sendStreams(b, h.tcp, streams)
				sent := time.Now()
				for h.metric(b, "stored_total", "tcp")-before < benchMessages {
					if time.Since(start) > 5*time.Minute {
						b.Fatalf("only %v of %d stored after 5 minutes", h.metric(b, "stored_total", "tcp")-before, benchMessages)
					}
					time.Sleep(2 * time.Millisecond)
				}
				elapsed += time.Since(start)
				drain += time.Since(sent)
				stored += h.metric(b, "stored_total", "tcp") - before
				b.StopTimer()
				// And found by a search: the full-text index has caught up.
				for h.st.IndexLag() > 0 {
					time.Sleep(time.Millisecond)
				}
				searchable += time.Since(sent)
				// Sequence ids start at 1: the newest id is the count.
				newest, _, err := h.st.FindEvents(context.Background(), model.EventFilter{Limit: 1, Visibility: adminView})
				if err != nil || len(newest) != 1 || newest[0].ID != benchMessages {
					b.Fatalf("newest event %v (%v), want id %d", newest, err, benchMessages)
				}
				b.StartTimer()
			}
			b.ReportMetric(stored/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(drain.Milliseconds())/float64(b.N), "ms-after-last-write")
			b.ReportMetric(float64(searchable.Milliseconds())/float64(b.N), "ms-until-searchable")
		})
	}
}

// BenchmarkDecode measures framing, parsing and mapping alone (one core):
// what the listener can feed the store.
func BenchmarkDecode(b *testing.B) {
	var stream strings.Builder
	for i := range 10_000 {
		stream.WriteString(benchMessage(i))
	}
	data := []byte(stream.String())
	peer := Peer{Source: model.SourceSyslogTCP, Addr: "127.0.0.1"}
	n := 0
	for b.Loop() {
		fr := NewFrameReader(bufio.NewReaderSize(bytes.NewReader(data), readBufferSize), DefaultMaxMessageSize)
		dec := NewDecoder(nil)
		for {
			frame, truncated, err := fr.Next()
			if err != nil {
				break
			}
			if e := dec.Decode(frame, truncated, peer, time.Now()); e.AgentID != "agent-03" {
				b.Fatalf("decoded %+v", e)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkStoreAppend stores already decoded syslog events with two
// appenders keeping the writer busy: the ceiling the store's writer puts
// on syslog intake.
func BenchmarkStoreAppend(b *testing.B) {
	dec := NewDecoder(nil)
	peer := Peer{Source: model.SourceSyslogTCP, Addr: "127.0.0.1"}
	events := make([]model.Event, benchMessages)
	for i := range events {
		m := benchMessage(i)
		events[i] = dec.Decode([]byte(m[strings.IndexByte(m, ' ')+1:]), 0, peer, time.Now())
	}
	var stored int
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		st := openStore(b, store.Options{})
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		const batch = 4096
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w * batch; i < len(events); i += 2 * batch {
					if _, err := st.AppendEvents(context.Background(), events[i:min(i+batch, len(events))]); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
		stored += len(events)
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(stored)/elapsed.Seconds(), "msgs/s")
}
