package ingest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/syncbuf"
	"vigil/model"
	"vigil/store"
)

// harness is a syslog server on 127.0.0.1 storing into a real store in a
// temporary directory.
type harness struct {
	st            *store.Store
	srv           *Server
	reg           *prometheus.Registry
	udp, tcp, tls string
	logs          *syncbuf.Buffer
}

func openStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newHarness starts the listeners named in which ("udp", "tcp", "tls").
func newHarness(t testing.TB, cfg Config, opts store.Options, which ...string) *harness {
	t.Helper()
	h := &harness{st: openStore(t, opts), reg: prometheus.NewRegistry(), logs: &syncbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, ok := t.(*testing.B); ok {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(cfg, h.st, log, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	t.Cleanup(func() {
		srv.Close()
		h.st.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	for _, w := range which {
		switch w {
		case "udp":
			a, err := srv.ListenUDP("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			h.udp = a.String()
		case "tcp":
			a, err := srv.ListenTCP("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			h.tcp = a.String()
		}
	}
	return h
}

var adminView = model.VisibilityFor(model.User{Role: model.RoleAdmin})

// events returns every stored event, oldest first.
func (h *harness) events(t testing.TB) []model.Event {
	t.Helper()
	var out []model.Event
	if _, err := h.st.ExportEvents(context.Background(), model.EventFilter{Visibility: adminView}, func(e *model.Event) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(out)
	return out
}

// waitEvents waits until at least n events are stored and returns them.
func (h *harness) waitEvents(t testing.TB, n int, timeout time.Duration) []model.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := h.events(t)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events stored after %v, want %d", len(evs), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric returns the value of the registered metric vigil_syslog_NAME
// with the given label values (listener, then reason), 0 if absent.
func (h *harness) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_syslog_"+name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != labels[i] {
					continue metrics
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// detailsOf decodes an event's details.
func detailsOf(t testing.TB, e model.Event) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatalf("details %s: %v", e.Details, err)
	}
	return d
}

// sdOf returns details.sd[id][name] of an event.
func sdOf(t testing.TB, e model.Event, id, name string) string {
	t.Helper()
	sd, _ := detailsOf(t, e)["sd"].(map[string]any)
	el, _ := sd[id].(map[string]any)
	v, _ := el[name].(string)
	return v
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// sendStreams writes each stream on its own TCP connection to addr, all at
// once, and returns when all are written.
func sendStreams(t testing.TB, addr string, streams [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if _, err := c.Write(s); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
