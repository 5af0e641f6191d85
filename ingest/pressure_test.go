package ingest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"vigil/store"
)

// TestQueueFull runs both listeners against a writer with a one-request
// queue and small batches, and at most two chunks pending across all TCP
// connections: TCP senders are slowed down and lose nothing,
// while a UDP flood is never blocked and every datagram is either stored or
// counted as dropped.
func TestQueueFull(t *testing.T) {
	h := newHarness(t, Config{BatchSize: 8, UDPQueue: 4, MaxPending: 2}, store.Options{QueueSize: 1, MaxBatch: 8}, "tcp", "udp")

	t.Run("TCPBackPressure", func(t *testing.T) {
		const conns, each = 4, 1500
		streams := make([][]byte, conns)
		for c := range conns {
			var b strings.Builder
			for i := range each {
				b.WriteString(octet(fmt.Sprintf("<14>1 - h app - - - tcp c%d m%05d", c, i)))
			}
			streams[c] = []byte(b.String())
		}
		sendStreams(t, h.tcp, streams)
		evs := h.waitEvents(t, conns*each, 60*time.Second)
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Message] = true
		}
		for c := range conns {
			for i := range each {
				if m := fmt.Sprintf("tcp c%d m%05d", c, i); !seen[m] {
					t.Fatalf("%q was not stored", m)
				}
			}
		}
		if got := h.metric(t, "dropped_total", "tcp", "store_failed"); got != 0 {
			t.Errorf("TCP dropped %v", got)
		}
	})

	t.Run("UDPDropsAndCounts", func(t *testing.T) {
		const flood = 20000
		before := h.metric(t, "stored_total", "udp")
		conn, err := net.Dial("udp", h.udp)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range flood {
			fmt.Fprintf(conn, "<14>1 - h app - - - udp m%05d", i)
		}
		// Every datagram the listener read is stored or counted as dropped
		// (the kernel may drop more before the listener sees them).
		deadline := time.Now().Add(30 * time.Second)
		for {
			received := h.metric(t, "received_total", "udp")
			stored := h.metric(t, "stored_total", "udp") - before
			dropped := h.metric(t, "dropped_total", "udp", "queue_full")
			if received > 0 && stored+dropped == received {
				t.Logf("UDP flood of %d: %v read, %v stored, %v dropped", flood, received, stored, dropped)
				if dropped == 0 {
					t.Errorf("a writer queue of 1 and a listener queue of 4 dropped nothing of %v datagrams", received)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("received %v, stored %v, dropped %v", received, stored, dropped)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestCloseReadsWhatWasSent closes the server right after a sender wrote a
// burst, with a store slowed down by a one-request queue and tiny
// batches: Close keeps reading while data is there, so all of it is stored
// before Close returns.
func TestCloseReadsWhatWasSent(t *testing.T) {
	const n = 3000
	h := newHarness(t, Config{BatchSize: 8, MaxPending: 1}, store.Options{QueueSize: 1, MaxBatch: 8}, "tcp")
	idle, err := net.Dial("tcp", h.tcp) // a quiet connection must not hold up Close
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	var b strings.Builder
	for i := range n {
		b.WriteString(octet(fmt.Sprintf("<14>1 - h app - - - burst %d", i)))
	}
	sendStreams(t, h.tcp, [][]byte{[]byte(b.String())})
	before := h.metric(t, "stored_total", "tcp")
	start := time.Now()
	h.srv.Close()
	t.Logf("%v of %d stored when Close began; Close took %v", before, n, time.Since(start))
	if got := len(h.events(t)); got != n {
		t.Fatalf("%d of %d stored when Close returned", got, n)
	}
}
