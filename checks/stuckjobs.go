package checks

import (
	"context"
	"fmt"
	"time"

	"vigil/model"
)

// checkStuckJobs raises a JOB_STUCK alert for each job RUNNING longer than
// JobStuckAfter and a JOB_UNCLAIMED alert for each job due that long ago and
// still QUEUED. They resolve when the job ends or is claimed. The expiry
// alerts held for a renewal job now overdue are sent (releaseHeld).
func (s *Scheduler) checkStuckJobs(ctx context.Context, now time.Time) (Report, error) {
	limit := s.cfg.JobStuckAfter
	released, err := s.releaseHeld(ctx, now)
	if err != nil {
		return Report{}, err
	}
	running, err := s.st.RunningJobsStartedBefore(ctx, now.Add(-limit))
	if err != nil {
		return Report{}, err
	}
	queued, err := s.st.QueuedJobsScheduledBefore(ctx, now.Add(-limit))
	if err != nil {
		return Report{}, err
	}
	raised := 0
	for _, j := range running {
		created, err := s.raise(ctx, model.Alert{
			Severity: model.SeverityWarn, Type: model.AlertJobStuck,
			Title: fmt.Sprintf("%s job %d is stuck", j.Type, j.ID),
			Message: fmt.Sprintf("Job %d (%s) has been RUNNING on agent %s since %s (%s; the limit is %s).",
				j.ID, j.Name, j.ClaimedBy, j.StartedAt.Format(time.RFC3339), now.Sub(*j.StartedAt).Round(time.Second), limit),
			Entity: model.Entity{Type: "JOB", ID: fmt.Sprint(j.ID)}, Key: fmt.Sprintf("JOB_STUCK:job:%d", j.ID),
		})
		if err != nil {
			return Report{}, err
		}
		if created {
			raised++
		}
	}
	for _, j := range queued {
		who := "any agent"
		if j.AgentID != "" {
			who = "agent " + j.AgentID
		}
		created, err := s.raise(ctx, model.Alert{
			Severity: model.SeverityWarn, Type: model.AlertJobUnclaimed,
			Title: fmt.Sprintf("%s job %d was never claimed", j.Type, j.ID),
			Message: fmt.Sprintf("Job %d (%s), due at %s, is still QUEUED for %s after %s.",
				j.ID, j.Name, j.ScheduledAt.Format(time.RFC3339), who, now.Sub(j.ScheduledAt).Round(time.Second)),
			Entity: model.Entity{Type: "JOB", ID: fmt.Sprint(j.ID)}, Key: fmt.Sprintf("JOB_UNCLAIMED:job:%d", j.ID),
		})
		if err != nil {
			return Report{}, err
		}
		if created {
			raised++
		}
	}
	return Report{
		Summary: fmt.Sprintf("%d jobs running past %s, %d queued and unclaimed; %d alerts raised, %d held expiry alerts released",
			len(running), limit, len(queued), raised, released),
		Details: map[string]any{"stuck_running": len(running), "unclaimed": len(queued), "alerts_raised": raised, "limit": limit.String(),
			"held_alerts_released": released},
	}, nil
}
