package ingest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"vigil/model"
	"vigil/store"
)

// ListenTCP starts the syslog TCP listener on addr and returns its address.
func (s *Server) ListenTCP(addr string) (net.Addr, error) {
	return s.listenStream("tcp", model.SourceSyslogTCP, addr, nil)
}

// ListenTLS starts the syslog TLS listener (RFC 5425) on addr.
func (s *Server) ListenTLS(addr string, tc *tls.Config) (net.Addr, error) {
	return s.listenStream("tls", model.SourceSyslogTLS, addr, tc)
}

// streamListener accepts connections and runs one reader and one appender
// per connection.
type streamListener struct {
	s      *Server
	name   string
	source string
	ln     net.Listener
	tls    *tls.Config
	m      *listenerMetrics

	mu      sync.Mutex
	closing bool
	stopAt  time.Time // while closing: when connections stop reading
	conns   map[*timedConn]struct{}
	perAddr map[string]int
}

func (s *Server) listenStream(name, source, addr string, tc *tls.Config) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &streamListener{s: s, name: name, source: source, ln: ln, tls: tc, m: s.metrics.forListener(name),
		conns: map[*timedConn]struct{}{}, perAddr: map[string]int{}}
	if err := s.onClose(l.close); err != nil {
		ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go l.accept()
	return ln.Addr(), nil
}

func (l *streamListener) accept() {
	defer l.s.wg.Done()
	var delay time.Duration
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				l.ln.Close() // the backlog is drained: close has begun
				return
			}
			// Out of file descriptors or similar: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.s.log.Warn("syslog accept failed", "listener", l.name, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		addr := hostOf(raw.RemoteAddr())
		c := &timedConn{raw: raw, idle: l.s.cfg.IdleTimeout, frame: l.s.cfg.FrameTimeout}
		if reason := l.admit(c, addr); reason != "" {
			raw.Close()
			l.m.close(reason)
			l.s.log.Debug("syslog connection refused", "listener", l.name, "peer", addr, "reason", reason)
			continue
		}
		go l.handle(c, addr)
	}
}

// admit registers c unless a connection limit is reached.
func (l *streamListener) admit(c *timedConn, addr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case len(l.conns) >= l.s.cfg.MaxConns:
		return "limit_total"
	case l.perAddr[addr] >= l.s.cfg.MaxConnsPerAddr:
		return "limit_per_address"
	}
	if l.closing {
		c.shutdown(l.stopAt) // connected before close began: read what it sent
	}
	l.conns[c] = struct{}{}
	l.perAddr[addr]++
	l.s.wg.Add(1)
	l.m.accepted.Inc()
	l.m.connections.Inc()
	return ""
}

func (l *streamListener) release(c *timedConn, addr string) {
	l.mu.Lock()
	delete(l.conns, c)
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
	l.mu.Unlock()
	l.m.connections.Dec()
}

// close tells every connection to finish reading what has arrived and
// stops accepting. Connections the kernel completed before close began,
// still in the listen backlog, are accepted and read like the others:
// their senders already wrote, believing it delivered. The backlog is
// read for backlogDrain, then the listener is closed.
func (l *streamListener) close() {
	l.mu.Lock()
	l.closing = true
	l.stopAt = time.Now().Add(l.s.cfg.ShutdownGrace)
	for c := range l.conns {
		c.shutdown(l.stopAt)
	}
	l.mu.Unlock()
	if tl, ok := l.ln.(*net.TCPListener); ok && tl.SetDeadline(time.Now().Add(backlogDrain)) == nil {
		return // accept closes the listener when the deadline passes
	}
	l.ln.Close()
}

// backlogDrain is how long close keeps accepting the connections already
// waiting in the listen backlog.
const backlogDrain = 100 * time.Millisecond

func (l *streamListener) handle(c *timedConn, addr string) {
	defer l.s.wg.Done()
	defer l.release(c, addr)
	defer c.raw.Close()
	peer := Peer{Source: l.source, Addr: addr}
	c.r = c.raw
	if l.tls != nil {
		tc := tls.Server(c.raw, l.tls)
		c.raw.SetDeadline(time.Now().Add(l.s.cfg.HandshakeTimeout))
		if c.stopping() {
			l.m.close("shutdown")
			return
		}
		if err := tc.HandshakeContext(context.Background()); err != nil {
			l.m.close("tls_handshake")
			l.s.log.Info("syslog TLS handshake failed", "listener", l.name, "peer", addr, "err", err)
			return
		}
		c.raw.SetDeadline(time.Time{})
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			peer.CN = certs[0].Subject.CommonName
			peer.Subject = certs[0].Subject.String()
			peer.Sender = model.CertSender(certs[0].Raw)
		}
		c.r = tc
	}
	reason, err := l.s.readStream(c, peer, l.m)
	l.m.close(reason)
	switch reason {
	case "malformed", "store_failed", "error":
		l.s.log.Warn("syslog connection closed", "listener", l.name, "peer", addr, "reason", reason, "err", err)
	default:
		l.s.log.Debug("syslog connection closed", "listener", l.name, "peer", addr, "reason", reason)
	}
}

// readStream reads frames from c until the stream ends or fails, decoding
// each into an event. Events go to an appender goroutine in chunks; when
// the store is slow the appender's queue fills, the reader stops reading
// and TCP flow control slows the sender: nothing read is dropped.
func (s *Server) readStream(c *timedConn, peer Peer, m *listenerMetrics) (string, error) {
	br := bufio.NewReaderSize(c, readBufferSize)
	fr := NewFrameReader(br, s.cfg.MaxMessageSize)
	fr.onFrameStart, fr.onFrameEnd = c.startFrame, c.endFrame
	dec := NewDecoder(s.cfg.Location)

	chunks := make(chan []model.Event, chunkQueue)
	// Chunks come back once copied into a batch, for the reader to fill
	// again: a busy connection does not allocate one per 256 events.
	free := make(chan []model.Event, chunkQueue)
	var storeErr error
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		storeErr = s.appendChunks(chunks, free, m, c)
	}()
	var chunk []model.Event
	warned := false
	for {
		frame, truncated, err := fr.Next()
		if err != nil {
			if len(chunk) > 0 {
				s.inflight <- struct{}{}
				chunks <- chunk
			}
			close(chunks)
			<-appended
			if storeErr != nil {
				return "store_failed", storeErr
			}
			return c.reason(err), err
		}
		e := dec.Decode(frame, truncated, peer, s.cfg.Now())
		m.received.Inc()
		if truncated > 0 {
			m.oversized.Inc()
			if !warned {
				s.log.Warn("syslog message longer than --syslog-max-msg cut (logged once per connection)",
					"listener", m.name, "peer", peer.Addr, "bytes", truncated, "kept", s.cfg.MaxMessageSize)
				warned = true
			}
		}
		if e.Type == TypeUnparsed {
			m.unparsed.Inc()
		}
		if chunk == nil {
			select {
			case chunk = <-free:
			default:
				// A full read buffer means a busy sender: room for a whole chunk.
				chunk = make([]model.Event, 0, min(chunkSize, 8+br.Buffered()/64))
			}
		}
		chunk = append(chunk, e)
		if len(chunk) >= chunkSize || br.Buffered() == 0 {
			s.inflight <- struct{}{} // waits while all connections together hold too much
			chunks <- chunk
			chunk = nil
		}
	}
}

// appendChunks stores the chunks of one connection, merging those that
// wait into one append. A failed append closes the connection so that the
// sender sees the failure; the rest of what was read is counted as dropped.
func (s *Server) appendChunks(chunks <-chan []model.Event, free chan<- []model.Event, m *listenerMetrics, c *timedConn) error {
	var batch []model.Event
	var failed error
	for chunk := range chunks {
		if failed != nil {
			<-s.inflight
			m.drop("store_failed", len(chunk))
			continue
		}
		n := 1
		recycle := func(c []model.Event) {
			clear(c) // drop what the events point to
			select {
			case free <- c[:0]:
			default:
			}
		}
		batch = gather(chunks, append(batch[:0], chunk...), s.cfg.BatchSize,
			func(b, c []model.Event) []model.Event { n++; b = append(b, c...); recycle(c); return b })
		recycle(chunk)
		res, err := s.appendStream(batch, m, c)
		for range n {
			<-s.inflight
		}
		if err != nil {
			failed = err
			m.drop("store_failed", len(batch))
			c.raw.Close()
			continue
		}
		m.stored.Add(float64(res.Accepted))
	}
	return failed
}

// appendStream stores one batch of a connection. Syslog cannot answer a
// refusal: an event reusing its client certificate's event_id with other
// content is stored all the same, without de-duplication (its event_id
// kept as data), and the rest of the batch with it.
func (s *Server) appendStream(batch []model.Event, m *listenerMetrics, c *timedConn) (store.AppendResult, error) {
	for {
		res, err := s.store.AppendEvents(context.Background(), batch)
		var me *model.Error
		if !errors.As(err, &me) || me.Code != model.ECONFLICT || len(me.Items) == 0 {
			return res, err
		}
		// Each round takes the key off at least one event: it ends.
		for _, it := range me.Items {
			batch[it.Index].Sender = ""
		}
		s.log.Warn("syslog event_id reused by the same client certificate with other content: stored without de-duplication",
			"listener", m.name, "peer", c.raw.RemoteAddr().String(), "events", len(me.Items), "first", me.Items[0].Reason)
	}
}

// timedConn sets read deadlines on each read: the idle timeout between
// frames, the frame timeout once a frame has started and, once the
// listener closes, a short quiet time: what senders already sent is still
// read (even after a wait for the store), until nothing has arrived for
// shutdownQuiet or the shutdown deadline passes.
type timedConn struct {
	raw         net.Conn
	r           io.Reader // raw, or the TLS connection over it
	idle, frame time.Duration
	frameStart  time.Time
	inFrame     bool         // the last failed read was inside a frame
	stopAt      atomic.Int64 // unix nanoseconds of the shutdown deadline; 0 while running
}

// shutdownQuiet is how long a closing listener waits for more data on a
// connection that has gone quiet.
const shutdownQuiet = 200 * time.Millisecond

func (c *timedConn) startFrame() { c.frameStart = time.Now() }
func (c *timedConn) endFrame()   { c.frameStart = time.Time{} }

func (c *timedConn) stopping() bool { return c.stopAt.Load() != 0 }

// shutdown makes reads end once the connection is quiet, or at deadline;
// a read blocked now is woken after the quiet time.
func (c *timedConn) shutdown(deadline time.Time) {
	c.stopAt.Store(deadline.UnixNano())
	c.raw.SetReadDeadline(minTime(time.Now().Add(shutdownQuiet), deadline))
}

// deadline is the read deadline of a read starting at now.
func (c *timedConn) deadline(now time.Time) time.Time {
	dl := now.Add(c.idle)
	if !c.frameStart.IsZero() {
		dl = c.frameStart.Add(c.frame)
	}
	if s := c.stopAt.Load(); s != 0 {
		dl = minTime(dl, minTime(now.Add(shutdownQuiet), time.Unix(0, s)))
	}
	return dl
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *timedConn) Read(p []byte) (int, error) {
	now := time.Now()
	stopping := c.stopping()
	c.raw.SetReadDeadline(c.deadline(now))
	// A shutdown between the look above and the deadline just set would
	// be overwritten: look again.
	if !stopping && c.stopping() {
		c.raw.SetReadDeadline(c.deadline(now))
	}
	n, err := c.r.Read(p)
	if err != nil {
		c.inFrame = !c.frameStart.IsZero()
	}
	return n, err
}

// reason names why reading ended with err, for metrics and logs.
func (c *timedConn) reason(err error) string {
	var fe *FrameError
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.As(err, &fe):
		return "malformed"
	case c.stopping():
		return "shutdown"
	case errors.As(err, &ne) && ne.Timeout():
		if c.inFrame {
			return "frame_timeout"
		}
		return "idle_timeout"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return "error"
}

// gather adds to batch, with add, what already waits in ch, until batch
// holds max events; it never waits.
func gather[T any](ch <-chan T, batch []model.Event, max int, add func([]model.Event, T) []model.Event) []model.Event {
	for len(batch) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch
			}
			batch = add(batch, v)
		default:
			return batch
		}
	}
	return batch
}
