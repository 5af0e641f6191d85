package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMaxBatchEvents: --max-batch-events (or VIGIL_MAX_BATCH_EVENTS) caps
// the events of one request, and a value out of range stops serve.
func TestMaxBatchEvents(t *testing.T) {
	for _, c := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"Zero", "", []string{"--max-batch-events", "0"}, "--max-batch-events: must be between 1 and 1000000"},
		{"TooMany", "", []string{"--max-batch-events", "1000001"}, "--max-batch-events: must be between 1 and 1000000"},
		{"NotANumber", "", []string{"--max-batch-events", "ten"}, "invalid value"},
		{"EnvNotANumber", "lots", nil, "VIGIL_MAX_BATCH_EVENTS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("VIGIL_MAX_BATCH_EVENTS", c.env)
			if c.env == "" {
				os.Unsetenv("VIGIL_MAX_BATCH_EVENTS") // restored by Setenv's cleanup
			}
			_, err := parseServeConfig(append([]string{"--data", t.TempDir()}, c.args...))
			if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a usage error mentioning %q", err, c.want)
			}
		})
	}

	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	t.Setenv("VIGIL_MAX_BATCH_EVENTS", "5")
	dir := t.TempDir()
	url, stop := serve(t, dir)
	defer stop()
	_, ingest, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "i", "--scope", "ingest")
	ingest = strings.TrimSpace(ingest)
	lines := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "{\"message\":\"event %d\"}\n", i)
		}
		return b.String()
	}
	if code, body := request(t, "POST", url+"/api/v1/events", ingest, lines(6)); code != 413 || !strings.Contains(body, "more than 5 events") {
		t.Errorf("6 events with a cap of 5: %d %s", code, body)
	}
	if code, body := request(t, "POST", url+"/api/v1/events", ingest, lines(5)); code != 202 || !strings.Contains(body, `"accepted":5`) {
		t.Errorf("5 events with a cap of 5: %d %s", code, body)
	}
}
