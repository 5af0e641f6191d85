package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineChangeAndAuditCommitTogether: vigil user add and vigil
// token create store the user or token with its audit record, or neither:
// when the record cannot be written, nothing is created and no secret is
// printed.
func TestCommandLineChangeAndAuditCommitTogether(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_PASSWORD", "")
	if code, _, errOut := vigil(t, "first-password-1\n", "user", "add", "alice", "--data", dir, "--role", "admin"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "vigil.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM events WHERE type = 'USER_CREATED' AND actor_id LIKE 'os:%' AND details LIKE '%"via":"cli"%'
		AND details LIKE '%"username":"alice"%' AND details LIKE '%"initiatedby":"os:%'`); n != 1 {
		t.Fatalf("%d USER_CREATED records of the first user by the command line, want 1", n)
	}
	if _, err := db.Exec(`CREATE TRIGGER test_fail BEFORE INSERT ON events BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := vigil(t, "second-password-1\n", "user", "add", "bob", "--data", dir, "--role", "viewer"); code == 0 {
		t.Errorf("user add succeeded though its audit record could not be written: %s", errOut)
	}
	if code, out, errOut := vigil(t, "", "token", "create", "--data", dir, "--user", "alice", "--name", "t", "--scope", "read"); code == 0 || strings.Contains(out, "vgl_") {
		t.Errorf("token create: exit %d, out %q, err %q; want a failure and no secret", code, out, errOut)
	}
	if n := count(`SELECT count(*) FROM users WHERE name = 'bob'`); n != 0 {
		t.Errorf("user bob exists without its audit record")
	}
	if n := count(`SELECT count(*) FROM tokens WHERE name = 't'`); n != 0 {
		t.Errorf("token t exists without its audit record")
	}
}
