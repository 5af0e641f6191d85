package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCheckpointFromAPIIsAuditedAndPushed signs a checkpoint through the
// API: its E_CHECKPOINT_SIGNED event is in the log, and the webhook and
// the --checkpoint-syslog receiver each get a copy of it.
func TestCheckpointFromAPIIsAuditedAndPushed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	hooked := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooked <- string(b)
	}))
	defer hook.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	logged := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(bufio.NewReader(c))
			c.Close()
			logged <- string(b)
		}
	}()
	url, stop := serveWith(t, dir, "--webhook-url", hook.URL, "--checkpoint-syslog", ln.Addr().String(), "--cron-checkpoint", "")
	defer stop()
	_, manage, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "m", "--scope", "manage")
	manage = strings.TrimSpace(manage)

	code, body := request(t, "POST", url+"/api/v1/audit/checkpoint", manage, "")
	if code != 201 {
		t.Fatalf("checkpoint: %d %s", code, body)
	}
	if code, body := request(t, "GET", url+"/api/v1/events?type=E_CHECKPOINT_SIGNED", manage, ""); code != 200 || !strings.Contains(body, `"checkpoint_id":1`) {
		t.Fatalf("no E_CHECKPOINT_SIGNED event for the API's checkpoint: %d %s", code, body)
	}
	select {
	case b := <-hooked:
		if !strings.Contains(b, `"kind":"checkpoint"`) || !strings.Contains(b, `"id":1`) {
			t.Fatalf("webhook got %s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the API's checkpoint was not pushed to the webhook")
	}
	select {
	case b := <-logged:
		if !strings.Contains(b, "CHECKPOINT") || !strings.Contains(b, `id="1"`) {
			t.Fatalf("syslog got %s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the API's checkpoint was not sent to --checkpoint-syslog")
	}
}
