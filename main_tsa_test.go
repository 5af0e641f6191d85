package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
)

// apiCheckpoint is GET or POST /api/v1/audit/checkpoint's answer.
type apiCheckpoint struct {
	ID             int64  `json:"id"`
	Checkpoint     string `json:"checkpoint"`
	TimestampToken string `json:"timestamp_token"`
	TimestampTime  string `json:"timestamp_time"`
}

func checkpointOf(t *testing.T, code int, body string, want int) apiCheckpoint {
	t.Helper()
	var cp apiCheckpoint
	if code != want || json.Unmarshal([]byte(body), &cp) != nil {
		t.Fatalf("checkpoint: %d %s", code, body)
	}
	return cp
}

// TestCheckpointsGetTrustedTime runs serve with --tsa-url pointing at a
// local RFC 3161 time-stamping authority: a checkpoint gets a token, the
// API and Settings show it, vigil verify checks it and prints its time; a TSA that is
// down leaves the checkpoint without a token and raises an alert; a token
// swapped for one over another hash fails verify naming the checkpoint.
func TestCheckpointsGetTrustedTime(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	tsa := testpki.StartTSA(t)
	url, stopServe := serveWith(t, dir, "--tsa-url", tsa.URL, "--cron-checkpoint", "")
	stopped := false
	stop := func() error { stopped = true; return stopServe() }
	defer func() {
		if !stopped {
			stop()
		}
	}()
	_, manage, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "m", "--scope", "manage")
	manage = strings.TrimSpace(manage)

	before := time.Now().Add(-time.Second)
	code, body := request(t, "POST", url+"/api/v1/audit/checkpoint", manage, "")
	first := checkpointOf(t, code, body, 201)
	code, body = request(t, "GET", url+"/api/v1/audit/checkpoint", manage, "")
	got := checkpointOf(t, code, body, 200)
	token, err := base64.StdEncoding.DecodeString(got.TimestampToken)
	if got.ID != first.ID || err != nil || len(token) == 0 {
		t.Fatalf("the checkpoint carries no timestamp token: %s", body)
	}
	stamped, err := time.Parse(time.RFC3339Nano, got.TimestampTime)
	if err != nil || stamped.Before(before) || stamped.After(time.Now().Add(time.Second)) {
		t.Fatalf("timestamp_time %q is not the time of the stamp", got.TimestampTime)
	}
	sum := sha256.Sum256([]byte(got.Checkpoint))
	if info, err := model.OpenTimestamp(token, sum[:], nil); err != nil || !info.Time.Equal(stamped) {
		t.Fatalf("the token does not stamp the signed note: %+v %v", info, err)
	}

	settings := consolePage(t, url, "admin", "first-admin-password", "/settings")
	if !strings.Contains(settings, tsa.URL) || !strings.Contains(settings, got.TimestampTime+" (RFC 3161") {
		t.Fatalf("Settings shows neither the TSA nor the trusted time:\n%s", settings)
	}

	caFile := filepath.Join(dir, "tsa-ca.pem")
	if err := os.WriteFile(caFile, tsa.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := vigil(t, "", "verify", "--data", dir, "--tsa-ca", caFile)
	if code != 0 || !strings.Contains(out, "1 timestamp token") || !strings.Contains(out, stamped.UTC().Format(time.RFC3339)) ||
		!strings.Contains(out, "chain checked") {
		t.Fatalf("verify --tsa-ca: %d %s %s", code, out, errOut)
	}
	code, out, _ = vigil(t, "", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "chain not checked") {
		t.Fatalf("verify without --tsa-ca: %d %s", code, out)
	}
	// Another CA's roots do not vouch for this TSA.
	other := filepath.Join(dir, "other-ca.pem")
	os.WriteFile(other, testpki.StartTSA(t).CAPEM(), 0o600)
	if code, out, _ = vigil(t, "", "verify", "--data", dir, "--tsa-ca", other); code != 1 || !strings.Contains(out, "checkpoint 1") {
		t.Fatalf("verify against another CA: %d %s", code, out)
	}

	// The TSA is down: the checkpoint is signed and stored all the same,
	// without a token, and an alert says so.
	tsa.SetDown(true)
	code, body = request(t, "POST", url+"/api/v1/audit/checkpoint", manage, "")
	down := checkpointOf(t, code, body, 201)
	if down.TimestampToken != "" || down.ID != first.ID+1 {
		t.Fatalf("checkpoint while the TSA is down: %s", body)
	}
	code, body = request(t, "GET", url+"/api/v1/alerts?type=TIMESTAMP_FAILED&open=1", manage, "")
	if code != 200 || !strings.Contains(body, `"severity":"WARN"`) || !strings.Contains(body, "503") {
		t.Fatalf("no alert for the TSA being down: %d %s", code, body)
	}
	// Back up: the next checkpoint is stamped and the alert resolved.
	tsa.SetDown(false)
	code, body = request(t, "POST", url+"/api/v1/audit/checkpoint", manage, "")
	if cp := checkpointOf(t, code, body, 201); cp.TimestampToken == "" {
		t.Fatalf("the TSA is back but the checkpoint has no token: %s", body)
	}
	code, body = request(t, "GET", url+"/api/v1/alerts?type=TIMESTAMP_FAILED&open=1", manage, "")
	if code != 200 || !strings.Contains(body, `"alerts":[]`) {
		t.Fatalf("the TSA alert is still open: %d %s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A token over another hash, signed by the same TSA, is swapped in.
	other256 := sha256.Sum256([]byte("another checkpoint"))
	db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE checkpoints SET timestamp_token = ? WHERE id = ?`, tsa.Token(t, other256[:]), first.ID); err != nil {
		t.Fatal(err)
	}
	code, out, _ = vigil(t, "", "verify", "--data", dir, "--tsa-ca", caFile)
	if code != 1 || !strings.Contains(out, "FAILED: stored checkpoint 1: timestamp token") || !strings.Contains(out, "message imprint") {
		t.Fatalf("verify of a swapped token: %d %s", code, out)
	}
}
