package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/syncbuf"
)

// vigil runs a command line as the binary would and returns its exit code
// and output.
func vigil(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// serve runs Run in the background on a free port and returns the HTTP
// base URL and a function that stops it and returns Run's error.
func serve(t *testing.T, dir string) (string, func() error) {
	t.Helper()
	addrs, stop := serveArgs(t, "--data", dir, "--http", "127.0.0.1:0", "--syslog-udp", "", "--syslog-tcp", "")
	return "http://" + addrs["http"], stop
}

// serveWith is serve with more serve flags.
func serveWith(t *testing.T, dir string, flags ...string) (string, func() error) {
	t.Helper()
	addrs, stop := serveArgs(t, append([]string{"--data", dir, "--http", "127.0.0.1:0", "--syslog-udp", "", "--syslog-tcp", ""}, flags...)...)
	return "http://" + addrs["http"], stop
}

// serveArgs runs Run with a serve command line in the background until its
// HTTP listener is up, and returns the address of each listener by name and
// a function that stops it and returns Run's error.
func serveArgs(t *testing.T, args ...string) (map[string]string, func() error) {
	t.Helper()
	cfg, err := parseServeConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	addrs := map[string]string{}
	up := make(chan struct{})
	cfg.Listening = func(name, a string) {
		mu.Lock()
		addrs[name] = a
		mu.Unlock()
		if name == "http" {
			close(up)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncbuf.Buffer
	go func() { done <- Run(ctx, cfg, &stderr) }()
	select {
	case <-up:
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(addrs), func() error { cancel(); return <-done }
	case err := <-done:
		t.Fatalf("Run ended early: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not start listening")
	}
	return nil, nil
}

func request(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEndToEnd runs the appliance the way an operator does: serve, create
// tokens while it runs, post, read, stop, start again, verify.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop := serve(t, dir)

	code, ingest, errOut := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "agent-1", "--scope", "ingest")
	if code != 0 || !strings.HasPrefix(ingest, "vgl_") {
		t.Fatalf("token create: %d %q %q", code, ingest, errOut)
	}
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "reader", "--scope", "read")
	ingest, read = strings.TrimSpace(ingest), strings.TrimSpace(read)

	var lines []string
	for i := 0; i < 50; i++ {
		lines = append(lines, fmt.Sprintf(`{"event_id":"e2e-%d","type":"CERT_USED","message":"signed build %d","agent_id":"agent-1"}`, i, i))
	}
	if code, body := request(t, "POST", url+"/api/v1/events", ingest, strings.Join(lines, "\n")); code != 202 || !strings.Contains(body, `"accepted":50`) {
		t.Fatalf("post: %d %s", code, body)
	}
	if code, body := request(t, "GET", url+"/api/v1/events?q=build&limit=1000", read, ""); code != 200 || strings.Count(body, `"type":"CERT_USED"`) != 50 {
		t.Fatalf("read: %d %.300s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after shutdown", err)
	}

	// Restart: the data is there, the chain continues, the retry is a duplicate.
	url, stop = serve(t, dir)
	if code, body := request(t, "POST", url+"/api/v1/events", ingest, lines[0]+"\n"+`{"message":"after restart"}`); code != 202 || !strings.Contains(body, `"accepted":1,"duplicates":1`) {
		t.Fatalf("post after restart: %d %s", code, body)
	}
	code, body := request(t, "GET", url+"/api/v1/audit/verify", read, "")
	var rep struct {
		OK       bool   `json:"ok"`
		Checked  int    `json:"checked"`
		FirstBad *int64 `json:"first_bad"`
	}
	json.Unmarshal([]byte(body), &rep)
	// 1 admin creation + 2 token creations + 50 + 1 + the report of nothing else.
	if code != 200 || !rep.OK || rep.Checked != 54 || rep.FirstBad != nil {
		t.Fatalf("verify over API: %d %s", code, body)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir); code != 0 || !strings.Contains(out, "54 events verified") {
		t.Fatalf("vigil verify while serving: %d %q", code, out)
	}
	backup := filepath.Join(t.TempDir(), "copy.db")
	if code, out, errOut := vigil(t, "", "backup", "--data", dir, "--out", backup); code != 0 {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The copy is a database of its own that verifies.
	copyDir := t.TempDir()
	if err := os.Rename(backup, filepath.Join(copyDir, "vigil.db")); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", copyDir); code != 0 || !strings.Contains(out, "54 events verified") {
		t.Fatalf("verify backup: %d %q", code, out)
	}
}

func TestFirstStartPrintsGeneratedPassword(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "")
	cfg, _ := parseServeConfig([]string{"--data", dir, "--http", "", "--syslog-udp", "", "--syslog-tcp", ""})
	// No listeners: Run starts, bootstraps and stops when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var stderr bytes.Buffer
	if err := Run(ctx, cfg, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), `created user "admin" with password`) {
		t.Fatalf("no password shown: %s", stderr.String())
	}
	// Second start: nothing printed again.
	stderr.Reset()
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := Run(ctx, cfg, &stderr); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "password") {
		t.Fatalf("password shown again: %s", stderr.String())
	}
}

// TestVerifyDetectsTampering edits, deletes and reorders rows behind
// Vigil's back (dropping the append-only triggers) and expects vigil verify
// to exit 1 naming the first bad id.
func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name    string
		sql     string
		wantBad int
	}{
		{"EditMessage", `UPDATE events SET message = 'nothing happened' WHERE id = 7`, 7},
		{"EditActor", `UPDATE events SET actor_id = 'mallory' WHERE id = 12`, 12},
		{"DeleteRow", `DELETE FROM events WHERE id = 5`, 5},
		{"DeleteTail", `DELETE FROM events WHERE id >= 18`, 0},
		{"SwapRows", `UPDATE events SET id = 1000 WHERE id = 3; UPDATE events SET id = 3 WHERE id = 4; UPDATE events SET id = 4 WHERE id = 1000`, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("VIGIL_PASSWORD", "operator-password-1")
			for i := 0; i < 20; i++ {
				if code, _, errOut := vigil(t, "", "user", "add", fmt.Sprintf("user%d", i), "--data", dir, "--role", "viewer"); code != 0 {
					t.Fatalf("user add: %s", errOut)
				}
			}
			if code, out, _ := vigil(t, "", "verify", "--data", dir); code != 0 {
				t.Fatalf("untouched database: %d %s", code, out)
			}
			db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range []string{`DROP TRIGGER events_no_update`, `DROP TRIGGER events_no_delete`, c.sql} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			code, out, _ := vigil(t, "", "verify", "--data", dir)
			if c.wantBad == 0 {
				// A cut tail leaves a valid shorter chain: only checkpoints catch it.
				if code != 0 {
					t.Fatalf("truncated chain: %d %s", code, out)
				}
				return
			}
			want := fmt.Sprintf("first bad sequence id %d", c.wantBad)
			if code != 1 || !strings.Contains(out, want) {
				t.Fatalf("got exit %d %q, want exit 1 and %q", code, out, want)
			}
		})
	}
}

func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"UnknownCommand", []string{"frobnicate"}, "", 2, "unknown command"},
		{"UserAddNoRole", []string{"user", "add", "bob", "--data", dir}, "", 2, "usage"},
		{"UserAddBadRole", []string{"user", "add", "bob", "--data", dir, "--role", "root"}, "a-long-password\n", 1, "role"},
		{"UserAddShortPassword", []string{"user", "add", "bob", "--data", dir, "--role", "viewer"}, "short\n", 1, "at least"},
		{"UserAddFromStdin", []string{"user", "add", "bob", "--data", dir, "--role", "viewer"}, "a-long-password\n", 0, ""},
		{"UserAddTwice", []string{"user", "add", "bob", "--data", dir, "--role", "viewer"}, "a-long-password\n", 1, "already exists"},
		{"TokenBeyondRole", []string{"token", "create", "--data", dir, "--user", "bob", "--name", "x", "--scope", "manage"}, "", 1, "exceeds the role"},
		{"TokenBadScope", []string{"token", "create", "--data", dir, "--user", "bob", "--name", "x", "--scope", "root"}, "", 1, "scope"},
		{"TokenUnknownUser", []string{"token", "create", "--data", dir, "--user", "nobody", "--name", "x", "--scope", "read"}, "", 1, "not found"},
		{"VerifyNoDatabase", []string{"verify", "--data", filepath.Join(dir, "missing")}, "", 1, "no database"},
		{"BackupNoOut", []string{"backup", "--data", dir}, "", 2, "usage"},
		{"ServeBadFlag", []string{"serve", "--bogus"}, "", 2, "not defined"},
		{"Version", []string{"--version"}, "", 0, ""},
	}
	t.Setenv("VIGIL_PASSWORD", "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := vigil(t, c.stdin, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d, out %q, err %q; want exit %d mentioning %q", code, out, errOut, c.code, c.want)
			}
		})
	}
}

// TestVerifyAgainstExportedCheckpoint keeps a signed checkpoint off the box
// (as an auditor would), then cuts the tail of the database, removing the
// stored checkpoints too: plain verify passes, verify --checkpoint fails.
func TestVerifyAgainstExportedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop, manage, _ := serveWith40Events(t, dir)
	note := signCheckpoint(t, url, manage)
	if !strings.Contains(string(note), "\n43\n") || !strings.Contains(string(note), "\n— ") {
		t.Fatalf("checkpoint note:\n%s", note)
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoint.txt")
	os.WriteFile(cpFile, note, 0o600)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir, "--checkpoint", cpFile); code != 0 || !strings.Contains(out, "matches 3 checkpoint(s)") {
		t.Fatalf("verify against the kept checkpoint: %d %s", code, out)
	}

	db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Retention's gate opened by hand, and every trace on the box removed.
	if _, err := db.Exec(`DROP TRIGGER events_no_delete; DELETE FROM events WHERE id > 30; DELETE FROM checkpoints`); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, latestCheckpointFile))
	if code, out, _ := vigil(t, "", "verify", "--data", dir); code != 0 {
		t.Fatalf("the cut chain is intact on its own: %d %s", code, out)
	}
	code, out, _ := vigil(t, "", "verify", "--data", dir, "--checkpoint", cpFile)
	if code != 1 || !strings.Contains(out, "covers 43 events but the database holds 30") {
		t.Fatalf("verify --checkpoint after cutting the tail: %d %s", code, out)
	}
	// A forged or foreign checkpoint is refused.
	os.WriteFile(cpFile, []byte(strings.Replace(string(note), "\n43\n", "\n44\n", 1)), 0o600)
	if code, out, _ := vigil(t, "", "verify", "--data", dir, "--checkpoint", cpFile); code != 1 || !strings.Contains(out, "signature") {
		t.Fatalf("forged checkpoint: %d %s", code, out)
	}
}

// TestRestoredOldDatabaseIsReported restores an older backup over the
// database: vigil verify fails and serve records the rollback.
// signCheckpoint has the server at url sign a checkpoint now and returns
// its signed note, as an auditor exports it to keep off the box.
func signCheckpoint(t *testing.T, url, manage string) []byte {
	t.Helper()
	if code, body := request(t, "POST", url+"/api/v1/audit/checkpoint", manage, ""); code != 201 {
		t.Fatalf("checkpoint: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", url+"/api/v1/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+manage)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	note, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET checkpoint: %d %v", resp.StatusCode, err)
	}
	return note
}

func TestRestoredOldDatabaseIsReported(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop := serve(t, dir)
	_, manage, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "m", "--scope", "manage")
	_, ingest, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "i", "--scope", "ingest")
	manage, ingest = strings.TrimSpace(manage), strings.TrimSpace(ingest)
	request(t, "POST", url+"/api/v1/events", ingest, `[{"message":"before the backup"}]`)
	old := filepath.Join(t.TempDir(), "old.db")
	if code, _, errOut := vigil(t, "", "backup", "--data", dir, "--out", old); code != 0 {
		t.Fatal(errOut)
	}
	request(t, "POST", url+"/api/v1/events", ingest, `[{"message":"after the backup"},{"message":"and more"}]`)
	if code, body := request(t, "POST", url+"/api/v1/audit/checkpoint", manage, ""); code != 201 {
		t.Fatalf("checkpoint: %d %s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(dir, "vigil.db"+suffix))
	}
	if err := os.Rename(old, filepath.Join(dir, "vigil.db")); err != nil {
		t.Fatal(err)
	}
	code, out, _ := vigil(t, "", "verify", "--data", dir)
	if code != 1 || !strings.Contains(out, "but the database holds") {
		t.Fatalf("verify of a restored old database: %d %s", code, out)
	}
	url, stop = serve(t, dir)
	defer stop()
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "r2", "--scope", "read")
	_, body := request(t, "GET", url+"/api/v1/events?type=E_ROLLBACK_DETECTED", strings.TrimSpace(read), "")
	if !strings.Contains(body, "an older copy of the database was restored") {
		t.Fatalf("rollback not recorded: %s", body)
	}
}

// postNDJSON posts an NDJSON batch with a bearer token and returns the
// answer's status and headers; err is set when no answer came.
func postNDJSON(ctx context.Context, url, token string, body io.Reader) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/api/v1/events", body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// TestVerifyCatchesRemovalThroughRetentionGate does what retention does,
// by hand, to events in the middle of the log: opens the gate, keeps their
// hashes in pruned_events and deletes them. No retention record in the
// chain covers them, so verify fails naming the first, with and without the
// checkpoint kept off the box.
func TestVerifyCatchesRemovalThroughRetentionGate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop, manage, _ := serveWith40Events(t, dir)
	req, _ := http.NewRequest("POST", url+"/api/v1/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+manage)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", url+"/api/v1/audit/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+manage)
	req.Header.Set("Accept", "text/plain")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	note, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cpFile := filepath.Join(t.TempDir(), "checkpoint.txt")
	os.WriteFile(cpFile, note, 0o600)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir, "--checkpoint", cpFile); code != 0 {
		t.Fatalf("untouched database: %d %s", code, out)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO retention_gate (open) VALUES (1);
		INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id BETWEEN 12 AND 15;
		DELETE FROM events WHERE id BETWEEN 12 AND 15;
		DELETE FROM retention_gate`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify", "--data", dir}, {"verify", "--data", dir, "--checkpoint", cpFile}} {
		code, out, _ := vigil(t, "", args...)
		if code != 1 || !strings.Contains(out, "first bad sequence id 12") {
			t.Errorf("%s after removing events 12-15 through the gate: exit %d %q, want exit 1 naming 12", strings.Join(args, " "), code, out)
		}
	}
}

// serveWith40Events serves dir, makes a manage and an ingest token of
// admin with the CLI, as an operator would, and posts 40 events.
func serveWith40Events(t *testing.T, dir string) (url string, stop func() error, manage, ingest string) {
	t.Helper()
	url, stop = serve(t, dir)
	_, manage, _ = vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "m", "--scope", "manage")
	_, ingest, _ = vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "i", "--scope", "ingest")
	manage, ingest = strings.TrimSpace(manage), strings.TrimSpace(ingest)
	var lines []string
	for i := 0; i < 40; i++ {
		lines = append(lines, fmt.Sprintf(`{"message":"event %d"}`, i))
	}
	if code, body := request(t, "POST", url+"/api/v1/events", ingest, strings.Join(lines, "\n")); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	return url, stop, manage, ingest
}
