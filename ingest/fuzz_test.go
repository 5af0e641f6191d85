package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// FuzzFrameReader feeds any stream to the framing detector and frame
// reader: no frame exceeds the maximum, a cut frame says how long it was,
// reading always ends, and a stream of well-formed octet-counted frames
// built from the input comes back exactly.
//
//	go test -tags sqlite_fts5 -run '^$' -fuzz FuzzFrameReader -fuzztime 30s ./ingest
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte("12 <13>1 - - - "), uint16(64))
	f.Add([]byte("<13>1 - h a - - - one\n<13>1 - h a - - - two\r\n"), uint16(16))
	f.Add([]byte("0 x"), uint16(64))
	f.Add([]byte("-5 hello"), uint16(64))
	f.Add([]byte("99999999999 x"), uint16(64))
	f.Add([]byte("5 abc"), uint16(64))
	f.Add([]byte("\n\n3 abc\n4 defg"), uint16(2))
	f.Add([]byte("<14>a\x00<14>b\x00\n2026 line\n5 abcde<14>c\n"), uint16(64))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		m := int(max%4096) + 1
		fr := NewFrameReader(bufio.NewReaderSize(bytes.NewReader(data), 16), m)
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more frames (%d) than input bytes (%d)", i, len(data))
			}
			frame, truncated, err := fr.Next()
			if err != nil {
				var fe *FrameError
				if !errors.Is(err, io.EOF) && !errors.As(err, &fe) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(frame) > m || (truncated != 0 && truncated <= m) {
				t.Fatalf("frame of %d bytes (truncated %d) with maximum %d", len(frame), truncated, m)
			}
		}

		// Round trip: split data into messages and frame them.
		msgs := bytes.SplitAfter(data, []byte{';'})
		var stream bytes.Buffer
		for _, msg := range msgs {
			if len(msg) > 0 {
				stream.WriteString(octet(string(msg)))
			}
		}
		fr = NewFrameReader(bufio.NewReaderSize(&stream, 16), m)
		for _, msg := range msgs {
			if len(msg) == 0 {
				continue
			}
			frame, truncated, err := fr.Next()
			if err != nil {
				t.Fatalf("well-formed stream: %v", err)
			}
			want := msg[:min(len(msg), m)]
			if !bytes.Equal(frame, want) || (len(msg) > m) != (truncated == len(msg)) {
				t.Fatalf("frame %q (truncated %d), want %q of %d", frame, truncated, want, len(msg))
			}
		}
		if _, _, err := fr.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last frame: %v", err)
		}
	})
}

// FuzzDecode maps any frame to an event: it never fails, the event always
// validates and its details are a JSON object.
//
//	go test -tags sqlite_fts5 -run '^$' -fuzz FuzzDecode -fuzztime 30s ./ingest
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`<14>1 2026-01-02T03:04:05.123Z host app 12 CERT_USED [x@1 user="a" ip="10.0.0.1" cert_fingerprint="00"] msg`))
	f.Add([]byte("<13>Jan  2 03:04:05 host tag[1]: msg"))
	f.Add([]byte("<13>1 2016-12-31T23:59:60Z h a - - - leap"))
	f.Add([]byte("<191>1 - - - - - [a@1 outcome=\"x\" category=\"y\" actor_type=\"z\" entity_type=\"!\" type=\"?\"]"))
	f.Add([]byte("garbage \x00\xff"))
	f.Add([]byte("<189>237: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured"))
	f.Add([]byte("Apr 15 21:28:13 2007 2001:db8::1 appA[42] hi\x00"))
	f.Add([]byte("<13>Dec  2 09:00:00 Message forwarded from aix01: syslogd: restart"))
	f.Add([]byte(`<14>1 - h a - - [O@6876 sub=V user= "r" p="C:\t\]" k="1" k="2"][O@6876 x] m`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		e := NewDecoder(nil).Decode(frame, 0, Peer{Source: model.SourceSyslogUDP, Addr: "127.0.0.1"}, now)
		if e.Source != model.SourceSyslogUDP {
			t.Fatalf("source %q", e.Source)
		}
		check := e
		if err := check.Normalize(now); err != nil {
			t.Fatalf("event does not validate: %v (%+v)", err, e)
		}
		var d map[string]any
		if err := json.Unmarshal(e.Details, &d); err != nil || d["peer"] != "127.0.0.1" {
			t.Fatalf("details %q: %v", e.Details, err)
		}
		if pe, _ := d["parse_error"].(string); strings.HasPrefix(pe, "parser failed") {
			t.Fatalf("decoder panicked on %q: %s", frame, pe)
		}
	})
}
