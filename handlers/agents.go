package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// listAgents answers GET /api/v1/agents: every agent known from its events,
// with its last heartbeat and whether it is online.
func (s *Server) listAgents(c echo.Context) error {
	agents, err := s.agents(c, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Agents []model.Agent `json:"agents"`
	}{agents})
}

// agents returns every agent as of now.
func (s *Server) agents(c echo.Context, now time.Time) ([]model.Agent, error) {
	return s.store.ListAgents(c.Request().Context(), now, s.cfg.AgentOfflineAfter)
}

// agentRow is an agent as the Agents page lists it.
type agentRow struct {
	model.Agent
	Ago string // since the last heartbeat
}

// agentsPage serves /agents: every agent, online or offline, with its last
// heartbeat, refreshed live.
func (s *Server) agentsPage(c echo.Context) error {
	now := s.now()
	agents, err := s.agents(c, now)
	if err != nil {
		return err
	}
	rows := make([]agentRow, len(agents))
	online := 0
	for i, a := range agents {
		rows[i] = agentRow{Agent: a, Ago: roundDuration(now.Sub(a.LastSeen)) + " ago"}
		if a.Online {
			online++
		}
	}
	return s.openWatchPage(c, http.StatusOK, "agents", "Agents", "agents-table", &pageData{Page: struct {
		Agents       []agentRow
		Online       int
		OfflineAfter time.Duration
		SelfURL      string
	}{rows, online, s.cfg.AgentOfflineAfter, selfURL(c)}})
}
