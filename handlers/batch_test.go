package handlers

import (
	"fmt"
	"strings"
	"testing"
)

// TestBatchEventCap: a request holding more events than the cap is refused
// whole with 413 naming the limit; up to the cap is accepted.
func TestBatchEventCap(t *testing.T) {
	const batchCap = 10_000 // the default of --max-batch-events
	e := newTestEnv(t)
	cases := []struct {
		name, ctype, body string
		want              int
	}{
		// 2 MB of "{}" lines: 700,000 events in one request.
		{"TwoMegabytesOfEmptyObjects", "application/x-ndjson", strings.Repeat("{}\n", 700_000), 413},
		{"ArrayOverCap", "application/json", "[" + strings.TrimSuffix(strings.Repeat(`{"message":"a"},`, batchCap+1), ",") + "]", 413},
		{"ObjectsOverCap", "", strings.Repeat(`{"message":"s"} `, batchCap+1), 413},
		{"NDJSONAtCap", "application/x-ndjson", strings.Repeat(`{"message":"n"}`+"\n", batchCap), 202},
	}
	stored := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m := e.post(c.body, c.ctype)
			if code != c.want {
				t.Fatalf("status %d, want %d: %v", code, c.want, m)
			}
			if c.want == 413 {
				msg, _ := m["error"].(string)
				if !strings.Contains(msg, fmt.Sprint(batchCap)) || !strings.Contains(msg, "events") {
					t.Errorf("error %q does not name the limit of %d events", msg, batchCap)
				}
				return
			}
			if m["accepted"] != float64(batchCap) {
				t.Errorf("accepted %v, want %d", m["accepted"], batchCap)
			}
			stored += batchCap
		})
	}
	db, err := openSQL(e.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != stored {
		t.Errorf("%d events stored, want %d (nothing of a refused batch)", n, stored)
	}
}
