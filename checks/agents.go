package checks

import (
	"context"
	"fmt"
	"time"

	"vigil/model"
)

// checkAgents raises an AGENT_OFFLINE alert for each agent silent for
// AgentOfflineAfter, and resolves it once the agent is heard from again.
func (s *Scheduler) checkAgents(ctx context.Context, now time.Time) (Report, error) {
	agents, err := s.st.ListAgents(ctx, now, s.cfg.AgentOfflineAfter)
	if err != nil {
		return Report{}, err
	}
	var offline, raised, resolved int
	for _, a := range agents {
		key := "AGENT_OFFLINE:" + a.ID
		if a.Online {
			ok, err := s.st.ResolveAlert(ctx, key)
			if err != nil {
				return Report{}, err
			}
			if ok {
				resolved++
				s.log.Info("alert resolved", "job", CheckAgents, "key", key)
			}
			continue
		}
		offline++
		created, err := s.raise(ctx, model.Alert{
			Severity: model.SeverityWarn, Type: model.AlertAgentOffline,
			Title:   fmt.Sprintf("Agent %s is offline", a.ID),
			Message: fmt.Sprintf("No heartbeat from agent %s since %s (%s ago; the limit is %s).", a.ID, a.LastSeen.Format(time.RFC3339), now.Sub(a.LastSeen).Round(time.Second), s.cfg.AgentOfflineAfter),
			Entity:  model.Entity{Type: "AGENT", ID: a.ID}, Key: key,
		})
		if err != nil {
			return Report{}, err
		}
		if created {
			raised++
		}
	}
	return Report{
		Summary: fmt.Sprintf("%d agents known, %d offline; %d alerts raised, %d resolved", len(agents), offline, raised, resolved),
		Details: map[string]any{"agents": len(agents), "offline": offline, "alerts_raised": raised, "alerts_resolved": resolved},
	}, nil
}
