package checks

import (
	"context"
	"fmt"
	"time"

	"vigil/model"
)

// checkReminders sends again to the webhook each alert about an expired or
// failing certificate (model.RemindableTypes, at ERROR) that is still
// unread and open RemindEvery after it was raised or last reminded of, and
// counts the reminder on the alert. Reading or resolving it stops them.
func (s *Scheduler) checkReminders(ctx context.Context, now time.Time) (Report, error) {
	every := s.cfg.RemindEvery
	if every <= 0 || s.notifier == nil {
		return Report{Summary: "reminders are off (no --remind-every or no --webhook-url)",
			Details: map[string]any{"reminders_sent": 0}}, nil
	}
	due, err := s.st.RemindableAlerts(ctx, now.Add(-every))
	if err != nil {
		return Report{}, err
	}
	sent := 0
	for _, a := range due {
		a, err := s.st.MarkReminded(ctx, a.ID, now)
		if model.ErrorCode(err) == model.ENOTFOUND {
			continue // read or resolved meanwhile
		}
		if err != nil {
			return Report{}, err
		}
		s.log.Info("alert reminder", "alert_id", a.ID, "type", a.Type, "reminders", a.Reminders)
		s.notifier.Notify(ctx, a)
		sent++
	}
	return Report{
		Summary: fmt.Sprintf("%d unread alerts about expired or failing certificates sent again (every %s)", sent, model.FormatDays(every)),
		Details: map[string]any{"reminders_sent": sent, "remind_every": every.String()},
	}, nil
}
