package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// dashboardRanges are the spans the events chart offers, by the value of
// the range parameter. The chart counts events per hour in both.
var dashboardRanges = []dashboardRange{
	{"24h", "24 hours", "the last 24 hours", 24, 3},
	{"7d", "7 days", "the last 7 days", 7 * 24, 24},
}

type dashboardRange struct {
	Param, Label, Span string
	Hours, LabelEvery  int // the x axis labels every LabelEvery-th hour of the day
}

// dailyChartDays is the span of the per-day charts.
const dailyChartDays = 14

// Audit event types behind the lifecycle charts: what agents and Vigil's
// own jobs record when a certificate is issued or renewed, and when a job
// of each type fails (model.Job.Action).
var (
	lifecycleTypes = []string{"ISSUANCE_COMPLETED", "RENEWAL_COMPLETED"}
	jobFailedTypes = []string{"ISSUANCE_FAILED", "RENEWAL_FAILED", "REVOCATION_FAILED", "CA_REFRESH_FAILED", "DEPLOYMENT_VALIDATION_FAILED"}
)

// dashboardView is what the dashboard template gets.
type dashboardView struct {
	Now            time.Time
	RefreshSeconds int
	Range          string
	Ranges         []rangeLink
	RefreshURL     string
	Cards          []card
	Charts         []chartView
	Notes          []string // what the role does not see
}

type rangeLink struct {
	Label, Href string
	Current     bool
}

// card is one figure at the top of the dashboard, linking to what it
// counts.
type card struct {
	Label, Value, Note, Href string
	Class                    string // "alert" when it needs attention
}

// dashboardPage serves the dashboard, and its refresh (the "dashboard"
// block) every few seconds for htmx.
func (s *Server) dashboardPage(c echo.Context) error {
	rangeParam := c.QueryParam("range")
	if rangeParam == "" {
		rangeParam = dashboardRanges[0].Param
	}
	idx := slices.IndexFunc(dashboardRanges, func(r dashboardRange) bool { return r.Param == rangeParam })
	if idx < 0 {
		return model.Errorf(model.EINVALID, "range must be 24h or 7d, not %q", rangeParam)
	}
	rg := dashboardRanges[idx]
	ctx := c.Request().Context()
	now := s.now().UTC()
	vis := model.VisibilityFor(principal(c).User)
	view := &dashboardView{Now: now, Range: rg.Param, RefreshURL: "/?range=" + rg.Param,
		RefreshSeconds: int(s.cfg.DashboardRefresh / time.Second)}
	for _, r := range dashboardRanges {
		view.Ranges = append(view.Ranges, rangeLink{Label: r.Label, Href: "/?range=" + r.Param, Current: r.Param == rg.Param})
	}

	// Events per hour by category, over the chosen range.
	hour := now.Truncate(time.Hour)
	events := chartSpec{
		ID: "chart-events", Title: "Events per hour by category", Span: rg.Span,
		Query: model.TrendQuery{From: hour.Add(-time.Duration(rg.Hours-1) * time.Hour), Step: time.Hour, Buckets: rg.Hours,
			By: model.TrendByCategory, Visibility: vis},
		Label: func(t time.Time) string {
			if rg.Hours > 24 {
				return t.Format("Mon 2")
			}
			return t.Format("15:04")
		},
		Labeled: func(t time.Time) bool { return t.Hour()%rg.LabelEvery == 0 },
		Empty:   "No events in " + rg.Span + ". Connect an agent (docs/agents.md) or post one to /api/v1/events.",
	}
	for i, cat := range model.Categories {
		if vis.MaySeeCategory(cat) {
			events.Series = append(events.Series, chartSeries{Key: cat, Label: cat, Class: "s-" + strconv.Itoa(i+1), Link: categoryLink(cat, "", "")})
		}
	}
	eventsChart, err := s.chart(ctx, events)
	if err != nil {
		return err
	}
	view.Charts = append(view.Charts, eventsChart)

	// Per day: issuance and renewal, and failed jobs, from the audit log.
	today := now.Truncate(24 * time.Hour)
	daily := func(id, title, empty string, types []string) chartSpec {
		spec := chartSpec{
			ID: id, Title: title, Span: fmt.Sprintf("the last %d days", dailyChartDays),
			Query: model.TrendQuery{From: today.AddDate(0, 0, -(dailyChartDays - 1)), Step: 24 * time.Hour, Buckets: dailyChartDays,
				By: model.TrendByType, Category: model.CategoryAuditLog, Types: types, Visibility: vis},
			Label:   func(t time.Time) string { return t.Format("2 Jan") },
			Labeled: func(t time.Time) bool { return t.YearDay()%2 == 0 },
			Empty:   empty,
		}
		for i, typ := range types {
			spec.Series = append(spec.Series, chartSeries{Key: typ, Label: typ, Class: "s-" + strconv.Itoa(i+1),
				Link: categoryLink(model.CategoryAuditLog, typ, "")})
		}
		return spec
	}
	if vis.MaySeeCategory(model.CategoryAuditLog) {
		for _, spec := range []chartSpec{
			daily("chart-lifecycle", "Issuance and renewal per day", "No certificate was issued or renewed in the last 14 days.", lifecycleTypes),
			daily("chart-job-failures", "Job failures per day", "No job failed in the last 14 days.", jobFailedTypes),
		} {
			ch, err := s.chart(ctx, spec)
			if err != nil {
				return err
			}
			view.Charts = append(view.Charts, ch)
		}
	} else {
		view.Notes = append(view.Notes, "Issuance, renewal and job failure trends come from the audit log, which your role does not see.")
	}

	cards, err := s.eventCards(ctx, now, vis)
	if err != nil {
		return err
	}
	view.Cards = cards

	if !isHTMX(c) {
		if err := s.recordSystem(c, "E_SECTION_VISITED", "INFO", "Opened the dashboard", nil); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, "dashboard", "dashboard", &pageData{Title: "Dashboard", Section: "/", Page: view})
}

// chart runs spec's trend and lays it out.
func (s *Server) chart(ctx context.Context, spec chartSpec) (chartView, error) {
	counts, err := s.store.EventTrend(ctx, spec.Query)
	if err != nil {
		return chartView{}, err
	}
	return buildChart(spec, model.NewTrend(counts)), nil
}

// eventCards are the figures taken from the events: intake rate, and the
// last 24 hours' denied certificate uses and failed sign-ins.
func (s *Server) eventCards(ctx context.Context, now time.Time, vis model.Visibility) ([]card, error) {
	last5, err := s.store.ReceivedSince(ctx, now.Add(-5*time.Minute))
	if err != nil {
		return nil, err
	}
	lastHour, err := s.store.ReceivedSince(ctx, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	cards := []card{{
		Label: "Ingest rate", Value: fmt.Sprintf("%s/min", rate(last5, 5)),
		Note: fmt.Sprintf("%d events received in the last hour", lastHour), Href: "/events",
	}}
	dayAgo := now.Add(-24 * time.Hour)
	for _, f := range []struct {
		label, category, outcome string
	}{
		{"Denied certificate uses", model.CategoryUsage, "DENIED"},
		{"Failed sign-ins", model.CategoryAuth, "FAILURE"},
	} {
		if !vis.MaySeeCategory(f.category) {
			continue
		}
		counts, err := s.store.EventTrend(ctx, model.TrendQuery{From: dayAgo, Step: 24 * time.Hour, Buckets: 1,
			By: model.TrendByCategory, Category: f.category, Outcome: f.outcome, Visibility: vis})
		if err != nil {
			return nil, err
		}
		n := model.NewTrend(counts).Total("")
		c := card{Label: f.label, Value: strconv.Itoa(n), Note: "last 24 hours", Href: categoryLink(f.category, "", f.outcome)(dayAgo, now)}
		if n > 0 {
			c.Class = "attention"
		}
		cards = append(cards, c)
	}
	return cards, nil
}

// rate formats n events over minutes as a per-minute rate.
func rate(n int64, minutes int) string {
	r := float64(n) / float64(minutes)
	if r >= 10 || r == float64(int64(r)) {
		return strconv.FormatInt(int64(r+0.5), 10)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// categoryLink returns a function giving the console page that lists the
// events of category (of type and outcome, when set) in [from, to]: the
// page is the log that lists the category, its filter the API's.
func categoryLink(category, typ, outcome string) func(from, to time.Time) string {
	path := "/events"
	for p, lp := range logPages {
		if slices.Contains(lp.Categories, category) {
			path = p
		}
	}
	return func(from, to time.Time) string {
		f := model.EventFilter{Type: typ, Outcome: outcome, From: from, To: to}
		if path == "/events" {
			f.Categories = []string{category}
		}
		q := f.Query()
		if category == model.CategoryAccessControl {
			q.Set("hide_access_control", "0")
		}
		return path + "?" + q.Encode()
	}
}
