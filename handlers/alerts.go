package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// alertList is the alerts a request's filter selects, the cursor of the
// next page and the number of unread alerts: what the API and the page show.
type alertList struct {
	filter model.AlertFilter
	alerts []model.Alert
	next   int64
	unread int
}

func (s *Server) findAlerts(c echo.Context) (alertList, error) {
	var l alertList
	var err error
	if l.filter, err = model.ParseAlertFilter(c.QueryParams()); err != nil {
		return l, err
	}
	ctx := c.Request().Context()
	if l.alerts, l.next, err = s.store.FindAlerts(ctx, l.filter); err != nil {
		return l, err
	}
	l.unread, err = s.store.CountUnreadAlerts(ctx)
	return l, err
}

// listAlerts answers GET /api/v1/alerts?unread=1&open=1&severity=&type=.
func (s *Server) listAlerts(c echo.Context) error {
	l, err := s.findAlerts(c)
	if err != nil {
		return err
	}
	alerts, unread, next := l.alerts, l.unread, l.next
	return c.JSON(http.StatusOK, struct {
		Alerts []model.Alert `json:"alerts"`
		Unread int           `json:"unread"`
		Next   *string       `json:"next"`
	}{alerts, unread, cursor(next)})
}

// readAlert answers POST /api/v1/alerts/{id}/read.
func (s *Server) readAlert(c echo.Context) error {
	id, err := pathID(c, "alert")
	if err != nil {
		return err
	}
	a, err := s.store.MarkAlertRead(c.Request().Context(), id, s.actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// readAllAlerts answers POST /api/v1/alerts/read-all.
func (s *Server) readAllAlerts(c echo.Context) error {
	n, err := s.store.MarkAllAlertsRead(c.Request().Context(), s.actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int64{"marked": n})
}

// actor is the audit actor of the calling user.
func (s *Server) actor(c echo.Context) model.Actor {
	a := model.UserActor(principal(c).User.Name)
	a.IP = c.RealIP()
	return a
}

// navCountsID is the element of the navigation that shows unread alerts.
const navCountsID = "nav-count-alerts"

// navCounts puts the number of unread alerts on the Alerts entry of nav.
func (s *Server) navCounts(c echo.Context, nav []navLink) {
	for i := range nav {
		if nav[i].Path != "/alerts" {
			continue
		}
		n, err := s.store.CountUnreadAlerts(c.Request().Context())
		if err != nil {
			s.log.Warn("counting unread alerts", "request_id", requestID(c), "err", err)
			return
		}
		nav[i].Count, nav[i].CountID = n, navCountsID
	}
}

// alertsView is the Alerts page.
type alertsView struct {
	Alerts     []model.Alert
	Unread     int
	Filter     model.AlertFilter
	From, To   string // the filter's time range, for the form
	Severities []string
	Types      []string
	SelfURL    string
	OlderURL   string
	CanChange  bool
	Filtered   bool // a filter is set: "Mark all read" marks what it selects
	// OOB: the table is an htmx answer, so it also updates the unread
	// count in the navigation.
	OOB     bool
	CountID string
}

// alertTypes are the alert types offered by the Alerts filter.
var alertTypes = []string{model.AlertExpiringSoon, model.AlertExpired, model.AlertRenewalFailed, model.AlertAgentOffline,
	model.AlertDeploymentFailed, model.AlertJobStuck, model.AlertJobUnclaimed}

// alertsPage serves /alerts: newest first, with the API's filters
// (unread, open, severity, type), refreshed live.
func (s *Server) alertsPage(c echo.Context) error {
	return s.showAlerts(c, http.StatusOK, &pageData{})
}

func (s *Server) showAlerts(c echo.Context, status int, data *pageData) error {
	l, err := s.findAlerts(c)
	if err != nil {
		return err
	}
	next := l.next
	v := &alertsView{Alerts: l.alerts, Unread: l.unread, Filter: l.filter, Severities: model.AlertSeverities, Types: alertTypes,
		SelfURL: selfURL(c), CanChange: canChange(c), OOB: isHTMX(c), CountID: navCountsID,
		From: formField(l.filter.From), To: formField(l.filter.To), Filtered: len(l.filter.Query()) > 0}
	if next > 0 {
		u, _ := url.Parse(v.SelfURL)
		q := u.Query()
		q.Set("before", strconv.FormatInt(next, 10))
		v.OlderURL = "/alerts?" + q.Encode()
	}
	data.Page = v
	return s.openWatchPage(c, status, "alerts", "Alerts", "alerts-table", data)
}

// consoleReadAlert marks one alert read from the console.
func (s *Server) consoleReadAlert(c echo.Context) error {
	id, err := pathID(c, "alert")
	if err == nil {
		_, err = s.store.MarkAlertRead(c.Request().Context(), id, s.actor(c))
	}
	return s.watchChanged(c, err, "", func(status int, d *pageData) error { return s.showAlerts(c, status, d) })
}

// consoleReadAllAlerts marks read, from the console, the unread alerts of
// the view the form was sent from (its back URL's filter, all its pages),
// and comes back to it saying how many.
func (s *Server) consoleReadAllAlerts(c echo.Context) error {
	back, err := url.Parse(safeNext(c.FormValue("back")))
	if err != nil {
		return model.Errorf(model.EINVALID, "back: %v", err)
	}
	var n int64
	f, err := model.ParseAlertFilter(back.Query())
	if err == nil {
		n, err = s.store.MarkAlertsRead(c.Request().Context(), f, s.actor(c))
	}
	if err != nil {
		return s.watchChanged(c, err, "", func(status int, d *pageData) error { return s.showAlerts(c, status, d) })
	}
	q := back.Query()
	q.Set("done", markedDone)
	q.Set(markedParam, strconv.FormatInt(n, 10))
	back.RawQuery = q.Encode()
	return c.Redirect(http.StatusSeeOther, back.String())
}

// markedDone confirms "Mark all read" with the number marked (markedParam).
const markedDone, markedParam = "marked", "marked_count"

// markedFlash is the confirmation of "Mark all read": a number, never
// words from the link.
func markedFlash(c echo.Context) string {
	n, err := strconv.ParseInt(c.QueryParam(markedParam), 10, 64)
	if c.QueryParam("done") != markedDone || err != nil || n < 0 {
		return ""
	}
	if n == 1 {
		return "1 alert marked read."
	}
	return strconv.FormatInt(n, 10) + " alerts marked read."
}
