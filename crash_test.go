package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vigil/internal/syncbuf"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// vigilBinary builds the vigil binary once per test run.
func vigilBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is a vigil serve child process.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *syncbuf.Buffer
}

var listeningRE = regexp.MustCompile(`listener=http addr=(\S+)`)

// startVigil starts vigil serve on a free port and waits for it to listen.
func startVigil(t testing.TB, dir string) *process {
	t.Helper()
	return startVigilBinary(t, vigilBinary(t), dir)
}

// crashAdminPassword is the admin's password in a store startVigilBinary
// creates.
const crashAdminPassword = "crash-test-password"

// startVigilBinary starts bin serve on a free HTTP port, without syslog
// listeners unless extra flags (which win) open them, and waits for it to
// listen.
func startVigilBinary(t testing.TB, bin, dir string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--syslog-udp", "", "--syslog-tcp", ""}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "VIGIL_ADMIN_PASSWORD="+crashAdminPassword)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &syncbuf.Buffer{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
			if m := listeningRE.FindSubmatch(sc.Bytes()); m != nil {
				addr <- string(m[1])
			}
		}
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("vigil did not start:\n%s", p.logs.String())
	}
	return p
}

// createToken makes an API token with bin token create, as an operator
// would, beside a running server.
func createToken(t testing.TB, bin, dir, name, scope string) string {
	t.Helper()
	out, err := exec.Command(bin, "token", "create", "--data", dir, "--user", "admin", "--name", name, "--scope", scope).Output()
	if err != nil {
		t.Fatalf("vigil token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// crashRound posts batches from several clients, kills the server with
// SIGKILL after a random delay, and returns the event ids acknowledged.
func crashRound(t testing.TB, p *process, token string, round int, rng *rand.Rand) []string {
	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			ids := postBatches(ctx, p, token, fmt.Sprintf("r%d-c%d", round, c))
			mu.Lock()
			acked = append(acked, ids...)
			mu.Unlock()
		}(c)
	}
	time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	cancel()
	wg.Wait()
	return acked
}

// runCrashRounds kills vigil rounds times while clients post, restarting
// it each time, then checks that every acknowledged event is stored, the
// database passes integrity_check and the chain verifies.
func runCrashRounds(t testing.TB, rounds int) (acked int) {
	dir := t.TempDir()
	bin := vigilBinary(t)
	p := startVigil(t, dir)
	token := createToken(t, bin, dir, "crash", "ingest")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var all []string
	for r := 0; r < rounds; r++ {
		all = append(all, crashRound(t, p, token, r, rng)...)
		p = startVigil(t, dir) // restarts cleanly after the kill
		if resp, err := http.Get(p.url + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("round %d: not healthy after restart: %v", r, err)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("clean stop: %v\n%s", err, p.logs.String())
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "vigil.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	stored := map[string]bool{}
	rows, err := db.Query(`SELECT event_id FROM events WHERE event_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		stored[id] = true
	}
	rows.Close()
	for _, id := range all {
		if !stored[id] {
			t.Fatalf("acknowledged event %s was lost", id)
		}
	}
	if out, err := exec.Command(bin, "verify", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("verify after %d kills: %v\n%s", rounds, err, out)
	}
	return len(all)
}

// TestCrashSafety kills vigil -9 while clients post and checks no
// acknowledged event is lost (VIGIL_CRASH_ROUNDS rounds, default 4).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	rounds := 4
	if n, err := fmt.Sscan(os.Getenv("VIGIL_CRASH_ROUNDS"), &rounds); n != 1 || err != nil {
		rounds = 4
	}
	acked := runCrashRounds(t, rounds)
	if acked == 0 {
		t.Fatal("no batch was acknowledged before the kills: the test proved nothing")
	}
	t.Logf("%d kills, %d acknowledged events, none lost", rounds, acked)
}

// BenchmarkCrashRecovery is the long form: 25 kill points in one run.
func BenchmarkCrashRecovery(b *testing.B) {
	const rounds = 25
	for n := 0; n < b.N; n++ {
		acked := runCrashRounds(b, rounds)
		b.ReportMetric(rounds, "kills")
		b.ReportMetric(float64(acked), "acked-events")
	}
}
