package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// The console pages of the certificate watch (alerts, jobs, certificates,
// agents) share this: how a page is opened, how a change made on one ends,
// and the confirmations changes redirect to.

// watchDone are the confirmations a change redirects to (?done=KEY): fixed
// texts, so no one can put words on a page through a link.
var watchDone = map[string]string{
	"uploaded":   "Certificates uploaded.",
	"registered": "Endpoint registered. The next deployment check dials it.",
	"queued":     "Job queued.",
	"thresholds": "Alert thresholds saved. The next expiry check uses them.",
}

// openWatchPage records the visit of a console page (not of its live
// refreshes) and renders it with status, or only its table block for htmx.
func (s *Server) openWatchPage(c echo.Context, status int, page, title, block string, data *pageData) error {
	data.Title = title
	if data.Section == "" {
		data.Section = "/" + page
	}
	if data.Flash == "" {
		data.Flash = firstOf(watchDone[c.QueryParam("done")], markedFlash(c))
	}
	if c.Request().Method == http.MethodGet && !isHTMX(c) {
		if err := s.recordSystem(c, "E_SECTION_VISITED", "INFO", "Opened "+title, map[string]any{"filters_used": c.QueryParams().Encode()}); err != nil {
			return err
		}
	}
	return s.render(c, status, page, block, data)
}

// watchChanged ends a change made on a console page: on success a redirect
// back to the page (keeping its filter) with done's confirmation; a
// caller's mistake is shown on the page, by show, with its status.
func (s *Server) watchChanged(c echo.Context, err error, done string, show func(status int, data *pageData) error) error {
	if err == nil {
		back := safeNext(c.FormValue("back"))
		if done != "" {
			u, _ := url.Parse(back)
			q := u.Query()
			q.Set("done", done)
			u.RawQuery = q.Encode()
			back = u.String()
		}
		return c.Redirect(http.StatusSeeOther, back)
	}
	code := model.ErrorCode(err)
	if code == model.EINTERNAL {
		return err
	}
	return show(statusOf[code], &pageData{Error: model.ErrorMessage(err)})
}

// canChange reports whether the signed-in user may change alerts, jobs and
// certificates (SPEC §5: admin and operator).
func canChange(c echo.Context) bool { return model.RoleMayChange(principal(c).User.Role) }

// selfURL is the request's path and query without the done confirmation,
// the URL a page's live refresh and forms come back to.
func selfURL(c echo.Context) string {
	q := url.Values{}
	for k, v := range c.QueryParams() {
		if k != "done" && k != markedParam {
			q[k] = v
		}
	}
	if len(q) == 0 {
		return c.Request().URL.Path
	}
	return c.Request().URL.Path + "?" + q.Encode()
}

// formID parses an optional positive integer form field.
func formID(c echo.Context, name string) (int64, error) {
	v := c.FormValue(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, model.Errorf(model.EINVALID, "%s must be a positive integer", name)
	}
	return id, nil
}
