package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSyslogEventIDCannotSuppressAPIEvent sends, over plain UDP syslog, an
// event_id that an agent will use later, then posts the agent's real event
// with it: the real event is stored and both are read back.
func TestSyslogEventIDCannotSuppressAPIEvent(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", dir, "--http", "127.0.0.1:0", "--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "")
	defer stop()
	url := "http://" + addrs["http"]
	_, ingest, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "web-01", "--scope", "ingest")
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "reader", "--scope", "read")
	ingest, read = strings.TrimSpace(ingest), strings.TrimSpace(read)

	c, err := net.Dial("udp", addrs["syslog-udp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`<14>1 - attacker app - - [x@1 event_id="web-01-0042"] planted first`)); err != nil {
		t.Fatal(err)
	}
	type list struct {
		Events []struct {
			EventID string `json:"event_id"`
			Source  string `json:"source"`
			Message string `json:"message"`
		} `json:"events"`
	}
	var l list
	for deadline := time.Now().Add(10 * time.Second); len(l.Events) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the syslog datagram was not stored")
		}
		time.Sleep(20 * time.Millisecond)
		_, body := request(t, "GET", url+"/api/v1/events?q=planted", read, "")
		json.Unmarshal([]byte(body), &l)
	}

	code, body := request(t, "POST", url+"/api/v1/events", ingest,
		`{"event_id":"web-01-0042","type":"CERT_USED","outcome":"DENIED","message":"the real event"}`)
	if code != 202 || strings.TrimSpace(body) != `{"accepted":1,"duplicates":0}` {
		t.Fatalf("agent's event after the planted id: %d %s, want 202 accepted 1", code, body)
	}
	_, body = request(t, "GET", url+"/api/v1/events?limit=1000", read, "")
	l = list{}
	json.Unmarshal([]byte(body), &l)
	got := map[string]string{}
	for _, e := range l.Events {
		if e.EventID == "web-01-0042" {
			got[e.Source] = e.Message
		}
	}
	if got["http"] != "the real event" || got["syslog-udp"] != "planted first" {
		t.Fatalf("events with event_id web-01-0042 by source: %v", got)
	}
}
