package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts what each listener (label listener: udp, tcp, tls) did.
type metrics struct {
	received, stored, dropped, unparsed, oversized *prometheus.CounterVec
	connections                                    *prometheus.GaugeVec
	accepted                                       *prometheus.CounterVec
	closed                                         *prometheus.CounterVec // by reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_syslog_" + name, Help: help},
			append([]string{"listener"}, labels...))
	}
	m := &metrics{
		received: counter("received_total", "Syslog messages received (frames or datagrams)."),
		stored:   counter("stored_total", "Syslog messages durably stored."),
		dropped: counter("dropped_total", "Syslog messages not stored: UDP receive buffer overflowing in the kernel "+
			"(receive_buffer), UDP queue full (queue_full), store failure (store_failed).", "reason"),
		unparsed:  counter("unparsed_total", "Messages that were not syslog, stored as type UNPARSED."),
		oversized: counter("oversized_total", "Messages longer than --syslog-max-msg, stored cut to that size."),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_syslog_connections", Help: "Open syslog connections.",
		}, []string{"listener"}),
		accepted: counter("connections_total", "Syslog connections accepted."),
		closed:   counter("connections_closed_total", "Syslog connections closed, by reason.", "reason"),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.received, m.stored, m.dropped, m.unparsed, m.oversized,
		m.connections, m.accepted, m.closed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	return m, nil
}

// listenerMetrics are one listener's counters.
type listenerMetrics struct {
	received, stored, unparsed, oversized, accepted prometheus.Counter
	connections                                     prometheus.Gauge
	m                                               *metrics
	name                                            string
}

// dropReasons are the reasons each listener can drop messages for: their
// series exist from the start, at zero.
var dropReasons = map[string][]string{
	"udp": {"receive_buffer", "queue_full", "store_failed"},
	"tcp": {"store_failed"},
	"tls": {"store_failed"},
}

func (m *metrics) forListener(name string) *listenerMetrics {
	for _, r := range dropReasons[name] {
		m.dropped.WithLabelValues(name, r)
	}
	return &listenerMetrics{
		received: m.received.WithLabelValues(name), stored: m.stored.WithLabelValues(name),
		unparsed: m.unparsed.WithLabelValues(name), oversized: m.oversized.WithLabelValues(name),
		accepted: m.accepted.WithLabelValues(name), connections: m.connections.WithLabelValues(name),
		m: m, name: name,
	}
}

func (l *listenerMetrics) drop(reason string, n int) {
	l.m.dropped.WithLabelValues(l.name, reason).Add(float64(n))
}

func (l *listenerMetrics) close(reason string) {
	l.m.closed.WithLabelValues(l.name, reason).Inc()
}
