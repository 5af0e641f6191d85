package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Verdicts of a target.
const (
	met         = "met"
	notMet      = "**not met**"
	notMeasured = "not measured"
	reported    = "reported (no threshold)"
)

// targetRows is the store size the throughput issue sets its targets at.
const targetRows = 10_000_000

// Target is one line of the targets table.
type Target struct {
	Goal     string
	Measured string
	Verdict  string
}

func verdict(ok bool) string {
	if ok {
		return met
	}
	return notMet
}

var (
	storedRE = regexp.MustCompile(`^BenchmarkTCPIngest/stored=(\d+)/conns=1$`)
	rowsRE   = regexp.MustCompile(`^BenchmarkQueries/rows=(\d+)/(.+)$`)
	pgRowsRE = regexp.MustCompile(`^BenchmarkQueriesPostgres/rows=(\d+)/(.+)$`)
)

// targets checks the log against each target of the throughput issue
// (#7). A target whose benchmark is missing, or was run at a smaller size
// than the target names, is not measured; what was measured is still shown.
func targets(l *Log) []Target {
	var ts []Target
	add := func(goal, measured, v string) {
		if measured == "" {
			measured, v = "—", notMeasured
		}
		ts = append(ts, Target{Goal: goal, Measured: measured, Verdict: v})
	}

	ts = append(ts, binaryTargets(l)...)

	// Durable TCP syslog ingest.
	tcp, tcpOK := l.Metric("BenchmarkTCPIngest/conns=1", "msgs/s")
	if tcpOK {
		add("durable TCP syslog ingest ≥ 100,000 msgs/s (`TCPIngest/conns=1`: one connection, empty store)",
			fmtNum(tcp)+" msgs/s", verdict(tcp >= 100_000))
	} else {
		add("durable TCP syslog ingest ≥ 100,000 msgs/s (`TCPIngest/conns=1`: one connection, empty store)", "", "")
	}

	// Its ratio to rsyslog writing a file.
	vigil, vigilOK := l.Metric("BenchmarkLoggen", "vigil-msgs/s")
	rsyslog, rsyslogOK := l.Metric("BenchmarkLoggen", "rsyslog-file-msgs/s")
	var ratio string
	if vigilOK && rsyslogOK && rsyslog > 0 {
		ratio = fmt.Sprintf("%.2f: loggen → Vigil %s msgs/s, loggen → rsyslog → file %s msgs/s", vigil/rsyslog, fmtNum(vigil), fmtNum(rsyslog))
		if tcpOK {
			ratio += fmt.Sprintf(" (`TCPIngest/conns=1` / rsyslog: %.2f)", tcp/rsyslog)
		}
	}
	add("ratio to rsyslog → file (`Loggen`: the same loggen traffic to each)", ratio, reported)

	// Full-text lag.
	var worst float64
	var worstName string
	var lags []string
	for _, r := range l.Results {
		if r.Top() != "BenchmarkTCPIngest" {
			continue
		}
		if v, ok := r.Metric("max-fts-lag-ms"); ok {
			lags = append(lags, fmt.Sprintf("%s %s s", r.Sub(), fmtNum(v/1000)))
			if worstName == "" || v > worst {
				worst, worstName = v, r.Sub()
			}
		}
	}
	if worstName != "" {
		add("full-text lag ≤ 2 s at that rate (`TCPIngest` max-fts-lag-ms, worst run)",
			fmt.Sprintf("%s s, worst of: %s", fmtNum(worst/1000), strings.Join(lags, "; ")), verdict(worst <= 2000))
	} else {
		add("full-text lag ≤ 2 s at that rate (`TCPIngest` max-fts-lag-ms, worst run)", "", "")
	}

	// The rate with 10M events stored against the rate at 0.
	goal := fmt.Sprintf("TCP ingest rate with %s events stored ≥ 80 %% of the rate at 0 (`TCPIngest/stored=N/conns=1`)", fmtNum(targetRows))
	if r, n, ok := largest(l, storedRE); ok && tcpOK {
		loaded, _ := r.Metric("msgs/s")
		m := fmt.Sprintf("%s msgs/s at %s stored, %s at 0: %.0f %%", fmtNum(loaded), fmtNum(float64(n)), fmtNum(tcp), 100*loaded/tcp)
		add(goal, m, sizeVerdict(n, loaded >= 0.8*tcp))
	} else {
		add(goal, "", "")
	}

	// Listings at 10M.
	add(listingTarget(l, rowsRE, 50, fmt.Sprintf("newest-100 full-text and filtered listings p95 ≤ 50 ms at %s events (`Queries`, every query)", fmtNum(targetRows))))

	// Export streamed from the store, and its memory.
	goal = fmt.Sprintf("export streamed ≥ 100,000 rows/s at %s events (`Queries/rows=N/ExportAll`)", fmtNum(targetRows))
	exports := exportsBySize(l)
	if len(exports) > 0 {
		e := exports[len(exports)-1]
		add(goal, fmt.Sprintf("%s rows/s at %s", fmtNum(e.rate), fmtNum(float64(e.rows))), sizeVerdict(e.rows, e.rate >= 100_000))
	} else {
		add(goal, "", "")
	}
	goal = fmt.Sprintf("export memory flat: heap after streaming %s rows ≤ 2 × heap after the smallest size", fmtNum(targetRows))
	if len(exports) >= 2 && exports[0].heapOK && exports[len(exports)-1].heapOK {
		small, big := exports[0], exports[len(exports)-1]
		add(goal, fmt.Sprintf("%s MiB after %s rows, %s MiB after %s", fmtNum(big.heap), fmtNum(float64(big.rows)), fmtNum(small.heap), fmtNum(float64(small.rows))),
			sizeVerdict(big.rows, big.heap <= 2*small.heap))
	} else {
		add(goal, "", "")
	}

	// Under full load: export over HTTP and peak memory.
	if v, ok := l.Metric("BenchmarkPeakRSS", "export-rows/s"); ok {
		add("CSV export over HTTP ≥ 100,000 rows/s, after full load (`PeakRSS`)", fmtNum(v)+" rows/s", verdict(v >= 100_000))
	} else {
		add("CSV export over HTTP ≥ 100,000 rows/s, after full load (`PeakRSS`)", "", "")
	}
	if v, ok := l.Metric("BenchmarkPeakRSS", "peak-RSS-MiB"); ok {
		add("peak RSS ≤ 300 MiB under full ingest + queries + export (`PeakRSS`)", fmtNum(v)+" MiB", verdict(v <= 300))
	} else {
		add("peak RSS ≤ 300 MiB under full ingest + queries + export (`PeakRSS`)", "", "")
	}

	ts = append(ts, postgresTargets(l)...)

	// Set before the throughput issue, kept in view.
	if v, ok := l.Metric("BenchmarkHTTPIngest", "events/s"); ok {
		add("durable HTTP NDJSON ingest ≥ 50,000 events/s (`HTTPIngest`; an earlier target)", fmtNum(v)+" events/s", verdict(v >= 50_000))
	} else {
		add("durable HTTP NDJSON ingest ≥ 50,000 events/s (`HTTPIngest`; an earlier target)", "", "")
	}
	return ts
}

// sizeVerdict judges a figure measured at n events: below the target's
// size it is not measured, whatever it was.
func sizeVerdict(n int, ok bool) string {
	if n < targetRows {
		return fmt.Sprintf("not measured at %s (run at %s)", fmtNum(targetRows), fmtNum(float64(n)))
	}
	return verdict(ok)
}

// largest returns the result matching re (whose first group is a size)
// with the largest size.
func largest(l *Log, re *regexp.Regexp) (Result, int, bool) {
	var best Result
	n := -1
	for _, r := range l.Results {
		if m := re.FindStringSubmatch(r.Name); m != nil {
			if v, err := strconv.Atoi(m[1]); err == nil && v > n {
				best, n = r, v
			}
		}
	}
	return best, n, n >= 0
}

// largestQueries returns the largest size of the query results re names
// (its groups: the size, the query) and those queries (the results with a
// p95).
func largestQueries(l *Log, re *regexp.Regexp) (int, []Result) {
	bySize := map[int][]Result{}
	n := 0
	for _, r := range l.Results {
		m := re.FindStringSubmatch(r.Name)
		if m == nil {
			continue
		}
		if _, ok := r.Metric("p95-ms"); !ok {
			continue
		}
		size, _ := strconv.Atoi(m[1])
		bySize[size] = append(bySize[size], r)
		n = max(n, size)
	}
	return n, bySize[n]
}

// querySub is the query's name without the size ("FTSPrefix").
func querySub(r Result) string {
	for _, re := range []*regexp.Regexp{rowsRE, pgRowsRE} {
		if m := re.FindStringSubmatch(r.Name); m != nil {
			return m[2]
		}
	}
	return r.Sub()
}

type export struct {
	rows   int
	rate   float64
	heap   float64
	heapOK bool
}

// exportsBySize returns the ExportAll results, smallest size first.
func exportsBySize(l *Log) []export {
	var es []export
	for _, r := range l.Results {
		m := rowsRE.FindStringSubmatch(r.Name)
		if m == nil || m[2] != "ExportAll" {
			continue
		}
		rate, ok := r.Metric("rows/s")
		if !ok {
			continue
		}
		e := export{rate: rate}
		e.rows, _ = strconv.Atoi(m[1])
		e.heap, e.heapOK = r.Metric("heap-MiB")
		es = append(es, e)
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].rows < es[j].rows })
	return es
}

// binaryTargets checks BenchmarkBinary, the release binary driven as a
// black box, against the targets of the issue on sustained throughput as
// users see it (#15): each is judged at 10,000,000 messages only.
func binaryTargets(l *Log) []Target {
	r, ok := l.Find("BenchmarkBinary")
	msgs, _ := r.Metric("msgs")
	n := int(msgs)
	var ts []Target
	// add judges the figure measure returns; an unjudged one is reported.
	add := func(goal string, judged bool, measure func() (string, bool)) {
		goal = fmt.Sprintf(goal, fmtNum(targetRows))
		if !ok {
			ts = append(ts, Target{Goal: goal, Measured: "—", Verdict: notMeasured})
			return
		}
		m, pass := measure()
		if m == "" {
			ts = append(ts, Target{Goal: goal, Measured: "—", Verdict: notMeasured})
			return
		}
		v := sizeVerdict(n, pass)
		if !judged {
			v = reported
			if n < targetRows {
				v = fmt.Sprintf("reported; at %s, not %s", fmtNum(msgs), fmtNum(targetRows))
			}
		}
		ts = append(ts, Target{Goal: goal, Measured: m, Verdict: v})
	}
	get := func(unit string) float64 { v, _ := r.Metric(unit); return v }
	window := fmtSize(min(1_000_000, n/10))

	add("shipped binary, TCP syslog from loggen, sustained over %s messages: ratio ≥ 0.33 to rsyslog → file in the same run (`Binary`)", true, func() (string, bool) {
		tcp := get("tcp-msgs/s")
		ratio, rOK := r.Metric("binary/rsyslog")
		if !rOK {
			return "", false // no rsyslog → file figure: no ratio
		}
		return fmt.Sprintf("%.2f: binary %s msgs/s, rsyslog → file %s msgs/s, at %s messages",
			ratio, fmtNum(tcp), fmtNum(get("rsyslog-file-msgs/s")), fmtNum(msgs)), ratio >= 0.33
	})
	add("every message searchable within 2 s of its commit over %s (`Binary` tcp-max-fts-lag-s)", true, func() (string, bool) {
		lag, lagOK := r.Metric("tcp-max-fts-lag-s")
		if !lagOK {
			return "", false
		}
		return fmt.Sprintf("worst lag %s s; index caught up %s s after the last commit", fmtNum(lag), fmtNum(get("tcp-searchable-after-s"))), lag <= 2
	})
	add("rate over the last million within 20 %% of the rate over the first, over %s (`Binary` tcp-last/first)", true, func() (string, bool) {
		ratio, rOK := r.Metric("tcp-last/first")
		if !rOK {
			return "", false
		}
		return fmt.Sprintf("%.0f %%: last %s %s msgs/s, first %s %s msgs/s", 100*ratio,
			window, fmtNum(get("tcp-last-msgs/s")), window, fmtNum(get("tcp-first-msgs/s"))), ratio >= 0.8
	})
	add("HTTP NDJSON from a client process (tools/ndjsonload), sustained over %s: events/s and ratio to the TCP figure (`Binary`)", false, func() (string, bool) {
		web, wOK := r.Metric("http-events/s")
		if !wOK {
			return "", false
		}
		return fmt.Sprintf("%s events/s, %.2f of TCP; last/first %.2f; worst full-text lag %s s",
			fmtNum(web), get("http/tcp"), get("http-last/first"), fmtNum(get("http-max-fts-lag-s"))), true
	})
	add("the binary's peak RSS ≤ 300 MiB over %s (`Binary`, the larger of its TCP and HTTP fills)", true, func() (string, bool) {
		rss := max(get("tcp-peak-RSS-MiB"), get("http-peak-RSS-MiB"))
		return fmt.Sprintf("%s MiB (TCP fill %s, HTTP fill %s)", fmtNum(rss), fmtNum(get("tcp-peak-RSS-MiB")), fmtNum(get("http-peak-RSS-MiB"))), rss <= 300
	})
	// The pages, timed on the TCP store (full) and on one a fifth its size.
	sizes := fmt.Sprintf("%s and %%s events", fmtNum(targetRows/5))
	add("API listings at every depth (newest, cursors, one page from the oldest, start indexes, past windows, filters) p95 ≤ 50 ms at "+sizes+" (`Binary` p95-ms:api-*)", true, func() (string, bool) {
		return pageTimes(r, "p95-ms:api-", 50)
	})
	add("every console page, dashboard 24 h and 7 d included, p95 ≤ 100 ms at "+sizes+" signed in as admin (`Binary` p95-ms:page-*)", true, func() (string, bool) {
		return pageTimes(r, "p95-ms:page-", 100)
	})
	add("the dashboard's CPU per refresh does not grow with the events: at %s events ≤ 1.25 × at a fifth of that, + 2 ms (`Binary` dashboard-cpu-ms)", true, func() (string, bool) {
		small, sOK := r.Metric("dashboard-cpu-ms@fifth")
		full, fOK := r.Metric("dashboard-cpu-ms@full")
		if !sOK || !fOK {
			return "", false
		}
		return fmt.Sprintf("%s ms at %s events, %s ms at %s", fmtNum(full), fmtNum(get("events@full")), fmtNum(small), fmtNum(get("events@fifth"))),
			full <= 1.25*small+2
	})
	return ts
}

// pageTimes sums up r's p95 figures whose unit starts with prefix, at
// both store sizes: the slowest at each and every one over limit ms.
func pageTimes(r Result, prefix string, limit float64) (string, bool) {
	var parts []string
	pass := true
	for _, size := range []string{"fifth", "full"} {
		var over []string
		var slowest string
		var worst float64
		count := 0
		for _, m := range r.Metrics {
			name, ok := strings.CutPrefix(m.Unit, prefix)
			if !ok || !strings.HasSuffix(name, "@"+size) {
				continue
			}
			name = strings.TrimSuffix(name, "@"+size)
			count++
			if m.Value > limit {
				over = append(over, fmt.Sprintf("%s %s ms", name, fmtNum(m.Value)))
			}
			if slowest == "" || m.Value > worst {
				slowest, worst = name, m.Value
			}
		}
		if count == 0 {
			return "", false
		}
		events, _ := r.Metric("events@" + size)
		part := fmt.Sprintf("at %s events: %d of %d ≤ %s ms, slowest %s %s ms", fmtNum(events), count-len(over), count, fmtNum(limit), slowest, fmtNum(worst))
		if len(over) > 0 {
			part += " (over: " + strings.Join(over, ", ") + ")"
			pass = false
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; "), pass
}

// postgresTargets checks the PostgreSQL runs against the targets of the
// issue that brought it (#16): two nodes on one database take at least
// what one SQLite node takes, in the same run; listings at 10M events.
func postgresTargets(l *Log) []Target {
	var ts []Target
	add := func(goal, measured, v string) {
		if measured == "" {
			measured, v = "—", notMeasured
		}
		ts = append(ts, Target{Goal: goal, Measured: measured, Verdict: v})
	}
	goal := "two PostgreSQL nodes together ≥ one SQLite node's durable intake, same run (`BinaryPostgres`, TCP and HTTP)"
	var parts []string
	ok := true
	for _, src := range []string{"tcp", "http"} {
		two, twoOK := l.Metric("BenchmarkBinaryPostgres", src+"-pg-2-events/s")
		one, oneOK := l.Metric("BenchmarkBinaryPostgres", src+"-sqlite-1-events/s")
		if !twoOK || !oneOK || one <= 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f (%s against %s events/s)", strings.ToUpper(src), two/one, fmtNum(two), fmtNum(one)))
		ok = ok && two >= one
	}
	if len(parts) > 0 {
		add(goal, strings.Join(parts, "; "), verdict(ok))
	} else {
		add(goal, "", "")
	}
	add(listingTarget(l, pgRowsRE, 100, fmt.Sprintf("PostgreSQL: newest-100 full-text and filtered listings p95 ≤ 100 ms at %s events (`QueriesPostgres`, every query)", fmtNum(targetRows))))
	return ts
}

// listingTarget judges the largest size of the query results re names:
// every query's p95 at most limit ms. It returns goal, what was measured
// ("" when nothing was) and the verdict.
func listingTarget(l *Log, re *regexp.Regexp, limit float64, goal string) (string, string, string) {
	n, qs := largestQueries(l, re)
	if n == 0 {
		return goal, "", ""
	}
	var misses []string
	var slowest Result
	var slowestP95 float64
	for _, r := range qs {
		p95, _ := r.Metric("p95-ms")
		if p95 > limit {
			misses = append(misses, fmt.Sprintf("%s %s ms", querySub(r), fmtNum(p95)))
		}
		if slowest.Name == "" || p95 > slowestP95 {
			slowest, slowestP95 = r, p95
		}
	}
	m := fmt.Sprintf("at %s: %d of %d queries ≤ %s ms", fmtNum(float64(n)), len(qs)-len(misses), len(qs), fmtNum(limit))
	if len(misses) > 0 {
		m += "; over: " + strings.Join(misses, ", ")
	} else {
		m += fmt.Sprintf("; slowest %s %s ms", querySub(slowest), fmtNum(slowestP95))
	}
	return goal, m, sizeVerdict(n, len(misses) == 0)
}
