package ingest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzDecodeBatch feeds any body to the HTTP batch decoder: it never
// fails other than for the cap, holds at most max items, every event it
// returns validates, item errors come in order within the items read, a
// body over the cap is one with more items under a larger cap, and reading
// one byte at a time gives the same answer as reading at once.
//
//	go test -tags sqlite_fts5 -run '^$' -fuzz FuzzDecodeBatch -fuzztime 30s ./ingest
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"type":"CERT_USED","message":"one"}`), false, uint8(10))
	f.Add([]byte(`[{"message":"a"},{"message":"b"},{"message":"c"}]`), false, uint8(2))
	f.Add([]byte("{\"message\":\"n1\"}\n{\"message\":\"n2\"}\n\n{\"category\":\"NOPE\"}\n"), true, uint8(10))
	f.Add([]byte("{}\n{}\n{}\n"), true, uint8(2))
	f.Add([]byte(`{"message":"s1"} {"message":"s2"} {"mess`), false, uint8(10))
	f.Add([]byte(`[{"message":"a"}, 1, "x", [], null] x`), false, uint8(10))
	f.Add([]byte(`[{"time":"2026-01-02T03:04:05Z","actor":{"ip":"10.0.0.1"},"details":{"k":[1,2]}}`), false, uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool, max uint8) {
		m := int(max%32) + 1
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		events, items, err := DecodeBatch(bytes.NewReader(body), ndjson, m, now)
		if err != nil && !errors.Is(err, ErrTooManyEvents) {
			t.Fatalf("error %v", err)
		}
		if errors.Is(err, ErrTooManyEvents) {
			// The same body under a larger cap has more items than m.
			ev, it, err := DecodeBatch(bytes.NewReader(body), ndjson, len(body)+1, now)
			if err != nil || len(ev)+len(it) <= m {
				t.Fatalf("over the cap of %d, yet under no cap %d events, %d items, %v", m, len(ev), len(it), err)
			}
		} else {
			if len(events)+len(items) > m+1 { // +1: a syntax error after m items
				t.Fatalf("%d events and %d items under a cap of %d", len(events), len(items), m)
			}
			last := -1
			for _, it := range items {
				if it.Index <= last || it.Index > m || it.Reason == "" {
					t.Fatalf("item errors %+v", items)
				}
				last = it.Index
			}
			for _, e := range events {
				check := e
				if err := check.Normalize(now); err != nil {
					t.Fatalf("event does not validate: %v (%+v)", err, e)
				}
			}
		}
		ev1, it1, err1 := DecodeBatch(iotest.OneByteReader(bytes.NewReader(body)), ndjson, m, now)
		if !errors.Is(err1, err) || len(ev1) != len(events) || !reflect.DeepEqual(it1, items) {
			t.Fatalf("one byte at a time: %d events, %+v, %v; at once: %d events, %+v, %v",
				len(ev1), it1, err1, len(events), items, err)
		}
	})
}
