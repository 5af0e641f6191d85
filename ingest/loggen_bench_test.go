package ingest

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"vigil/internal/loggen"
	"vigil/model"
	"vigil/store"
)

// loggenMessages is what loggen sends to each receiver.
const loggenMessages = 200_000

// loggenTraffic is BenchmarkLoggen's traffic: 250-byte messages with a
// 3-parameter SD element, one connection.
var loggenTraffic = loggen.Traffic{
	Messages: loggenMessages, Connections: 1, Size: 250,
	SData: `[vigil@32473 agent_id="agent-03" outcome="ALLOWED" user="svc-build"]`,
}

// BenchmarkLoggen sends the same traffic with syslog-ng's loggen (-P:
// RFC 5424, octet-counted, 250-byte messages with structured data, one
// connection) first to Vigil's TCP listener storing durably into a real
// store, then to rsyslog writing a plain file, and reports both rates
// (first byte sent to last message stored or written) and their ratio.
// It needs VIGIL_LOGGEN (path of loggen, with LD_LIBRARY_PATH and
// SYSLOGNG_PREFIX set for an unpacked package); make bench-syslog sets
// them up. BenchmarkBinary (package main) measures the shipped binary.
func BenchmarkLoggen(b *testing.B) {
	bin := loggen.Path()
	if bin == "" {
		b.Skip("VIGIL_LOGGEN is not set; run make bench-syslog")
	}
	var vigilRate, rsyslogRate float64
	for b.Loop() {
		// Vigil.
		h := newHarness(b, Config{}, store.Options{}, "tcp")
		_, p, _ := net.SplitHostPort(h.tcp)
		port, _ := strconv.Atoi(p)
		start := time.Now()
		out, err := loggen.Run(bin, port, loggenTraffic)
		if err != nil {
			b.Fatal(err)
		}
		if err := loggen.WaitFor("Vigil to store", 5*time.Minute, func() bool { return h.metric(b, "stored_total", "tcp") >= loggenMessages }); err != nil {
			b.Fatal(err)
		}
		vigilRate = loggenMessages / time.Since(start).Seconds()
		found, err := h.st.FindEvents(context.Background(), model.EventFilter{Limit: 1, Visibility: adminView})
		newest := found.Events
		if err != nil || len(newest) != 1 || newest[0].ID != loggenMessages || newest[0].AgentID != "agent-03" {
			b.Fatalf("newest event %+v (%v), want id %d from agent-03", newest, err, loggenMessages)
		}
		b.Logf("vigil: %.0f msgs/s stored durably; loggen: %s", vigilRate, loggen.Rate(out))

		// rsyslog writing a plain file.
		rate, out, err := loggen.RsyslogFileRate(bin, b.TempDir(), loggenTraffic)
		if errors.Is(err, exec.ErrNotFound) {
			b.Logf("rsyslogd not installed: no comparison")
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		rsyslogRate = rate
		b.Logf("rsyslog: %.0f msgs/s written to a file; loggen: %s", rsyslogRate, loggen.Rate(out))
	}
	b.ReportMetric(vigilRate, "vigil-msgs/s")
	if rsyslogRate > 0 {
		b.ReportMetric(rsyslogRate, "rsyslog-file-msgs/s")
		b.ReportMetric(vigilRate/rsyslogRate, "vigil/rsyslog")
	}
}
