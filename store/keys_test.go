package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"vigil/model"
)

// keyed returns the event js as sent by sender.
func keyed(t testing.TB, sender, js string) model.Event {
	t.Helper()
	e := ev(t, js)
	e.Sender = sender
	return e
}

// conflictItems returns the items of an ECONFLICT error, failing otherwise.
func conflictItems(t testing.TB, err error) []model.ItemError {
	t.Helper()
	me, ok := err.(*model.Error)
	if !ok || me.Code != model.ECONFLICT {
		t.Fatalf("got %v, want a conflict", err)
	}
	return me.Items
}

func TestEventIDScopedToSender(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, b := model.TokenSender(1), model.TokenSender(2)
	batch := func(sender string) []model.Event {
		return []model.Event{
			keyed(t, sender, `{"event_id":"a-1","message":"x"}`),
			keyed(t, sender, `{"event_id":"a-2","message":"y","time":"2026-01-02T03:04:05+01:00"}`),
			keyed(t, sender, `{"event_id":"a-1","message":"x"}`),
		}
	}
	r1, err := s.AppendEvents(ctx, batch(a))
	if err != nil || r1.Accepted != 2 || r1.Duplicates != 1 || r1.IDs[2] != r1.IDs[0] {
		t.Fatalf("first %+v %v", r1, err)
	}
	// A retry: the events without a time get a new receive time, and are
	// the same content all the same.
	time.Sleep(2 * time.Millisecond)
	r2, err := s.AppendEvents(ctx, batch(a))
	if err != nil || r2.Accepted != 0 || r2.Duplicates != 3 || r2.IDs[0] != 1 || r2.IDs[1] != 2 || r2.IDs[2] != 1 {
		t.Fatalf("retry %+v %v", r2, err)
	}
	r3, err := s.AppendEvents(ctx, batch(b))
	if err != nil || r3.Accepted != 2 || r3.Duplicates != 1 {
		t.Fatalf("another sender %+v %v", r3, err)
	}
	// Without a sender the event_id is data: nothing is de-duplicated.
	plain := []model.Event{ev(t, `{"event_id":"a-1","message":"x"}`), ev(t, `{"event_id":"a-1","message":"x"}`)}
	r4, err := s.AppendEvents(ctx, plain)
	if err != nil || r4.Accepted != 2 || r4.Duplicates != 0 {
		t.Fatalf("no sender %+v %v", r4, err)
	}

	// Other content under a key of the sender: refused whole, naming it.
	cases := []struct {
		name   string
		events []model.Event
		index  int
		reason string
	}{
		{"StoredKey", []model.Event{
			keyed(t, a, `{"event_id":"a-3","message":"new"}`),
			keyed(t, a, `{"event_id":"a-2","message":"y","time":"2026-01-02T03:04:06+01:00"}`),
		}, 1, `event_id "a-2" was already stored as event 2`},
		{"SameBatch", []model.Event{
			keyed(t, a, `{"event_id":"a-4","message":"one"}`),
			keyed(t, a, `{"event_id":"a-4","message":"two"}`),
		}, 1, `event_id "a-4" is used by item 0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.AppendEvents(ctx, c.events)
			items := conflictItems(t, err)
			if len(items) != 1 || items[0].Index != c.index || !strings.Contains(items[0].Reason, c.reason) {
				t.Errorf("items %+v, want index %d: %s", items, c.index, c.reason)
			}
			if res.Accepted != 0 {
				t.Errorf("result %+v", res)
			}
		})
	}
	var n int
	s.rdb.QueryRow(`SELECT count(*) FROM events`).Scan(&n)
	if n != 6 {
		t.Errorf("%d events stored, want 6", n)
	}
	if rep, err := s.VerifyChain(ctx, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("verify: %+v %v", rep, err)
	}
}

// TestConflictSparesOtherRequests commits a conflicting request and
// another producer's request in the same writer transaction: the first is
// refused whole, the second stored.
func TestConflictSparesOtherRequests(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, b := model.TokenSender(1), model.TokenSender(2)
	if _, err := s.AppendEvents(ctx, []model.Event{keyed(t, a, `{"event_id":"k","message":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	// The first request holds the writer inside its transaction while the
	// next two queue up; the writer then takes both in one transaction.
	started, proceed := make(chan struct{}), make(chan struct{})
	first := &appendReq{done: make(chan appendAnswer, 1), apply: func(*sql.Tx) ([]model.Event, error) {
		close(started)
		<-proceed
		return []model.Event{ev(t, `{"message":"first"}`)}, nil
	}}
	queue := func(req *appendReq) *appendReq {
		s.writer.queue <- req
		return req
	}
	queue(first)
	<-started
	conflicting := queue(&appendReq{done: make(chan appendAnswer, 1), events: []model.Event{
		keyed(t, a, `{"event_id":"k2","message":"new"}`),
		keyed(t, a, `{"event_id":"k","message":"other"}`),
	}})
	other := queue(&appendReq{done: make(chan appendAnswer, 1), events: []model.Event{
		keyed(t, b, `{"event_id":"k","message":"other"}`), ev(t, `{"message":"plain"}`),
	}})
	close(proceed)
	if r := <-first.done; r.err != nil || r.res.Accepted != 1 {
		t.Fatalf("first %+v", r)
	}
	if r := <-conflicting.done; len(conflictItems(t, r.err)) != 1 {
		t.Errorf("conflicting %+v", r)
	}
	if r := <-other.done; r.err != nil || r.res.Accepted != 2 || r.res.IDs[0] != 3 || r.res.IDs[1] != 4 {
		t.Errorf("other producer %+v", r)
	}
	if got := writerCommits(t, s); got != 3 {
		t.Errorf("%d writer commits, want 3 (the last two requests in one)", got)
	}
	var n int
	s.rdb.QueryRow(`SELECT count(*) FROM events WHERE event_id = 'k2'`).Scan(&n)
	if n != 0 {
		t.Errorf("an event of the refused request was stored")
	}
}

// TestConcurrentRetriesStoredOnce sends the same keyed event from many
// goroutines at once: it is stored once, every answer names it.
func TestConcurrentRetriesStoredOnce(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	results := make([]AppendResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.AppendEvents(ctx, []model.Event{keyed(t, model.TokenSender(7), `{"event_id":"once","message":"retried"}`)})
		}()
	}
	wg.Wait()
	accepted := 0
	for i := range n {
		if errs[i] != nil || results[i].IDs[0] != 1 {
			t.Fatalf("answer %d: %+v %v", i, results[i], errs[i])
		}
		accepted += results[i].Accepted
	}
	if accepted != 1 {
		t.Errorf("stored %d times, want once", accepted)
	}
}

// TestKeysMigrationKeepsChain builds a database with the schema before
// 0009_idempotency.sql and events with event_ids as the writer stored them
// then, opens it with the current migrations and checks that the chain
// still verifies and the old event_ids hold no key.
func TestKeysMigrationKeepsChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	old := schemaBefore(t, 9)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	prev := make([]byte, HashSize)
	for i, js := range []string{
		`{"event_id":"web-01-0001","message":"before the upgrade"}`,
		`{"event_id":"web-01-0002","message":"before the upgrade too"}`,
		`{"message":"no event_id"}`,
	} {
		e := ev(t, js)
		r := toRow(int64(i+1), &e)
		sum, _ := chainHash(prev, &r, nil)
		prev = sum[:]
		args, set := r.values(sum[:], nil)
		if _, err := db.Exec(insertSQL(set), args...); err != nil {
			t.Fatal(err)
		}
	}
	// The old schema: event_id was globally unique.
	if _, err := db.Exec(`INSERT INTO events (id, event_id, time, time_ns, received_at, source, category, type, outcome, severity, message, hash)
		VALUES (99, 'web-01-0001', '', 0, 0, '', '', '', '', '', '', x'00')`); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("pre-0009 schema without the unique event_id index: %v", err)
	}
	db.Close()

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rep, err := s.VerifyChain(ctx, VerifyOptions{}); err != nil || !rep.OK || rep.Checked != 3 {
		t.Fatalf("verify after the migration: %+v %v", rep, err)
	}
	e := keyed(t, model.TokenSender(1), `{"event_id":"web-01-0001","message":"before the upgrade"}`)
	r1, err := s.AppendEvents(ctx, []model.Event{e, ev(t, `{"event_id":"web-01-0002","message":"syslog"}`)})
	if err != nil || r1.Accepted != 2 {
		t.Fatalf("after the migration %+v %v", r1, err)
	}
	r2, err := s.AppendEvents(ctx, []model.Event{e})
	if err != nil || r2.Duplicates != 1 || r2.IDs[0] != 4 {
		t.Fatalf("retry after the migration %+v %v", r2, err)
	}
	if rep, err := s.VerifyChain(ctx, VerifyOptions{}); err != nil || !rep.OK || rep.Checked != 5 {
		t.Fatalf("verify after appending: %+v %v", rep, err)
	}
}

// writerCommits returns how many batches the writer committed.
func writerCommits(t testing.TB, s *Store) uint64 {
	t.Helper()
	var m dto.Metric
	if err := s.writer.batchSize.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
