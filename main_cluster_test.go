package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vigil/internal/pgtest"
	"vigil/internal/testpki"
)

// TestTwoNodesOnePostgres: two vigil serve processes on one PostgreSQL
// database take HTTP events at once while one of them is killed with
// SIGKILL mid-ingest, again and again, and restarted. Every acknowledged
// event is stored exactly once, the ids are 1…N without a gap (one chain
// across the nodes), and vigil verify passes from each node.
func TestTwoNodesOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a PostgreSQL server")
	}
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	bin := vigilBinary(t)
	db := "--database=" + dbURL
	nodes, dirs := startNodes(t, bin, 2, func(int) []string { return []string{db} })
	a, b, dirA, dirB := nodes[0], nodes[1], dirs[0], dirs[1]
	out, err := exec.Command(bin, "token", "create", "--data", dirA, db, "--user", "admin", "--name", "cluster", "--scope", "ingest").Output()
	if err != nil {
		t.Fatalf("vigil token create: %v", err)
	}
	token := string(out[:len(out)-1])

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var acked []string
	var byVictims, bySurvivors int
	const rounds = 4
	for r := 0; r < rounds; r++ {
		// Both nodes take events; the victim is killed mid-ingest, the
		// other goes on until its clients stop.
		victim, other, victimDir := a, b, dirA
		if r%2 == 1 {
			victim, other, victimDir = b, a, dirB
		}
		done := make(chan []string)
		go func() { done <- postUntil(other, token, r, 'k', 1500*time.Millisecond) }()
		killed := crashRound(t, victim, token, r, rng)
		survived := <-done
		byVictims, bySurvivors = byVictims+len(killed), bySurvivors+len(survived)
		acked = append(append(acked, killed...), survived...)
		restarted := startVigilBinary(t, bin, victimDir, db)
		if r%2 == 1 {
			b = restarted
		} else {
			a = restarted
		}
	}
	for _, p := range []*process{a, b} {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("clean stop: %v\n%s", err, p.logs.String())
		}
	}
	if byVictims == 0 || bySurvivors == 0 {
		t.Fatalf("acknowledged: %d by the nodes killed, %d by the others; the test needs both", byVictims, bySurvivors)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, maxID int64
	if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(max(id), 0) FROM events`).Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != maxID {
		t.Fatalf("%d events with ids up to %d: the ids have gaps", n, maxID)
	}
	stored := map[string]int{}
	rows, err := conn.Query(ctx, `SELECT event_id FROM events WHERE event_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id]++
	}
	rows.Close()
	for _, id := range acked {
		if stored[id] != 1 {
			t.Fatalf("acknowledged event %s is stored %d times", id, stored[id])
		}
	}
	for _, dir := range []string{dirA, dirB} {
		if out, err := exec.Command(bin, "verify", "--data", dir, db).CombinedOutput(); err != nil {
			t.Fatalf("verify from %s: %v\n%s", dir, err, out)
		}
	}
	t.Logf("%d kills across two nodes, %d acknowledged events, %d stored, none lost or doubled", rounds, len(acked), n)
}

// startNodes starts n vigil serve processes, node i with flags(i), each
// with a data directory of its own. The first makes the checkpoint key;
// the others get a copy before they start, as operators give every node
// of a cluster the same key (docs/operations.md).
func startNodes(t testing.TB, bin string, n int, flags func(i int) []string) ([]*process, []string) {
	t.Helper()
	var nodes []*process
	var dirs []string
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		if i > 0 {
			key, err := os.ReadFile(filepath.Join(dirs[0], checkpointKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, checkpointKeyFile), key, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		nodes, dirs = append(nodes, startVigilBinary(t, bin, dir, flags(i)...)), append(dirs, dir)
	}
	return nodes, dirs
}

// postUntil posts batches to p from one client for d and returns the event
// ids acknowledged.
func postUntil(p *process, token string, round int, tag byte, d time.Duration) []string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return postBatches(ctx, p, token, fmt.Sprintf("%c%d", tag, round))
}

// postBatches posts batches of 200 events to p until ctx is done (1,000
// batches at most) and returns the event ids acknowledged (202), which
// start with prefix.
func postBatches(ctx context.Context, p *process, token, prefix string) []string {
	var acked []string
	for b := 0; ctx.Err() == nil && b < 1000; b++ {
		var buf bytes.Buffer
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-b%d-%d", prefix, b, i)
			fmt.Fprintf(&buf, `{"event_id":%q,"type":"CERT_USED","message":"test event %s"}`+"\n", ids[i], ids[i])
		}
		code, _, err := postNDJSON(ctx, p.url, token, &buf)
		if err != nil {
			break
		}
		if code == 202 {
			acked = append(acked, ids...)
		}
	}
	return acked
}

// TestSchedulerFailsOverAcrossNodes: of two nodes on one database, one
// runs the scheduled checks; when it is killed the other takes over within
// a few of the check's periods, and the certificates' EXPIRING_SOON alerts
// exist once each across the failover.
func TestSchedulerFailsOverAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a PostgreSQL server")
	}
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	bin := vigilBinary(t)
	flags := []string{"--database=" + dbURL, "--cron-expiry=@every 1s"}
	nodes, dirs := startNodes(t, bin, 2, func(int) []string { return flags })
	a, b, dirA := nodes[0], nodes[1], dirs[0]
	defer func() {
		for _, p := range []*process{a, b} {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()
	out, err := exec.Command(bin, "token", "create", "--data", dirA, flags[0], "--user", "admin", "--name", "certs", "--scope", "manage").Output()
	if err != nil {
		t.Fatalf("vigil token create: %v", err)
	}
	token := string(out[:len(out)-1])
	ca := testpki.NewCA(t)
	now := time.Now()
	for i, days := range []int{5, 10, 20} {
		c := ca.Issue(t, fmt.Sprintf("svc%d.example", i), nil, now.Add(-time.Hour), now.Add(time.Duration(days)*24*time.Hour))
		if code, body := request(t, "POST", a.url+"/api/v1/certificates", token, c.PEM); code != 201 {
			t.Fatalf("upload: %d %s", code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	alerts := func() (total, keys int) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT key) FROM alerts WHERE type = 'EXPIRING_SOON'`).Scan(&total, &keys); err != nil {
			t.Fatal(err)
		}
		return total, keys
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 30 s for %s\nnode A:\n%s\nnode B:\n%s", what, a.logs.String(), b.logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("an alert per certificate", func() bool { total, _ := alerts(); return total >= 3 })
	const leads = "this node runs the scheduled checks"
	leader, follower := a, b
	if strings.Contains(b.logs.String(), leads) {
		leader, follower = b, a
	}
	if strings.Contains(follower.logs.String(), leads) {
		t.Fatalf("both nodes say they run the scheduled checks")
	}
	leader.cmd.Process.Signal(syscall.SIGKILL)
	leader.cmd.Wait()
	waitFor("the other node to take over", func() bool { return strings.Contains(follower.logs.String(), leads) })
	// It runs the check a few times more: the alerts stay one per
	// certificate and threshold.
	ran := strings.Count(follower.logs.String(), "job=expiry")
	waitFor("three runs on the new node", func() bool { return strings.Count(follower.logs.String(), "job=expiry") >= ran+3 })
	if total, keys := alerts(); total != 3 || keys != 3 {
		t.Fatalf("%d EXPIRING_SOON alerts under %d keys after the failover; want 3 and 3", total, keys)
	}
}

// TestCopyIntoPostgres moves a box's SQLite store into PostgreSQL with
// vigil copy: a checkpoint signed before the move verifies against the
// copy, the events keep their ids and hashes, a node on the copy takes
// new events after them, and a second copy into the same database is
// refused.
func TestCopyIntoPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a PostgreSQL server")
	}
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop, manage, ingest := serveWith40Events(t, dir)
	note := signCheckpoint(t, url, manage)
	cpFile := filepath.Join(t.TempDir(), "checkpoint.txt")
	os.WriteFile(cpFile, note, 0o600)
	code, before := request(t, "GET", url+"/api/v1/events?limit=100", manage, "")
	if code != 200 {
		t.Fatalf("events: %d %s", code, before)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := vigil(t, "", "copy", "--from", dir, "--to", dbURL)
	if code != 0 || !strings.Contains(out, "copied events: ") {
		t.Fatalf("vigil copy: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir, "--database", dbURL, "--checkpoint", cpFile); code != 0 || !strings.Contains(out, "matches") {
		t.Fatalf("verify the copy against the checkpoint signed before the move: %d %s", code, out)
	}
	if code, out, errOut := vigil(t, "", "copy", "--from", dir, "--to", dbURL); code == 0 || !strings.Contains(errOut, "empty database") {
		t.Fatalf("a second copy into the same database: %d %s %s", code, out, errOut)
	}

	// A node on the copy lists the same events, with their hashes, and
	// appends after them; the same tokens still work.
	p := startVigilBinary(t, vigilBinary(t), dir, "--database="+dbURL)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	}()
	if code, after := request(t, "GET", p.url+"/api/v1/events?limit=100", manage, ""); code != 200 || !sameEvents(t, before, after) {
		t.Fatalf("events on the copy differ:\nbefore %s\nafter  %s", before, after)
	}
	var listed struct {
		Events []struct {
			ID int64 `json:"id"`
		} `json:"events"`
	}
	json.Unmarshal([]byte(before), &listed)
	if code, body := request(t, "POST", p.url+"/api/v1/events", ingest, `{"type":"CERT_USED","message":"after the move"}`); code != 202 {
		t.Fatalf("post on the copy: %d %s", code, body)
	}
	next := fmt.Sprintf(`"id":%d,`, listed.Events[0].ID+1)
	if code, body := request(t, "GET", p.url+"/api/v1/events?limit=1&q=move", manage, ""); code != 200 || !strings.Contains(body, next) {
		t.Fatalf("the event posted on the copy: %d %s; want %s", code, body, next)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir, "--database", dbURL, "--checkpoint", cpFile); code != 0 {
		t.Fatalf("verify after appending on the copy: %d %s", code, out)
	}
}

// sameEvents reports whether two event listings (JSON) hold the same
// events with the same ids and hashes.
func sameEvents(t *testing.T, a, b string) bool {
	t.Helper()
	type page struct {
		Events []struct {
			ID   int64  `json:"id"`
			Hash string `json:"hash"`
		} `json:"events"`
	}
	var pa, pb page
	if err := json.Unmarshal([]byte(a), &pa); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &pb); err != nil {
		t.Fatal(err)
	}
	if len(pa.Events) == 0 || len(pa.Events) != len(pb.Events) {
		return false
	}
	for i := range pa.Events {
		if pa.Events[i] != pb.Events[i] || pa.Events[i].Hash == "" {
			return false
		}
	}
	return true
}

// TestSessionsAcrossNodes: a console session made on one node is valid on
// the other, and signing out on the other ends it on both.
func TestSessionsAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a PostgreSQL server")
	}
	pg := pgtest.Start(t)
	db := "--database=" + pg.NewDatabase(t)
	nodes, _ := startNodes(t, vigilBinary(t), 2, func(int) []string { return []string{db} })
	defer func() {
		for _, p := range nodes {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	}()
	a, b := nodes[0], nodes[1]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	session := signIn(t, client, a.url, crashAdminPassword)
	page := func(p *process) int {
		t.Helper()
		req, _ := http.NewRequest("GET", p.url+"/events", nil)
		req.Header.Set("Accept", "text/html") // as a browser asks
		req.AddCookie(session)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != http.StatusSeeOther {
			t.Logf("GET %s/events: %d %s", p.url, resp.StatusCode, body)
		}
		return resp.StatusCode
	}
	if code := page(b); code != 200 {
		t.Fatalf("node B with node A's session: %d, want 200", code)
	}
	req, _ := http.NewRequest("POST", b.url+"/logout", nil)
	req.AddCookie(session)
	if resp, err := client.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	for name, p := range map[string]*process{"A": a, "B": b} {
		if code := page(p); code != http.StatusSeeOther {
			t.Errorf("node %s after signing out on B: %d, want 303 to the sign-in page", name, code)
		}
	}
}
