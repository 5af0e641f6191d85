package handlers

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// dashboardRange is a span the events chart offers, by the value of the
// range parameter. The chart counts events per hour in both.
type dashboardRange struct {
	Param, Label, Span string
	Hours, LabelEvery  int // the x axis labels every LabelEvery-th hour of the day
}

var dashboardRanges = []dashboardRange{
	{"24h", "24 hours", "the last 24 hours", 24, 3},
	{"7d", "7 days", "the last 7 days", 7 * 24, 24},
}

// dailyChartDays is the span of the per-day charts.
const dailyChartDays = 14

// lifecycleTypes are the audit event types of certificates issued and
// renewed: what agents and Vigil's own jobs record (model.Job.Action).
var lifecycleTypes = []string{"ISSUANCE_COMPLETED", "RENEWAL_COMPLETED"}

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
	Class                    string // "attention" or "warning" when it needs a look
}

// dashboardPage serves the dashboard, and its refresh (the "dashboard"
// block) for htmx.
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

	cards, err := s.watchCards(c, now)
	if err != nil {
		return err
	}
	more, err := s.eventCards(ctx, now, vis)
	if err != nil {
		return err
	}
	view.Cards = append(cards, more...)

	specs := []chartSpec{eventsChart(rg, now, vis)}
	if vis.MaySeeCategory(model.CategoryAuditLog) {
		specs = append(specs, lifecycleChart(now, vis))
	} else {
		view.Notes = append(view.Notes, "Issuance and renewal come from the audit log, which your role does not see.")
	}
	specs = append(specs, s.jobFailuresChart(now), s.alertsChart(now))
	for _, spec := range specs {
		counts, err := s.trendOf(ctx, spec)
		if err != nil {
			return err
		}
		var totals []model.TrendCount
		if spec.Window > 0 {
			if totals, err = s.store.EventTrend(ctx, spec.windowQuery()); err != nil {
				return err
			}
		}
		view.Charts = append(view.Charts, buildChart(spec, model.NewTrend(counts), model.NewTrend(totals)))
	}

	if !isHTMX(c) {
		if err := s.recordSystem(c, "E_SECTION_VISITED", "INFO", "Opened the dashboard", nil); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, "dashboard", "dashboard", &pageData{Title: "Dashboard", Section: "/", Page: view})
}

// trendOf counts what spec draws: its own counts, or its event trend.
func (s *Server) trendOf(ctx context.Context, spec chartSpec) ([]model.TrendCount, error) {
	if spec.Counts != nil {
		return spec.Counts(ctx)
	}
	return s.store.EventTrend(ctx, spec.Query)
}

// eventsChart counts the events the role sees per hour and category over
// the range; each segment opens the log that lists the category. Its
// caption and legend count exactly the range up to now: events dated
// after now are drawn in the current hour's bar but not counted there.
func eventsChart(rg dashboardRange, now time.Time, vis model.Visibility) chartSpec {
	hour := now.Truncate(time.Hour)
	spec := chartSpec{
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
		Window:  time.Duration(rg.Hours) * time.Hour, Now: now,
	}
	for i, cat := range model.Categories {
		if vis.MaySeeCategory(cat) {
			spec.Series = append(spec.Series, chartSeries{Key: cat, Label: cat, Class: "s-" + strconv.Itoa(i+1), Link: categoryLink(cat, "", "")})
		}
	}
	return spec
}

// dailySpec is a per-day chart over the last dailyChartDays days.
func dailySpec(id, title, empty string, now time.Time) chartSpec {
	today := now.Truncate(24 * time.Hour)
	return chartSpec{
		ID: id, Title: title, Span: fmt.Sprintf("the last %d days", dailyChartDays),
		Query:   model.TrendQuery{From: today.AddDate(0, 0, -(dailyChartDays - 1)), Step: 24 * time.Hour, Buckets: dailyChartDays},
		Label:   func(t time.Time) string { return t.Format("2 Jan") },
		Labeled: func(t time.Time) bool { return t.YearDay()%2 == 0 },
		Empty:   empty,
	}
}

// lifecycleChart counts certificates issued and renewed per day, from the
// audit log; each segment opens the Audit page filtered by its action.
func lifecycleChart(now time.Time, vis model.Visibility) chartSpec {
	spec := dailySpec("chart-lifecycle", "Issuance and renewal per day", "No certificate was issued or renewed in the last 14 days.", now)
	spec.Query.By, spec.Query.Category, spec.Query.Types, spec.Query.Visibility = model.TrendByType, model.CategoryAuditLog, lifecycleTypes, vis
	for i, typ := range lifecycleTypes {
		spec.Series = append(spec.Series, chartSeries{Key: typ, Label: typ, Class: "s-" + strconv.Itoa(i+1), Link: categoryLink(model.CategoryAuditLog, typ, "")})
	}
	return spec
}

// jobFailuresChart counts the jobs that failed per day, by type; each
// segment opens the Jobs page filtered by status, type and day.
func (s *Server) jobFailuresChart(now time.Time) chartSpec {
	spec := dailySpec("chart-job-failures", "Job failures per day", "No job failed in the last 14 days.", now)
	spec.Counts = func(ctx context.Context) ([]model.TrendCount, error) {
		return s.store.FailedJobTrend(ctx, spec.Query.From, spec.Query.Buckets)
	}
	for i, typ := range model.JobTypes {
		spec.Series = append(spec.Series, chartSeries{Key: typ, Label: typ, Class: "s-" + strconv.Itoa(i+1),
			Link: watchLink("/jobs", url.Values{"status": {model.JobFailed}, "type": {typ}})})
	}
	return spec
}

// alertsChart counts the alerts raised per day, by severity; each
// segment opens the Alerts page filtered by severity and day.
func (s *Server) alertsChart(now time.Time) chartSpec {
	spec := dailySpec("chart-alerts", "Alerts by severity per day", "No alert was raised in the last 14 days.", now)
	spec.Counts = func(ctx context.Context) ([]model.TrendCount, error) {
		return s.store.AlertTrend(ctx, spec.Query.From, spec.Query.Buckets)
	}
	classes := map[string]string{model.SeverityError: "s-6", model.SeverityWarn: "s-2", model.SeverityInfo: "s-3"}
	for _, sev := range model.AlertSeverities {
		spec.Series = append(spec.Series, chartSeries{Key: sev, Label: sev, Class: classes[sev],
			Link: watchLink("/alerts", url.Values{"severity": {sev}})})
	}
	return spec
}

// watchCards are the figures of the certificate watch: unread alerts by
// severity, failed and long-running jobs, certificates near expiry and
// offline agents. Every role sees them (SPEC §5).
func (s *Server) watchCards(c echo.Context, now time.Time) ([]card, error) {
	ctx := c.Request().Context()
	var cards []card
	unread, err := s.store.CountUnreadAlertsBySeverity(ctx)
	if err != nil {
		return nil, err
	}
	for _, sev := range model.AlertSeverities {
		cd := card{Label: "Unread " + sev + " alerts", Value: strconv.Itoa(unread[sev]),
			Href: "/alerts?" + url.Values{"unread": {"1"}, "severity": {sev}}.Encode()}
		if unread[sev] > 0 {
			cd.Class = map[string]string{model.SeverityError: "attention", model.SeverityWarn: "warning"}[sev]
		}
		cards = append(cards, cd)
	}
	jobs, err := s.store.CountJobsByStatus(ctx)
	if err != nil {
		return nil, err
	}
	long, err := s.store.RunningJobsStartedBefore(ctx, now.Add(-longRunning))
	if err != nil {
		return nil, err
	}
	cards = append(cards,
		flagged(card{Label: "Failed jobs", Value: strconv.Itoa(jobs[model.JobFailed]), Href: "/jobs?status=FAILED"}, jobs[model.JobFailed], "attention"),
		flagged(card{Label: "Long-running jobs", Value: strconv.Itoa(len(long)),
			Note: fmt.Sprintf("running over %s; %d running in all", minutes(longRunning), jobs[model.JobRunning]), Href: "/jobs?status=RUNNING"}, len(long), "warning"))
	exp, err := s.store.CountCertificateExpiry(ctx, now)
	if err != nil {
		return nil, err
	}
	expiredNote := fmt.Sprintf("%d already expired", exp.Expired)
	cards = append(cards,
		flagged(card{Label: "Certificates expiring in 7 days", Value: strconv.Itoa(exp.Within7d), Note: expiredNote,
			Href: "/certificates?expiring_within=7d"}, exp.Within7d, "attention"),
		flagged(card{Label: "Certificates expiring in 30 days", Value: strconv.Itoa(exp.Within30d), Note: expiredNote,
			Href: "/certificates?expiring_within=30d"}, exp.Within30d, "warning"))
	agents, err := s.agents(c, now)
	if err != nil {
		return nil, err
	}
	offline := 0
	for _, a := range agents {
		if !a.Online {
			offline++
		}
	}
	cards = append(cards, flagged(card{Label: "Offline agents", Value: strconv.Itoa(offline),
		Note: fmt.Sprintf("of %d; silent over %s", len(agents), minutes(s.cfg.AgentOfflineAfter)), Href: "/agents"}, offline, "warning"))
	verified, err := s.verifiedCard(ctx)
	if err != nil {
		return nil, err
	}
	return append(cards, verified), nil
}

// verifiedCard says when the scheduled verification (--cron-verify) last
// checked the whole log and what it found; it links to its alerts.
func (s *Server) verifiedCard(ctx context.Context) (card, error) {
	cd := card{Label: "Log verified", Href: "/alerts?" + url.Values{"type": {model.AlertIntegrityFailed}}.Encode()}
	run, err := s.store.LatestVerifyRun(ctx)
	switch {
	case model.ErrorCode(err) == model.ENOTFOUND:
		cd.Value, cd.Note = "not yet", "the scheduled verification (--cron-verify) has not run"
		return cd, nil
	case err != nil:
		return cd, err
	}
	at := run.Finished.UTC().Format("2006-01-02 15:04") + " UTC"
	if run.OK {
		cd.Value, cd.Note = "OK", fmt.Sprintf("%s: %s events, tree of %s", at, thousands(run.Checked), thousands(int64(run.TreeSize)))
		return cd, nil
	}
	cd.Value, cd.Class, cd.Note = "FAILED", "attention", at+": "+run.Reason
	if run.FirstBad != nil {
		cd.Note = fmt.Sprintf("%s: first bad id %d: %s", at, *run.FirstBad, run.Reason)
	}
	return cd, nil
}

// minutes formats a limit such as 15m0s as "15 min" (or "90 s", "2 h").
func minutes(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%d s", d/time.Second)
}

// flagged marks cd with class when n is not zero.
func flagged(cd card, n int, class string) card {
	if n > 0 {
		cd.Class = class
	}
	return cd
}

// eventCards are the figures taken from the events: intake rate, and the
// last 24 hours' denied certificate uses and failed sign-ins. Those count
// whole hours (the current one and the 23 before it), which the event
// rollups answer whatever the number of events.
func (s *Server) eventCards(ctx context.Context, now time.Time, vis model.Visibility) ([]card, error) {
	last5, first, err := s.store.ReceivedSince(ctx, now.Add(-5*time.Minute))
	if err != nil {
		return nil, err
	}
	lastHour, _, err := s.store.ReceivedSince(ctx, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	// The rate counts the events received in the last 5 minutes, of every
	// category: exactly the ids first … first+last5-1, which the events API
	// lists (for a role that sees every category). Events received since
	// (this visit's own record) are not in the link.
	if first == 0 {
		first = math.MaxInt64 - 1
	}
	cards := []card{{
		Label: "Ingest rate", Value: fmt.Sprintf("%s/min", rate(last5, 5)),
		Note: fmt.Sprintf("%d events received in the last hour; the link lists the last 5 minutes'", lastHour),
		Href: fmt.Sprintf("/api/v1/events?after=%d&before=%d&limit=%d", first-1, first+last5, model.MaxLimit),
	}}
	if ix := s.store.IndexStatus(); ix.Behind {
		cards[0].Note += "; search is catching up: " + thousands(ix.Lag) + " not yet searchable"
		cards[0].Class = "warning"
	}
	since := now.Truncate(time.Hour).Add(-23 * time.Hour)
	sinceNote := "last 24 hours, since " + since.Format("15:04") + " UTC"
	for _, f := range []struct {
		label, category, outcome string
	}{
		{"Denied certificate uses", model.CategoryUsage, "DENIED"},
		{"Failed sign-ins", model.CategoryAuth, "FAILURE"},
	} {
		if !vis.MaySeeCategory(f.category) {
			continue
		}
		q := model.TrendQuery{From: since, Step: 24 * time.Hour, Buckets: 1,
			By: model.TrendByCategory, Category: f.category, Outcome: f.outcome, Visibility: vis}
		counts, err := s.store.EventTrend(ctx, q)
		if err != nil {
			return nil, err
		}
		n := model.NewTrend(counts).Total("")
		cards = append(cards, flagged(card{Label: f.label, Value: strconv.Itoa(n), Note: sinceNote,
			Href: categoryLink(f.category, "", f.outcome)(since, q.To().Add(-time.Nanosecond))}, n, "attention"))
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

// watchLink returns a function giving page filtered by base and the time
// range [from, to] (whole seconds, as the watch pages filter).
func watchLink(page string, base url.Values) func(from, to time.Time) string {
	return func(from, to time.Time) string {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set("from", from.UTC().Format(time.RFC3339))
		q.Set("to", to.UTC().Truncate(time.Second).Format(time.RFC3339))
		return page + "?" + q.Encode()
	}
}
