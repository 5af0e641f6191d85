// Package loggen drives syslog-ng's loggen and rsyslog writing a plain
// file, for the benchmarks that compare Vigil's syslog intake with rsyslog
// fed the same traffic (ingest's BenchmarkLoggen, package main's
// BenchmarkBinary). loggen comes from Debian's syslog-ng-core, unpacked by
// the Makefile; VIGIL_LOGGEN names it (make bench sets it with
// LD_LIBRARY_PATH and SYSLOGNG_PREFIX).
package loggen

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Path returns the loggen named by VIGIL_LOGGEN, "" when it is not set.
func Path() string { return os.Getenv("VIGIL_LOGGEN") }

// Traffic is what loggen sends: RFC 5424 (-P), octet-counted over TCP
// (-i -S), Size-byte messages with SData, as fast as it can.
type Traffic struct {
	Messages    int    // in all, a multiple of Connections
	Connections int    // --active-connections; 0 is 1
	Size        int    // --size
	SData       string // --sdata, one or more SD elements
}

// Run sends t to 127.0.0.1:port and returns loggen's output.
func Run(loggen string, port int, t Traffic) ([]byte, error) {
	conns := max(1, t.Connections)
	if t.Messages%conns != 0 {
		return nil, fmt.Errorf("loggen: %d messages do not split evenly over %d connections", t.Messages, conns)
	}
	// loggen's --number counts per connection; without --permanent it
	// also stops after 10 s (--interval), whatever --number says.
	args := []string{"--inet", "--stream", "--syslog-proto",
		"--sdata", t.SData, "--size", strconv.Itoa(t.Size),
		"--rate", "100000000", "--permanent", "--number", strconv.Itoa(t.Messages / conns),
		"--active-connections", strconv.Itoa(conns)}
	args = append(args, "127.0.0.1", strconv.Itoa(port))
	out, err := exec.Command(loggen, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("loggen: %v\n%s", err, out)
	}
	return out, nil
}

var rateRE = regexp.MustCompile(`average rate = [0-9.]+ msg/sec`)

// Rate is loggen's own summary of its sending rate ("average rate = ...").
func Rate(out []byte) string { return string(rateRE.Find(out)) }

// FreePort returns a TCP port free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitFor polls cond every 2 ms until it holds or timeout passes.
func WaitFor(what string, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// rsyslogFileConf receives on imtcp and writes a plain file (no fsync).
const rsyslogFileConf = `global(workDirectory="%[1]s")
module(load="imtcp")
input(type="imtcp" port="%[2]d")
action(type="omfile" file="%[1]s/out.log" template="RSYSLOG_FileFormat")
`

// RsyslogFileRate runs rsyslogd receiving TCP syslog into a plain file in
// dir, sends it t with loggen and returns the rate from the first byte
// sent to the last line written, and loggen's output. It returns an
// error wrapping exec.ErrNotFound when rsyslogd is not installed.
func RsyslogFileRate(loggen, dir string, t Traffic) (float64, []byte, error) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		return 0, nil, err
	}
	port, err := FreePort()
	if err != nil {
		return 0, nil, err
	}
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rsyslogFileConf, dir, port)), 0o600); err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "pid"))
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	defer cmd.Wait()
	defer cancel()
	if err := WaitFor("rsyslog to listen", time.Minute, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		return 0, nil, err
	}
	lines := LineCounter{Path: filepath.Join(dir, "out.log")}
	start := time.Now()
	out, err := Run(loggen, port, t)
	if err != nil {
		return 0, out, err
	}
	if err := WaitFor("rsyslog to write", 30*time.Minute, func() bool { return lines.Count() >= t.Messages }); err != nil {
		return 0, out, err
	}
	rate := float64(t.Messages) / time.Since(start).Seconds()
	// More lines than sent would have ended the wait early.
	time.Sleep(200 * time.Millisecond)
	if k := lines.Count(); k != t.Messages {
		return 0, out, fmt.Errorf("rsyslog wrote %d lines, %d sent", k, t.Messages)
	}
	return rate, out, nil
}

// LineCounter counts the lines of a growing file incrementally.
type LineCounter struct {
	Path   string
	offset int64
	n      int
}

// Count returns the number of lines written so far.
func (l *LineCounter) Count() int {
	f, err := os.Open(l.Path)
	if err != nil {
		return l.n
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		k, err := f.ReadAt(buf, l.offset)
		l.n += bytes.Count(buf[:k], []byte{'\n'})
		l.offset += int64(k)
		if err != nil || k == 0 {
			return l.n
		}
	}
}
