// Command benchreport turns the raw output of make bench into a section of
// BENCHMARKS.md: the machine, the command, the load average when the runs
// started, a table per benchmark and the targets of the throughput issue,
// each met, not met or not measured.
//
//	benchreport -header -command 'make bench' > raw.log   # before the runs
//	go test -run '^$' -bench ... 2>&1 | tee -a raw.log     # the runs
//	benchreport -append BENCHMARKS.md raw.log              # after them
//
// The header records, as lines "# bench key: value", when the runs start,
// the commit, the machine and its load average; the harness adds a line
// "# bench exit N what" after each go test run. The section is always
// printed; it is appended only if no run failed, and benchreport exits 1
// when one did, so that make bench fails but the raw log stays.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	header := flag.Bool("header", false, "print the header of a raw log (date, commit, machine, load average) and exit")
	command := flag.String("command", "make bench", "with -header: the command that runs the benchmarks")
	appendTo := flag.String("append", "", "append the section to this file (BENCHMARKS.md) when every run passed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchreport -header [-command CMD]\n       benchreport [-append FILE] RAW-LOG\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *header {
		writeHeader(os.Stdout, currentHeader(*command, time.Now()))
		return
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *appendTo, os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// run reads the raw log at path, prints its section to out and appends it
// to appendTo unless a run failed (an error then).
func run(path, appendTo string, out io.Writer, now time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	l, err := parseLog(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(l.Header) == 0 {
		// Plain go test output: describe this machine now.
		l.Header = currentHeader("", now)
		delete(l.Header, "loadavg")
		delete(l.Header, "start")
	}
	section := render(l, path, now)
	if _, err := io.WriteString(out, section); err != nil {
		return err
	}
	if len(l.Failed) > 0 {
		err := fmt.Errorf("%d failed (%s); the raw log is %s", len(l.Failed), joinList(l.Failed), path)
		if appendTo != "" {
			err = fmt.Errorf("%w; %s not changed", err, appendTo)
		}
		return err
	}
	if appendTo == "" {
		return nil
	}
	af, err := os.OpenFile(appendTo, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(af, "\n"+section); err != nil {
		af.Close()
		return err
	}
	return af.Close()
}
