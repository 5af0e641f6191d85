package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// listAlerts answers GET /api/v1/alerts?unread=1&open=1&severity=&type=.
func (s *Server) listAlerts(c echo.Context) error {
	f, err := model.ParseAlertFilter(c.QueryParams())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	alerts, next, err := s.store.FindAlerts(ctx, f)
	if err != nil {
		return err
	}
	unread, err := s.store.CountUnreadAlerts(ctx)
	if err != nil {
		return err
	}
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
