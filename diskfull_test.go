package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDiskFull runs vigil on a small tmpfs the test mounts, fills it, and
// checks that intake pauses with 503 + Retry-After, that changes are
// refused, that Vigil resumes by itself once space returns, records the
// outage, and that nothing acknowledged is lost or corrupted.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	dir := filepath.Join(mnt, "data")
	t.Setenv("VIGIL_ADMIN_PASSWORD", "disk-full-password")
	url, stop := serve(t, dir)
	_, ingest, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "i", "--scope", "ingest")
	_, manage, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "m", "--scope", "manage")
	_, fresh, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "f", "--scope", "read")
	ingest, manage, fresh = strings.TrimSpace(ingest), strings.TrimSpace(manage), strings.TrimSpace(fresh)

	post := func(batch int) (int, http.Header) {
		var buf bytes.Buffer
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&buf, `{"event_id":"b%d-%d","message":"%s filling the disk %d"}`+"\n", batch, i, strings.Repeat("x", 200), i)
		}
		code, h, err := postNDJSON(context.Background(), url, ingest, &buf)
		if err != nil {
			t.Fatal(err)
		}
		return code, h
	}
	acked := 0
	full := false
	for b := 0; b < 500 && !full; b++ {
		code, h := post(b)
		switch code {
		case 202:
			acked = b + 1
		case 503:
			full = true
			if h.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		default:
			t.Fatalf("batch %d: status %d", b, code)
		}
	}
	if !full {
		t.Fatal("the disk never filled")
	}
	t.Logf("disk full after %d acknowledged batches", acked)
	// Whatever room is left (SQLite may still fit a small write in space
	// it freed) is taken too, so that every write fails.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 4096); ; {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	if code, body := request(t, "POST", url+"/api/v1/audit/checkpoint", manage, ""); code != 503 || !strings.Contains(body, "could not be audited") {
		t.Errorf("a change while the disk is full: %d %s", code, body)
	}
	// A token used for the first time is served though its last use
	// cannot be written.
	if code, body := request(t, "GET", url+"/api/v1/events?limit=1", fresh, ""); code != 200 {
		t.Errorf("reading with a token first used while the disk is full: %d %s", code, body)
	}
	// A sign-in is refused for now, not failed.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login, err := noRedirect.PostForm(url+"/login", neturl.Values{"username": {"admin"}, "password": {"disk-full-password"}})
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != 503 || login.Header.Get("Retry-After") == "" {
		t.Errorf("sign-in while the disk is full: %d, Retry-After %q", login.StatusCode, login.Header.Get("Retry-After"))
	}

	// Space returns: intake resumes without a restart.
	os.Remove(filepath.Join(mnt, "filler"))
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	resumed := false
	for i := 0; i < 50 && !resumed; i++ {
		code, _ := post(1000 + i)
		resumed = code == 202
		if !resumed {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !resumed {
		t.Fatal("intake did not resume once space returned")
	}
	// The outage was recorded once writes succeeded again.
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "r", "--scope", "read")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := request(t, "GET", url+"/api/v1/events?type=E_STORAGE_UNAVAILABLE", strings.TrimSpace(read), "")
		if strings.Contains(body, `"severity":"err"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outage not recorded: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, body := request(t, "GET", url+"/api/v1/alerts", strings.TrimSpace(read), "")
	if !strings.Contains(body, `"type":"STORAGE_FAILED"`) || !strings.Contains(body, `"severity":"ERROR"`) {
		t.Errorf("no ERROR alert for the outage: %s", body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "vigil.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	var n int
	db.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	db.QueryRow(`SELECT count(*) FROM events WHERE event_id GLOB 'b*' AND CAST(substr(event_id, 2, instr(event_id, '-') - 2) AS INTEGER) < ?`, acked).Scan(&n)
	if check != "ok" || n != acked*200 {
		t.Fatalf("integrity_check %q, %d of %d acknowledged events stored", check, n, acked*200)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir); code != 0 {
		t.Fatalf("verify: %s", out)
	}
}
