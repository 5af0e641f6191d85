package ingest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// octet frames msg with an RFC 6587 octet count.
func octet(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }

// dialFrom connects to addr from a given loopback source address, so that
// hostile senders do not share the well-behaved sender's per-address cap.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closes c within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(errorAs(err, &ne) && ne.Timeout())
}

func errorAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// TestHostileSenders runs each hostile input on its own connection while a
// well-behaved sender keeps sending on another: the server stays up, its
// memory stays bounded and the good sender loses nothing.
func TestHostileSenders(t *testing.T) {
	cfg := Config{IdleTimeout: 2 * time.Second, FrameTimeout: time.Second, MaxConnsPerAddr: 20, MaxConns: 200}
	h := newHarness(t, cfg, store.Options{}, "tcp")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// The well-behaved sender: octet-counted RFC 5424 until told to stop.
	good := dialFrom(t, "127.0.0.1", h.tcp)
	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf(`<14>1 2026-01-02T03:04:05Z good app - OK [x@1 seq="%d"] good-%06d`, n, n)
			if _, err := io.WriteString(good, octet(msg)); err != nil {
				t.Errorf("good sender: %v", err)
				return
			}
			n++
			time.Sleep(500 * time.Microsecond)
		}
	}()

	big := strings.Repeat("B", 300<<10)
	garbage := make([]byte, 8<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	garbage[0] = 0xff
	cases := []struct {
		name   string
		send   string
		closed bool   // the server must close the connection
		marker string // a message that must be stored afterwards (intact)
	}{
		{"OctetCountHuge", "99999999999999 <14>1 - h a - - - x", true, ""},
		{"OctetCountTooLarge", "2000000000 <14>1 - h a - - - x", true, ""},
		// Not an octet count but readable as a line: stored, the
		// connection goes on.
		{"OctetCountNegative", "-42 <14>1 - h a - - - x\n" + octet("<14>1 - h a - - - after-negative"), false, "after-negative"},
		{"OctetCountZero", "0 <14>1 - h a - - - x\n<14>1 - h a - - - after-zero\n", false, "after-zero"},
		{"OctetCountMissingSpace", "12<14>1 - h a\n" + octet("<14>1 - h a - - - after-missing-space"), false, "after-missing-space"},
		{"OctetCountNotANumberLater", octet("<14>1 - h a - - - first-ok") + "12x <14>\n" + octet("<14>1 - h a - - - after-not-a-number"), false, "after-not-a-number"},
		{"EOFMidFrame", "500 <14>1 - h a - - - cut short", true, ""},
		{"BinaryGarbage", string(garbage) + "\n" + "<14>1 - h a - - - after-garbage\n", false, "after-garbage"},
		{"OctetFrame300KB", octet("<14>1 - h a - - - "+big) + octet("<14>1 - h a - - - after-big-frame"), false, "after-big-frame"},
		{"LineFrame300KB", "<14>1 - h a - - - " + big + "\n<14>1 - h a - - - after-big-line\n", false, "after-big-line"},
		{"NULBytes", "<14>1 - h a - - - nul\x00inside\x00\n<14>1 - h a - - - after-nul\n", false, "after-nul"},
		{"InvalidUTF8", octet("<14>1 - h a - - - bad\xff\xfeutf8") + octet("<14>1 - h a - - - after-utf8"), false, "after-utf8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.2", h.tcp)
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatalf("write: %v", err)
			}
			if tc.name == "EOFMidFrame" {
				c.(*net.TCPConn).CloseWrite()
			}
			if tc.closed && !closedByServer(c, 5*time.Second) {
				t.Errorf("server kept the connection open")
			}
			if !tc.closed {
				c.Close()
			}
		})
	}
	t.Run("Slowloris", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.2", h.tcp)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, b := range []byte("<14>1 - slow app - - - one byte at a time, forever") {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		start := time.Now()
		if !closedByServer(c, 4*time.Second) {
			t.Fatalf("slow sender still connected after %v", time.Since(start))
		}
		<-done
	})
	t.Run("IdleConnectionFlood", func(t *testing.T) {
		var conns []net.Conn
		for range 60 {
			conns = append(conns, dialFrom(t, "127.0.0.3", h.tcp))
		}
		var wg sync.WaitGroup
		closed := make([]bool, len(conns))
		for i, c := range conns {
			wg.Add(1)
			go func() { defer wg.Done(); closed[i] = closedByServer(c, 5*time.Second) }()
		}
		wg.Wait()
		for i, ok := range closed {
			if !ok {
				t.Errorf("idle connection %d still open", i)
			}
		}
		if got := h.metric(t, "connections_closed_total", "tcp", "limit_per_address"); got != 40 {
			t.Errorf("refused for the per-address limit: %v, want 40", got)
		}
		if got := h.metric(t, "connections_closed_total", "tcp", "idle_timeout"); got < 20 {
			t.Errorf("closed idle: %v, want at least 20", got)
		}
	})

	close(stop)
	n := <-sent
	good.Close()
	// The server still takes new connections.
	late := dialFrom(t, "127.0.0.2", h.tcp)
	if _, err := io.WriteString(late, octet("<14>1 - h a - - - after-everything")); err != nil {
		t.Fatal(err)
	}
	late.Close()
	h.waitEvents(t, n+1, 10*time.Second)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}

	evs := h.events(t)
	var goods []string
	byMsg := map[string]model.Event{}
	for _, e := range evs {
		if strings.HasPrefix(e.Message, "good-") {
			goods = append(goods, e.Message)
		}
		byMsg[e.Message] = e
	}
	t.Logf("good sender: %d sent, %d stored; %d events in all", n, len(goods), len(evs))
	if len(goods) != n {
		t.Fatalf("good sender sent %d, %d stored", n, len(goods))
	}
	for i, m := range goods {
		if m != fmt.Sprintf("good-%06d", i) {
			t.Fatalf("good message %d is %q", i, m)
		}
	}
	if _, ok := byMsg["after-everything"]; !ok {
		t.Errorf("a new connection after the hostile ones was not served")
	}
	for _, tc := range cases {
		if tc.marker != "" {
			if _, ok := byMsg[tc.marker]; !ok {
				t.Errorf("%s: %q not stored intact", tc.name, tc.marker)
			}
		}
	}
	for _, e := range evs {
		switch {
		case strings.HasPrefix(e.Message, "BBBB"):
			if d := detailsOf(t, e); d["truncated_from"] == nil || len(e.Message) > DefaultMaxMessageSize {
				t.Errorf("300 KB frame stored as %d bytes, details %s", len(e.Message), e.Details)
			}
		case strings.HasPrefix(e.Message, "nul"):
			// A NUL followed by LF ends the message, as Python's
			// SysLogHandler writes it; one inside is kept.
			if e.Message != "nul\x00inside" {
				t.Errorf("NUL message %q", e.Message)
			}
		case strings.HasPrefix(e.Message, "bad"):
			if e.Message != "bad\xff\xfeutf8" {
				t.Errorf("invalid UTF-8 message %q", e.Message)
			}
		}
	}
	if got := h.metric(t, "oversized_total", "tcp"); got != 2 {
		t.Errorf("oversized %v, want 2", got)
	}
	if got := h.metric(t, "connections_closed_total", "tcp", "malformed"); got < 3 {
		t.Errorf("closed as malformed %v, want at least 3", got)
	}
	if got := h.metric(t, "connections_closed_total", "tcp", "frame_timeout"); got != 1 {
		t.Errorf("closed for frame timeout %v, want 1", got)
	}
	if got := h.metric(t, "unparsed_total", "tcp"); got < 1 {
		t.Errorf("binary garbage stored as UNPARSED: %v", got)
	}
	for _, want := range []string{"reason=malformed", "longer than --syslog-max-msg"} {
		if !bytes.Contains([]byte(h.logs.String()), []byte(want)) {
			t.Errorf("no %q in the log", want)
		}
	}
}
