package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// listAgents answers GET /api/v1/agents: every agent known from its events,
// with its last heartbeat and whether it is online.
func (s *Server) listAgents(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.store.FlushSightings(ctx, s.cfg.Sightings); err != nil {
		s.log.Warn("flushing heartbeats", "request_id", requestID(c), "err", err)
	}
	agents, err := s.store.ListAgents(ctx, s.now(), s.cfg.AgentOfflineAfter)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Agents []model.Agent `json:"agents"`
	}{agents})
}
