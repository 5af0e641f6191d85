package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"vigil/model"
)

// rewriteHistory does what an attacker with write access to the file
// would: after changing rows it recomputes every event hash and the stored
// Merkle nodes, so the chain and tree are consistent again.
func rewriteHistory(t *testing.T, s *Store) {
	t.Helper()
	rows, err := s.wdb.Query(`SELECT ` + eventColumns + ` FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var all []row
	for rows.Next() {
		r, _, err := scanRow(rows)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	prev := make([]byte, HashSize)
	var buf []byte
	tree := rangeFactory.NewEmptyRange(0)
	mustExec(t, s, `DELETE FROM merkle_nodes`)
	for _, r := range all {
		var sum [HashSize]byte
		sum, buf = chainHash(prev, &r, buf)
		prev = append([]byte(nil), sum[:]...)
		mustExec(t, s, `UPDATE events SET hash = ? WHERE id = ?`, prev, r.id)
		tree.Append(leafHash(prev), func(id compact.NodeID, h []byte) {
			if id.Level >= storedLevel {
				mustExec(t, s, `INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)`, id.Level, id.Index, h)
			}
		})
	}
}

func mustExec(t *testing.T, s *Store, q string, args ...any) {
	t.Helper()
	if _, err := s.wdb.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// dropEventGuards removes what makes the events append-only, as someone
// with write access to the database can.
func dropEventGuards(t *testing.T, s *Store) {
	t.Helper()
	if s.d.postgres {
		mustExec(t, s, `ALTER TABLE events DISABLE TRIGGER USER`)
		return
	}
	mustExec(t, s, `DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete`)
}

func TestTamperDetection(t *testing.T) {
	ctx := context.Background()
	key := func(t *testing.T) *model.CheckpointKey {
		text, err := model.NewCheckpointKeyText("test.example/vigil")
		if err != nil {
			t.Fatal(err)
		}
		k, err := model.ParseCheckpointKey(text)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cases := []struct {
		name string
		// tamper changes the database after 600 events and a checkpoint.
		tamper func(t *testing.T, s *Store)
		// external: verify against the checkpoint kept off the box.
		external     bool
		wantFirstBad int64
		wantReason   string
	}{
		{"ChangedField", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE events SET outcome = 'ALLOWED' WHERE id = 300`)
		}, false, 300, "does not match its hash"},
		{"DeletedMiddleRow", func(t *testing.T, s *Store) {
			mustExec(t, s, `DELETE FROM events WHERE id = 123`)
		}, false, 123, "missing"},
		{"ReorderedRows", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE events SET id = 1000 WHERE id = 41; UPDATE events SET id = 41 WHERE id = 42; UPDATE events SET id = 42 WHERE id = 1000`)
		}, false, 41, "does not match its hash"},
		{"InsertedRow", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE events SET id = id + 1000 WHERE id >= 250; UPDATE events SET id = id - 999 WHERE id >= 1250`)
			mustExec(t, s, `INSERT INTO events (`+eventColumns+`) SELECT 250, NULL, time, time_ns, received_at, source, category, type, outcome, severity,
				actor_type, 'mallory', actor_dn, actor_ip, entity_type, entity_id, cert_serial, cert_fingerprint, cert_subject,
				agent_id, host, app, process, command, policy, tenant, 'forged', details, hash FROM events WHERE id = 249`)
		}, false, 250, "does not match its hash"},
		{"ChangedStoredNode", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE merkle_nodes SET hash = ? WHERE level = 8 AND idx = 1`, make([]byte, 32))
		}, false, 257, "Merkle node 8/1 does not match events 257-512"},
		{"ChangedStoredCheckpoint", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE checkpoints SET root_hash = ?`, make([]byte, 32))
		}, false, 0, "differ from its signed note"},
		{"TruncatedTailChainIntact", func(t *testing.T, s *Store) {
			mustExec(t, s, `DELETE FROM events WHERE id > 550; DELETE FROM checkpoints; DELETE FROM merkle_nodes WHERE (idx + 1) << level > 550`)
		}, true, 0, "covers 600 events but the database holds 550"},
		{"FullRewriteRecomputed", func(t *testing.T, s *Store) {
			mustExec(t, s, `DELETE FROM checkpoints; UPDATE events SET message = 'nothing to see' WHERE id = 77`)
			rewriteHistory(t, s)
		}, true, 0, "history was rewritten"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			k := key(t)
			appendN(t, s, 600, 100)
			cp, err := s.CreateCheckpoint(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			opts := VerifyOptions{PublicKey: k.PublicKey()}
			if rep, err := s.VerifyChain(ctx, opts); err != nil || !rep.OK || rep.CheckpointsChecked != 1 {
				t.Fatalf("before tampering: %+v %v", rep, err)
			}
			dropEventGuards(t, s)
			c.tamper(t, s)
			if c.external {
				// Without the checkpoint kept elsewhere the database looks fine.
				if rep, err := s.VerifyChain(ctx, opts); err != nil || !rep.OK {
					t.Fatalf("without the external checkpoint: %+v %v", rep, err)
				}
				ext, err := model.OpenCheckpoint([]byte(cp.Note), k.PublicKey())
				if err != nil {
					t.Fatal(err)
				}
				opts.External = []model.Checkpoint{ext}
			}
			rep, err := s.VerifyChain(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || !strings.Contains(rep.Reason, c.wantReason) {
				t.Fatalf("report %+v, want failure mentioning %q", rep, c.wantReason)
			}
			var got int64
			if rep.FirstBad != nil {
				got = *rep.FirstBad
			}
			if got != c.wantFirstBad {
				t.Fatalf("first bad %d, want %d (%s)", got, c.wantFirstBad, rep.Reason)
			}
			// In chunks of ids, each in its own read transaction, the
			// verification finds the same.
			opts.Chunk = 64
			chunked, err := s.VerifyChain(ctx, opts)
			if err != nil || chunked.OK || chunked.Reason != rep.Reason || (chunked.FirstBad == nil) != (rep.FirstBad == nil) ||
				(rep.FirstBad != nil && *chunked.FirstBad != *rep.FirstBad) {
				t.Fatalf("in chunks: %+v %v, in one snapshot: %+v", chunked, err, rep)
			}
		})
	}
}

// TestRestoredBackupDetected restores an older backup and checks it
// against the newest checkpoint kept off the box.
func TestRestoredBackupDetected(t *testing.T) {
	sqliteOnly(t, "restores a VACUUM INTO backup")
	ctx := context.Background()
	s := openTest(t)
	text, _ := model.NewCheckpointKeyText("test.example/vigil")
	k, _ := model.ParseCheckpointKey(text)
	appendN(t, s, 300, 100)
	old := filepath.Join(t.TempDir(), "old.db")
	if err := s.Backup(ctx, old); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 200, 100)
	cp, err := s.CreateCheckpoint(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	ext, _ := model.OpenCheckpoint([]byte(cp.Note), k.PublicKey())

	restored, err := Open(ctx, old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	rep, err := restored.VerifyChain(ctx, VerifyOptions{PublicKey: k.PublicKey()})
	if err != nil || !rep.OK || rep.Checked != 300 {
		t.Fatalf("the old backup verifies on its own: %+v %v", rep, err)
	}
	rep, err = restored.VerifyChain(ctx, VerifyOptions{PublicKey: k.PublicKey(), External: []model.Checkpoint{ext}})
	if err != nil || rep.OK || !strings.Contains(rep.Reason, "covers 500 events but the database holds 300") {
		t.Fatalf("restored backup against the newest checkpoint: %+v %v", rep, err)
	}
}

// TestBackupUnderLoad copies the database while a writer keeps appending:
// the copy is a consistent prefix that verifies on its own.
func TestBackupUnderLoad(t *testing.T) {
	sqliteOnly(t, "VACUUM INTO backup under load")
	ctx := context.Background()
	s := openTest(t)
	appendN(t, s, 1000, 250)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			appendN(t, s, 100, 100)
			n += 100
		}
	}()
	out := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	close(stop)
	during := <-done
	if err := s.Backup(ctx, out); err == nil {
		t.Error("backup overwrote an existing file")
	}
	b, err := Open(ctx, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := b.VerifyChain(ctx, VerifyOptions{})
	if err != nil || !rep.OK || rep.Checked < 1000 {
		t.Fatalf("backup verify: %+v %v", rep, err)
	}
	t.Logf("backup holds %d events; %d were appended while it ran", rep.Checked, during)
}

// TestRemovalThroughRetentionGateDetected removes events from the middle
// the way retention removes them (gate open, hashes kept in pruned_events):
// without a retention record in the chain that covers them, verify fails
// naming the first, also against the checkpoint kept off the box.
func TestRemovalThroughRetentionGateDetected(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name         string
		sql          string
		wantFirstBad int64
	}{
		{"Middle", `INSERT INTO retention_gate (open) VALUES (1);
			INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id BETWEEN 300 AND 310;
			DELETE FROM events WHERE id BETWEEN 300 AND 310; DELETE FROM retention_gate`, 300},
		{"PrefixWithoutRecord", `INSERT INTO retention_gate (open) VALUES (1);
			INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id <= 20;
			DELETE FROM events WHERE id <= 20; DELETE FROM retention_gate`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			k, _ := model.ParseCheckpointKey(must(model.NewCheckpointKeyText("test.example/vigil")))
			appendN(t, s, 600, 100)
			cp, err := s.CreateCheckpoint(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			ext, err := model.OpenCheckpoint([]byte(cp.Note), k.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, s, c.sql)
			for _, opts := range []VerifyOptions{{PublicKey: k.PublicKey()}, {PublicKey: k.PublicKey(), External: []model.Checkpoint{ext}}} {
				rep, err := s.VerifyChain(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK || rep.FirstBad == nil || *rep.FirstBad != c.wantFirstBad {
					t.Fatalf("external checkpoints %d: report %+v, want failure naming %d", len(opts.External), rep, c.wantFirstBad)
				}
			}
			if _, err := s.EventByID(ctx, c.wantFirstBad, model.VisibilityFor(model.User{Role: model.RoleAdmin})); model.ErrorCode(err) != model.ENOTFOUND {
				t.Fatalf("removed event: %v", err)
			}
		})
	}
}
