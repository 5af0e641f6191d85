package handlers

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"vigil/internal/cpuclock"
)

// BenchmarkHTTPIngest measures durable NDJSON intake over a real HTTP
// listener into a real database: several clients post batches of 1,000
// events (~300 bytes each, with actor, certificate and details) and each
// 202 arrives only after its batch is committed. Reports events/s.
func BenchmarkHTTPIngest(b *testing.B) {
	const (
		clients   = 8
		batch     = 1000
		perClient = 40 // batches: 8 × 40 × 1000 = 320,000 events per run
	)
	e := newTestEnv(b)
	token := e.key("admin/ingest")
	bodies := make([][]byte, clients)
	for c := range bodies {
		var buf bytes.Buffer
		for i := 0; i < batch; i++ {
			fmt.Fprintf(&buf, `{"type":"CERT_USED","category":"USAGE","outcome":"ALLOWED","actor":{"type":"USER","id":"user%d","ip":"10.1.%d.%d"},`+
				`"certificate":{"serial":"%08X","subject":"CN=signing-%d,O=Example"},"agent_id":"agent-%d","process":"signtool.exe",`+
				`"policy":"code-signing","message":"certificate used to sign build %d","details":{"file":"setup-%d.msi"}}`+"\n",
				i%50, c, i%250, i*7919, i%40, c, i, i)
		}
		bodies[c] = buf.Bytes()
	}
	b.ResetTimer()
	var total atomic.Int64
	cpu0 := cpuclock.Used()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < perClient; i++ {
					req, _ := http.NewRequest("POST", e.url+"/api/v1/events", bytes.NewReader(bodies[c]))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/x-ndjson")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 202 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					total.Add(batch)
				}
			}(c)
		}
		wg.Wait()
	}
	el := time.Since(start)
	b.ReportMetric(float64(total.Load())/el.Seconds(), "events/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(total.Load()), "ns/event")
	b.ReportMetric(float64((cpuclock.Used()-cpu0).Microseconds())/float64(total.Load()), "cpu-µs/event")
}
