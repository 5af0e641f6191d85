package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/loggen"
	"vigil/model"
)

// binarySData is the SD element of BenchmarkBinary's syslog traffic: an
// enterprise SD-ID with the seven parameters an audit agent sends.
const binarySData = `[vigil@32473 user="svc-build" ip="10.20.30.40" entity_id="key-4711" outcome="ALLOWED" policy="codesign-prod" agent_id="agent-03" session="s-20261202-0042"]`

// BenchmarkBinary measures the shipped binary as a user meets it: vigil
// serve, its own process with default flags on loopback and its own data
// directory, fed by loggen over TCP (-i -S -P -s 300, two connections,
// VIGIL_BENCH_BINARY_MSGS messages, default 1,000,000) with a seven-
// parameter SD element; then rsyslog writing a plain file fed the same
// traffic; then a fresh vigil serve fed the same number of events over
// HTTP NDJSON by tools/ndjsonload, a client process of its own. Each rate
// runs from the first byte sent to the last message durable (Vigil's
// vigil_events_stored_total, read from GET /metrics with a read token made
// by vigil token create) or written (rsyslog). It reports the rates, the
// rates over the first and the last million messages (the first and last
// tenth below 10,000,000), the time from the last message durable to the
// full-text index caught up, the longest any event waited from its commit
// to searchable (sampled every 20 ms; see maxSearchLag), and the peak RSS
// (VmHWM) of each vigil process.
//
// With VIGIL_BENCH_PROFILE=DIR each fill also runs the binary with
// --pprof-listen and writes a 10-second CPU profile, taken once half the
// messages are durable, to DIR.
//
// VIGIL_BINARY names the binary to run (make bench passes dist/vigil,
// built by make release); without it the binary is built here with the
// release tags (not linked statically). VIGIL_LOGGEN is required.
func BenchmarkBinary(b *testing.B) {
	lg := loggenOrSkip(b)
	n := messagesFromEnv(b, "VIGIL_BENCH_BINARY_MSGS", 1_000_000, 2) // two connections
	bin := releaseBinary(b)
	load := ndjsonLoad(b)
	traffic := loggen.Traffic{Messages: n, Connections: 2, Size: 300, SData: binarySData}
	var tcp, web fill
	var rsyslogRate float64
	var pagesFull, pagesSmall pageFigures
	// Not b.Loop: go1.26.8's compiler fails (internal compiler error) on
	// this body inside a b.Loop loop.
	for i := 0; i < b.N; i++ {
		// The binary fed by loggen.
		port, err := loggen.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		tcp = runFill(b, bin, model.SourceSyslogTCP, n, []string{"--syslog-tcp", fmt.Sprintf("127.0.0.1:%d", port)}, func(string, string) ([]byte, error) {
			return loggen.Run(lg, port, traffic)
		}, func(f filled) {
			pagesFull = measurePages(b, f, n)
		})
		b.Logf("binary, TCP syslog from loggen: %s", tcp)
		b.Logf("binary, pages: %s", pagesFull)

		// A smaller store filled the same way, for the pages at a fifth of
		// the size.
		if port, err = loggen.FreePort(); err != nil {
			b.Fatal(err)
		}
		small := traffic
		small.Messages = n / 5 / 2 * 2
		runFill(b, bin, model.SourceSyslogTCP, small.Messages, []string{"--syslog-tcp", fmt.Sprintf("127.0.0.1:%d", port)}, func(string, string) ([]byte, error) {
			return loggen.Run(lg, port, small)
		}, func(f filled) {
			pagesSmall = measurePages(b, f, small.Messages)
		})
		b.Logf("binary, pages: %s", pagesSmall)

		// rsyslog writing a plain file, the same traffic.
		rate, out, err := loggen.RsyslogFileRate(lg, b.TempDir(), traffic)
		switch {
		case errors.Is(err, exec.ErrNotFound):
			b.Logf("rsyslogd not installed: no comparison")
		case err != nil:
			b.Fatal(err)
		default:
			rsyslogRate = rate
			b.Logf("rsyslog → file: %.0f msgs/s; loggen: %s", rate, loggen.Rate(out))
		}

		// The binary fed over HTTP NDJSON by a client process.
		web = runFill(b, bin, model.SourceHTTP, n, nil, func(url, token string) ([]byte, error) {
			out, err := exec.Command(load, "-url", url, "-token", token, "-n", strconv.Itoa(n), "-clients", "2").CombinedOutput()
			if err != nil {
				return out, fmt.Errorf("ndjsonload: %v\n%s", err, out)
			}
			return out, nil
		}, nil)
		b.Logf("binary, HTTP NDJSON from ndjsonload: %s", web)
	}
	b.ReportMetric(float64(n), "msgs")
	b.ReportMetric(tcp.rate, "tcp-msgs/s")
	b.ReportMetric(tcp.first, "tcp-first-msgs/s")
	b.ReportMetric(tcp.last, "tcp-last-msgs/s")
	b.ReportMetric(tcp.last/tcp.first, "tcp-last/first")
	b.ReportMetric(tcp.searchable.Seconds(), "tcp-searchable-after-s")
	b.ReportMetric(tcp.maxLag.Seconds(), "tcp-max-fts-lag-s")
	b.ReportMetric(tcp.rss, "tcp-peak-RSS-MiB")
	if rsyslogRate > 0 {
		b.ReportMetric(rsyslogRate, "rsyslog-file-msgs/s")
		b.ReportMetric(tcp.rate/rsyslogRate, "binary/rsyslog")
	}
	b.ReportMetric(web.rate, "http-events/s")
	b.ReportMetric(web.rate/tcp.rate, "http/tcp")
	b.ReportMetric(web.last/web.first, "http-last/first")
	b.ReportMetric(web.maxLag.Seconds(), "http-max-fts-lag-s")
	b.ReportMetric(web.rss, "http-peak-RSS-MiB")
	pagesFull.report(b, "full")
	pagesSmall.report(b, "fifth")
}

// fill is what one fill of a vigil process measured.
type fill struct {
	rate        float64       // messages durable per second, first byte to last
	first, last float64       // the rate over the first and the last window
	window      int           // messages in each window
	searchable  time.Duration // from the last message durable to the index caught up
	maxLag      time.Duration // the longest an event waited from commit to searchable
	rss         float64       // peak RSS, MiB
	driver      string        // the driver's own summary
}

func (f fill) String() string {
	return fmt.Sprintf("%.0f msgs/s durable; first %d %.0f/s, last %d %.0f/s (%.2f); searchable %s after the last commit; worst full-text lag %s; peak RSS %.0f MiB; %s",
		f.rate, f.window, f.first, f.window, f.last, f.last/f.first, f.searchable.Round(time.Millisecond), f.maxLag.Round(time.Millisecond), f.rss, f.driver)
}

// sample is one reading of /metrics during a fill.
type sample struct {
	asked  time.Duration // since the first byte, when the scrape was sent
	at     time.Duration // since the first byte, when its answer was read
	stored int           // events of the source durable
	lastID int           // id of the newest committed event
	upto   int           // every event up to this id is searchable
}

// runFill starts bin serve with extra flags in a fresh data directory,
// makes ingest and read tokens with vigil token create, runs drive
// (given the base URL and the ingest token) and samples GET /metrics until
// n events of source are durable and the full-text index has caught up.
func runFill(b *testing.B, bin, source string, n int, extra []string, drive func(url, token string) ([]byte, error), after func(filled)) fill {
	dir := b.TempDir()
	// VIGIL_BENCH_PROFILE=DIR: a CPU profile of the binary over the fill's
	// middle is written to DIR (see profileFill).
	profDir := os.Getenv("VIGIL_BENCH_PROFILE")
	var pprofAddr string
	if profDir != "" {
		port, err := loggen.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		extra = append(extra, "--pprof-listen", pprofAddr)
	}
	p := startVigilBinary(b, bin, dir, extra...)
	defer func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}()
	f := filled{p: p, ingest: createToken(b, bin, dir, "bench-ingest", "ingest"), read: createToken(b, bin, dir, "bench-read", "read")}
	read1 := func() sample { return f.sample(b, source) }
	if s := read1(); s.stored != 0 {
		b.Fatalf("%d %s events stored before the fill", s.stored, source)
	}

	var mu sync.Mutex
	var out []byte
	var driveErr error
	done := make(chan struct{})
	f.start = time.Now()
	go func() {
		o, err := drive(p.url, f.ingest)
		mu.Lock()
		out, driveErr = o, err
		mu.Unlock()
		close(done)
	}()
	var samples []sample
	var durable, progress time.Duration
	profiled := profDir == ""
	deadline := f.start.Add(30*time.Minute + time.Duration(n)*time.Millisecond)
	for {
		s := read1()
		samples = append(samples, s)
		if durable == 0 && s.stored >= n {
			durable = s.at
		}
		if !profiled && s.stored >= n/2 {
			profiled = true
			go profileFill(b, pprofAddr, filepath.Join(profDir, fmt.Sprintf("%s-%d.pprof", source, n)))
		}
		if durable != 0 && s.upto >= s.lastID {
			break
		}
		select {
		case <-done:
			if driveErr != nil {
				b.Fatal(driveErr)
			}
			// All sent: the count must keep moving.
			if len(samples) > 1 && s.stored > samples[len(samples)-2].stored {
				progress = s.at
			}
			if s.at-progress > time.Minute {
				b.Fatalf("%s fill: %d of %d durable, nothing more for a minute after the driver finished\n%s", source, s.stored, n, out)
			}
		default:
			progress = s.at
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s fill: %d of %d durable, %d not searchable, after %s\n%s", source, s.stored, n, s.lastID-s.upto, s.at, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-done
	if driveErr != nil {
		b.Fatal(driveErr)
	}
	// Exactly n sent: a driver that sent more would have made the fill
	// look durable early.
	time.Sleep(200 * time.Millisecond)
	if s := read1(); s.stored != n {
		b.Fatalf("%s fill: %d events stored, %d sent\n%s", source, s.stored, n, out)
	}
	r := fill{rate: float64(n) / durable.Seconds(), rss: peakRSS(b, p.cmd.Process.Pid)}
	r.window = min(1_000_000, n/10)
	stored := func(s sample) int { return s.stored }
	r.first = float64(r.window) / samples[firstSample(samples, stored, r.window)].at.Seconds()
	r.last = float64(r.window) / (durable - samples[firstSample(samples, stored, n-r.window)].at).Seconds()
	r.searchable = samples[len(samples)-1].at - durable
	r.maxLag = maxSearchLag(samples)
	if loggen.Rate(out) != "" {
		r.driver = "loggen: " + loggen.Rate(out)
	} else {
		r.driver = strings.TrimSpace(string(out))
	}
	if after != nil {
		f.durable = durable
		after(f)
	}
	return r
}

// filled is a running vigil process runFill has filled, with its tokens
// and when its fill ran.
type filled struct {
	p            *process
	ingest, read string
	start        time.Time     // the first byte sent
	durable      time.Duration // from start to the last message durable
}

// sample reads /metrics once: events of source stored, the newest id and
// how far the full-text index has come.
func (f filled) sample(b *testing.B, source string) sample {
	asked := time.Since(f.start)
	m := scrape(b, f.p.url+"/metrics", f.read)
	last := int(metricValue(m, "vigil_events_last_id"))
	return sample{asked: asked, at: time.Since(f.start),
		stored: int(metricValue(m, "vigil_events_stored_total", "source", source)),
		lastID: last, upto: last - int(metricValue(m, "vigil_fts_lag_events"))}
}

// lastID returns the id of the newest committed event.
func (f filled) lastID(b *testing.B) int { return f.sample(b, "").lastID }

// waitSearchable waits until every committed event is searchable.
func (f filled) waitSearchable(b *testing.B) {
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if s := f.sample(b, ""); s.upto >= s.lastID {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("the full-text index did not catch up within 5 minutes")
		}
	}
}

// firstSample returns the index of the first sample where v is at least
// k, the last sample when none is.
func firstSample(samples []sample, v func(sample) int, k int) int {
	i := sort.Search(len(samples), func(i int) bool { return v(samples[i]) >= k })
	return min(i, len(samples)-1)
}

// maxSearchLag returns the longest time an event waited between its
// commit and the moment a search could find it. The events a sample finds
// newly searchable were committed after the last sample that did not count
// the oldest of them, and were searchable when the sample was answered:
// the figure errs long, by less than two sampling intervals, never short.
func maxSearchLag(samples []sample) time.Duration {
	var worst time.Duration
	lastID := func(s sample) int { return s.lastID }
	for i := 1; i < len(samples); i++ {
		oldest := samples[i-1].upto + 1
		if samples[i].upto < oldest {
			continue
		}
		j := firstSample(samples, lastID, oldest)
		if j == 0 {
			continue // committed before the first sample: before the fill
		}
		worst = max(worst, samples[i].at-samples[j-1].asked)
	}
	return worst
}

// releaseBinary returns VIGIL_BINARY, or builds the binary with the
// release tags and flags of make release (not linked statically).
// loggenOrSkip returns loggen's path (VIGIL_LOGGEN) or skips b.
func loggenOrSkip(b *testing.B) string {
	lg := loggen.Path()
	if lg == "" {
		b.Skip("VIGIL_LOGGEN is not set; run make bench")
	}
	return lg
}

// messagesFromEnv reads the number of messages of a benchmark from env:
// def when unset, else a multiple of multiple, at least 10.
func messagesFromEnv(b *testing.B, env string, def, multiple int) int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 || n%multiple != 0 {
		b.Fatalf("%s=%q: want a multiple of %d, at least 10", env, v, multiple)
	}
	return n
}

func releaseBinary(b *testing.B) string {
	if bin := os.Getenv("VIGIL_BINARY"); bin != "" {
		return bin
	}
	bin := filepath.Join(b.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-trimpath",
		"-tags", "sqlite_fts5 sqlite_omit_load_extension osusergo netgo timetzdata",
		"-ldflags", "-s -w", "-o", bin, ".").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ndjsonLoad builds tools/ndjsonload.
func ndjsonLoad(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "ndjsonload")
	out, err := exec.Command("go", "build", "-o", bin, "./tools/ndjsonload").CombinedOutput()
	if err != nil {
		b.Fatalf("go build ./tools/ndjsonload: %v\n%s", err, out)
	}
	return bin
}

// profileFill saves a 10-second CPU profile of the vigil process serving
// the profiler on addr to path (go tool pprof reads it with the binary).
func profileFill(b *testing.B, addr, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=10")
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		err = cmp.Or(err, f.Close())
	}
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	b.Logf("CPU profile of the binary from half the fill on: %s", path)
}
