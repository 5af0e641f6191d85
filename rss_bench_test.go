package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkPeakRSS runs the vigil binary under full load, HTTP ingest from
// eight clients, searches and listings all along, and a CSV export of
// everything at the end, and reports the process's peak resident memory
// (VmHWM) and the rates.
func BenchmarkPeakRSS(b *testing.B) {
	dir := b.TempDir()
	bin := vigilBinary(b)
	p := startVigil(b, dir)
	defer func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}()
	ingest, read := createToken(b, bin, dir, "load", "ingest"), createToken(b, bin, dir, "reader", "read")
	const clients, batches, batch = 8, 125, 1000 // 1,000,000 events
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var queries, slow int
	var slowest time.Duration
	wg.Add(1)
	go func() { // searches and listings while ingest runs
		defer wg.Done()
		qs := []string{"q=signtool", "q=build+7", "type=CERT_USED", "actor=user7", "category=AUTH", "limit=1000"}
		client := &http.Client{Timeout: 30 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t := time.Now()
			req, _ := http.NewRequest("GET", p.url+"/api/v1/events?"+qs[i%len(qs)], nil)
			req.Header.Set("Authorization", "Bearer "+read)
			resp, err := client.Do(req)
			if err != nil {
				slow++ // timed out
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if d := time.Since(t); d > time.Second {
				b.Logf("slow query under load: %s took %s", qs[i%len(qs)], d.Round(time.Millisecond))
			}
			slowest = max(slowest, time.Since(t))
			queries++
		}
	}()
	start := time.Now()
	var posters sync.WaitGroup
	for c := 0; c < clients; c++ {
		posters.Add(1)
		go func(c int) {
			defer posters.Done()
			var buf bytes.Buffer
			for n := 0; n < batches; n++ {
				buf.Reset()
				for i := 0; i < batch; i++ {
					fmt.Fprintf(&buf, `{"type":"CERT_USED","actor":{"type":"USER","id":"user%d"},"certificate":{"serial":"%X","subject":"CN=svc-%d"},"agent_id":"agent-%d","message":"signtool signed build %d"}`+"\n",
						i%50, n*batch+i, i%100, c, n*batch+i)
				}
				code, _, err := postNDJSON(context.Background(), p.url, ingest, &buf)
				if err != nil || code != 202 {
					b.Errorf("post: %d %v", code, err)
					return
				}
			}
		}(c)
	}
	posters.Wait()
	ingestTime := time.Since(start)
	close(stop)
	wg.Wait()
	exportStart := time.Now()
	var counter countingWriter
	get(b, p.url+"/api/v1/events.csv", read, &counter)
	exportTime := time.Since(exportStart)
	rss := peakRSS(b, p.cmd.Process.Pid)
	// Vigil logs each listing slower than a second with its query plan.
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(l, "slow event listing") {
			b.Log(l)
		}
	}
	events := float64(clients * batches * batch)
	b.ReportMetric(events/ingestTime.Seconds(), "ingest-events/s")
	b.ReportMetric(float64(queries)/ingestTime.Seconds(), "queries/s")
	b.ReportMetric(slowest.Seconds(), "slowest-query-s")
	b.ReportMetric(float64(slow), "queries-over-30s")
	b.ReportMetric(float64(counter.lines)/exportTime.Seconds(), "export-rows/s")
	b.ReportMetric(rss, "peak-RSS-MiB")
}

func get(b *testing.B, url, token string, w io.Writer) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	io.Copy(w, resp.Body)
}

// countingWriter counts the lines written through it.
type countingWriter struct{ lines int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// peakRSS reads a process's peak resident set size (VmHWM) in MiB.
func peakRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
