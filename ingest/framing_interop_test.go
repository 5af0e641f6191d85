package ingest

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/store"
)

// TestFramingPerFrame reads streams whose framing changes from frame to
// frame, as real senders write them: every frame comes back whole and the
// stream is read to its end.
func TestFramingPerFrame(t *testing.T) {
	a, b := "<14>1 - h a - - - one", "<14>1 - h a - - - two"
	cases := []struct {
		name   string
		stream string
		want   []string
	}{
		// Python's SysLogHandler over TCP ends each message with NUL, no LF.
		{"NULTerminated", "<14>one\x00<14>two\x00", []string{"<14>one", "<14>two"}},
		{"NULThenLF", "<14>one\x00\n<14>two\x00\r\n", []string{"<14>one", "<14>two"}},
		{"NULInsideALineKept", "<14>nul\x00inside\n<14>two\n", []string{"<14>nul\x00inside", "<14>two"}},
		{"DigitStartsTheFirstLine", "2026-12-02 10:00:00 plain line\n" + a + "\n", []string{"2026-12-02 10:00:00 plain line", a}},
		{"DigitsWithoutSpace", "12<14>1 - h a\n" + a + "\n", []string{"12<14>1 - h a", a}},
		{"ZeroAndNegativeAreLines", "0 zero\n-42 negative\n" + a + "\n", []string{"0 zero", "-42 negative", a}},
		{"OctetCountedThenLF", octet(a) + b + "\n" + octet(a), []string{a, b, a}},
		{"LFThenOctetCounted", a + "\n" + octet(b) + octet(a), []string{a, b, a}},
		{"OctetCountedEachFollowedByLF", octet(a) + "\n" + octet(b) + "\r\n", []string{a, b}},
		{"NotACountAfterCountedFrames", octet(a) + "12x <14>\n" + octet(b), []string{a, "12x <14>", b}},
		// After a line, digits and a space are a count only before '<'.
		{"NumberedLineAfterALine", a + "\n404 Not Found\n" + octet(b), []string{a, "404 Not Found", b}},
		{"LastLineWithoutTerminator", a + "\n" + "no terminator", []string{a, "no terminator"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int{16, 4096} {
				fr := NewFrameReader(bufio.NewReaderSize(strings.NewReader(tc.stream), size), 1024)
				var got []string
				for {
					frame, _, err := fr.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("buffer %d: after %q: %v", size, got, err)
					}
					got = append(got, string(frame))
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("buffer %d: frames %q, want %q", size, got, tc.want)
				}
			}
		})
	}
}

// TestTCPMixedFramingConnection sends, on one TCP connection, a plain line
// starting with a digit, octet-counted frames each followed by LF, LF
// lines and Python-style NUL-terminated messages: each is one event and
// the connection stays open.
func TestTCPMixedFramingConnection(t *testing.T) {
	h := newHarness(t, Config{}, store.Options{}, "tcp")
	c := dialFrom(t, "127.0.0.1", h.tcp)
	stream := "2026-12-02 plain line from a script\n" +
		octet("<14>1 - h a - - - counted-1") + "\n" +
		"<14>1 - h a - - - lf-1\n" +
		octet("<14>1 - h a - - - counted-2") +
		"<14>1 - h a - - - nul-1\x00<14>1 - h a - - - nul-2\x00"
	if _, err := io.WriteString(c, stream); err != nil {
		t.Fatal(err)
	}
	evs := h.waitEvents(t, 6, 10*time.Second)
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, e.Message)
	}
	want := []string{"2026-12-02 plain line from a script", "counted-1", "lf-1", "counted-2", "nul-1", "nul-2"}
	if !slices.Equal(msgs, want) {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if evs[0].Type != TypeUnparsed {
		t.Errorf("plain line stored as type %s", evs[0].Type)
	}
	if got := h.metric(t, "connections_closed_total", "tcp", "malformed"); got != 0 {
		t.Errorf("connections closed as malformed: %v", got)
	}
	if _, err := io.WriteString(c, "<14>1 - h a - - - still-open\n"); err != nil {
		t.Fatal(err)
	}
	if evs := h.waitEvents(t, 7, 5*time.Second); evs[6].Message != "still-open" {
		t.Errorf("after the mix: %q", evs[6].Message)
	}
}
