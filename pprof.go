package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// servePprof serves Go's profiler (net/http/pprof: /debug/pprof/, CPU and
// heap profiles, traces) on addr, a loopback address (--pprof-listen, off
// by default), without authentication, for profiling Vigil under load.
// Profiles run for as long as asked (?seconds=N): no write timeout.
func servePprof(addr string, h slog.Handler, errc chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serveSide("pprof", addr, mux, 0, h, errc)
}
