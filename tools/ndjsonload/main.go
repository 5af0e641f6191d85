// Command ndjsonload posts events to Vigil's HTTP NDJSON intake
// (POST /api/v1/events) from a process of its own, as an agent or a
// collector would: -clients concurrent connections, each sending batches of
// -batch events until -n events in all are acknowledged (202). The events
// carry the fields of BenchmarkBinary's syslog traffic (user, ip,
// entity_id, outcome, policy, agent_id). It prints one line:
//
//	ndjsonload: N events acknowledged in S s: R events/s
//
// and exits non-zero at the first rejected batch or transport error.
//
//	go run ./tools/ndjsonload -url http://127.0.0.1:8080 -token TOKEN -n 1000000
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "Vigil's base URL (http://127.0.0.1:PORT)")
	token := flag.String("token", "", "API token of scope ingest")
	n := flag.Int("n", 1_000_000, "events to send in all")
	clients := flag.Int("clients", 2, "concurrent connections")
	batch := flag.Int("batch", 1000, "events per request")
	flag.Parse()
	if *url == "" || *token == "" || *n <= 0 || *clients <= 0 || *batch <= 0 {
		fmt.Fprintln(os.Stderr, "ndjsonload: -url and -token are required; -n, -clients and -batch must be positive")
		os.Exit(2)
	}
	start := time.Now()
	if err := run(*url, *token, *n, *clients, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "ndjsonload:", err)
		os.Exit(1)
	}
	d := time.Since(start)
	fmt.Printf("ndjsonload: %d events acknowledged in %.3f s: %.0f events/s\n", *n, d.Seconds(), float64(*n)/d.Seconds())
}

// run sends n events numbered 0..n-1, batches handed out in order to the
// clients.
func run(url, token string, n, clients, batch int) error {
	var next atomic.Int64 // first event of the next batch
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	client := &http.Client{Timeout: 5 * time.Minute}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				first := int(next.Add(int64(batch))) - batch
				if first >= n {
					return
				}
				buf.Reset()
				for i := first; i < min(first+batch, n); i++ {
					writeEvent(&buf, i)
				}
				if err := post(client, url, token, &buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// writeEvent writes event i as one NDJSON line.
func writeEvent(buf *bytes.Buffer, i int) {
	outcome := "ALLOWED"
	if i%10 == 0 {
		outcome = "DENIED"
	}
	fmt.Fprintf(buf, `{"type":"CERT_USED","outcome":%q,"actor":{"type":"USER","id":"user%d","ip":"10.%d.%d.%d"},"entity":{"type":"KEY","id":"key-%d"},"policy":"codesign-%d","agent_id":"agent-%02d","message":"sign request %d"}`+"\n",
		outcome, i%500, i>>16&255, i>>8&255, i&255, i%100_000, i%7, i%40, i)
}

func post(client *http.Client, url, token string, body *bytes.Buffer) error {
	req, err := http.NewRequest("POST", url+"/api/v1/events", bytes.NewReader(body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /api/v1/events: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
