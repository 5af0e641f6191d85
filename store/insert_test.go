package store

import (
	"context"
	"testing"
	"time"

	"vigil/model"
)

// TestInsertColumnOrder checks that row.values binds each value to its own
// column: every field of an event is read back from its column, and empty
// optional fields are stored as NULL, whatever the shape of the event.
func TestInsertColumnOrder(t *testing.T) {
	if len(insertColumns) != 29 || insertColumns[0] != "id" || insertColumns[26] != "message" ||
		insertColumns[27] != "details" || insertColumns[28] != "hash" {
		t.Fatalf("insertColumns = %q", insertColumns)
	}
	s, err := Open(context.Background(), testDB(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	full := model.Event{
		EventID: "ev-1", Time: now, Category: "AUDIT_LOG", Type: "CERT_ISSUED", Outcome: "SUCCESS", Source: model.SourceHTTP,
		Actor:       model.Actor{Type: "USER", ID: "alice", DN: "CN=alice", IP: "10.0.0.1"},
		Entity:      model.Entity{Type: "CA", ID: "ca-1"},
		Certificate: model.CertRef{Serial: "0A", Fingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Subject: "CN=www"},
		AgentID:     "agent-1", Host: "h1", App: "app1", Process: "42", Command: "issue", Policy: "tls", Tenant: "t1",
		Message: "issued", Details: []byte(`{"k":"v"}`),
	}
	sparse := model.Event{Time: now, Category: "SYSTEM", Type: "E_STARTED", Outcome: "SUCCESS", Source: model.SourceInternal, Message: "up"}
	evs := []model.Event{full, sparse, full, sparse}
	evs[2].EventID, evs[2].Host, evs[2].Tenant = "ev-2", "", ""
	evs[3].Policy = "p"
	for i := range evs {
		if err := evs[i].Normalize(now); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.AppendEvents(context.Background(), evs)
	if err != nil || res.Accepted != len(evs) {
		t.Fatalf("append: %+v %v", res, err)
	}
	for i, id := range res.IDs {
		var stored model.Event
		var isNull [18]bool
		cells := make([]any, len(isNull))
		for i := range isNull {
			cells[i] = &isNull[i]
		}
		err := s.rdb.QueryRow(`SELECT event_id IS NULL, actor_type IS NULL, actor_id IS NULL, actor_dn IS NULL,
			actor_ip IS NULL, entity_type IS NULL, entity_id IS NULL, cert_serial IS NULL,
			cert_fingerprint IS NULL, cert_subject IS NULL, agent_id IS NULL, host IS NULL, app IS NULL,
			process IS NULL, command IS NULL, policy IS NULL, tenant IS NULL, details IS NULL
			FROM events WHERE id = ?`, id).Scan(cells...)
		nulls := 0
		for _, n := range isNull {
			if n {
				nulls++
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.EventByID(context.Background(), id, model.VisibilityFor(model.User{Role: model.RoleAdmin}))
		if err != nil {
			t.Fatal(err)
		}
		stored = got
		want := evs[i]
		if stored.EventID != want.EventID || stored.Actor != want.Actor || stored.Entity != want.Entity ||
			stored.Certificate != want.Certificate || stored.AgentID != want.AgentID || stored.Host != want.Host ||
			stored.App != want.App || stored.Process != want.Process || stored.Command != want.Command ||
			stored.Policy != want.Policy || stored.Tenant != want.Tenant || stored.Message != want.Message ||
			string(stored.Details) != string(want.Details) || stored.Type != want.Type || stored.Category != want.Category {
			t.Errorf("event %d read back as %+v, want %+v", i, stored, want)
		}
		empty := 0
		for _, f := range []string{want.EventID, want.Actor.Type, want.Actor.ID, want.Actor.DN, want.Actor.IP,
			want.Entity.Type, want.Entity.ID, want.Certificate.Serial, want.Certificate.Fingerprint, want.Certificate.Subject,
			want.AgentID, want.Host, want.App, want.Process, want.Command, want.Policy, want.Tenant, string(want.Details)} {
			if f == "" {
				empty++
			}
		}
		if nulls != empty {
			t.Errorf("event %d: %d NULL columns, want %d (one per empty field)", i, nulls, empty)
		}
	}
	if rep, err := s.VerifyChain(context.Background(), VerifyOptions{}); err != nil || !rep.OK || rep.Checked != int64(len(evs)) {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
