package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Job types (SPEC §6).
const (
	JobIssueCert            = "ISSUE_CERT"
	JobRevokeCert           = "REVOKE_CERT"
	JobCARefresh            = "CA_REFRESH"
	JobRenewal              = "RENEWAL"
	JobDeploymentValidation = "DEPLOYMENT_VALIDATION"
)

// JobTypes lists every job type; users may create each of them.
var JobTypes = []string{JobIssueCert, JobRevokeCert, JobCARefresh, JobRenewal, JobDeploymentValidation}

// Job statuses. A job is QUEUED until an agent claims it (RUNNING) and
// ends SUCCESS or FAILED.
const (
	JobQueued  = "QUEUED"
	JobRunning = "RUNNING"
	JobSuccess = "SUCCESS"
	JobFailed  = "FAILED"
)

// JobStatuses lists every job status.
var JobStatuses = []string{JobQueued, JobRunning, JobSuccess, JobFailed}

// jobActions names the audit actions of each job type: ACTION_INITIATED
// when it is created, _STARTED when claimed, _COMPLETED or _FAILED.
var jobActions = map[string]string{
	JobIssueCert:            "ISSUANCE",
	JobRevokeCert:           "REVOCATION",
	JobCARefresh:            "CA_REFRESH",
	JobRenewal:              "RENEWAL",
	JobDeploymentValidation: "DEPLOYMENT_VALIDATION",
}

// Job is an asynchronous certificate operation, run by an agent (or, for
// deployment validation, by Vigil itself).
type Job struct {
	ID                  int64           `json:"id"`
	Name                string          `json:"name"`
	Type                string          `json:"type"`
	Status              string          `json:"status"`
	CAID                string          `json:"ca_id,omitempty"`
	CertificateID       int64           `json:"certificate_id,omitempty"`
	EndpointID          int64           `json:"endpoint_id,omitempty"`
	AgentID             string          `json:"agent_id,omitempty"` // the only agent that may claim it; "" for any
	ClaimedBy           string          `json:"claimed_by,omitempty"`
	ScheduledAt         time.Time       `json:"scheduled_at"`
	StartedAt           *time.Time      `json:"started_at"`
	CompletedAt         *time.Time      `json:"completed_at"`
	DurationMS          *int64          `json:"duration_ms"`
	TriggeredBy         Actor           `json:"triggered_by"`
	Input               json.RawMessage `json:"input,omitempty"`
	Output              json.RawMessage `json:"output,omitempty"`
	Error               string          `json:"error,omitempty"`
	IssuedCertificateID string          `json:"issued_certificate_id,omitempty"`
	CARequestID         string          `json:"ca_request_id,omitempty"`
	CreatedAt           time.Time       `json:"created_at"`
	// Key, if set, makes the job unique: the scheduler uses it so that a
	// check creates a job for a condition once.
	Key string `json:"-"`
}

// Duration returns how long the job ran, or 0 while it has not ended.
func (j Job) Duration() time.Duration {
	if j.DurationMS == nil {
		return 0
	}
	return time.Duration(*j.DurationMS) * time.Millisecond
}

// Done reports whether the job has ended.
func (j Job) Done() bool { return j.Status == JobSuccess || j.Status == JobFailed }

// Overdue reports whether the job, not ended, has waited too long at now:
// QUEUED and due more than limit ago, or RUNNING for more than limit (the
// stuck-jobs check's JOB_UNCLAIMED and JOB_STUCK, --job-stuck-after).
func (j Job) Overdue(now time.Time, limit time.Duration) bool {
	switch j.Status {
	case JobQueued:
		return now.Sub(j.ScheduledAt) > limit
	case JobRunning:
		return j.StartedAt != nil && now.Sub(*j.StartedAt) > limit
	}
	return false
}

// OnItsWay reports whether the job is QUEUED or RUNNING and not overdue.
func (j Job) OnItsWay(now time.Time, limit time.Duration) bool {
	return !j.Done() && !j.Overdue(now, limit)
}

// finishedAt is when the job ended, or its creation before that.
func (j Job) finishedAt() time.Time {
	if j.CompletedAt != nil {
		return *j.CompletedAt
	}
	return j.CreatedAt
}

// Action returns the audit event type of the job's transition to status:
// RENEWAL_INITIATED (created), RENEWAL_STARTED (claimed),
// RENEWAL_COMPLETED or RENEWAL_FAILED.
func (j Job) Action(status string) string {
	prefix := jobActions[j.Type]
	if prefix == "" {
		prefix = "JOB"
	}
	switch status {
	case JobQueued:
		return prefix + "_INITIATED"
	case JobRunning:
		return prefix + "_STARTED"
	case JobSuccess:
		return prefix + "_COMPLETED"
	default:
		return prefix + "_FAILED"
	}
}

// Validate checks a new job and fills its defaults.
func (j *Job) Validate() error {
	j.Type = upper(j.Type)
	if !slices.Contains(JobTypes, j.Type) {
		return Errorf(EINVALID, "type %q is not one of %s", j.Type, strings.Join(JobTypes, ", "))
	}
	if j.Status == "" {
		j.Status = JobQueued
	}
	if !slices.Contains(JobStatuses, j.Status) {
		return Errorf(EINVALID, "status %q is not one of %s", j.Status, strings.Join(JobStatuses, ", "))
	}
	j.Name = strings.TrimSpace(j.Name)
	if j.Name == "" {
		j.Name = strings.ToLower(strings.ReplaceAll(j.Type, "_", " "))
	}
	if len(j.Name) > 256 {
		return Errorf(EINVALID, "name: longer than 256 bytes")
	}
	for _, f := range []struct{ name, v string }{{"ca_id", j.CAID}, {"agent_id", j.AgentID}} {
		if len(f.v) > MaxFieldLen {
			return Errorf(EINVALID, "%s: longer than %d bytes", f.name, MaxFieldLen)
		}
	}
	switch j.Type {
	case JobRenewal, JobRevokeCert:
		if j.CertificateID <= 0 {
			return Errorf(EINVALID, "a %s job needs certificate_id (the certificate's inventory id)", j.Type)
		}
	case JobDeploymentValidation:
		if j.EndpointID <= 0 {
			return Errorf(EINVALID, "a %s job needs endpoint_id (a registered endpoint)", j.Type)
		}
	case JobCARefresh:
		if j.CAID == "" {
			return Errorf(EINVALID, "a %s job needs ca_id", j.Type)
		}
	case JobIssueCert:
		if len(j.Input) == 0 {
			return Errorf(EINVALID, "an %s job needs an input payload (subject, SANs, profile or CSR)", j.Type)
		}
	}
	if len(j.Input) > 0 {
		in, err := compactObject("input", j.Input)
		if err != nil {
			return err
		}
		j.Input = in
	}
	return nil
}

// NewJobRequest is the body of POST /api/v1/jobs.
type NewJobRequest struct {
	Name          string          `json:"name"`
	Type          string          `json:"type"`
	CAID          string          `json:"ca_id"`
	CertificateID int64           `json:"certificate_id"`
	EndpointID    int64           `json:"endpoint_id"`
	AgentID       string          `json:"agent_id"`
	ScheduledAt   *time.Time      `json:"scheduled_at"`
	Input         json.RawMessage `json:"input"`
}

// Job returns the job the request asks for, triggered by actor at now.
func (r NewJobRequest) Job(actor Actor, now time.Time) (Job, error) {
	j := Job{
		Name: r.Name, Type: r.Type, CAID: strings.TrimSpace(r.CAID), CertificateID: r.CertificateID,
		EndpointID: r.EndpointID, AgentID: strings.TrimSpace(r.AgentID), TriggeredBy: actor,
		ScheduledAt: now, Input: r.Input,
	}
	if r.ScheduledAt != nil {
		j.ScheduledAt = *r.ScheduledAt
	}
	return j, j.Validate()
}

// JobResult is what an agent reports when a job ends
// (POST /api/v1/jobs/{id}/result).
type JobResult struct {
	Status              string          `json:"status"`
	Output              json.RawMessage `json:"output"`
	Error               string          `json:"error"`
	IssuedCertificateID json.RawMessage `json:"issued_certificate_id"` // string or number
	CARequestID         string          `json:"ca_request_id"`
	// CertificatePEM, if given, is the issued certificate: it is added to
	// the inventory and, without issued_certificate_id, names it.
	CertificatePEM string `json:"certificate_pem"`

	issuedID string
}

// IssuedID returns issued_certificate_id as text, once validated.
func (r JobResult) IssuedID() string { return r.issuedID }

// Validate checks a result and canonicalizes its fields.
func (r *JobResult) Validate() error {
	r.Status = upper(r.Status)
	if r.Status != JobSuccess && r.Status != JobFailed {
		return Errorf(EINVALID, "status must be SUCCESS or FAILED, not %q", r.Status)
	}
	r.Error = strings.TrimSpace(r.Error)
	if r.Status == JobFailed && r.Error == "" {
		return Errorf(EINVALID, "a FAILED result needs an error message")
	}
	if len(r.Error) > MaxMessageLen {
		return Errorf(EINVALID, "error: longer than %d bytes", MaxMessageLen)
	}
	if len(r.CARequestID) > MaxFieldLen {
		return Errorf(EINVALID, "ca_request_id: longer than %d bytes", MaxFieldLen)
	}
	if raw := bytes.TrimSpace(r.IssuedCertificateID); len(raw) > 0 && string(raw) != "null" {
		var s string
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return Errorf(EINVALID, "issued_certificate_id: %v", err)
			}
		} else if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			s = strconv.FormatInt(n, 10)
		} else {
			return Errorf(EINVALID, "issued_certificate_id must be a string or an integer")
		}
		if len(s) > MaxFieldLen {
			return Errorf(EINVALID, "issued_certificate_id: longer than %d bytes", MaxFieldLen)
		}
		r.issuedID = strings.TrimSpace(s)
	}
	if o := bytes.TrimSpace(r.Output); len(o) > 0 && string(o) != "null" {
		if len(o) > MaxDetailsLen {
			return Errorf(EINVALID, "output: longer than %d bytes", MaxDetailsLen)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, o); err != nil {
			return Errorf(EINVALID, "output: %v", err)
		}
		r.Output = buf.Bytes()
	} else {
		r.Output = nil
	}
	return nil
}

// JobFilter selects jobs; zero values mean "not set".
type JobFilter struct {
	Statuses []string
	Type     string
	From, To time.Time // completed between, inclusive, to the second
	Before   int64     // id < Before (cursor)
	Limit    int
	// ProblemsFirst orders FAILED, then long-running RUNNING jobs first.
	ProblemsFirst bool
	// CertificateID and EndpointID, when set, select the jobs about that
	// certificate or endpoint.
	CertificateID, EndpointID int64
}

// ParseJobFilter builds a job filter from query parameters
// (status, a comma-separated list; type; from, to; before; limit;
// certificate_id; endpoint_id).
func ParseJobFilter(q url.Values) (JobFilter, error) {
	get := q.Get
	var f JobFilter
	for _, s := range strings.Split(get("status"), ",") {
		if s = upper(s); s == "" {
			continue
		}
		if !slices.Contains(JobStatuses, s) {
			return f, Errorf(EINVALID, "status %q is not one of %s", s, strings.Join(JobStatuses, ", "))
		}
		f.Statuses = append(f.Statuses, s)
	}
	if f.Type = upper(get("type")); f.Type != "" && !slices.Contains(JobTypes, f.Type) {
		return f, Errorf(EINVALID, "type %q is not one of %s", f.Type, strings.Join(JobTypes, ", "))
	}
	var err error
	if f.From, f.To, err = parseTimeRange(q); err != nil {
		return f, err
	}
	if f.Before, err = parseNonNegative(q, "before"); err != nil {
		return f, err
	}
	if f.ProblemsFirst, err = parseFlagParam("problems_first", get("problems_first")); err != nil {
		return f, err
	}
	if f.CertificateID, err = parseNonNegative(q, "certificate_id"); err != nil {
		return f, err
	}
	if f.EndpointID, err = parseNonNegative(q, "endpoint_id"); err != nil {
		return f, err
	}
	f.Limit, err = parseLimitParam(q)
	return f, err
}

// compactObject checks raw is a JSON object and returns it compacted.
func compactObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, Errorf(EINVALID, "%s: must be a JSON object", field)
	}
	if len(raw) > MaxDetailsLen {
		return nil, Errorf(EINVALID, "%s: longer than %d bytes", field, MaxDetailsLen)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, Errorf(EINVALID, "%s: %v", field, err)
	}
	return buf.Bytes(), nil
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// JobEntity returns the entity of job id in events and alerts.
func JobEntity(id int64) Entity { return Entity{Type: "JOB", ID: strconv.FormatInt(id, 10)} }

// CertificateEntity returns the entity of inventory certificate id in
// events and alerts.
func CertificateEntity(id int64) Entity {
	return Entity{Type: "CERTIFICATE", ID: strconv.FormatInt(id, 10)}
}

// EndpointEntity returns the entity of endpoint id in events and alerts.
func EndpointEntity(id int64) Entity { return Entity{Type: "ENDPOINT", ID: strconv.FormatInt(id, 10)} }

// NewJobEvent returns the audit event of job j's transition to status by actor.
func NewJobEvent(now time.Time, j Job, status string, actor Actor, cert Certificate, extra map[string]any) (Event, error) {
	outcome := "SUCCESS"
	if status == JobFailed {
		outcome = "FAILURE"
	}
	details := map[string]any{"job_id": j.ID, "job_type": j.Type, "name": j.Name, "status": status}
	for k, v := range map[string]any{"certificate_id": j.CertificateID, "endpoint_id": j.EndpointID} {
		if v != int64(0) {
			details[k] = v
		}
	}
	for k, v := range map[string]string{"ca_id": j.CAID, "agent_id": j.AgentID, "error": j.Error,
		"issued_certificate_id": j.IssuedCertificateID, "ca_request_id": j.CARequestID} {
		if v != "" {
			details[k] = v
		}
	}
	if j.DurationMS != nil {
		details["duration_ms"] = *j.DurationMS
	}
	for k, v := range extra {
		details[k] = v
	}
	verb := map[string]string{JobQueued: "queued", JobRunning: "started", JobSuccess: "completed", JobFailed: "failed"}[status]
	msg := fmt.Sprintf("%s job %d (%s) %s by %s %s", j.Type, j.ID, j.Name, verb, strings.ToLower(actor.Type), actor.ID)
	if j.Error != "" {
		msg += ": " + j.Error
	}
	e, err := NewAuditEvent(now, j.Action(status), outcome, actor, JobEntity(j.ID), msg, details)
	if cert.ID != 0 {
		e.Certificate = CertRef{Serial: cert.Serial, Fingerprint: cert.Fingerprint, Subject: cert.Subject}
	}
	return e, err
}

// Entity is the job as the entity of its events and alerts.
func (j Job) Entity() Entity { return JobEntity(j.ID) }

// CheckFinish refuses a result for j reported by agentID unless j is
// RUNNING and agentID is the agent that claimed it (EFORBIDDEN for another
// agent, ECONFLICT for a job not running).
func (j Job) CheckFinish(agentID string) error {
	if j.ClaimedBy != "" && j.ClaimedBy != agentID {
		return Errorf(EFORBIDDEN, "job %d was claimed by agent %s, not %s", j.ID, j.ClaimedBy, agentID)
	}
	if j.AgentID != "" && j.AgentID != agentID {
		return Errorf(EFORBIDDEN, "job %d is reserved for agent %s, not %s", j.ID, j.AgentID, agentID)
	}
	if j.Status != JobRunning {
		return Errorf(ECONFLICT, "job %d is %s, not RUNNING: only a claimed job takes a result", j.ID, j.Status)
	}
	return nil
}

// Finish returns running job j ended at now with result r; issuedID names
// the certificate issued ("" when none).
func (j Job) Finish(r JobResult, issuedID string, now time.Time) Job {
	dur := now.Sub(*j.StartedAt).Milliseconds()
	t := now.UTC()
	j.Status, j.CompletedAt, j.DurationMS = r.Status, &t, &dur
	j.Output, j.Error, j.IssuedCertificateID, j.CARequestID = r.Output, r.Error, issuedID, r.CARequestID
	return j
}

// JobFollowUp is what a finished job changes beyond itself. NextJobStep
// decides it; the store applies it in the transaction that records the
// result.
type JobFollowUp struct {
	// RevokeCert: a revocation succeeded; the certificate is marked revoked
	// and its expiry alerts are resolved.
	RevokeCert bool
	// Renewed: a renewal succeeded; the job's event lists the certificates
	// it replaced and the endpoints it moved (both may be empty).
	Renewed bool
	// ReplaceCert: the renewed certificate is marked replaced, by the
	// issued one when that is in the inventory.
	ReplaceCert bool
	// Replaced: the renewed certificate counts as replaced by this renewal,
	// just now or before by the same issued certificate (a repeated report).
	Replaced bool
	// MoveEndpoints: the endpoints expecting the renewed certificate now
	// expect the issued one.
	MoveEndpoints bool
	// Alert, if set, is raised: a renewal failed.
	Alert *Alert
}

// NextJobStep decides what finished job j changes beyond itself. cert is
// the certificate the job is for (ID 0 when none), issued the certificate
// the agent reported as issued when it is in the inventory (nil when not),
// agentID the agent that reported.
func NextJobStep(j Job, cert Certificate, issued *Certificate, agentID string) JobFollowUp {
	var f JobFollowUp
	if cert.ID == 0 {
		return f
	}
	switch {
	case j.Type == JobRevokeCert && j.Status == JobSuccess:
		f.RevokeCert = cert.RevokedAt == nil
	case j.Type == JobRenewal && j.Status == JobSuccess:
		f.Renewed = true
		if issued != nil && issued.ID == cert.ID {
			return f // the agent named the certificate it was to renew: nothing replaced
		}
		f.ReplaceCert = cert.ReplacedAt == nil
		f.Replaced = f.ReplaceCert || (issued != nil && cert.ReplacedBy != nil && *cert.ReplacedBy == issued.ID)
		f.MoveEndpoints = issued != nil
	case j.Type == JobRenewal && j.Status == JobFailed:
		f.Alert = &Alert{
			Severity: SeverityError, Type: AlertRenewalFailed,
			Title: fmt.Sprintf("Renewal of %s failed", cert.Label()),
			Message: fmt.Sprintf("Renewal job %d for certificate %d (%s, %s) failed on agent %s: %s",
				j.ID, cert.ID, cert.Label(), cert.ExpiryText(j.finishedAt()), agentID, j.Error),
			Entity: j.Entity(), Key: fmt.Sprintf("RENEWAL_FAILED:job:%d", j.ID),
		}
	}
	return f
}
