package ingest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// endless is a body that repeats item forever after prefix; read counts
// the bytes handed out.
type endless struct {
	prefix, item string
	read         int64
}

func (r *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		src := r.item
		if int(r.read) < len(r.prefix) {
			src = r.prefix[r.read:]
		} else {
			src = src[(int(r.read)-len(r.prefix))%len(r.item):]
		}
		c := copy(p[n:], src)
		n += c
		r.read += int64(c)
	}
	return n, nil
}

// TestDecodeBatchStopsAtCap: the decoder stops reading at the first item
// past the cap, so a body of any length costs a bounded prefix.
func TestDecodeBatchStopsAtCap(t *testing.T) {
	const max = 10
	cases := []struct {
		name, prefix, item string
		ndjson             bool
	}{
		{"NDJSON", "", "{}\n", true},
		{"NDJSONBlankLines", "", "\n\n{\"message\":\"x\"}\r\n", true},
		{"Array", "[", "{},", false},
		{"Objects", "", "{} ", false},
		{"InvalidItems", "", "[1]\n", true}, // invalid items count too
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := &endless{prefix: c.prefix, item: c.item}
			events, items, err := DecodeBatch(body, c.ndjson, max, time.Now())
			if !errors.Is(err, ErrTooManyEvents) {
				t.Fatalf("err %v (%d events, %d items), want ErrTooManyEvents", err, len(events), len(items))
			}
			// Buffers of 64 KiB at most stand between the body and the decoder.
			t.Logf("read %d bytes", body.read)
			if body.read > 256<<10 {
				t.Errorf("read %d bytes of an endless body to find %d events", body.read, max+1)
			}
		})
	}
}

// TestDecodeBatchForms: what each form of body decodes to, read in one
// piece and one byte at a time.
func TestDecodeBatchForms(t *testing.T) {
	cases := []struct {
		name, body string
		ndjson     bool
		events     int
		bad        []string // "index: reason prefix" of each item error
	}{
		{"Empty", " \n ", false, 0, nil},
		{"EmptyNDJSON", "\n\n", true, 0, nil},
		{"Object", `{"message":"one"}`, false, 1, nil},
		{"Array", ` [ {"message":"a"}, {"message":"b"} ] `, false, 2, nil},
		{"EmptyArray", `[]`, false, 0, nil},
		{"Objects", `{"message":"a"}{"message":"b"} {"message":"c"}`, false, 3, nil},
		{"NDJSON", "{\"message\":\"a\"}\r\n\n  {\"message\":\"b\"}", true, 2, nil},
		{"NDJSONInvalidLines", "{\"message\":\"a\"}\nnot json\n[1]\n{\"category\":\"NOPE\"}\n", true, 1,
			[]string{"1: not valid JSON", "2: each event must be a JSON object", "3: category"}},
		{"ArrayNotObjects", `[{"message":"a"}, 1, "x"]`, false, 1,
			[]string{"1: each event must be a JSON object", "2: each event must be a JSON object"}},
		{"ArraySyntaxError", `[{"message":"a"}, {"message":}]`, false, 1, []string{"1: body is not a valid JSON array"}},
		{"ArrayUnclosed", `[{"message":"a"}`, false, 1, []string{"1: body is not a valid JSON array"}},
		{"ArrayTrailingData", `[{"message":"a"}] {}`, false, 1, []string{"1: body is not a valid JSON array: data after the closing ]"}},
		{"ObjectsSyntaxError", `{"message":"a"} {"message"`, false, 1, []string{"1: not valid JSON"}},
		{"LongLine", `{"message":"x"` + strings.Repeat(" ", 200<<10) + `}` + "\n{}", true, 2, nil},
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(c.body), iotest.OneByteReader(strings.NewReader(c.body))} {
				events, items, err := DecodeBatch(r, c.ndjson, 100, now)
				if err != nil {
					t.Fatal(err)
				}
				if len(events) != c.events || len(items) != len(c.bad) {
					t.Fatalf("%d events, items %+v; want %d events, %d items", len(events), items, c.events, len(c.bad))
				}
				for i, it := range items {
					if got := fmt.Sprintf("%d: %s", it.Index, it.Reason); !strings.HasPrefix(got, c.bad[i]) {
						t.Errorf("item %q, want %q…", got, c.bad[i])
					}
				}
			}
		})
	}
}

// TestDecodeBatchReadError: a failed read is returned as such, not as a
// syntax error of the body.
func TestDecodeBatchReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, ndjson := range []bool{true, false} {
		r := io.MultiReader(strings.NewReader(`[{"message":"a"}, {"mess`), iotest.ErrReader(boom))
		if _, _, err := DecodeBatch(r, ndjson, 100, time.Now()); !errors.Is(err, boom) {
			t.Errorf("ndjson=%v: err %v, want %v", ndjson, err, boom)
		}
	}
}
