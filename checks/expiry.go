package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"vigil/model"
	"vigil/store"
)

const day = 24 * time.Hour

// checkExpiry raises, for each current certificate, one EXPIRING_SOON alert
// per threshold it crosses (on a run that crosses several at once, one for
// the tightest) and one EXPIRED alert once it has expired; neither is
// repeated on later runs. The thresholds are the certificate's own, else
// those of the endpoints serving or expecting it, else ExpiryDays
// (model.ThresholdsFor). From the first threshold on it queues a RENEWAL
// job for the certificate unless one is open; a renewal that failed is
// tried again when the next threshold is crossed. An EXPIRING_SOON alert
// raised while a renewal is on its way is held (see releaseHeld).
func (s *Scheduler) checkExpiry(ctx context.Context, now time.Time) (Report, error) {
	released, err := s.releaseHeld(ctx, now)
	if err != nil {
		return Report{}, err
	}
	certs, err := s.st.CurrentCertificates(ctx)
	if err != nil {
		return Report{}, err
	}
	eps, err := s.st.ListEndpoints(ctx)
	if err != nil {
		return Report{}, err
	}
	furthest := s.cfg.ExpiryDays[0]
	for _, c := range certs {
		furthest = max(furthest, firstDay(c.ExpiryDays))
	}
	for _, e := range eps {
		furthest = max(furthest, firstDay(e.ExpiryDays))
	}
	var expiring, expired, raised, held, renewals int
	for _, c := range certs {
		if c.NotAfter.Sub(now) > time.Duration(furthest)*day {
			break // sorted soonest first: the rest are further out
		}
		days := model.ThresholdsFor(c, eps, s.cfg.ExpiryDays).Days
		if c.NotAfter.Sub(now) > time.Duration(days[0])*day {
			continue
		}
		if c.Expired(now) {
			expired++
		} else {
			expiring++
		}
		r, err := s.expiryOf(ctx, c, days, now)
		if err != nil {
			return Report{}, err
		}
		raised += r.alerts
		held += r.held
		renewals += r.renewals
	}
	return Report{
		Summary: fmt.Sprintf("%d certificates watched, %d within their first threshold (default %d days), %d expired; %d alerts raised (%d held while a renewal is on its way), %d renewal jobs queued, %d held alerts released",
			len(certs), expiring, s.cfg.ExpiryDays[0], expired, raised, held, renewals, released),
		Details: map[string]any{"certificates": len(certs), "expiring": expiring, "expired": expired,
			"alerts_raised": raised, "alerts_held": held, "renewals_queued": renewals, "held_alerts_released": released,
			"thresholds_days": s.cfg.ExpiryDays},
	}, nil
}

// firstDay is the largest of thresholds sorted largest first, 0 for none.
func firstDay(days []int) int {
	if len(days) == 0 {
		return 0
	}
	return days[0]
}

// CheckAddedCertificates runs the expiry check on certificates just added
// to the inventory (an upload), so that one already close to expiry has
// its alert and its renewal job at once rather than at the next scheduled
// run. Certificates that were known already, or replaced, are left to the
// schedule.
func (s *Scheduler) CheckAddedCertificates(ctx context.Context, added []store.AddedCertificate) error {
	now := s.clock.Now()
	eps, err := s.st.ListEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("checks: expiry of added certificates: %w", err)
	}
	for _, a := range added {
		if !a.New || a.ReplacedAt != nil || a.RevokedAt != nil {
			continue
		}
		days := model.ThresholdsFor(a.Certificate, eps, s.cfg.ExpiryDays).Days
		if a.NotAfter.Sub(now) > time.Duration(days[0])*day {
			continue
		}
		if _, err := s.expiryOf(ctx, a.Certificate, days, now); err != nil {
			return fmt.Errorf("checks: expiry of certificate %d: %w", a.ID, err)
		}
	}
	return nil
}

// expiryFound is what the expiry check did about one certificate.
type expiryFound struct{ alerts, held, renewals int }

// expiryOf queues the RENEWAL job certificate c calls for at now unless
// one is open, and raises its expiry alert unless its key was used before.
// c is within the first of days (its thresholds, largest first) or
// expired. An EXPIRING_SOON alert raised while a renewal job is on its way
// says so and is held: the webhook gets it only if that job fails or is
// overdue.
func (s *Scheduler) expiryOf(ctx context.Context, c model.Certificate, days []int, now time.Time) (expiryFound, error) {
	var found expiryFound
	var a model.Alert
	level := 0
	if c.Expired(now) {
		a = model.Alert{
			Severity: model.SeverityError, Type: model.AlertExpired,
			Title:   fmt.Sprintf("Certificate %s has expired", c.Label()),
			Message: fmt.Sprintf("Certificate %d (%s, serial %s, issued by %s) %s.", c.ID, c.Subject, c.Serial, c.Issuer, c.ExpiryText(now)),
			Key:     fmt.Sprintf("EXPIRED:cert:%d", c.ID),
		}
	} else {
		level = days[0]
		for _, d := range days {
			if c.NotAfter.Sub(now) <= time.Duration(d)*day {
				level = d
			}
		}
		a = model.Alert{
			Severity: model.SeverityWarn, Type: model.AlertExpiringSoon,
			Title:   fmt.Sprintf("Certificate %s expires within %d days", c.Label(), level),
			Message: fmt.Sprintf("Certificate %d (%s, serial %s, issued by %s) %s.", c.ID, c.Subject, c.Serial, c.Issuer, c.ExpiryText(now)),
			Key:     fmt.Sprintf("EXPIRING_SOON:cert:%d:%d", c.ID, level),
		}
	}
	a.Entity = model.CertificateEntity(c.ID)
	job, created, err := s.st.CreateJob(ctx, model.Job{
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
	used, err := s.st.AlertKeyUsed(ctx, a.Key)
	if err != nil || used {
		return found, err
	}
	if a.Type == model.AlertExpiringSoon && job.OnItsWay(now, s.cfg.JobStuckAfter) {
		a.Message = strings.TrimSuffix(a.Message, ".") + fmt.Sprintf("; renewal job %d in progress (%s), so this alert goes to the webhook only if the job fails or is overdue.", job.ID, job.Status)
		a.Delivery.HeldForJob = job.ID
	}
	created, err = s.raise(ctx, a)
	if created {
		found.alerts++
		if a.Delivery.HeldForJob != 0 {
			found.held++
		}
	}
	return found, err
}

// releaseHeld sends the open EXPIRING_SOON alerts held for a renewal job
// that is no longer on its way at now: it ended without replacing the
// certificate (FinishJob releases those at once), or it is overdue (QUEUED
// or RUNNING past JobStuckAfter). Each goes to the webhook once, its
// message saying why. It returns how many were released.
func (s *Scheduler) releaseHeld(ctx context.Context, now time.Time) (int, error) {
	held, err := s.st.HeldAlerts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range held {
		j, err := s.st.JobByID(ctx, a.Delivery.HeldForJob)
		if err != nil {
			return n, err
		}
		if j.OnItsWay(now, s.cfg.JobStuckAfter) {
			continue
		}
		why := fmt.Sprintf("Renewal job %d %s.", j.ID, j.Status)
		switch {
		case j.Status == model.JobQueued:
			why = fmt.Sprintf("Renewal job %d is overdue: QUEUED since %s, unclaimed past %s.", j.ID, j.ScheduledAt.UTC().Format(time.RFC3339), s.cfg.JobStuckAfter)
		case j.Status == model.JobRunning:
			why = fmt.Sprintf("Renewal job %d is overdue: RUNNING since %s, past %s.", j.ID, j.StartedAt.UTC().Format(time.RFC3339), s.cfg.JobStuckAfter)
		}
		rel, err := s.st.ReleaseHeldAlert(ctx, a.ID, why)
		if model.ErrorCode(err) == model.ENOTFOUND {
			continue // resolved or released meanwhile
		}
		if err != nil {
			return n, err
		}
		s.log.Info("held alert released", "alert_id", a.ID, "job_id", j.ID, "job_status", j.Status)
		s.notifier.Notify(ctx, rel)
		n++
	}
	return n, nil
}

// jsonObject encodes a map of plain values.
func jsonObject(m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic("checks: encoding " + err.Error())
	}
	return b
}
