package store

import (
	"context"
	"maps"
	"testing"
	"time"

	"vigil/model"
)

// TestAlertCounts raises alerts of each severity, reads one and resolves
// another: the open counts (metrics) drop the resolved one, the unread
// counts (dashboard) drop the read one, and the daily trend counts them
// all on the day they were created.
func TestAlertCounts(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	ids := map[string]int64{}
	for _, a := range []model.Alert{
		{Severity: model.SeverityError, Type: "TEST", Title: "e1", Key: "e1"},
		{Severity: model.SeverityError, Type: "TEST", Title: "e2", Key: "e2"},
		{Severity: model.SeverityWarn, Type: "TEST", Title: "w1", Key: "w1"},
		{Severity: model.SeverityInfo, Type: "TEST", Title: "i1", Key: "i1"},
	} {
		stored, _, err := s.RaiseAlert(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		ids[a.Key] = stored.ID
	}
	if _, err := s.MarkAlertRead(ctx, ids["e1"], model.UserActor("ann")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ResolveAlert(ctx, "w1"); err != nil || !ok {
		t.Fatalf("resolve: %v %v", ok, err)
	}
	for _, c := range []struct {
		name  string
		count func(context.Context) (map[string]int, error)
		want  map[string]int
	}{
		{"Open", s.CountOpenAlertsBySeverity, map[string]int{model.SeverityError: 2, model.SeverityInfo: 1}},
		{"Unread", s.CountUnreadAlertsBySeverity, map[string]int{model.SeverityError: 1, model.SeverityWarn: 1, model.SeverityInfo: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.count(ctx)
			if err != nil || !maps.Equal(got, c.want) {
				t.Errorf("got %v %v, want %v", got, err, c.want)
			}
		})
	}
	t.Run("Trend", func(t *testing.T) {
		trend, err := s.AlertTrend(ctx, today.AddDate(0, 0, -1), 3)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, c := range trend {
			if c.Bucket < 1 { // today, or tomorrow if midnight passed
				t.Errorf("alert counted on day %d, want today: %+v", c.Bucket, c)
			}
			got[c.Key] += c.Count
		}
		if want := map[string]int{model.SeverityError: 2, model.SeverityWarn: 1, model.SeverityInfo: 1}; !maps.Equal(got, want) {
			t.Errorf("trend %v, want %v", got, want)
		}
	})
}
