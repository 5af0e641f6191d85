package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"vigil/store"
)

// TestOversizeOctetFrameOverTCP sends, on one real TCP connection, an
// octet-counted frame that declares and carries 2 MiB, then a normal one:
// both are stored, the first cut to --syslog-max-msg and counted as
// oversized, the second intact, and the connection stays open.
func TestOversizeOctetFrameOverTCP(t *testing.T) {
	h := newHarness(t, Config{}, store.Options{}, "tcp")
	c := dialFrom(t, "127.0.0.1", h.tcp)
	const size = 2 << 20
	head := "<14>1 2026-01-02T03:04:05Z big app - - - "
	a := head + strings.Repeat("A", size-len(head))
	b := "<14>1 2026-01-02T03:04:06Z small app - - - frame B after the big one"
	if _, err := io.WriteString(c, octet(a)+octet(b)); err != nil {
		t.Fatalf("write: %v", err)
	}
	evs := h.waitEvents(t, 2, 10*time.Second)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	big, small := evs[0], evs[1]
	if want := a[len(head):DefaultMaxMessageSize]; big.Host != "big" || big.Message != want {
		t.Errorf("frame A stored as host %q, message of %d bytes; want %d bytes of A", big.Host, len(big.Message), len(want))
	}
	if d := detailsOf(t, big); d["truncated_from"] != float64(size) {
		t.Errorf("frame A truncated_from %v, want %d", d["truncated_from"], size)
	}
	if small.Host != "small" || small.Message != "frame B after the big one" {
		t.Errorf("frame B stored as %q %q", small.Host, small.Message)
	}
	if got := h.metric(t, "oversized_total", "tcp"); got != 1 {
		t.Errorf("oversized %v, want 1", got)
	}
	if got := h.metric(t, "connections_closed_total", "tcp", "malformed"); got != 0 {
		t.Errorf("connections closed as malformed: %v, want 0", got)
	}
	// The same connection still carries frames.
	if _, err := io.WriteString(c, octet("<14>1 - third app - - - still open")); err != nil {
		t.Fatalf("write after the big frame: %v", err)
	}
	if evs := h.waitEvents(t, 3, 5*time.Second); evs[2].Message != "still open" {
		t.Errorf("third frame %q", evs[2].Message)
	}
}

// repeatReader yields n bytes of b, then EOF, without holding them.
type repeatReader struct {
	n int
	b byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return k, nil
}

// TestOctetCountBound reads frames declaring up to MaxOctetCount bytes,
// cut to the maximum with the rest skipped; a count beyond it is a framing
// error before any of the frame is read.
func TestOctetCountBound(t *testing.T) {
	cases := []struct {
		name     string
		declared int
		wantErr  string
	}{
		{"JustOverMax", 4097, ""},
		{"SixteenMiB", 16 << 20, ""},
		{"AtBound", MaxOctetCount, ""},
		{"OverBound", MaxOctetCount + 1, fmt.Sprintf("octet count %d exceeds %d", MaxOctetCount+1, MaxOctetCount)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &repeatReader{n: tc.declared, b: 'x'}
			stream := io.MultiReader(strings.NewReader(fmt.Sprintf("%d ", tc.declared)), body, strings.NewReader("4 next"))
			fr := NewFrameReader(bufio.NewReaderSize(stream, 4096), 4096)
			frame, truncated, err := fr.Next()
			if tc.wantErr != "" {
				var fe *FrameError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a FrameError saying %q", err, tc.wantErr)
				}
				if body.n < tc.declared-4096 {
					t.Errorf("%d bytes of the refused frame read", tc.declared-body.n)
				}
				return
			}
			if err != nil || len(frame) != 4096 || truncated != tc.declared {
				t.Fatalf("frame of %d bytes, truncated %d, err %v; want 4096, %d", len(frame), truncated, err, tc.declared)
			}
			if frame, _, err := fr.Next(); err != nil || string(frame) != "next" {
				t.Fatalf("next frame %q, %v", frame, err)
			}
		})
	}
}
