package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// headerPrefix starts the lines of a raw log that describe the run.
const headerPrefix = "# bench "

// headerKeys are the header's fields, in the order written.
var headerKeys = []string{"start", "command", "commit", "worktree", "cores", "gomaxprocs", "cpu", "ram-kib", "kernel", "go", "sqlite-driver", "loadavg"}

// The harness adds, after the runs, "# bench end: <RFC 3339 time>" and
// "# bench loadavg-end: <1, 5 and 15 minute load averages>".

// currentHeader describes this machine and checkout now. Whatever cannot be
// read is left out.
func currentHeader(command string, now time.Time) map[string]string {
	h := map[string]string{
		"start":      now.Format(time.RFC3339),
		"command":    command,
		"cores":      strconv.Itoa(runtime.NumCPU()),
		"gomaxprocs": strconv.Itoa(runtime.GOMAXPROCS(0)),
		// Built by the toolchain that builds the benchmarks.
		"go": runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		h["commit"] = strings.TrimSpace(string(out))
		h["worktree"] = "clean"
		if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
			h["worktree"] = "modified"
		}
	}
	if v := procField("/proc/cpuinfo", "model name", ":"); v != "" {
		h["cpu"] = v
	}
	if v := procField("/proc/meminfo", "MemTotal", ":"); v != "" {
		h["ram-kib"] = strings.TrimSpace(strings.TrimSuffix(v, "kB"))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = "Linux " + strings.TrimSpace(string(b))
	}
	if f := strings.Fields(procField("go.mod", "github.com/mattn/go-sqlite3", " ")); len(f) > 0 {
		h["sqlite-driver"] = "go-sqlite3 " + f[0]
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			h["loadavg"] = strings.Join(f[:3], " ")
		}
	}
	for k, v := range h {
		if v == "" {
			delete(h, k)
		}
	}
	return h
}

// procField returns the value after sep on the first line of path that
// starts with key ("" if none).
func procField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, key); ok {
			if _, v, ok := strings.Cut(rest, sep); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// writeHeader writes h as header lines, in headerKeys order.
func writeHeader(w io.Writer, h map[string]string) {
	for _, k := range headerKeys {
		if v, ok := h[k]; ok {
			fmt.Fprintf(w, "%s%s: %s\n", headerPrefix, k, v)
		}
	}
}
