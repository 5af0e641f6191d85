package main

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// harnessBenchmarks are the benchmarks make bench runs, in its order.
var harnessBenchmarks = []string{"BenchmarkBinary", "BenchmarkLoggen", "BenchmarkTCPIngest", "BenchmarkStoreAppend", "BenchmarkHTTPIngest", "BenchmarkQueries", "BenchmarkPeakRSS",
	"BenchmarkBinaryPostgres", "BenchmarkQueriesPostgres"}

// render returns the BENCHMARKS.md section for l, read from logPath; now
// dates it when the log has no header.
func render(l *Log, logPath string, now time.Time) string {
	var b strings.Builder
	h := l.Header
	start, startErr := time.Parse(time.RFC3339, h["start"])
	date := now
	if startErr == nil {
		date = start
	}
	commit := h["commit"]
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(&b, "## Harness run (%s, commit %s)\n\n", date.Format("2006-01-02"), commit)

	cmd := h["command"]
	if cmd == "" {
		cmd = "go test -bench (no harness header)"
	}
	fmt.Fprintf(&b, "- Command: `%s`", cmd)
	if h["worktree"] == "modified" {
		b.WriteString(", on a checkout with uncommitted changes")
	}
	fmt.Fprintf(&b, "; raw output in `%s` (not kept in git).\n", logPath)
	if startErr == nil {
		fmt.Fprintf(&b, "- Started %s", start.UTC().Format("2006-01-02 15:04 MST"))
		if end, err := time.Parse(time.RFC3339, h["end"]); err == nil {
			fmt.Fprintf(&b, ", %s in all", end.Sub(start).Round(time.Second))
		}
		b.WriteString(".\n")
	}
	fmt.Fprintf(&b, "- Machine: %s.\n", machineLine(h))
	b.WriteString("- Load average (1, 5, 15 minutes): ")
	if la := strings.Fields(h["loadavg"]); len(la) == 3 {
		fmt.Fprintf(&b, "%s, %s, %s when the runs started", la[0], la[1], la[2])
	} else {
		b.WriteString("not recorded at the start")
	}
	if la := strings.Fields(h["loadavg-end"]); len(la) == 3 {
		fmt.Fprintf(&b, "; %s, %s, %s when they ended", la[0], la[1], la[2])
	}
	b.WriteString(".\n")
	if len(l.Failed) > 0 {
		fmt.Fprintf(&b, "\n**Failed:** %s.\n", joinList(l.Failed))
	}
	var missing []string
	for _, name := range harnessBenchmarks {
		if !hasTop(l, name) {
			missing = append(missing, "`"+name+"`")
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\nNo result (not run, skipped or failed): %s.\n", joinList(missing))
	}

	b.WriteString("\n### Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	for _, t := range targets(l) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Goal, t.Measured, t.Verdict)
	}

	for _, top := range tops(l) {
		var rs []Result
		pkg := ""
		for _, r := range l.Results {
			if r.Top() == top {
				rs = append(rs, r)
				pkg = r.Pkg
			}
		}
		fmt.Fprintf(&b, "\n### %s", top)
		if pkg != "" {
			fmt.Fprintf(&b, " (%s)", pkg)
		}
		b.WriteString("\n\n")
		if top == "BenchmarkQueries" && queriesTables(&b, rs) {
			continue
		}
		metricsTable(&b, rs)
		sizedTable(&b, rs)
	}
	return b.String()
}

// machineLine describes the machine from the header.
func machineLine(h map[string]string) string {
	var parts []string
	if c := h["cores"]; c != "" {
		s := c + " cores"
		if c == "1" {
			s = "1 core"
		}
		if cpu := h["cpu"]; cpu != "" {
			s += " (" + cpu + ")"
		}
		parts = append(parts, s)
	}
	if kib, err := strconv.ParseFloat(h["ram-kib"], 64); err == nil {
		parts = append(parts, fmt.Sprintf("%.1f GiB RAM", kib/(1<<20)))
	}
	for _, k := range []string{"kernel", "go", "sqlite-driver"} {
		if v := h[k]; v != "" {
			parts = append(parts, v)
		}
	}
	if g := h["gomaxprocs"]; g != "" && g != h["cores"] {
		parts = append(parts, "GOMAXPROCS="+g)
	}
	if len(parts) == 0 {
		return "not recorded"
	}
	return strings.Join(parts, ", ")
}

// tops returns the top-level benchmarks of l in the order they ran.
func tops(l *Log) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range l.Results {
		if !seen[r.Top()] {
			seen[r.Top()] = true
			names = append(names, r.Top())
		}
	}
	return names
}

func hasTop(l *Log, name string) bool {
	for _, r := range l.Results {
		if r.Top() == name {
			return true
		}
	}
	return false
}

// metricsTable writes one row per result and one column per unit, rates
// first; ns/op (with -benchtime 1x, the time of one run with its setup
// excluded) only when a result reports nothing else.
func metricsTable(b *strings.Builder, rs []Result) {
	var units []string
	seen := map[string]bool{}
	for _, r := range rs {
		for _, m := range r.Metrics {
			if strings.Contains(m.Unit, "@") {
				continue // sizedTable's
			}
			if !seen[m.Unit] && (m.Unit != "ns/op" || len(r.Metrics) == 1) {
				seen[m.Unit] = true
				units = append(units, m.Unit)
			}
		}
	}
	sort.SliceStable(units, func(i, j int) bool {
		return strings.HasSuffix(units[i], "/s") && !strings.HasSuffix(units[j], "/s")
	})
	b.WriteString("| run |")
	for _, u := range units {
		b.WriteString(" " + u + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(units)) + "\n")
	for _, r := range rs {
		name := r.Sub()
		if name == "" {
			name = "(one run)"
		}
		b.WriteString("| " + name + " |")
		for _, u := range units {
			cell := "—"
			if v, ok := r.Metric(u); ok {
				cell = fmtNum(v)
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
}

// sizedTable writes the metrics named UNIT@SIZE (BenchmarkBinary's
// pages, per store size) as one row per unit and one column per size, for
// each result that has any.
func sizedTable(b *strings.Builder, rs []Result) {
	for _, r := range rs {
		var units, sizes []string
		cells := map[[2]string]float64{}
		for _, m := range r.Metrics {
			unit, size, ok := strings.Cut(m.Unit, "@")
			if !ok {
				continue
			}
			if !slices.Contains(units, unit) {
				units = append(units, unit)
			}
			if !slices.Contains(sizes, size) {
				sizes = append(sizes, size)
			}
			cells[[2]string{unit, size}] = m.Value
		}
		if len(units) == 0 {
			continue
		}
		b.WriteString("\n| " + cmp.Or(r.Sub(), "(one run)") + " |")
		for _, sz := range sizes {
			b.WriteString(" @" + sz + " |")
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(sizes)) + "\n")
		for _, u := range units {
			b.WriteString("| " + u + " |")
			for _, sz := range sizes {
				cell := "—"
				if v, ok := cells[[2]string{u, sz}]; ok {
					cell = fmtNum(v)
				}
				b.WriteString(" " + cell + " |")
			}
			b.WriteString("\n")
		}
	}
}

var sizeRE = regexp.MustCompile(`^rows=(\d+)/(.+)$`)

// queriesTables writes the query benchmark as two tables: fill and export
// per size, then each query's p50 and p95 at each size (and the rows it
// returned at the largest). It reports false, writing nothing, when the
// results are not named rows=N/Query.
func queriesTables(b *strings.Builder, rs []Result) bool {
	type key struct {
		size  int
		query string
	}
	byKey := map[key]Result{}
	var sizes []int
	var queries []string
	seenSize, seenQuery := map[int]bool{}, map[string]bool{}
	for _, r := range rs {
		m := sizeRE.FindStringSubmatch(r.Sub())
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		byKey[key{n, m[2]}] = r
		if !seenSize[n] {
			seenSize[n] = true
			sizes = append(sizes, n)
		}
		if _, ok := r.Metric("p95-ms"); ok && !seenQuery[m[2]] {
			seenQuery[m[2]] = true
			queries = append(queries, m[2])
		}
	}
	cell := func(k key, unit string) string {
		if v, ok := byKey[k].Metric(unit); ok {
			return fmtNum(v)
		}
		return "—"
	}
	b.WriteString("| events | fill rows/s | export rows/s | export heap MiB |\n|---|---|---|---|\n")
	for _, n := range sizes {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", fmtNum(float64(n)), cell(key{n, "Fill"}, "rows/s"),
			cell(key{n, "ExportAll"}, "rows/s"), cell(key{n, "ExportAll"}, "heap-MiB"))
	}
	if len(queries) == 0 {
		return true
	}
	b.WriteString("\n| query |")
	for _, n := range sizes {
		fmt.Fprintf(b, " p50 ms at %s | p95 ms at %s |", fmtSize(n), fmtSize(n))
	}
	last := sizes[len(sizes)-1]
	fmt.Fprintf(b, " rows at %s |\n|---|%s---|\n", fmtSize(last), strings.Repeat("---|---|", len(sizes)))
	for _, q := range queries {
		b.WriteString("| " + q + " |")
		for _, n := range sizes {
			b.WriteString(" " + cell(key{n, q}, "p50-ms") + " | " + cell(key{n, q}, "p95-ms") + " |")
		}
		b.WriteString(" " + cell(key{last, q}, "rows") + " |\n")
	}
	return true
}

// fmtNum formats a figure for a table: whole and thousands separated from
// 100 up, three significant digits or so below.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.Round(a) >= 100 || v == math.Trunc(v):
		s := strconv.FormatFloat(math.Round(a), 'f', 0, 64)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		if v < 0 {
			s = "-" + s
		}
		return s
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// fmtSize writes a size briefly: 10M, 200k, 1,234.
func fmtSize(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return fmtNum(float64(n))
}

// joinList joins items with commas.
func joinList(items []string) string { return strings.Join(items, ", ") }
