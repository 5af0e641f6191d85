package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"vigil/model"
	"vigil/store"
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
		if c.NotAfter.Sub(now) > time.Duration(first)*day {
			break // sorted soonest first: the rest are further out
		}
		if c.Expired(now) {
			expired++
		} else {
			expiring++
		}
		r, err := s.expiryOf(ctx, c, now)
		if err != nil {
			return Report{}, err
		}
		raised += r.alerts
		renewals += r.renewals
	}
	return Report{
		Summary: fmt.Sprintf("%d certificates watched, %d expiring within %d days, %d expired; %d alerts raised, %d renewal jobs queued",
			len(certs), expiring, first, expired, raised, renewals),
		Details: map[string]any{"certificates": len(certs), "expiring": expiring, "expired": expired,
			"alerts_raised": raised, "renewals_queued": renewals, "thresholds_days": s.cfg.ExpiryDays},
	}, nil
}

// CheckAddedCertificates runs the expiry check on certificates just added
// to the inventory (an upload), so that one already close to expiry has
// its alert and its renewal job at once rather than at the next scheduled
// run. Certificates that were known already, or replaced, are left to the
// schedule.
func (s *Scheduler) CheckAddedCertificates(ctx context.Context, added []store.AddedCertificate) error {
	now := s.clock.Now()
	for _, a := range added {
		if !a.New || a.ReplacedAt != nil || a.RevokedAt != nil {
			continue
		}
		if a.NotAfter.Sub(now) > time.Duration(s.cfg.ExpiryDays[0])*day {
			continue
		}
		if _, err := s.expiryOf(ctx, a.Certificate, now); err != nil {
			return fmt.Errorf("checks: expiry of certificate %d: %w", a.ID, err)
		}
	}
	return nil
}

// expiryFound is what the expiry check did about one certificate.
type expiryFound struct{ alerts, renewals int }

// expiryOf raises the expiry alert certificate c calls for at now, unless
// its key was used before, and queues its RENEWAL job unless one is open.
// c is within the first threshold or expired.
func (s *Scheduler) expiryOf(ctx context.Context, c model.Certificate, now time.Time) (expiryFound, error) {
	var found expiryFound
	left := c.NotAfter.Sub(now)
	first := s.cfg.ExpiryDays[0]
	var a model.Alert
	level := 0
	if c.Expired(now) {
		a = model.Alert{
			Severity: model.SeverityError, Type: model.AlertExpired,
			Title:   fmt.Sprintf("Certificate %s has expired", c.Label()),
			Message: fmt.Sprintf("Certificate %d (%s, serial %s, issued by %s) expired at %s.", c.ID, c.Subject, c.Serial, c.Issuer, c.NotAfter.Format(time.RFC3339)),
			Key:     fmt.Sprintf("EXPIRED:cert:%d", c.ID),
		}
	} else {
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
	a.Entity = model.CertificateEntity(c.ID)
	used, err := s.st.AlertKeyUsed(ctx, a.Key)
	if err != nil {
		return found, err
	}
	if !used {
		created, err := s.raise(ctx, a)
		if err != nil {
			return found, err
		}
		if created {
			found.alerts++
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
		return found, err
	}
	if created {
		found.renewals++
	}
	return found, nil
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
