package ingest

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"vigil/store"
)

// TestDroppedMetricInitialised: every vigil_syslog_dropped_total series a
// listener can count exists, at zero, before the first drop, so that an
// alert on its rate works from the start.
func TestDroppedMetricInitialised(t *testing.T) {
	h := newHarness(t, Config{}, store.Options{}, "udp", "tcp")
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_syslog_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var l, r string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "listener":
					l = lp.GetValue()
				case "reason":
					r = lp.GetValue()
				}
			}
			have[l+"/"+r] = true
		}
	}
	for _, want := range []string{"udp/queue_full", "udp/store_failed", "udp/receive_buffer", "tcp/store_failed"} {
		if !have[want] {
			t.Errorf("no vigil_syslog_dropped_total{listener, reason} series %s (have %v)", want, have)
		}
	}
}

// TestUDPReceiveBufferDropsCounted sends bursts of datagrams into a UDP
// listener with the smallest receive buffer: the kernel drops some, and
// every datagram sent is either received or counted as dropped with
// reason receive_buffer.
func TestUDPReceiveBufferDropsCounted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_RXQ_OVFL is Linux only")
	}
	h := newHarness(t, Config{UDPReceiveBuffer: 1}, store.Options{}, "udp")
	c, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := fmt.Sprintf("<14>1 - h a - - - %0900d", 0)
	sent := 0
	for range 20 {
		for range 2000 {
			c.Write([]byte(payload))
			sent++
		}
		if h.metric(t, "received_total", "udp") < float64(sent) {
			break
		}
	}
	// The drop count comes with the next datagram received.
	var received, dropped float64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		c.Write([]byte("<14>1 - h a - - - flush"))
		sent++
		received, dropped = h.metric(t, "received_total", "udp"), h.metric(t, "dropped_total", "udp", "receive_buffer")
		if received+dropped == float64(sent) {
			break
		}
	}
	if received == float64(sent) {
		t.Skipf("the kernel dropped none of %d datagrams", sent)
	}
	if received+dropped != float64(sent) {
		t.Errorf("sent %d, received %v, dropped by the kernel %v: %v unaccounted", sent, received, dropped, float64(sent)-received-dropped)
	}
}
