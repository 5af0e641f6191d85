package ingest

import (
	"context"
	"errors"
	"net"

	"vigil/model"
	"vigil/store"
)

// ListenUDP starts the syslog UDP listener on addr: one datagram is one
// message. The socket is never blocked: when the store's queue is full the
// datagrams are dropped and counted.
func (s *Server) ListenUDP(addr string) (net.Addr, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	want := s.cfg.UDPReceiveBuffer
	if err := setReceiveBuffer(conn, want); err != nil {
		s.log.Warn("syslog UDP receive buffer not set", "size", want, "err", err)
	} else if got, err := receiveBuffer(conn); err == nil && got > 0 && got < want {
		s.log.Warn("syslog UDP receive buffer smaller than asked: raise net.core.rmem_max or run as root",
			"asked", want, "granted", got)
	}
	if err := enableDropCounter(conn); err != nil {
		s.log.Warn("syslog UDP drop counter (SO_RXQ_OVFL) unavailable: kernel drops are not counted", "err", err)
	}
	if err := s.onClose(func() { conn.Close() }); err != nil {
		conn.Close()
		return nil, err
	}
	m := s.metrics.forListener("udp")
	events := make(chan model.Event, s.cfg.UDPQueue)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(events)
		s.readUDP(conn, events, m)
	}()
	go func() {
		defer s.wg.Done()
		s.appendUDP(events, m)
	}()
	return conn.LocalAddr(), nil
}

func (s *Server) readUDP(conn *net.UDPConn, events chan<- model.Event, m *listenerMetrics) {
	dec := NewDecoder(s.cfg.Location)
	buf := make([]byte, 64<<10)
	oob := make([]byte, oobSize)
	peer := Peer{Source: model.SourceSyslogUDP}
	var kernelDrops uint32 // the socket's drop counter as last seen
	for {
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("syslog UDP read", "err", err)
			continue
		}
		if c, ok := dropCount(oob[:oobn]); ok && c != kernelDrops {
			m.drop("receive_buffer", int(c-kernelDrops)) // wraps around as the counter does
			kernelDrops = c
		}
		if n == 0 {
			continue
		}
		m.received.Inc()
		frame, truncated := stripOctetCount(buf[:n]), 0
		n = len(frame)
		if n > s.cfg.MaxMessageSize {
			frame, truncated = frame[:s.cfg.MaxMessageSize], n
			m.oversized.Inc()
		}
		peer.Addr = from.Addr().Unmap().String()
		e := dec.Decode(frame, truncated, peer, s.cfg.Now())
		if e.Type == TypeUnparsed {
			m.unparsed.Inc()
		}
		select {
		case events <- e:
		default:
			m.drop("queue_full", 1)
		}
	}
}

// appendUDP stores the datagrams' events in batches. It never waits for
// room in the store's queue: a full queue drops the batch, counted.
func (s *Server) appendUDP(events <-chan model.Event, m *listenerMetrics) {
	var batch []model.Event
	for e := range events {
		batch = gather(events, append(batch[:0], e), s.cfg.BatchSize,
			func(b []model.Event, e model.Event) []model.Event { return append(b, e) })
		res, err := s.store.TryAppendEvents(context.Background(), batch)
		switch {
		case errors.Is(err, store.ErrQueueFull):
			m.drop("queue_full", len(batch))
		case err != nil:
			m.drop("store_failed", len(batch))
			s.log.Error("syslog UDP events not stored", "events", len(batch), "err", err)
		default:
			m.stored.Add(float64(res.Accepted))
		}
	}
}

// stripOctetCount removes an RFC 6587 octet count that some senders (logger
// --octet-count) put in front of a datagram, when it matches the length
// of the rest exactly.
func stripOctetCount(b []byte) []byte {
	n, i := 0, 0
	for ; i < len(b) && i < maxCountDigits && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	if i == 0 || b[0] == '0' || i >= len(b) || b[i] != ' ' || n != len(b)-i-1 {
		return b
	}
	return b[i+1:]
}
