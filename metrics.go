package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics serves /metrics of g on addr, without authentication, for
// a Prometheus that scrapes over a network the operator keeps private.
// The returned server's Addr is the bound address; a serving failure is
// sent to errc.
func serveMetrics(addr string, g prometheus.Gatherer, h slog.Handler, errc chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(h, slog.LevelWarn)}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "this listener serves only GET /metrics", http.StatusNotFound)
	})
	return serveSide("metrics", addr, mux, time.Minute, h, errc)
}

// serveSide serves handler on addr, a listener beside the API (metrics,
// pprof) named name in errors; writeTimeout 0 is none. The returned
// server's Addr is the bound address; a serving failure is sent to errc.
func serveSide(name, addr string, handler http.Handler, writeTimeout time.Duration, h slog.Handler, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	srv := &http.Server{
		Addr: ln.Addr().String(), Handler: handler,
		ReadHeaderTimeout: 10 * time.Second, WriteTimeout: writeTimeout,
		ErrorLog: slog.NewLogLogger(h, slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			select {
			case errc <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
	return srv, nil
}
