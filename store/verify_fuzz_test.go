package store

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// tamperColumns are the columns a fuzzed tampering may change.
var tamperColumns = []string{
	"event_id", "time", "time_ns", "received_at", "source", "category", "type", "outcome", "severity",
	"actor_type", "actor_id", "actor_dn", "actor_ip", "entity_type", "entity_id",
	"cert_serial", "cert_fingerprint", "cert_subject", "agent_id", "host", "app", "process",
	"command", "policy", "tenant", "message", "details", "hash",
}

// FuzzVerifyTamper changes one value of one event behind Vigil's back and
// expects the verifier to name exactly that event, whatever the value
// (text, number, blob, NULL): an undetected change would be a hole in the
// chain.
func FuzzVerifyTamper(f *testing.F) {
	template := filepath.Join(f.TempDir(), "template.db")
	s, err := Open(context.Background(), template, Options{})
	if err != nil {
		f.Fatal(err)
	}
	appendN(f, s, 40, 7)
	s.Close()
	f.Add(uint8(5), uint8(25), []byte("changed message"), uint8(0))
	f.Add(uint8(40), uint8(2), []byte("12345"), uint8(1))
	f.Add(uint8(1), uint8(27), []byte{0, 1, 2}, uint8(2))
	f.Add(uint8(17), uint8(10), []byte(nil), uint8(3))
	f.Add(uint8(9), uint8(1), []byte("2026-01-01T00:00:00Z"), uint8(0))
	f.Fuzz(func(t *testing.T, id, col uint8, val []byte, kind uint8) {
		id = 1 + id%40
		column := tamperColumns[int(col)%len(tamperColumns)]
		dbPath := filepath.Join(t.TempDir(), "vigil.db")
		copyFile(t, template, dbPath)
		db, err := sql.Open("sqlite3", fileURI(dbPath, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v any
		switch kind % 4 {
		case 0:
			v = string(val)
		case 1:
			v = int64(len(val)) * 1_000_003
		case 2:
			v = val
		case 3:
			v = nil
		}
		var changed bool
		if err := db.QueryRow(`SELECT `+column+` IS NOT ? FROM events WHERE id = ?`, v, id).Scan(&changed); err != nil {
			t.Fatal(err)
		}
		if !changed {
			return
		}
		if _, err := db.Exec(`DROP TRIGGER events_no_update`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE events SET `+column+` = ? WHERE id = ?`, v, id); err != nil {
			return // a constraint refused the value (NOT NULL, UNIQUE): nothing changed
		}
		rep, err := (&Store{rdb: db}).VerifyChain(context.Background(), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || rep.FirstBad == nil || *rep.FirstBad != int64(id) {
			t.Fatalf("changed %s of event %d to %#v: report %+v", column, id, v, rep)
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
