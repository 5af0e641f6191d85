package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

var (
	ruleCats    = []string{model.CategoryUsage, model.CategoryAccessControl, model.CategoryAuditLog, model.CategoryAuth}
	ruleTenants = []string{"", "acme", "beta"}
)

// ruleEvent is what the rules fixture stores as event id.
type ruleEvent struct {
	category, tenant string
	age              time.Duration // how long ago it was received
}

func ruleFixtureEvent(id int) ruleEvent {
	day := 24 * time.Hour
	e := ruleEvent{category: ruleCats[id%4], tenant: ruleTenants[id%3], age: 200 * day}
	switch {
	case id == 5:
		e.category, e.tenant = model.CategoryAuth, "beta"
	case id <= 10:
		e.category, e.tenant = model.CategoryUsage, "acme"
	case id > 1000:
		e.age = 0
	case id > 900:
		e.age = 45 * day
	case id > 800:
		e.age = 60 * day
	}
	return e
}

// rulesFixture stores 1200 events of several categories and tenants: ids
// 1-800 received 200 days ago, 801-900 60 days ago, 901-1000 45 days ago,
// the rest now; the
// first ten are acme's USAGE events but for event 5, beta's AUTH.
func rulesFixture(t *testing.T, now time.Time) *Store {
	t.Helper()
	s := openTest(t)
	var evs []model.Event
	for i := 1; i <= 1200; i++ {
		f := ruleFixtureEvent(i)
		e := ev(t, fmt.Sprintf(`{"message":"event %d","category":%q,"tenant":%q}`, i, f.category, f.tenant))
		e.ReceivedAt = now.Add(-f.age)
		evs = append(evs, e)
	}
	if _, err := s.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	return s
}

// rulesPolicy: by default a year; ACCESS_CONTROL 90 days; AUDIT_LOG 7
// years; tenant acme 30 days; beta's AUTH events 7 days.
func rulesPolicy(now time.Time) RetentionPolicy {
	day := 24 * time.Hour
	return PolicyAt(now, []model.RetentionRule{
		{Keep: 365 * day},
		{Category: model.CategoryAuditLog, Keep: 2555 * day},
		{Category: model.CategoryAccessControl, Keep: 90 * day},
		{Tenant: "acme", Keep: 30 * day},
		{Category: model.CategoryAuth, Tenant: "beta", Keep: 7 * day},
	}, nil)
}

// decidingRule is the rules of rulesPolicy written out by precedence: the
// rule (category/tenant) that decides for e and how long it keeps.
func decidingRule(e ruleEvent) (string, time.Duration) {
	day := 24 * time.Hour
	if e.category == model.CategoryAuth && e.tenant == "beta" {
		return "AUTH/beta", 7 * day
	}
	// A category's rule and a tenant's: the longer keeps.
	rule, keep := "", time.Duration(0)
	if e.tenant == "acme" {
		rule, keep = "/acme", 30*day
	}
	switch {
	case e.category == model.CategoryAccessControl && 90*day > keep:
		rule, keep = "ACCESS_CONTROL/", 90*day
	case e.category == model.CategoryAuditLog && 2555*day > keep:
		rule, keep = "AUDIT_LOG/", 2555*day
	}
	if rule == "" {
		return "/", 365 * day
	}
	return rule, keep
}

// wantDropped reports whether the rules of rulesPolicy drop e.
func wantDropped(e ruleEvent) bool {
	_, keep := decidingRule(e)
	return e.age > keep
}

// checkFates reads every event of the fixture: those up to lastRemoved are
// gone, those dropped and not held are redacted, the others intact. It
// returns how many are redacted.
func checkFates(t *testing.T, s *Store, lastRemoved int64, held func(id int, e ruleEvent) bool) int64 {
	t.Helper()
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	var redacted int64
	for id := 1; id <= 1200; id++ {
		f := ruleFixtureEvent(id)
		e, err := s.EventByID(context.Background(), int64(id), admin)
		switch {
		case int64(id) <= lastRemoved:
			if model.ErrorCode(err) != model.EGONE {
				t.Fatalf("event %d (%+v) should be removed: %+v %v", id, f, e, err)
			}
		case err != nil:
			t.Fatalf("event %d: %v", id, err)
		case wantDropped(f) && !held(id, f):
			if !e.Redacted() {
				t.Fatalf("event %d (%+v) should be redacted: %+v", id, f, e)
			}
			redacted++
		case e.Redacted() || e.Message != fmt.Sprintf("event %d", id):
			t.Fatalf("event %d (%+v) should be intact: %+v", id, f, e)
		}
	}
	return redacted
}

func TestRetentionRulesByCategoryAndTenant(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := rulesFixture(t, now)
	res, err := s.ApplyRetention(ctx, rulesPolicy(now))
	// The prefix: events 1-11 are all dropped (acme's after 30 days, beta's
	// AUTH after 7); event 12 is a USAGE event kept for a year.
	if err != nil || res.Removed != 11 || res.LastID != 11 || res.RecordID != 1201 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	redacted := checkFates(t, s, 11, func(int, ruleEvent) bool { return false })
	if redacted == 0 || res.Redacted != redacted {
		t.Fatalf("redacted %d, the fixture's rules drop %d above the prefix", res.Redacted, redacted)
	}
	rep := verifyOK(t, s)
	if rep.Redacted != redacted || rep.Pruned != 11 || rep.RetentionRecord != 1201 {
		t.Fatalf("verify: %+v", rep)
	}
	// The record states every rule.
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	rec, err := s.EventByID(ctx, 1201, admin)
	if err != nil {
		t.Fatal(err)
	}
	var d retentionRecord
	if err := json.Unmarshal(rec.Details, &d); err != nil || len(d.Rules) != 5 || d.Rules[4].Category != model.CategoryAuth ||
		d.Rules[4].Tenant != "beta" || d.Rules[4].Keep != "7d" || !strings.Contains(d.Rule, "then category or tenant (of the two, the one that keeps longer)") {
		t.Fatalf("record details %s: %v", rec.Details, err)
	}
	// A redacted event says when and under which rule.
	red, err := s.EventByID(ctx, 13, admin) // ACCESS_CONTROL of acme, 200 days old: the longer of its two rules
	if err != nil || !red.Redacted() {
		t.Fatalf("event 13: %+v %v", red, err)
	}
	how, err := s.RedactionOf(ctx, red)
	if err != nil || how.RecordID != 1201 || !strings.HasPrefix(how.Rule, "ACCESS_CONTROL events (kept 90d): dropped when received before ") ||
		how.At.IsZero() || how.Record != d.Rule {
		t.Fatalf("redaction of event 13: %+v %v", how, err)
	}
	// What each rule keeps, counted by the run.
	usage, err := s.RetentionUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]int64{}
	for id := 12; id <= 1024; id++ {
		if f := ruleFixtureEvent(id); !wantDropped(f) {
			rule, _ := decidingRule(f)
			kept[rule]++
		}
	}
	got := map[string]int64{}
	for _, u := range usage {
		got[u.Category+"/"+u.Tenant] = u.Events
		if u.Events > 0 && u.Bytes < u.Events*50 || u.CountedAt.IsZero() {
			t.Errorf("usage %+v", u)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Fatalf("usage by rule %v, want %v", got, kept)
	}
}

// legalHolds: tenant beta, and whatever was received about 60 days ago.
func legalHolds(now time.Time) []model.LegalHold {
	day := 24 * time.Hour
	return []model.LegalHold{
		{ID: 1, Tenant: "beta", Reason: "litigation"},
		{ID: 2, From: now.Add(-60*day - time.Hour), To: now.Add(-60*day + time.Hour)},
	}
}

func isHeld(id int, e ruleEvent) bool { return e.tenant == "beta" || (id > 800 && id <= 900) }

func TestLegalHoldsKeepEvents(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := rulesFixture(t, now)
	p := rulesPolicy(now)
	p.Holds = legalHolds(now)
	res, err := s.ApplyRetention(ctx, p)
	// The prefix stops at event 5, beta's, which its rule drops but the
	// hold keeps.
	if err != nil || res.Removed != 4 || res.LastID != 4 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	redacted := checkFates(t, s, 4, isHeld)
	if res.Redacted != redacted {
		t.Fatalf("redacted %d, want %d", res.Redacted, redacted)
	}
	if rep := verifyOK(t, s); rep.Redacted != redacted {
		t.Fatalf("verify: %+v", rep)
	}
	// Released, the holds no longer keep anything: the next run takes
	// what the rules drop.
	res, err = s.ApplyRetention(ctx, rulesPolicy(now))
	if err != nil || res.LastID != 11 {
		t.Fatalf("retention without holds: %+v %v", res, err)
	}
	checkFates(t, s, 11, func(int, ruleEvent) bool { return false })
	verifyOK(t, s)
}

// TestRedactionOutsideRulesOrUnderHoldDetected redacts, in the database
// file, an event no rule drops or one a hold keeps: verify names it.
func TestRedactionOutsideRulesOrUnderHoldDetected(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		id     int64
		reason string
	}{
		{"KeptByItsRule", 12, "event 12 is redacted but the rule of retention record 1201 keeps it"},  // USAGE, kept a year
		{"KeptSevenYears", 18, "event 18 is redacted but the rule of retention record 1201 keeps it"}, // AUDIT_LOG, no tenant
		{"UnderTenantHold", 23, "event 23 is redacted but a legal hold that retention record 1201 states keeps it"},
		{"UnderRangeHold", 805, "event 805 is redacted but a legal hold that retention record 1201 states keeps it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Now()
			s := rulesFixture(t, now)
			p := rulesPolicy(now)
			p.Holds = legalHolds(now)
			if _, err := s.ApplyRetention(ctx, p); err != nil {
				t.Fatal(err)
			}
			verifyOK(t, s)
			redactByHand(t, s, c.id, 1201)
			rep, err := s.VerifyChain(ctx, VerifyOptions{})
			if err != nil || rep.OK || rep.FirstBad == nil || *rep.FirstBad != c.id || rep.Reason != c.reason {
				t.Fatalf("verify: %+v %v, want failure naming %d: %q", rep, err, c.id, c.reason)
			}
		})
	}
}

// TestTwoCutoffRecordStillVerifies keeps reading records as versions before
// rules by category and tenant wrote them, alone and followed by a record
// of rules.
func TestTwoCutoffRecordStillVerifies(t *testing.T) {
	ctx := context.Background()
	s, p := retentionFixture(t)
	p.twoCutoffRecord = true
	res, err := s.ApplyRetention(ctx, p)
	if err != nil || res.RecordID != 1001 || res.Redacted != 531 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	rec, _ := s.EventByID(ctx, 1001, admin)
	if strings.Contains(string(rec.Details), `"rules"`) || !strings.Contains(string(rec.Details), `"audit_received_before"`) {
		t.Fatalf("not a record of two cutoffs: %s", rec.Details)
	}
	if rep := verifyOK(t, s); rep.Redacted != 531 {
		t.Fatalf("verify: %+v", rep)
	}
	red, _ := s.EventByID(ctx, 15, admin)
	if how, err := s.RedactionOf(ctx, red); err != nil || how.RecordID != 1001 || !strings.HasPrefix(how.Rule, "all other events: dropped when received before") {
		t.Fatalf("redaction under two cutoffs: %+v %v", how, err)
	}
	// A redacted event the old record's rule keeps is still caught.
	dropEventGuards(t, s)
	mustExec(t, s, `UPDATE events SET category = 'AUDIT_LOG' WHERE id = 15`)
	if rep, _ := s.VerifyChain(ctx, VerifyOptions{}); rep.OK || *rep.FirstBad != 15 {
		t.Fatalf("tampered under two cutoffs: %+v", rep)
	}
	mustExec(t, s, `UPDATE events SET category = 'USAGE' WHERE id = 15`)
	// A run of rules on top: tenant t1 kept only a day, its AUDIT_LOG
	// events too (a rule naming both decides over the AUDIT_LOG rule).
	p.twoCutoffRecord = false
	p.Rules = []RetentionCutoff{{Tenant: "t1", Before: time.Now().Add(-24 * time.Hour), Keep: "1d"},
		{Category: model.CategoryAuditLog, Tenant: "t1", Before: time.Now().Add(-24 * time.Hour), Keep: "1d"}}
	// Event 10, t1's AUDIT_LOG event, goes now: the prefix reaches event 19.
	if res, err := s.ApplyRetention(ctx, p); err != nil || res.RecordID != 1002 || res.LastID != 19 || res.Redacted != 19 {
		t.Fatalf("second retention: %+v %v", res, err)
	}
	verifyOK(t, s)
}
