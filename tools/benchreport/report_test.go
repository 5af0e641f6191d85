package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The logs in testdata: small.log is the raw log of a real harness run at
// small sizes (make bench BENCH_STORED=200000 BENCH_ROWS=100000,200000, on a
// shared machine); full.log is the same log with the sizes of make bench
// and figures changed to give each target a verdict to check (its figures
// are not measurements); failed.log has no loggen, no loaded TCP run, one
// query size and a failed BenchmarkPeakRSS. The BenchmarkBinary result of
// small.log is from a separate smoke run at 200,000 messages (make
// bench-binary BENCH_BINARY_MSGS=200000 on a shared machine); full.log's is
// invented at 10,000,000.

func readLog(t *testing.T, name string) *Log {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := parseLog(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseResult(t *testing.T) {
	cases := []struct {
		name       string
		line       string
		gomaxprocs string
		wantOK     bool
		wantName   string
		wantN      int
		want       []Metric
	}{
		{"SubBenchmark", "BenchmarkTCPIngest/conns=1-2         \t       1\t2279545626 ns/op\t        97.38 max-fts-lag-ms\t     87737 msgs/s", "2",
			true, "BenchmarkTCPIngest/conns=1", 1, []Metric{{2279545626, "ns/op"}, {97.38, "max-fts-lag-ms"}, {87737, "msgs/s"}}},
		{"NestedSizes", "BenchmarkTCPIngest/stored=10000000/conns=1-2 \t 1\t 4250401502 ns/op\t 79000 msgs/s\t 81300 prefill-events/s", "2",
			true, "BenchmarkTCPIngest/stored=10000000/conns=1", 1, []Metric{{4250401502, "ns/op"}, {79000, "msgs/s"}, {81300, "prefill-events/s"}}},
		{"ZeroAndUnicodeUnits", "BenchmarkHTTPIngest-2   \t       1\t5996551022 ns/op\t        21.95 cpu-µs/event\t         0 rows", "2",
			true, "BenchmarkHTTPIngest", 1, []Metric{{5996551022, "ns/op"}, {21.95, "cpu-µs/event"}, {0, "rows"}}},
		{"ManyIterations", "BenchmarkDecode-2   \t  120000\t  2463 ns/op\t  406000 msgs/s", "2",
			true, "BenchmarkDecode", 120000, []Metric{{2463, "ns/op"}, {406000, "msgs/s"}}},
		// GOMAXPROCS=1: no suffix, and a name ending in digits keeps them.
		{"NoSuffixWithOneProc", "BenchmarkQueries/rows=1000/agent-9 \t 1\t 5 ns/op", "1",
			true, "BenchmarkQueries/rows=1000/agent-9", 1, []Metric{{5, "ns/op"}}},
		{"SuffixWithoutHeader", "BenchmarkPeakRSS-4 \t 1\t 9 ns/op\t 216.4 peak-RSS-MiB", "",
			true, "BenchmarkPeakRSS", 1, []Metric{{9, "ns/op"}, {216.4, "peak-RSS-MiB"}}},
		{"NameAlone", "BenchmarkQueries/rows=1000000", "2", false, "", 0, nil},
		{"LogLine", "    bench_test.go:77: prefilled 200000 events in 5s", "2", false, "", 0, nil},
		{"ValueWithoutUnit", "BenchmarkX-2 \t 1\t 5 ns/op\t 7", "2", false, "", 0, nil},
		{"NotANumber", "BenchmarkX-2 \t 1\t fast ns/op", "2", false, "", 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := parseResult(c.line, c.gomaxprocs)
			if ok != c.wantOK {
				t.Fatalf("ok = %v, want %v (%+v)", ok, c.wantOK, r)
			}
			if !ok {
				return
			}
			if r.Name != c.wantName || r.N != c.wantN {
				t.Errorf("name, N = %q, %d; want %q, %d", r.Name, r.N, c.wantName, c.wantN)
			}
			if len(r.Metrics) != len(c.want) {
				t.Fatalf("metrics = %v, want %v", r.Metrics, c.want)
			}
			for i, m := range c.want {
				if r.Metrics[i] != m {
					t.Errorf("metric %d = %v, want %v", i, r.Metrics[i], m)
				}
			}
		})
	}
}

func TestParseLog(t *testing.T) {
	full := readLog(t, "full.log")
	if got := len(full.Results); got != 50 {
		t.Errorf("full.log: %d results, want 50 (Binary, 3 TCP, StoreAppend, Loggen, HTTP, 2 × (Fill, ExportAll, 19 queries), PeakRSS)", got)
	}
	if len(full.Failed) != 0 {
		t.Errorf("full.log: failed %v", full.Failed)
	}
	for k, want := range map[string]string{
		"start": "2026-11-22T01:42:01Z", "command": "make bench", "commit": "62fcff8", "cores": "2",
		"cpu": "Intel(R) Xeon(R) Processor", "ram-kib": "24683656", "loadavg": "0.26 0.64 1.15",
		"end": "2026-11-22T01:56:31Z", "loadavg-end": "2.01 1.95 1.60",
	} {
		if got := full.Header[k]; got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	metrics := []struct {
		log, name, unit, pkg string
		want                 float64
	}{
		{"full.log", "BenchmarkBinary", "binary/rsyslog", "vigil", 0.3512},
		{"full.log", "BenchmarkBinary", "msgs", "vigil", 10_000_000},
		{"small.log", "BenchmarkBinary", "tcp-searchable-after-s", "vigil", 0.02711},
		{"full.log", "BenchmarkTCPIngest/conns=1", "msgs/s", "vigil/ingest", 104512},
		{"full.log", "BenchmarkTCPIngest/conns=4", "max-fts-lag-ms", "vigil/ingest", 1250},
		{"full.log", "BenchmarkTCPIngest/stored=10000000/conns=1", "prefill-events/s", "vigil/ingest", 81300},
		{"full.log", "BenchmarkLoggen", "vigil/rsyslog", "vigil/ingest", 0.1703},
		{"full.log", "BenchmarkHTTPIngest", "cpu-µs/event", "vigil/handlers", 21.95},
		{"full.log", "BenchmarkQueries/rows=10000000/FTSPrefix", "p95-ms", "vigil/store", 348.2},
		{"full.log", "BenchmarkQueries/rows=1000000/FTSRare", "rows", "vigil/store", 1},
		{"full.log", "BenchmarkQueries/rows=10000000/ActorAndType", "rows", "vigil/store", 0},
		{"full.log", "BenchmarkPeakRSS", "peak-RSS-MiB", "vigil", 216.4},
		{"small.log", "BenchmarkTCPIngest/stored=200000/conns=1", "msgs/s", "vigil/ingest", 47055},
		{"small.log", "BenchmarkQueries/rows=200000/ExportAll", "heap-MiB", "vigil/store", 2.734},
		{"failed.log", "BenchmarkQueries/rows=1000000/FTSPrefix", "p50-ms", "vigil/store", 30.3},
	}
	logs := map[string]*Log{"full.log": full, "small.log": readLog(t, "small.log"), "failed.log": readLog(t, "failed.log")}
	for _, m := range metrics {
		t.Run(m.log+"/"+m.name+"/"+m.unit, func(t *testing.T) {
			r, ok := logs[m.log].Find(m.name)
			if !ok {
				t.Fatalf("no result %s", m.name)
			}
			if r.Pkg != m.pkg {
				t.Errorf("package %q, want %q", r.Pkg, m.pkg)
			}
			if got, ok := r.Metric(m.unit); !ok || got != m.want {
				t.Errorf("%s = %v (%v), want %v", m.unit, got, ok, m.want)
			}
		})
	}
	failed := logs["failed.log"]
	if want := "BenchmarkPeakRSS, go test vigil (exit 1)"; joinList(failed.Failed) != want {
		t.Errorf("failed.log: failed %q, want %q", joinList(failed.Failed), want)
	}
	if _, ok := failed.Find("BenchmarkLoggen"); ok {
		t.Error("failed.log: a Loggen result")
	}
}

func TestTargets(t *testing.T) {
	type want struct {
		verdict  string
		measured string // a part of the measured figure
	}
	cases := []struct {
		log  string
		want map[string]want // by the start of the goal
	}{
		{"full.log", map[string]want{
			"shipped binary":              {met, "0.35: binary 100,392 msgs/s, rsyslog → file 285,000 msgs/s, at 10,000,000 messages"},
			"every message searchable":    {notMet, "worst lag 2.40 s; index caught up 0.50 s after the last commit"},
			"rate over the last million":  {notMet, "77 %: last 1M 85,000 msgs/s, first 1M 110,000 msgs/s"},
			"HTTP NDJSON from a client":   {reported, "61,234 events/s, 0.61 of TCP; last/first 0.91; worst full-text lag 0.80 s"},
			"the binary's peak RSS":       {met, "242 MiB (TCP fill 242, HTTP fill 187)"},
			"API listings at every depth": {notMet, "at 2,000,300 events: 2 of 2 ≤ 50 ms, slowest start-half 12 ms; at 10,000,300 events: 1 of 2 ≤ 50 ms, slowest start-half 61.5 ms (over: start-half 61.5 ms)"},
			"every console page":          {met, "at 10,000,300 events: 2 of 2 ≤ 100 ms, slowest dashboard 45 ms"},
			"the dashboard's CPU":         {met, "24 ms at 10,000,300 events, 21.5 ms at 2,000,300"},
			"durable TCP syslog ingest":   {met, "104,512 msgs/s"},
			"ratio to rsyslog":            {reported, "0.17: loggen → Vigil 66,448 msgs/s, loggen → rsyslog → file 390,117 msgs/s (`TCPIngest/conns=1` / rsyslog: 0.27)"},
			"full-text lag":               {met, "1.25 s, worst of: conns=1 0.21 s; conns=4 1.25 s; stored=10000000/conns=1 0.98 s"},
			"TCP ingest rate with":        {notMet, "79,000 msgs/s at 10,000,000 stored, 104,512 at 0: 76 %"},
			"newest-100":                  {notMet, "17 of 19 queries ≤ 50 ms; over: FTSPrefix 348 ms, OneHourLastWeek 300 ms"},
			"export streamed":             {met, "170,322 rows/s at 10,000,000"},
			"export memory flat":          {met, "2.81 MiB after 10,000,000 rows, 3.60 MiB after 1,000,000"},
			"CSV export over HTTP":        {met, "166,239 rows/s"},
			"peak RSS":                    {met, "216 MiB"},
			"durable HTTP NDJSON":         {met, "73,169 events/s"},
			"two PostgreSQL nodes":        {notMeasured, "—"},
			"PostgreSQL: newest-100":      {notMeasured, "—"},
		}},
		{"small.log", map[string]want{
			"shipped binary":              {"not measured at 10,000,000 (run at 200,000)", "0.08: binary 32,613 msgs/s, rsyslog → file 390,633 msgs/s, at 200,000 messages"},
			"every message searchable":    {"not measured at 10,000,000 (run at 200,000)", "worst lag 0.46 s; index caught up 0.03 s after the last commit"},
			"rate over the last million":  {"not measured at 10,000,000 (run at 200,000)", "108 %: last 20k 47,693 msgs/s, first 20k 44,127 msgs/s"},
			"HTTP NDJSON from a client":   {"reported; at 200,000, not 10,000,000", "54,024 events/s, 1.66 of TCP"},
			"the binary's peak RSS":       {"not measured at 10,000,000 (run at 200,000)", "144 MiB (TCP fill 144, HTTP fill 89.7)"},
			"API listings at every depth": {"not measured at 10,000,000 (run at 200,000)", "at 40,300 events: 1 of 1 ≤ 50 ms"},
			"every console page":          {"not measured at 10,000,000 (run at 200,000)", "(over: dashboard 150 ms)"},
			"the dashboard's CPU":         {"not measured at 10,000,000 (run at 200,000)", "12 ms at 200,300 events, 5 ms at 40,300"},
			"durable TCP syslog ingest":   {notMet, "68,718 msgs/s"},
			"ratio to rsyslog":            {reported, "0.12"},
			"full-text lag":               {met, "0.75 s"},
			"TCP ingest rate with":        {"not measured at 10,000,000 (run at 200,000)", "47,055 msgs/s at 200,000 stored, 68,718 at 0: 68 %"},
			"newest-100":                  {"not measured at 10,000,000 (run at 200,000)", "at 200,000: 19 of 19 queries ≤ 50 ms; slowest FTSPrefix 7.42 ms"},
			"export streamed":             {"not measured at 10,000,000 (run at 200,000)", "271,981 rows/s at 200,000"},
			"export memory flat":          {"not measured at 10,000,000 (run at 200,000)", "2.73 MiB after 200,000 rows, 3.90 MiB after 100,000"},
			"CSV export over HTTP":        {met, "176,585 rows/s"},
			"peak RSS":                    {met, "226 MiB"},
			"durable HTTP NDJSON":         {met, "53,364 events/s"},
			"two PostgreSQL nodes":        {notMeasured, "—"},
			"PostgreSQL: newest-100":      {notMeasured, "—"},
		}},
		// No loggen, no loaded run, one query size, PeakRSS failed.
		{"failed.log", map[string]want{
			"shipped binary":              {notMeasured, "—"},
			"every message searchable":    {notMeasured, "—"},
			"rate over the last million":  {notMeasured, "—"},
			"HTTP NDJSON from a client":   {notMeasured, "—"},
			"the binary's peak RSS":       {notMeasured, "—"},
			"API listings at every depth": {notMeasured, "—"},
			"every console page":          {notMeasured, "—"},
			"the dashboard's CPU":         {notMeasured, "—"},
			"durable TCP syslog ingest":   {notMet, "87,737 msgs/s"},
			"ratio to rsyslog":            {notMeasured, "—"},
			"full-text lag":               {notMet, "2.41 s, worst of: conns=1 0.10 s; conns=4 2.41 s"},
			"TCP ingest rate with":        {notMeasured, "—"},
			"newest-100":                  {"not measured at 10,000,000 (run at 1,000,000)", "2 of 2 queries ≤ 50 ms; slowest FTSPrefix 32.6 ms"},
			"export streamed":             {"not measured at 10,000,000 (run at 1,000,000)", "260,788 rows/s at 1,000,000"},
			"export memory flat":          {notMeasured, "—"},
			"CSV export over HTTP":        {notMeasured, "—"},
			"peak RSS":                    {notMeasured, "—"},
			"durable HTTP NDJSON":         {notMet, "43,364 events/s"},
			"two PostgreSQL nodes":        {notMeasured, "—"},
			"PostgreSQL: newest-100":      {notMeasured, "—"},
		}},
	}
	for _, c := range cases {
		t.Run(c.log, func(t *testing.T) {
			ts := targets(readLog(t, c.log))
			if len(ts) != len(c.want) {
				t.Errorf("%d targets, want %d", len(ts), len(c.want))
			}
			for prefix, w := range c.want {
				var found bool
				for _, tg := range ts {
					if !strings.HasPrefix(tg.Goal, prefix) {
						continue
					}
					found = true
					if tg.Verdict != w.verdict {
						t.Errorf("%s: verdict %q, want %q (measured %q)", prefix, tg.Verdict, w.verdict, tg.Measured)
					}
					if !strings.Contains(tg.Measured, w.measured) {
						t.Errorf("%s: measured %q, want it to contain %q", prefix, tg.Measured, w.measured)
					}
				}
				if !found {
					t.Errorf("no target %q", prefix)
				}
			}
		})
	}
	// A black-box run without rsyslog: no ratio, the rest measured.
	t.Run("BinaryWithoutRsyslog", func(t *testing.T) {
		l := &Log{Results: []Result{{Name: "BenchmarkBinary", N: 1, Metrics: []Metric{
			{10_000_000, "msgs"}, {90_000, "tcp-msgs/s"}, {0.9, "tcp-last/first"}, {90_000, "tcp-first-msgs/s"}, {81_000, "tcp-last-msgs/s"},
			{1.5, "tcp-max-fts-lag-s"}, {0.2, "tcp-searchable-after-s"}, {200, "tcp-peak-RSS-MiB"}}}}}
		got := map[string]Target{}
		for _, tg := range targets(l) {
			got[strings.Fields(tg.Goal)[0]+" "+strings.Fields(tg.Goal)[1]] = tg
		}
		for prefix, v := range map[string]string{"shipped binary,": notMeasured, "every message": met, "rate over": met, "HTTP NDJSON": notMeasured, "the binary's": met} {
			if tg := got[prefix]; tg.Verdict != v {
				t.Errorf("%s: verdict %q (measured %q), want %q", prefix, tg.Verdict, tg.Measured, v)
			}
		}
	})
	// The PostgreSQL runs measured.
	t.Run("Postgres", func(t *testing.T) {
		l := &Log{Results: []Result{
			{Name: "BenchmarkBinaryPostgres", N: 1, Metrics: []Metric{{40_000, "tcp-sqlite-1-events/s"}, {44_000, "tcp-pg-2-events/s"},
				{50_000, "http-sqlite-1-events/s"}, {45_000, "http-pg-2-events/s"}}},
			{Name: "BenchmarkQueriesPostgres/rows=10000000/Newest100", N: 1, Metrics: []Metric{{1.5, "p95-ms"}}},
			{Name: "BenchmarkQueriesPostgres/rows=10000000/Agent", N: 1, Metrics: []Metric{{120, "p95-ms"}}},
			{Name: "BenchmarkQueries/rows=10000000/Agent", N: 1, Metrics: []Metric{{2, "p95-ms"}}},
		}}
		got := map[string]Target{}
		for _, tg := range targets(l) {
			got[strings.Join(strings.Fields(tg.Goal)[:2], " ")] = tg
		}
		if tg := got["two PostgreSQL"]; tg.Verdict != notMet || !strings.Contains(tg.Measured, "TCP 1.10 (44,000 against 40,000 events/s); HTTP 0.90") {
			t.Errorf("two nodes: %q %q", tg.Verdict, tg.Measured)
		}
		if tg := got["PostgreSQL: newest-100"]; tg.Verdict != notMet || !strings.Contains(tg.Measured, "1 of 2 queries ≤ 100 ms; over: Agent 120 ms") {
			t.Errorf("listings: %q %q", tg.Verdict, tg.Measured)
		}
		if tg := got["newest-100 full-text"]; tg.Verdict != met {
			t.Errorf("the SQLite listings target read the PostgreSQL results: %q %q", tg.Verdict, tg.Measured)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		for _, tg := range targets(&Log{}) {
			if tg.Verdict != notMeasured && tg.Verdict != reported {
				t.Errorf("%s: %q with no results", tg.Goal, tg.Verdict)
			}
		}
	})
}

func TestRender(t *testing.T) {
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	cases := []struct {
		log      string
		contains []string
	}{
		{"full.log", []string{
			"## Harness run (2026-11-22, commit 62fcff8)\n",
			"- Command: `make bench`; raw output in `.cache/bench/x.log` (not kept in git).\n",
			"- Started 2026-11-22 01:42 UTC, 14m30s in all.\n",
			"- Machine: 2 cores (Intel(R) Xeon(R) Processor), 23.5 GiB RAM, Linux 6.18.44-fc-v769, go1.26.8 linux/amd64, go-sqlite3 v1.14.53.\n",
			"- Load average (1, 5, 15 minutes): 0.26, 0.64, 1.15 when the runs started; 2.01, 1.95, 1.60 when they ended.\n",
			"| durable TCP syslog ingest ≥ 100,000 msgs/s (`TCPIngest/conns=1`: one connection, empty store) | 104,512 msgs/s | met |\n",
			"### BenchmarkTCPIngest (vigil/ingest)\n\n| run | msgs/s | prefill-events/s | max-fts-lag-ms | ms-after-last-write | ms-until-searchable |\n",
			"| stored=10000000/conns=1 | 79,000 | 81,300 | 981 | 217 | 219 |\n",
			"| conns=1 | 104,512 | — | 212 | 189 | 204 |\n",
			"### BenchmarkQueries (vigil/store)\n\n| events | fill rows/s | export rows/s | export heap MiB |\n",
			"| 10,000,000 | 54,870 | 170,322 | 2.81 |\n",
			"| query | p50 ms at 1M | p95 ms at 1M | p50 ms at 10M | p95 ms at 10M | rows at 10M |\n",
			"| FTSPrefix | 3.67 | 4.92 | 278 | 348 | 100 |\n",
			"### BenchmarkPeakRSS (vigil)\n",
		}},
		{"small.log", []string{
			"- Command: `make bench BENCH_STORED=200000 BENCH_ROWS=100000,200000`, on a checkout with uncommitted changes;",
			"- Started 2026-11-22 01:42 UTC.\n", // no end line in this log
			"0.26, 0.64, 1.15 when the runs started.\n",
			"| query | p50 ms at 100k | p95 ms at 100k | p50 ms at 200k | p95 ms at 200k | rows at 200k |\n",
		}},
		{"failed.log", []string{
			"**Failed:** BenchmarkPeakRSS, go test vigil (exit 1).\n",
			"No result (not run, skipped or failed): `BenchmarkBinary`, `BenchmarkLoggen`, `BenchmarkPeakRSS`, `BenchmarkBinaryPostgres`, `BenchmarkQueriesPostgres`.\n",
			"| peak RSS ≤ 300 MiB under full ingest + queries + export (`PeakRSS`) | — | not measured |\n",
		}},
	}
	for _, c := range cases {
		t.Run(c.log, func(t *testing.T) {
			out := render(readLog(t, c.log), ".cache/bench/x.log", now)
			for _, want := range c.contains {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in\n%s", want, out)
				}
			}
		})
	}
}

func TestRun(t *testing.T) {
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	const before = "# Benchmarks\n\nEarlier figures.\n"
	cases := []struct {
		name       string
		log        string
		appendTo   bool
		wantErr    string
		wantAppend bool
	}{
		{"Passed", "full.log", true, "", true},
		{"PassedPrintOnly", "full.log", false, "", false},
		{"Failed", "failed.log", true, "2 failed (BenchmarkPeakRSS, go test vigil (exit 1))", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := filepath.Join(t.TempDir(), "BENCHMARKS.md")
			if err := os.WriteFile(md, []byte(before), 0o644); err != nil {
				t.Fatal(err)
			}
			target := ""
			if c.appendTo {
				target = md
			}
			var out strings.Builder
			err := run(filepath.Join("testdata", c.log), target, &out, now)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if !strings.HasPrefix(out.String(), "## Harness run (") {
				t.Errorf("printed %q", out.String())
			}
			b, err := os.ReadFile(md)
			if err != nil {
				t.Fatal(err)
			}
			want := before
			if c.wantAppend {
				want = before + "\n" + out.String()
			}
			if string(b) != want {
				t.Errorf("BENCHMARKS.md =\n%s\nwant\n%s", b, want)
			}
		})
	}
}

func TestFmtNum(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.06, "0.06"}, {0.1195, "0.12"}, {7.418, "7.42"}, {40, "40"}, {75.8, "75.8"}, {99.96, "100"},
		{348.2, "348"}, {980.5, "981"}, {999.6, "1,000"}, {68718, "68,718"}, {10_000_000, "10,000,000"}, {-1234.4, "-1,234"},
	}
	for _, c := range cases {
		t.Run(strconv.FormatFloat(c.v, 'g', -1, 64), func(t *testing.T) {
			if got := fmtNum(c.v); got != c.want {
				t.Errorf("fmtNum(%v) = %q, want %q", c.v, got, c.want)
			}
		})
	}
}

// TestSizedMetricsTable: BenchmarkBinary's per-size figures get a table
// of their own, a row per figure and a column per size, and stay out of
// the table of its other metrics.
func TestSizedMetricsTable(t *testing.T) {
	out := render(readLog(t, "full.log"), ".cache/bench/x.log", time.Now())
	for _, want := range []string{"| (one run) | @fifth | @full |", "| p95-ms:api-start-half | 12 | 61.5 |", "| dashboard-cpu-ms | 21.5 | 24 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| run |") && strings.Contains(line, "@") {
			t.Errorf("a per-size figure in a metrics table: %s", line)
		}
	}
}
