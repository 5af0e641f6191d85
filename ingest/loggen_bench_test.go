package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// loggenMessages is what loggen sends to each receiver.
const loggenMessages = 200_000

// rsyslogFileConf receives on imtcp and writes a plain file (no fsync).
const rsyslogFileConf = `global(workDirectory="%[1]s")
module(load="imtcp")
input(type="imtcp" port="%[2]d")
action(type="omfile" file="%[1]s/out.log" template="RSYSLOG_FileFormat")
`

// BenchmarkLoggen sends the same traffic with syslog-ng's loggen (-P:
// RFC 5424, octet-counted, 250-byte messages with structured data, one
// connection) first to Vigil's TCP listener storing durably into a real
// store, then to rsyslog writing a plain file, and reports both rates
// (first byte sent to last message stored or written) and their ratio.
// It needs VIGIL_LOGGEN (path of loggen, with LD_LIBRARY_PATH and
// SYSLOGNG_PREFIX set for an unpacked package); make bench-syslog sets
// them up.
func BenchmarkLoggen(b *testing.B) {
	loggen := os.Getenv("VIGIL_LOGGEN")
	if loggen == "" {
		b.Skip("VIGIL_LOGGEN is not set; run make bench-syslog")
	}
	rsyslogd, rsyslogErr := exec.LookPath("rsyslogd")
	var vigilRate, rsyslogRate float64
	for b.Loop() {
		// Vigil.
		h := newHarness(b, Config{}, store.Options{}, "tcp")
		_, p, _ := net.SplitHostPort(h.tcp)
		port, _ := strconv.Atoi(p)
		start := time.Now()
		out := runLoggen(b, loggen, port)
		waitFor(b, "Vigil to store", func() bool { return h.metric(b, "stored_total", "tcp") >= loggenMessages })
		vigilRate = loggenMessages / time.Since(start).Seconds()
		found, err := h.st.FindEvents(context.Background(), model.EventFilter{Limit: 1, Visibility: adminView})
		newest := found.Events
		if err != nil || len(newest) != 1 || newest[0].ID != loggenMessages || newest[0].AgentID != "agent-03" {
			b.Fatalf("newest event %+v (%v), want id %d from agent-03", newest, err, loggenMessages)
		}
		b.Logf("vigil: %.0f msgs/s stored durably; loggen: %s", vigilRate, loggenRate(out))

		// rsyslog writing a plain file.
		if rsyslogErr != nil {
			b.Logf("rsyslogd not installed: no comparison")
			continue
		}
		dir := b.TempDir()
		port = freePort(b)
		conf := filepath.Join(dir, "rsyslog.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(rsyslogFileConf, dir, port)), 0o600); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "pid"))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitFor(b, "rsyslog to listen", func() bool {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		lines := lineCounter{path: filepath.Join(dir, "out.log")}
		start = time.Now()
		out = runLoggen(b, loggen, port)
		waitFor(b, "rsyslog to write", func() bool { return lines.count() >= loggenMessages })
		rsyslogRate = loggenMessages / time.Since(start).Seconds()
		cancel()
		cmd.Wait()
		b.Logf("rsyslog: %.0f msgs/s written to a file; loggen: %s", rsyslogRate, loggenRate(out))
	}
	b.ReportMetric(vigilRate, "vigil-msgs/s")
	if rsyslogRate > 0 {
		b.ReportMetric(rsyslogRate, "rsyslog-file-msgs/s")
		b.ReportMetric(vigilRate/rsyslogRate, "vigil/rsyslog")
	}
}

func runLoggen(b *testing.B, loggen string, port int) []byte {
	b.Helper()
	out, err := exec.Command(loggen, "--inet", "--stream", "--syslog-proto",
		"--sdata", `[vigil@32473 agent_id="agent-03" outcome="ALLOWED" user="svc-build"]`,
		"--size", "250", "--rate", "100000000", "--number", strconv.Itoa(loggenMessages),
		"127.0.0.1", strconv.Itoa(port)).CombinedOutput()
	if err != nil {
		b.Fatalf("loggen: %v\n%s", err, out)
	}
	return out
}

var loggenRateRE = regexp.MustCompile(`average rate = [0-9.]+ msg/sec`)

func loggenRate(out []byte) string { return string(loggenRateRE.Find(out)) }

func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lineCounter counts the lines of a growing file incrementally.
type lineCounter struct {
	path   string
	offset int64
	n      int
}

func (l *lineCounter) count() int {
	f, err := os.Open(l.path)
	if err != nil {
		return l.n
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		k, err := f.ReadAt(buf, l.offset)
		l.n += bytes.Count(buf[:k], []byte{'\n'})
		l.offset += int64(k)
		if err != nil || k == 0 {
			return l.n
		}
	}
}
