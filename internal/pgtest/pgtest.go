// Package pgtest runs a throwaway PostgreSQL server for a test, from
// Debian's postgresql package: initdb into a temporary directory as an
// unprivileged user, pg_ctl on a free loopback port, no container and no
// download. When the server's programs are missing the test is skipped as
// the "postgres" group (internal/testtools; failed under
// VIGIL_TEST_REQUIRE_ALL=1); .ci/test-deps installs them.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vigil/internal/testtools"
)

// Server is a PostgreSQL server running for one test.
type Server struct {
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // holds data/, the socket and the log
	port int
	cred *syscall.Credential // the unprivileged user it runs as, when the test runs as root
	dbs  atomic.Int64
	down bool // stopped by Kill
}

// superuser is the role initdb creates; it logs in without a password
// from the loopback address only.
const superuser = "vigil"

// Bin returns the directory of the newest PostgreSQL server programs
// installed by Debian's packages, or "" when there are none.
func Bin() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 || testtools.Hidden("postgres") {
		return ""
	}
	version := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
	return filepath.Dir(found[len(found)-1])
}

// Start starts a server for t and stops it (and removes its files) when t
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if Bin() == "" {
		testtools.Missing(t, "postgres", "PostgreSQL server programs not found under /usr/lib/postgresql/*/bin",
			"apt-get install -y postgresql")
	}
	s, err := Launch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartDurable is Start with fsync on, as PostgreSQL runs in production:
// for benchmarks, where a commit's cost must include making it durable.
// settings are more server options ("-c shared_buffers=1GB ...").
func StartDurable(b testing.TB, settings string) *Server {
	b.Helper()
	SkipWithout(b)
	s, err := launch(true, settings)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Stop)
	return s
}

// SkipWithout skips t as the "postgres" group when the server's programs
// are missing (failed under VIGIL_TEST_REQUIRE_ALL=1).
func SkipWithout(t testing.TB) {
	t.Helper()
	if Bin() == "" {
		testtools.Missing(t, "postgres", "PostgreSQL server programs not found under /usr/lib/postgresql/*/bin",
			"apt-get install -y postgresql")
	}
}

// Launch starts a server that runs until Stop: for a server shared by the
// tests of a package (started from TestMain or on first use). It runs
// with fsync off: tests check what is committed, not that it survives a
// power cut, and run faster without.
func Launch() (*Server, error) { return launch(false, "") }

func launch(durable bool, settings string) (*Server, error) {
	bin := Bin()
	if bin == "" {
		return nil, fmt.Errorf("pgtest: PostgreSQL server programs not found under /usr/lib/postgresql/*/bin")
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root and no unprivileged user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent is private to the test's user, and the
	// server's user must reach its directory.
	dir, err := os.MkdirTemp("", "vigil-pgtest-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fail(err)
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", superuser, "--auth=trust", "-E", "UTF8",
		"--no-locale", "--no-sync"); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %v\n%s", err, out))
	}
	// A free port can be taken between the probe and the server's bind:
	// try a few.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return fail(err)
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s", s.port, dir)
		if !durable {
			opts += " -c fsync=off"
		}
		if settings != "" {
			opts += " " + settings
		}
		out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return fail(fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log))
		}
	}
	return s, nil
}

// Stop stops the server, if Kill has not, and removes its files.
func (s *Server) Stop() {
	if !s.down {
		s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
		s.down = true
	}
	os.RemoveAll(s.dir)
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's programs as the server's user.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// URL returns the connection URL of database db on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, db)
}

// NewDatabase creates an empty database of its own for t and returns its
// connection URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.URL(name)
}

// Kill stops the server at once, as a crash would (pg_ctl -m immediate).
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop"); err != nil {
		t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	s.down = true
}

// Log returns what the server wrote to its log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return strings.TrimSpace(string(b))
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PID returns the process id of the server's postmaster (0 when it cannot
// be read): its processes are it and its children.
func (s *Server) PID() int {
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}
