// Package ingest takes events in over syslog (RFC 5424 and RFC 3164 on UDP,
// TCP with either RFC 6587 framing, and TLS per RFC 5425), maps them to
// model.Event and stores them through the store's writer.
package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/store"
)

// Config tunes the syslog listeners. Zero values take the defaults.
type Config struct {
	// MaxMessageSize is the longest frame kept (default 64 KiB); a longer
	// one is cut to this size and counted as oversized.
	MaxMessageSize int
	// Location is the zone of RFC 3164 timestamps, which carry none
	// (default UTC).
	Location *time.Location
	// IdleTimeout closes a connection that sends nothing for this long
	// (default 10 minutes).
	IdleTimeout time.Duration
	// FrameTimeout closes a connection whose frame, once started, is not
	// complete within this time: slow senders cannot hold a connection
	// open one byte at a time (default 30 seconds).
	FrameTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake (default 10 seconds).
	HandshakeTimeout time.Duration
	// MaxConns bounds open stream connections of each listener (default
	// 1024), MaxConnsPerAddr those from one IP address (default 128).
	MaxConns, MaxConnsPerAddr int
	// BatchSize bounds the events of one append to the store (default 4096).
	BatchSize int
	// MaxPending bounds the chunks of events (up to 256 each) that all
	// stream connections together have read but not yet stored (default
	// 256); beyond it readers stop reading, so memory stays bounded however
	// many senders push at once.
	MaxPending int
	// UDPQueue bounds the datagrams waiting for the store (default 16384);
	// beyond it datagrams are dropped and counted, never blocking the socket.
	UDPQueue int
	// UDPReceiveBuffer is the UDP socket's receive buffer in bytes
	// (default 8 MiB; the kernel caps it at net.core.rmem_max unless Vigil
	// runs as root). It rides out bursts while the store commits; what
	// overflows it is dropped by the kernel and counted.
	UDPReceiveBuffer int
	// ShutdownGrace bounds how long Close keeps reading what senders
	// already sent; a connection quiet for 200 ms is closed sooner
	// (default 5 seconds).
	ShutdownGrace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxMessageSize = 64 << 10
	// DefaultUDPReceiveBuffer is the UDP receive buffer asked for.
	DefaultUDPReceiveBuffer = 8 << 20
	readBufferSize          = 32 << 10
	chunkSize               = 256 // events handed from a reader to its appender at once
	chunkQueue              = 8   // chunks waiting per connection before the reader stops reading
)

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxMessageSize, DefaultMaxMessageSize)
	def(&c.MaxConns, 1024)
	def(&c.MaxConnsPerAddr, 128)
	def(&c.BatchSize, 4096)
	def(&c.UDPQueue, 16384)
	def(&c.UDPReceiveBuffer, DefaultUDPReceiveBuffer)
	def(&c.MaxPending, 256)
	defDur(&c.IdleTimeout, 10*time.Minute)
	defDur(&c.FrameTimeout, 30*time.Second)
	defDur(&c.HandshakeTimeout, 10*time.Second)
	defDur(&c.ShutdownGrace, 5*time.Second)
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Server runs syslog listeners that store into one store. Close stops them
// all and returns once everything they read is stored.
type Server struct {
	cfg     Config
	store   *store.Store
	log     *slog.Logger
	metrics *metrics

	// inflight holds a token for each chunk read from a stream connection
	// and not yet stored.
	inflight chan struct{}

	mu      sync.Mutex
	closed  bool
	closers []func()
	wg      sync.WaitGroup
}

// New returns a Server storing into st, with its metrics registered on reg
// (nil registers nowhere).
func New(cfg Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.setDefaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, store: st, log: log, metrics: m, inflight: make(chan struct{}, cfg.MaxPending)}, nil
}

// onClose registers a function Close calls to stop a listener; it fails
// once the server is closed.
func (s *Server) onClose(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("ingest: server closed")
	}
	s.closers = append(s.closers, f)
	return nil
}

// Close stops accepting, reads what connected senders already sent for up
// to ShutdownGrace, closes every connection and waits until all that was
// read is stored. The store must stay open until Close returns.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for _, f := range closers {
		f()
	}
	s.wg.Wait()
	return nil
}

// TLSConfig loads the server certificate and, when clientCA is set, the CA
// bundle that agents' client certificates must chain to (they are then
// required).
func TLSConfig(certFile, keyFile, clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("reading client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no PEM certificate", clientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// hostOf returns the IP address of a network address.
func hostOf(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().String()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap().String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
