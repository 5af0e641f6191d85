package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Log is what a raw log holds.
type Log struct {
	Header  map[string]string // "# bench key: value" lines
	Results []Result          // benchmark result lines, in order
	Failed  []string          // failed benchmarks and go test runs, in order
	Skipped []string          // skipped benchmarks (printed with -v only)
}

// Result is one benchmark result line.
type Result struct {
	Pkg     string   // from the "pkg:" line before it
	Name    string   // "BenchmarkTCPIngest/conns=1", without the -GOMAXPROCS suffix
	N       int      // iterations
	Metrics []Metric // in the order printed
}

// Metric is one value and unit of a result line.
type Metric struct {
	Value float64
	Unit  string
}

// Top is the name of the top-level benchmark ("BenchmarkTCPIngest").
func (r Result) Top() string {
	top, _, _ := strings.Cut(r.Name, "/")
	return top
}

// Sub is the name below the top-level benchmark ("conns=1"), "" for none.
func (r Result) Sub() string {
	_, sub, _ := strings.Cut(r.Name, "/")
	return sub
}

// Metric returns the value reported in unit.
func (r Result) Metric(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// Find returns the last result named name.
func (l *Log) Find(name string) (Result, bool) {
	for i := len(l.Results) - 1; i >= 0; i-- {
		if l.Results[i].Name == name {
			return l.Results[i], true
		}
	}
	return Result{}, false
}

// Metric returns the value the last result named name reported in unit.
func (l *Log) Metric(name, unit string) (float64, bool) {
	r, ok := l.Find(name)
	if !ok {
		return 0, false
	}
	return r.Metric(unit)
}

var (
	// BenchmarkName-2   1   123 ns/op   45.6 unit ...
	resultRE = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.+)$`)
	// The -GOMAXPROCS suffix of a result's name.
	procsRE = regexp.MustCompile(`-(\d+)$`)
	// "--- FAIL: BenchmarkX/sub" or, with -v, "--- SKIP: BenchmarkX".
	statusRE = regexp.MustCompile(`^\s*--- (FAIL|SKIP): (Benchmark\S+)`)
	// "# bench exit N what", written by the harness after each go test run.
	exitRE = regexp.MustCompile(`^# bench exit (\d+)\s*(.*)$`)
)

// parseLog reads the output of go test -bench runs, with the harness's
// header and exit lines. Lines it does not know are ignored.
func parseLog(r io.Reader) (*Log, error) {
	l := &Log{Header: map[string]string{}}
	var pkg string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if m := exitRE.FindStringSubmatch(line); m != nil {
			if m[1] != "0" {
				l.Failed = append(l.Failed, strings.TrimSpace("go test "+m[2]+" (exit "+m[1]+")"))
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, headerPrefix); ok {
			if k, v, ok := strings.Cut(rest, ": "); ok {
				l.Header[k] = strings.TrimSpace(v)
			}
			continue
		}
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if m := statusRE.FindStringSubmatch(line); m != nil {
			if m[1] == "FAIL" {
				l.Failed = append(l.Failed, m[2])
			} else {
				l.Skipped = append(l.Skipped, m[2])
			}
			continue
		}
		if res, ok := parseResult(line, l.Header["gomaxprocs"]); ok {
			res.Pkg = pkg
			l.Results = append(l.Results, res)
		}
	}
	return l, sc.Err()
}

// parseResult parses a benchmark result line. go test appends
// -GOMAXPROCS to the name when GOMAXPROCS is not 1: that suffix is
// removed (only that one when the header says what GOMAXPROCS was).
func parseResult(line, gomaxprocs string) (Result, bool) {
	m := resultRE.FindStringSubmatch(line)
	if m == nil {
		return Result{}, false
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return Result{}, false
	}
	fields := strings.Fields(m[3])
	if len(fields) == 0 || len(fields)%2 != 0 {
		return Result{}, false
	}
	res := Result{Name: m[1], N: n}
	for i := 0; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Metrics = append(res.Metrics, Metric{Value: v, Unit: fields[i+1]})
	}
	if s := procsRE.FindStringSubmatch(res.Name); s != nil && (gomaxprocs == "" || s[1] == gomaxprocs) {
		res.Name = strings.TrimSuffix(res.Name, "-"+s[1])
	}
	return res, true
}
