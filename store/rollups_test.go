package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vigil/model"
)

// rollupEvents are n events of every category, type and outcome the
// dashboard counts, over three days ending at end, some received long
// ago (the first tenth and a third of the others: for retention to remove
// or redact), SYSTEM ones of the scheduler and
// of two users.
func rollupEvents(t *testing.T, n int, end time.Time, seed uint64) []model.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	kinds := []string{
		`"type":"CERT_USED","outcome":"ALLOWED"`, `"type":"CERT_USED","outcome":"DENIED"`,
		`"category":"AUTH","type":"E_LOGIN_FAILED","outcome":"FAILURE"`, `"category":"AUTH","type":"E_LOGIN_SUCCEEDED","outcome":"SUCCESS"`,
		`"category":"ACCESS_CONTROL","type":"ACCESS_CHECK","outcome":"ALLOWED"`,
		`"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","outcome":"SUCCESS"`, `"category":"AUDIT_LOG","type":"RENEWAL_COMPLETED","outcome":"SUCCESS"`,
		`"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"SYSTEM","id":"scheduler"}`,
		`"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"olga"}`,
		`"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"ann"}`,
	}
	old := end.Add(-500 * 24 * time.Hour)
	evs := make([]model.Event, 0, n)
	for i := range n {
		at := end.Add(-time.Duration(rng.Int64N(int64(72 * time.Hour))))
		e := ev(t, fmt.Sprintf(`{"time":%q,%s,"message":"m"}`, at.Format(time.RFC3339Nano), kinds[rng.IntN(len(kinds))]))
		if i < n/10 || rng.IntN(3) == 0 {
			e.ReceivedAt = old
		}
		evs = append(evs, e)
	}
	return evs
}

// rollupQueries are the trends the dashboard asks for, by every role.
func rollupQueries(end time.Time) []model.TrendQuery {
	hour := end.Truncate(time.Hour)
	day := end.Truncate(24 * time.Hour)
	var qs []model.TrendQuery
	for _, role := range []string{model.RoleAdmin, model.RoleOperator, model.RoleViewer} {
		vis := model.VisibilityFor(model.User{Role: role, Name: "olga"})
		qs = append(qs,
			model.TrendQuery{From: hour.Add(-23 * time.Hour), Step: time.Hour, Buckets: 24, By: model.TrendByCategory, Visibility: vis},
			model.TrendQuery{From: hour.Add(-167 * time.Hour), Step: time.Hour, Buckets: 168, By: model.TrendByCategory, Visibility: vis},
			model.TrendQuery{From: day.AddDate(0, 0, -13), Step: 24 * time.Hour, Buckets: 14, By: model.TrendByType,
				Category: model.CategoryAuditLog, Types: []string{"ISSUANCE_COMPLETED", "RENEWAL_COMPLETED"}, Visibility: vis},
			model.TrendQuery{From: hour.Add(-23 * time.Hour), Step: 24 * time.Hour, Buckets: 1, By: model.TrendByCategory,
				Category: model.CategoryUsage, Outcome: "DENIED", Visibility: vis},
			model.TrendQuery{From: hour.Add(-23 * time.Hour), Step: 24 * time.Hour, Buckets: 1, By: model.TrendByType,
				Category: model.CategoryAuditLog, Outcome: model.OutcomeRedacted, Visibility: vis},
		)
		// Exact windows, as the dashboard's captions count them: edges at
		// any nanosecond, spanning days, hours or only minutes.
		for _, w := range []struct{ back, span time.Duration }{
			{24 * time.Hour, 24 * time.Hour}, {7 * 24 * time.Hour, 7 * 24 * time.Hour},
			{26*time.Hour + 17*time.Minute + 3*time.Second, 90*time.Minute + 7*time.Second},
			{5*time.Hour + 13*time.Minute + 500*time.Millisecond, 29 * time.Minute},
			{40*time.Hour + 59*time.Minute + 59*time.Second, 3*time.Minute + time.Nanosecond},
		} {
			from := end.Add(-w.back)
			qs = append(qs,
				model.TrendQuery{From: from, Step: w.span, Buckets: 1, By: model.TrendByCategory, Visibility: vis},
				// ending on a minute
				model.TrendQuery{From: from, Step: from.Add(w.span).Truncate(time.Minute).Sub(from), Buckets: 1, By: model.TrendByCategory, Visibility: vis},
				model.TrendQuery{From: end.Add(-w.back), Step: w.span, Buckets: 1, By: model.TrendByType,
					Category: model.CategoryAuditLog, Outcome: "SUCCESS", Visibility: vis})
		}
	}
	return qs
}

// checkRollupsAgree checks that the rollups answer every dashboard trend
// as a recount from the events does.
func checkRollupsAgree(t *testing.T, s *Store, end time.Time, when string) {
	t.Helper()
	ctx := context.Background()
	sorted := func(c []model.TrendCount) []model.TrendCount {
		slices.SortFunc(c, func(a, b model.TrendCount) int {
			if a.Bucket != b.Bucket {
				return a.Bucket - b.Bucket
			}
			if a.Key < b.Key {
				return -1
			}
			if a.Key > b.Key {
				return 1
			}
			return 0
		})
		return c
	}
	total := 0
	for _, q := range rollupQueries(end) {
		got, ok, err := s.trendFromRollups(ctx, q)
		if err != nil || !ok {
			t.Fatalf("%s: rollups do not answer %+v: %v", when, q, err)
		}
		want, err := s.trendFromEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("%s: %+v:\nrollups %v\nevents  %v", when, q, got, want)
		}
		for _, c := range want {
			total += c.Count
		}
	}
	if total == 0 {
		t.Fatalf("%s: nothing counted", when)
	}
	// Types of other categories than AUDIT_LOG are not kept: counted from
	// the events.
	q := model.TrendQuery{From: end.Truncate(time.Hour), Step: time.Hour, Buckets: 1, By: model.TrendByType, Category: model.CategoryUsage}
	if _, ok, err := s.trendFromRollups(ctx, q); ok || err != nil {
		t.Fatalf("%s: rollups answer USAGE by type (%v)", when, err)
	}
}

// TestRollupsAgreeWithEvents appends events in many batches, applies
// retention (which removes a prefix and redacts above it) and rebuilds the
// rollups: after each, the rollups count what the events do.
func TestRollupsAgreeWithEvents(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	end := time.Now().UTC()
	evs := rollupEvents(t, 3000, end, 1)
	for i := 0; i < len(evs); i += 137 {
		if _, err := s.AppendEvents(ctx, evs[i:min(i+137, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	checkRollupsAgree(t, s, end, "after appends")

	res, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: end.Add(-400 * 24 * time.Hour), ChunkSize: 211})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed == 0 || res.Redacted == 0 {
		t.Fatalf("retention removed %d and redacted %d; the test needs both", res.Removed, res.Redacted)
	}
	checkRollupsAgree(t, s, end, "after retention")

	for _, table := range []string{"event_rollups", "event_rollups_minute"} {
		if _, err := s.wdb.Exec(`UPDATE ` + table + ` SET n = n + 5`); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RebuildRollups(ctx); err != nil {
		t.Fatal(err)
	}
	checkRollupsAgree(t, s, end, "after a rebuild")
	if _, err := s.AppendEvents(ctx, rollupEvents(t, 300, end, 2)); err != nil {
		t.Fatal(err)
	}
	checkRollupsAgree(t, s, end, "after appends following the rebuild")
}

// TestRollupsCountedAfterUpgrade opens a database stored before the
// rollups existed: the events already stored are counted in the
// background (the dashboard counts from the events meanwhile), retention
// running during that count keeps them right, and then the rollups agree
// with the events.
func TestRollupsCountedAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	end := time.Now().UTC()
	old, err := openWithSchema(ctx, path, schemaBefore(t, 12), Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := rollupEvents(t, 2*rollupChunk+500, end, 3)
	for i := 0; i < len(evs); i += 5000 {
		if _, err := old.AppendEvents(ctx, evs[i:min(i+5000, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendEvents(ctx, rollupEvents(t, 200, end, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: end.Add(-400 * 24 * time.Hour), ChunkSize: 5000}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ready, err := s.RollupsReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stored events were not counted within a minute")
		}
	}
	checkRollupsAgree(t, s, end, "after the upgrade")
}
