package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPprofListen starts Run with --pprof-listen on loopback and fetches
// the profiler's index and a short CPU profile from it; the API address
// does not serve the profiler.
func TestPprofListen(t *testing.T) {
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", t.TempDir(), "--http", "127.0.0.1:0", "--pprof-listen", "127.0.0.1:0",
		"--syslog-udp", "", "--syslog-tcp", "")
	defer stop()
	if addrs["pprof"] == "" {
		t.Fatalf("no pprof listener in %v", addrs)
	}
	for _, c := range []struct {
		url, want string
		code      int
	}{
		{"http://" + addrs["pprof"] + "/debug/pprof/", "goroutine", 200},
		{"http://" + addrs["pprof"] + "/debug/pprof/profile?seconds=1", "", 200},
		{"http://" + addrs["http"] + "/debug/pprof/", "", 0}, // not served there: anything but 200
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.code == 0 && resp.StatusCode != 200 {
			continue
		}
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.want) || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes; want %d with %q", c.url, resp.StatusCode, len(body), c.code, c.want)
		}
	}
}

// TestPprofListenLoopbackOnly: the profiler is refused on any address but
// loopback.
func TestPprofListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "10.0.0.1:6060", "example.com:6060", "6060"} {
		_, err := parseServeConfig([]string{"--pprof-listen", addr})
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), "--pprof-listen") {
			t.Errorf("--pprof-listen %s: error %v, want a usage error naming --pprof-listen", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060"} {
		if _, err := parseServeConfig([]string{"--pprof-listen", addr}); err != nil {
			t.Errorf("--pprof-listen %s: %v", addr, err)
		}
	}
}
