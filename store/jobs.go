package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"vigil/model"
)

const jobColumns = `id, name, type, status, ca_id, certificate_id, endpoint_id, agent_id, claimed_by,
	scheduled_at, started_at, completed_at, duration_ms, triggered_by_type, triggered_by_id,
	input, output, error, issued_certificate_id, ca_request_id, created_at, dedup_key`

func scanJob(sc scanner) (model.Job, error) {
	var j model.Job
	var ca, agent, claimed, started, completed, input, output, jerr, issued, careq, key sql.NullString
	var cert, ep, dur sql.NullInt64
	var sched, created string
	err := sc.Scan(&j.ID, &j.Name, &j.Type, &j.Status, &ca, &cert, &ep, &agent, &claimed,
		&sched, &started, &completed, &dur, &j.TriggeredBy.Type, &j.TriggeredBy.ID,
		&input, &output, &jerr, &issued, &careq, &created, &key)
	if err != nil {
		return j, err
	}
	j.CAID, j.AgentID, j.ClaimedBy = ca.String, agent.String, claimed.String
	j.CertificateID, j.EndpointID = cert.Int64, ep.Int64
	j.ScheduledAt, j.CreatedAt = parseTimeText(sched), parseTimeText(created)
	j.StartedAt, j.CompletedAt = optTime(started), optTime(completed)
	if dur.Valid {
		j.DurationMS = &dur.Int64
	}
	if input.String != "" {
		j.Input = []byte(input.String)
	}
	if output.String != "" {
		j.Output = []byte(output.String)
	}
	j.Error, j.IssuedCertificateID, j.CARequestID, j.Key = jerr.String, issued.String, careq.String, key.String
	return j, nil
}

// CreateJob stores a new job and records its creation (RENEWAL_INITIATED
// and the like) as an audit event by the job's TriggeredBy. A job created
// already ended (Vigil's own deployment validations) records its outcome.
//
// A job with a Key is created once: when a job with that key exists, or
// for a RENEWAL when one is open for the certificate, it returns that job
// and false. A user's RENEWAL while one is open is a conflict.
func (s *Store) CreateJob(ctx context.Context, j model.Job) (model.Job, bool, error) {
	if err := j.Validate(); err != nil {
		return j, false, err
	}
	created := false
	now := s.now()
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		if j.Key != "" {
			existing, err := scanJob(tx.QueryRow(`SELECT `+jobColumns+` FROM jobs WHERE dedup_key = ?`, j.Key))
			if err == nil {
				j = existing
				return nil, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("store: create job: %w", err)
			}
		}
		var cert model.Certificate
		if j.CertificateID != 0 {
			var err error
			cert, err = scanCert(tx.QueryRow(`SELECT `+certColumns+` FROM certificates WHERE id = ?`, j.CertificateID))
			if errors.Is(err, sql.ErrNoRows) {
				return nil, model.Errorf(model.EINVALID, "certificate_id %d is not in the inventory", j.CertificateID)
			}
			if err != nil {
				return nil, fmt.Errorf("store: create job: %w", err)
			}
		}
		if j.EndpointID != 0 {
			if _, err := scanEndpoint(tx.QueryRow(`SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`, j.EndpointID)); errors.Is(err, sql.ErrNoRows) {
				return nil, model.Errorf(model.EINVALID, "endpoint_id %d is not a registered endpoint", j.EndpointID)
			} else if err != nil {
				return nil, fmt.Errorf("store: create job: %w", err)
			}
		}
		if j.Type == model.JobRenewal && !j.Done() {
			open, err := scanJob(tx.QueryRow(`SELECT `+jobColumns+` FROM jobs
				WHERE type = 'RENEWAL' AND certificate_id = ? AND status IN ('QUEUED', 'RUNNING') ORDER BY id LIMIT 1`, j.CertificateID))
			switch {
			case err == nil && j.Key != "":
				j = open
				return nil, nil
			case err == nil:
				return nil, model.Errorf(model.ECONFLICT, "renewal job %d is already %s for certificate %d", open.ID, open.Status, j.CertificateID)
			case !errors.Is(err, sql.ErrNoRows):
				return nil, fmt.Errorf("store: create job: %w", err)
			}
		}
		j.CreatedAt = now.UTC()
		j.ScheduledAt = j.ScheduledAt.UTC()
		var started, startedNS, completed any
		if j.StartedAt != nil {
			started, startedNS = timeText(*j.StartedAt), j.StartedAt.UnixNano()
		}
		if j.CompletedAt != nil {
			completed = timeText(*j.CompletedAt)
		}
		var dur any
		if j.DurationMS != nil {
			dur = *j.DurationMS
		}
		err := tx.QueryRow(`INSERT INTO jobs (name, type, status, ca_id, certificate_id, endpoint_id, agent_id, claimed_by,
			scheduled_at, scheduled_ns, started_at, started_ns, completed_at, duration_ms, triggered_by_type, triggered_by_id,
			input, output, error, created_at, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			j.Name, j.Type, j.Status, nullStr(j.CAID), nullID(j.CertificateID), nullID(j.EndpointID), nullStr(j.AgentID),
			nullStr(j.ClaimedBy), timeText(j.ScheduledAt), j.ScheduledAt.UnixNano(), started, startedNS, completed, dur,
			j.TriggeredBy.Type, j.TriggeredBy.ID, nullStr(string(j.Input)), nullStr(string(j.Output)), nullStr(j.Error),
			timeText(j.CreatedAt), nullStr(j.Key)).Scan(&j.ID)
		if err != nil {
			return nil, fmt.Errorf("store: create job: %w", err)
		}
		created = true
		e, err := model.NewJobEvent(now, j, j.Status, j.TriggeredBy, cert, nil)
		return []model.Event{e}, err
	})
	return j, created, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// JobByID returns job id.
func (s *Store) JobByID(ctx context.Context, id int64) (model.Job, error) {
	return queryOne(ctx, s.rdb, fmt.Sprintf("job %d", id), scanJob, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id)
}

// FindJobs returns the jobs matching f, newest first (or, with
// ProblemsFirst, FAILED then RUNNING longest-running first, then the rest
// newest first), and the cursor of the next page (0 when there is none;
// ProblemsFirst pages by offset only through Limit).
func (s *Store) FindJobs(ctx context.Context, f model.JobFilter) ([]model.Job, int64, error) {
	var where []string
	var args []any
	if len(f.Statuses) > 0 {
		where = append(where, `status IN (`+placeholders(len(f.Statuses))+`)`)
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, f.Type)
	}
	if f.CertificateID > 0 {
		where, args = append(where, `certificate_id = ?`), append(args, f.CertificateID)
	}
	if f.EndpointID > 0 {
		where, args = append(where, `endpoint_id = ?`), append(args, f.EndpointID)
	}
	conds, a := s.d.timeRangeConds("completed_at", f.From, f.To)
	where, args = append(where, conds...), append(args, a...)
	if f.Before > 0 && !f.ProblemsFirst {
		where, args = append(where, `id < ?`), append(args, f.Before)
	}
	limit := listLimit(f.Limit)
	q := `SELECT ` + jobColumns + ` FROM jobs` + whereSQL(where)
	if f.ProblemsFirst {
		q += ` ORDER BY CASE status WHEN 'FAILED' THEN 0 WHEN 'RUNNING' THEN 1 ELSE 2 END,
			CASE status WHEN 'RUNNING' THEN started_ns END, id DESC`
	} else {
		q += ` ORDER BY id DESC`
	}
	jobs, err := s.queryJobs(ctx, q+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(jobs) > limit {
		jobs = jobs[:limit]
		if !f.ProblemsFirst {
			next = jobs[limit-1].ID
		}
	}
	return jobs, next, nil
}

func (s *Store) queryJobs(ctx context.Context, q string, args ...any) ([]model.Job, error) {
	return queryAll(ctx, s.rdb, "jobs", scanJob, q, args...)
}

// RunningJobsStartedBefore returns the RUNNING jobs started before t.
func (s *Store) RunningJobsStartedBefore(ctx context.Context, t time.Time) ([]model.Job, error) {
	return s.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE status = 'RUNNING' AND started_ns < ? ORDER BY id`, t.UnixNano())
}

// QueuedJobsScheduledBefore returns the QUEUED jobs due before t and still
// not claimed.
func (s *Store) QueuedJobsScheduledBefore(ctx context.Context, t time.Time) ([]model.Job, error) {
	return s.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE status = 'QUEUED' AND scheduled_ns < ? ORDER BY id`, t.UnixNano())
}

// CountJobsByStatus returns the number of jobs per status.
func (s *Store) CountJobsByStatus(ctx context.Context) (map[string]int, error) {
	return s.countBy(ctx, `SELECT status, count(*) FROM jobs GROUP BY status`)
}

// ClaimJob gives the calling agent the next due QUEUED job meant for it
// (or for any agent), oldest first, and marks it RUNNING, recording a
// _STARTED audit event by the agent that names the call's token, user and
// address. Claims are serialized by the single writer, so two agents never
// get the same job. ENOTFOUND when there is nothing to do.
func (s *Store) ClaimJob(ctx context.Context, call model.AgentCall) (model.Job, error) {
	var j model.Job
	now := s.now()
	agentID := call.AgentID
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		var err error
		j, err = scanJob(tx.QueryRow(`SELECT `+jobColumns+` FROM jobs
			WHERE status = 'QUEUED' AND scheduled_ns <= ? AND (agent_id IS NULL OR agent_id = ?)
			ORDER BY scheduled_ns, id LIMIT 1`, now.UnixNano(), agentID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, model.Errorf(model.ENOTFOUND, "no job is queued for agent %s", agentID)
		}
		if err != nil {
			return nil, fmt.Errorf("store: claim job: %w", err)
		}
		res, err := tx.Exec(`UPDATE jobs SET status = 'RUNNING', claimed_by = ?, started_at = ?, started_ns = ?
			WHERE id = ? AND status = 'QUEUED'`, agentID, timeText(now), now.UnixNano(), j.ID)
		if err != nil {
			return nil, fmt.Errorf("store: claim job: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, fmt.Errorf("store: claim job %d: not QUEUED any more", j.ID)
		}
		if _, err := resolveEntityAlertsTx(tx, model.JobEntity(j.ID), []string{model.AlertJobUnclaimed}, now); err != nil {
			return nil, err
		}
		t := now.UTC()
		j.Status, j.ClaimedBy, j.StartedAt = model.JobRunning, agentID, &t
		cert, err := certOfJobTx(tx, j)
		if err != nil {
			return nil, err
		}
		e, err := model.NewJobEvent(now, j, model.JobRunning, call.Actor(), cert, call.Details())
		return []model.Event{e}, err
	})
	return j, err
}

func certOfJobTx(tx *sql.Tx, j model.Job) (model.Certificate, error) {
	if j.CertificateID == 0 {
		return model.Certificate{}, nil
	}
	c, err := scanCert(tx.QueryRow(`SELECT `+certColumns+` FROM certificates WHERE id = ?`, j.CertificateID))
	if err != nil {
		return c, fmt.Errorf("store: certificate of job %d: %w", j.ID, err)
	}
	return c, nil
}

// JobOutcome is what finishing a job changed besides the job itself.
type JobOutcome struct {
	Job    model.Job
	Alerts []model.Alert // alerts raised (RENEWAL_FAILED)
	// Released are the open alerts that were held while this renewal was
	// on its way and are now for the webhook: it ended without replacing
	// the certificate.
	Released          []model.Alert
	IssuedCertificate *AddedCertificate
	Replaced          []int64 // certificates the renewal replaced
	EndpointsUpdated  []int64 // endpoints now expecting the issued certificate
}

// FinishJob records the result of RUNNING job id, reported by the agent
// that claimed it, and its _COMPLETED or _FAILED audit event, which names
// the call's token, user and address. A job claimed by or reserved for
// another agent is EFORBIDDEN. A renewal's
// success replaces the old certificate by the issued one (resolving its
// expiry alerts) and makes the endpoints that expected the old certificate
// expect the new one; its failure raises a RENEWAL_FAILED alert.
func (s *Store) FinishJob(ctx context.Context, id int64, call model.AgentCall, r model.JobResult, issued []model.Certificate) (JobOutcome, error) {
	var out JobOutcome
	now := s.now()
	actor := call.Actor()
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		out = JobOutcome{}
		j, err := queryOne(ctx, tx, fmt.Sprintf("job %d", id), scanJob, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id)
		if err != nil {
			return nil, err
		}
		if err := j.CheckFinish(call.AgentID); err != nil {
			return nil, err
		}
		// The issued certificate enters the inventory first, so the
		// result can name it.
		events, issuedCert, err := addIssuedTx(tx, &out, issued, actor, now)
		if err != nil {
			return nil, err
		}
		issuedID := r.IssuedID()
		if issuedID == "" && issuedCert != nil {
			issuedID = strconv.FormatInt(issuedCert.ID, 10)
		}
		if issuedCert == nil && issuedID != "" {
			if issuedCert, err = certByRefTx(tx, issuedID); err != nil {
				return nil, err
			}
		}
		j = j.Finish(r, issuedID, now)
		if _, err := tx.Exec(`UPDATE jobs SET status = ?, completed_at = ?, duration_ms = ?, output = ?, error = ?,
			issued_certificate_id = ?, ca_request_id = ? WHERE id = ?`, j.Status, timeText(now), *j.DurationMS,
			nullStr(string(j.Output)), nullStr(j.Error), nullStr(issuedID), nullStr(r.CARequestID), id); err != nil {
			return nil, fmt.Errorf("store: finish job: %w", err)
		}
		if _, err := resolveEntityAlertsTx(tx, model.JobEntity(id), []string{model.AlertJobStuck}, now); err != nil {
			return nil, err
		}
		cert, err := certOfJobTx(tx, j)
		if err != nil {
			return nil, err
		}
		step := model.NextJobStep(j, cert, issuedCert, call.AgentID)
		evs, err := followUpTx(tx, &out, step, j, cert, issuedCert, actor, now)
		if err != nil {
			return nil, err
		}
		if j.Type == model.JobRenewal {
			reason := j.Error
			if reason == "" {
				reason = "the certificate was not replaced"
			}
			why := fmt.Sprintf("Renewal job %d %s: %s.", id, j.Status, reason)
			if out.Released, err = releaseHeldTx(tx, `held_for_job = ?`, id, why); err != nil {
				return nil, err
			}
		}
		extra := call.Details()
		if step.Renewed {
			extra["replaced_certificates"], extra["endpoints_updated"] = out.Replaced, out.EndpointsUpdated
		}
		e, err := model.NewJobEvent(now, j, j.Status, actor, cert, extra)
		if err != nil {
			return nil, err
		}
		out.Job = j
		return append(append([]model.Event{e}, events...), evs...), nil
	})
	return out, err
}

// addIssuedTx adds the certificates an agent reports as issued to the
// inventory; the first is the one the result names.
func addIssuedTx(tx *sql.Tx, out *JobOutcome, issued []model.Certificate, actor model.Actor, now time.Time) ([]model.Event, *model.Certificate, error) {
	var events []model.Event
	var first *model.Certificate
	for i, c := range issued {
		a, evs, err := addCertTx(tx, c, model.CertSourceRenewal, actor, now)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, evs...)
		if i == 0 {
			out.IssuedCertificate = &a
			first = &a.Certificate
		}
	}
	return events, first, nil
}

// followUpTx applies what model.NextJobStep decided finished job j changes
// beyond itself, in the transaction that records its result.
func followUpTx(tx *sql.Tx, out *JobOutcome, step model.JobFollowUp, j model.Job, cert model.Certificate, issued *model.Certificate, actor model.Actor, now time.Time) ([]model.Event, error) {
	var events []model.Event
	if step.RevokeCert {
		e, err := revokedTx(tx, cert, actor, j.ID, now)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	if step.ReplaceCert {
		e, err := replaceCertTx(tx, cert, issued, actor, fmt.Sprintf("renewal job %d succeeded", j.ID), now)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	if step.Replaced {
		out.Replaced = append(out.Replaced, cert.ID)
	}
	if step.MoveEndpoints {
		evs, err := moveEndpointsTx(tx, out, cert, issued, actor, j.ID, now)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	if step.Alert != nil {
		a, created, err := raiseAlertTx(tx, *step.Alert, now)
		if err != nil {
			return nil, err
		}
		if created {
			out.Alerts = append(out.Alerts, a)
		}
	}
	return events, nil
}

// moveEndpointsTx makes the endpoints that expected old, renewed by job
// jobID, expect issued.
func moveEndpointsTx(tx *sql.Tx, out *JobOutcome, old model.Certificate, issued *model.Certificate, actor model.Actor, jobID int64, now time.Time) ([]model.Event, error) {
	var events []model.Event
	ids, err := queryAll(context.Background(), tx, "renewal endpoints", scanInt64,
		`SELECT id FROM endpoints WHERE expected_fingerprint = ? ORDER BY id`, old.Fingerprint)
	if err != nil {
		return nil, err
	}
	out.EndpointsUpdated = ids
	for _, id := range out.EndpointsUpdated {
		if _, err := tx.Exec(`UPDATE endpoints SET expected_fingerprint = ? WHERE id = ?`, issued.Fingerprint, id); err != nil {
			return nil, fmt.Errorf("store: renewal endpoints: %w", err)
		}
		e, err := model.NewAuditEvent(now, "ENDPOINT_EXPECTATION_UPDATED", "SUCCESS", actor, model.EndpointEntity(id),
			fmt.Sprintf("Endpoint %d now expects certificate %d (%s) after renewal job %d", id, issued.ID, issued.Fingerprint[:16], jobID),
			map[string]any{"old_fingerprint": old.Fingerprint, "new_fingerprint": issued.Fingerprint, "job_id": jobID})
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// revokedTx records that a REVOKE_CERT job revoked cert: it is no longer
// watched, and its expiry alerts are resolved.
func revokedTx(tx *sql.Tx, cert model.Certificate, actor model.Actor, jobID int64, now time.Time) (model.Event, error) {
	if _, err := tx.Exec(`UPDATE certificates SET revoked_at = ? WHERE id = ?`, timeText(now), cert.ID); err != nil {
		return model.Event{}, fmt.Errorf("store: revoke certificate: %w", err)
	}
	n, err := resolveEntityAlertsTx(tx, model.CertificateEntity(cert.ID), []string{model.AlertExpiringSoon, model.AlertExpired}, now)
	if err != nil {
		return model.Event{}, err
	}
	e, err := model.NewAuditEvent(now, "CERTIFICATE_REVOKED", "SUCCESS", actor, model.CertificateEntity(cert.ID),
		fmt.Sprintf("Certificate %d (%s) revoked by job %d", cert.ID, cert.Label(), jobID),
		map[string]any{"job_id": jobID, "fingerprint": cert.Fingerprint, "alerts_resolved": n})
	e.Certificate = model.CertRef{Serial: cert.Serial, Fingerprint: cert.Fingerprint, Subject: cert.Subject}
	return e, err
}

// certByRefTx finds the certificate an agent names as issued: an inventory
// id or a SHA-256 fingerprint. Nil when it is neither (an id of the CA's
// own, kept as text only).
func certByRefTx(tx *sql.Tx, ref string) (*model.Certificate, error) {
	q, arg := `SELECT `+certColumns+` FROM certificates WHERE fingerprint = ?`, any(model.NormalizeFingerprint(ref))
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		q, arg = `SELECT `+certColumns+` FROM certificates WHERE id = ?`, n
	} else if arg == "" {
		return nil, nil
	}
	c, err := scanCert(tx.QueryRow(q, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: issued certificate: %w", err)
	}
	return &c, nil
}
