package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/loggen"
	"vigil/internal/pgtest"
	"vigil/model"
)

// BenchmarkBinaryPostgres runs the shipped binary on PostgreSQL beside
// the same binary on SQLite, in one run and with the same traffic:
// durable TCP syslog intake (loggen, RFC 5424, 300-byte messages, two
// connections per node) and HTTP NDJSON intake (ndjsonload, two clients
// per node) into one node on SQLite, one node on PostgreSQL and two nodes
// on one PostgreSQL database at once (half the messages each). It reports
// each rate, the two nodes' rate as a share of the SQLite node's (the
// target is at least 1), and the CPU per event of Vigil and of
// PostgreSQL (its postmaster and backends, from /proc). PostgreSQL runs
// with fsync on, its defaults otherwise, on the same machine.
//
// VIGIL_BENCH_PG_MSGS sets the messages of each run (default 400,000);
// VIGIL_BENCH_PG_SETTINGS adds server options ("-c shared_buffers=1GB");
// VIGIL_BENCH_PG_RUNS, a comma-separated list of run names
// (tcp-sqlite-1, tcp-pg-1, …), runs only those. VIGIL_LOGGEN is required,
// as for BenchmarkBinary.
func BenchmarkBinaryPostgres(b *testing.B) {
	lg := loggenOrSkip(b)
	n := messagesFromEnv(b, "VIGIL_BENCH_PG_MSGS", 400_000, 4) // two nodes, two connections each
	bin := releaseBinary(b)
	load := ndjsonLoad(b)
	// fsync on: SQLite's commits are durable too.
	pg := pgtest.StartDurable(b, os.Getenv("VIGIL_BENCH_PG_SETTINGS"))
	type result struct {
		name string
		nodeFill
	}
	var results []result
	for i := 0; i < b.N; i++ {
		results = results[:0]
		for _, source := range []string{model.SourceSyslogTCP, model.SourceHTTP} {
			for _, c := range []struct {
				name  string
				nodes int
				pg    bool
			}{{"sqlite-1", 1, false}, {"pg-1", 1, true}, {"pg-2", 2, true}} {
				var db string
				if c.pg {
					db = pg.NewDatabase(b)
				}
				name := "tcp-" + c.name
				if source == model.SourceHTTP {
					name = "http-" + c.name
				}
				if only := os.Getenv("VIGIL_BENCH_PG_RUNS"); only != "" && !slices.Contains(strings.Split(only, ","), name) {
					continue
				}
				f := fillNodes(b, bin, load, lg, source, n, c.nodes, db, pg)
				b.Logf("%s: %s", name, f)
				results = append(results, result{name, f})
			}
		}
	}
	byName := map[string]nodeFill{}
	for _, r := range results {
		byName[r.name] = r.nodeFill
		b.ReportMetric(r.rate, r.name+"-events/s")
		b.ReportMetric(r.vigilCPU, r.name+"-vigil-cpu-µs/event")
		if r.pgCPU > 0 {
			b.ReportMetric(r.pgCPU, r.name+"-pg-cpu-µs/event")
		}
	}
	for _, src := range []string{"tcp", "http"} {
		sqlite, ok := byName[src+"-sqlite-1"]
		if !ok {
			continue
		}
		for _, pg := range []string{"-pg-1", "-pg-2"} {
			if f, ok := byName[src+pg]; ok {
				b.ReportMetric(f.rate/sqlite.rate, src+pg+"/sqlite-1")
			}
		}
	}
}

// nodeFill is what fillNodes measured.
type nodeFill struct {
	rate     float64 // events durable per second, all nodes together
	vigilCPU float64 // µs of CPU of the vigil processes per event
	pgCPU    float64 // µs of CPU of PostgreSQL per event (0 on SQLite)
}

func (f nodeFill) String() string {
	s := fmt.Sprintf("%.0f events/s, vigil %.1f µs CPU/event", f.rate, f.vigilCPU)
	if f.pgCPU > 0 {
		s += fmt.Sprintf(", PostgreSQL %.1f µs CPU/event", f.pgCPU)
	}
	return s
}

// fillNodes starts nodes vigil serve processes (on database db, or each
// on SQLite in its data directory when db is ""), sends n events of
// source split evenly over them at once, and measures until all are
// durable.
func fillNodes(b *testing.B, bin, load, lg, source string, n, nodes int, db string, pg *pgtest.Server) nodeFill {
	ports := make([]int, nodes)
	for i := range ports {
		var err error
		if ports[i], err = loggen.FreePort(); err != nil {
			b.Fatal(err)
		}
	}
	procs, dirs := startNodes(b, bin, nodes, func(i int) []string {
		var extra []string
		if db != "" {
			extra = append(extra, "--database="+db)
		}
		if source == model.SourceSyslogTCP {
			extra = append(extra, "--syslog-tcp", fmt.Sprintf("127.0.0.1:%d", ports[i]))
		}
		return extra
	})
	defer func() {
		for _, p := range procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()
	token := func(scope string) string {
		args := []string{"token", "create", "--data", dirs[0], "--user", "admin", "--name", "bench-" + scope, "--scope", scope}
		if db != "" {
			args = append(args, "--database="+db)
		}
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			b.Fatalf("vigil token create: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	ingest, read := token("ingest"), token("read")
	stored := func() int {
		total := 0
		for _, p := range procs {
			total += int(metricValue(scrape(b, p.url+"/metrics", read), "vigil_events_stored_total", "source", source))
		}
		return total
	}
	vigilCPU := func() time.Duration {
		var t time.Duration
		for _, p := range procs {
			t += processCPU(b, p.cmd.Process.Pid)
		}
		return t
	}
	pgCPU := func() time.Duration {
		if db == "" {
			return 0
		}
		return processCPU(b, pg.PID()) + childrenCPU(pg.PID())
	}
	v0, p0 := vigilCPU(), pgCPU()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []byte
			var err error
			if source == model.SourceSyslogTCP {
				out, err = loggen.Run(lg, ports[i], loggen.Traffic{Messages: n / nodes, Connections: 2, Size: 300, SData: binarySData})
			} else {
				out, err = exec.Command(load, "-url", p.url, "-token", ingest, "-n", strconv.Itoa(n/nodes), "-clients", "2").CombinedOutput()
			}
			if err != nil {
				errs <- fmt.Errorf("%v\n%s", err, out)
			}
		}()
	}
	deadline := start.Add(30 * time.Minute)
	for stored() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events durable after 30 minutes", stored(), n)
		}
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		// A scrape costs PostgreSQL a few milliseconds (the database's
		// size): polled every 20 ms, as BenchmarkBinary polls SQLite, it
		// took a tenth of a core from the run.
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(start)
	v1, p1 := vigilCPU(), pgCPU()
	wg.Wait()
	return nodeFill{rate: float64(n) / took.Seconds(),
		vigilCPU: float64((v1 - v0).Microseconds()) / float64(n),
		pgCPU:    float64((p1 - p0).Microseconds()) / float64(n)}
}

// childrenCPU returns the CPU time of process pid's children: those it
// has waited for and those still running (PostgreSQL's backends).
func childrenCPU(pid int) time.Duration {
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	// The fields after the command, which is in parentheses: state(0)
	// ppid(1) … utime(11) stime(12) cutime(13) cstime(14), in ticks.
	fields := func(pid int) []string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		s := string(b)
		return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	}
	sum := func(f []string, from, to int) time.Duration {
		var t time.Duration
		for i := from; i <= to && i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += time.Duration(v) * tick
		}
		return t
	}
	total := sum(fields(pid), 13, 14)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cf := fields(child); len(cf) > 1 && cf[1] == strconv.Itoa(pid) {
			total += sum(cf, 11, 12)
		}
	}
	return total
}
