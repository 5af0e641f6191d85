package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"vigil/model"
)

const day = 24 * time.Hour

// checkExpiry raises, for each current certificate, one EXPIRING_SOON alert
// per threshold of ExpiryDays it crosses (on a run that crosses several at
// once, one for the tightest) and one EXPIRED alert once it has expired;
// neither is repeated on later runs. From the first threshold on it queues
// a RENEWAL job for the certificate unless one is open; a renewal that
// failed is tried again when the next threshold is crossed.
func (s *Scheduler) checkExpiry(ctx context.Context, now time.Time) (Report, error) {
	certs, err := s.st.CurrentCertificates(ctx)
	if err != nil {
		return Report{}, err
	}
	first := s.cfg.ExpiryDays[0]
	var expiring, expired, raised, renewals int
	for _, c := range certs {
		left := c.NotAfter.Sub(now)
		if left > time.Duration(first)*day {
			break // sorted soonest first: the rest are further out
		}
		var a model.Alert
		level := 0
		if c.Expired(now) {
			expired++
			a = model.Alert{
				Severity: model.SeverityError, Type: model.AlertExpired,
				Title:   fmt.Sprintf("Certificate %s has expired", c.Label()),
				Message: fmt.Sprintf("Certificate %d (%s, serial %s, issued by %s) expired at %s.", c.ID, c.Subject, c.Serial, c.Issuer, c.NotAfter.Format(time.RFC3339)),
				Key:     fmt.Sprintf("EXPIRED:cert:%d", c.ID),
			}
		} else {
			expiring++
			level = first
			for _, d := range s.cfg.ExpiryDays {
				if left <= time.Duration(d)*day {
					level = d
				}
			}
			a = model.Alert{
				Severity: model.SeverityWarn, Type: model.AlertExpiringSoon,
				Title:   fmt.Sprintf("Certificate %s expires within %d days", c.Label(), level),
				Message: fmt.Sprintf("Certificate %d (%s, serial %s, issued by %s) expires at %s, in %s.", c.ID, c.Subject, c.Serial, c.Issuer, c.NotAfter.Format(time.RFC3339), roundDays(left)),
				Key:     fmt.Sprintf("EXPIRING_SOON:cert:%d:%d", c.ID, level),
			}
		}
		a.Entity = model.Entity{Type: "CERTIFICATE", ID: fmt.Sprint(c.ID)}
		used, err := s.st.AlertKeyUsed(ctx, a.Key)
		if err != nil {
			return Report{}, err
		}
		if !used {
			created, err := s.raise(ctx, a)
			if err != nil {
				return Report{}, err
			}
			if created {
				raised++
			}
		}
		_, created, err := s.st.CreateJob(ctx, model.Job{
			Type: model.JobRenewal, Name: "Renew " + c.Label(), CertificateID: c.ID,
			TriggeredBy: model.SchedulerActor, ScheduledAt: now,
			Input: jsonObject(map[string]any{"reason": a.Type, "subject": c.Subject, "sans": c.SANs,
				"fingerprint": c.Fingerprint, "not_after": c.NotAfter, "threshold_days": level}),
			Key: fmt.Sprintf("RENEWAL:cert:%d:%d", c.ID, level),
		})
		if err != nil {
			return Report{}, err
		}
		if created {
			renewals++
		}
	}
	return Report{
		Summary: fmt.Sprintf("%d certificates watched, %d expiring within %d days, %d expired; %d alerts raised, %d renewal jobs queued",
			len(certs), expiring, first, expired, raised, renewals),
		Details: map[string]any{"certificates": len(certs), "expiring": expiring, "expired": expired,
			"alerts_raised": raised, "renewals_queued": renewals, "thresholds_days": s.cfg.ExpiryDays},
	}, nil
}

// roundDays says how long d is in whole days and hours, both truncated,
// so that its days are the certificate's days_left (Certificate.DaysLeft).
func roundDays(d time.Duration) string {
	if d < day {
		return d.Truncate(time.Minute).String()
	}
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	return plural(int(d/day), "day") + " " + plural(int(d%day/time.Hour), "hour")
}

// jsonObject encodes a map of plain values.
func jsonObject(m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic("checks: encoding " + err.Error())
	}
	return b
}
