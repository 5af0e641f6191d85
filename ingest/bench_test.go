package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"vigil/internal/cpuclock"

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
// conns=1 and conns=4 start from an empty store; with VIGIL_BENCH_STORED=N
// (make bench: 10,000,000) stored=N/conns=1 repeats conns=1 on a store
// already holding N events, so that its msgs/s compares with the rate at 0.
// Unset, that run is skipped and a plain go test -bench stays quick.
//
//	go test -tags sqlite_fts5 -run '^$' -bench TCPIngest -benchtime 1x ./ingest
func BenchmarkTCPIngest(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchTCPIngest(b, conns, 0) })
	}
	if n, _ := strconv.Atoi(os.Getenv("VIGIL_BENCH_STORED")); n > 0 {
		b.Run(fmt.Sprintf("stored=%d", n), func(b *testing.B) {
			b.Run("conns=1", func(b *testing.B) { benchTCPIngest(b, 1, n) })
		})
	}
}

// benchTCPIngest sends benchMessages over conns connections to a store
// that first receives stored events through prefill. Metrics: msgs/s
// (first byte sent to last message durably stored), ms-after-last-write
// (last byte sent to last message stored), ms-until-searchable (last byte
// sent to the full-text index holding everything), max-fts-lag-ms (the
// longest any message waited between its commit and being searchable, see
// maxFTSLag) and, on a prefilled store, prefill-events/s.
func benchTCPIngest(b *testing.B, conns, stored int) {
	streams := make([][]byte, conns)
	for c := range conns {
		var sb strings.Builder
		for i := c; i < benchMessages; i += conns {
			sb.WriteString(benchMessage(i))
		}
		streams[c] = []byte(sb.String())
	}
	var total, prefillRate float64
	var elapsed, cpu, drain, searchable, ftsLag time.Duration
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, Config{}, store.Options{}, "tcp")
		if stored > 0 {
			prefillRate = prefill(b, h.st, stored)
		}
		before := h.metric(b, "stored_total", "tcp")
		stopProfile := profileCPU(b)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuclock.Used()
		stopSampling := sampleFTS(10*time.Millisecond, func() (committed, indexed int64) {
			// Ids are consecutive: the prefill's, then the listener's.
			committed = int64(stored) + int64(h.metric(b, "stored_total", "tcp")-before)
			// Read after the count, the index lag can only make indexed
			// lower than it was, never higher: the lag errs long.
			return committed, committed - h.st.IndexLag()
		})
		sendStreams(b, h.tcp, streams)
		sent := time.Now()
		for h.metric(b, "stored_total", "tcp")-before < benchMessages {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("only %v of %d stored after 5 minutes", h.metric(b, "stored_total", "tcp")-before, benchMessages)
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed += time.Since(start)
		cpu += cpuclock.Used() - cpu0
		stopProfile()
		drain += time.Since(sent)
		total += h.metric(b, "stored_total", "tcp") - before
		b.StopTimer()
		// And found by a search: the full-text index has caught up.
		for h.st.IndexLag() > 0 {
			time.Sleep(time.Millisecond)
		}
		searchable += time.Since(sent)
		ftsLag = max(ftsLag, maxFTSLag(stopSampling()))
		// Sequence ids start at 1: the newest id is the count.
		found, err := h.st.FindEvents(context.Background(), model.EventFilter{Limit: 1, Visibility: adminView})
		newest := found.Events
		if want := int64(stored + benchMessages); err != nil || len(newest) != 1 || newest[0].ID != want {
			b.Fatalf("newest event %v (%v), want id %d", newest, err, want)
		}
		b.StartTimer()
	}
	b.ReportMetric(total/elapsed.Seconds(), "msgs/s")
	// Sender and Vigil together, for comparisons steadier than the rate.
	b.ReportMetric(float64(cpu.Microseconds())/total, "cpu-µs/msg")
	b.ReportMetric(float64(drain.Milliseconds())/float64(b.N), "ms-after-last-write")
	b.ReportMetric(float64(searchable.Milliseconds())/float64(b.N), "ms-until-searchable")
	b.ReportMetric(float64(ftsLag.Microseconds())/1000, "max-fts-lag-ms")
	if stored > 0 {
		b.ReportMetric(prefillRate, "prefill-events/s")
	}
}

// prefillBatch is how many events prefill hands the store at a time.
const prefillBatch = 4096

// prefill stores n generated events through the write path syslog intake
// takes: varied RFC 5424 messages (prefillMessage) spread over the 30 days
// before now, decoded by the listener's Decoder and appended with
// store.AppendEvents in batches of prefillBatch by two goroutines, so the
// writer is never idle. It waits for the full-text index to catch up and
// returns the events stored per second.
func prefill(b *testing.B, st *store.Store, n int) float64 {
	b.Helper()
	start := time.Now()
	first := start.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(n)
	batches := make(chan []model.Event, 2)
	go func() {
		defer close(batches)
		dec := NewDecoder(nil)
		peer := Peer{Source: model.SourceSyslogTCP, Addr: "10.20.0.7"}
		for i := 0; i < n; i += prefillBatch {
			evs := make([]model.Event, 0, prefillBatch)
			for j := i; j < min(i+prefillBatch, n); j++ {
				t := first.Add(time.Duration(j) * step)
				evs = append(evs, dec.Decode(prefillMessage(j, t), 0, peer, t))
			}
			batches <- evs
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for evs := range batches {
				if failed.Load() {
					continue // drain, so the generator ends
				}
				if _, err := st.AppendEvents(context.Background(), evs); err != nil {
					b.Error(err)
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		b.FailNow()
	}
	appended := time.Since(start)
	for st.IndexLag() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	rate := float64(n) / appended.Seconds()
	b.Logf("prefilled %d events in %s (%.0f events/s); full text indexed %s later",
		n, appended.Round(time.Second), rate, (time.Since(start) - appended).Round(time.Millisecond))
	return rate
}

var (
	// No SYSTEM: that category is Vigil's own, and a syslog sender claiming
	// it is stored as USAGE with the claim in details.invalid.
	prefillCategories = []string{"USAGE", "AUTH", "ACCESS_CONTROL", "ACCESS_CONTROL", "USAGE", "AUDIT_LOG", "USAGE", "USAGE", "AUTH", "USAGE"}
	prefillTypes      = map[string]string{"USAGE": "CERT_USED", "AUTH": "E_LOGIN_FAILED", "ACCESS_CONTROL": "ACCESS_CHECK", "AUDIT_LOG": "RENEWAL_INITIATED"}
	prefillApps       = []string{"ca-agent", "signer", "pki-gateway", "vault-proxy"}
	prefillOutcomes   = []string{"ALLOWED", "DENIED", "SUCCESS"}
)

// prefillMessage returns the j-th message a loaded run finds stored, sent
// at t: RFC 5424 from 50 agents and four applications, 500 users, four
// categories each with its type, three outcomes, a certificate serial per
// message; one in 100,000 mentions "zanzibar".
func prefillMessage(j int, t time.Time) []byte {
	cat := prefillCategories[j%len(prefillCategories)]
	msg := fmt.Sprintf("certificate %08X used by process signtool.exe for build %d", j*7919, j)
	if j%100_000 == 77 {
		msg += " zanzibar"
	}
	return fmt.Appendf(nil, `<134>1 %s agent-%02d.example.com %s %d %s `+
		`[vigil@32473 user="user%d" ip="10.0.%d.%d" agent_id="agent-%02d" category="%s" outcome="%s" policy="code-signing" cert_serial="%08X" cert_subject="CN=svc-%d,O=Example"] %s`,
		t.UTC().Format(time.RFC3339Nano), j%50, prefillApps[j%len(prefillApps)], 1000+j%9000, prefillTypes[cat],
		j%500, j%200, j%250, j%50, cat, prefillOutcomes[j%3], j*7919, j%1000, msg)
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

// profileCPU starts a CPU profile of the measured part alone (not the
// prefill) when VIGIL_BENCH_CPUPROFILE names a directory: the profile is
// written there, named after the benchmark. It returns the function that
// stops it.
func profileCPU(b *testing.B) (stop func()) {
	dir := os.Getenv("VIGIL_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_", "=", "-").Replace(b.Name())+".prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
