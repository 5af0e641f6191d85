package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
	"vigil/store"
)

// listJobs answers GET /api/v1/jobs?status=&type=&problems_first=1.
func (s *Server) listJobs(c echo.Context) error {
	f, err := model.ParseJobFilter(c.QueryParams())
	if err != nil {
		return err
	}
	jobs, next, err := s.store.FindJobs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Jobs []model.Job `json:"jobs"`
		Next *string     `json:"next"`
	}{jobs, cursor(next)})
}

// jobOfPath returns the job the :id path parameter names.
func (s *Server) jobOfPath(c echo.Context) (model.Job, error) {
	id, err := pathID(c, "job")
	if err != nil {
		return model.Job{}, err
	}
	return s.store.JobByID(c.Request().Context(), id)
}

// getJob answers GET /api/v1/jobs/{id}.
func (s *Server) getJob(c echo.Context) error {
	j, err := s.jobOfPath(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// createJob answers POST /api/v1/jobs: a user queues ISSUE_CERT,
// REVOKE_CERT, CA_REFRESH, RENEWAL or DEPLOYMENT_VALIDATION.
func (s *Server) createJob(c echo.Context) error {
	var req model.NewJobRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	j, err := req.Job(s.actor(c), s.now())
	if err != nil {
		return err
	}
	j, _, err = s.store.CreateJob(c.Request().Context(), j)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, j)
}

// agentRequest names the calling agent; it may be left out, and it may
// name only the agent the token is bound to.
type agentRequest struct {
	AgentID string `json:"agent_id"`
}

// agentCall is the call of the agent the token is bound to, with what the
// audit record names: the token, its user and the peer address. A request
// naming another agent, or a token bound to none, is EFORBIDDEN.
func agentCall(c echo.Context, named string) (model.AgentCall, error) {
	p := principal(c)
	id, err := p.ActAsAgent(strings.TrimSpace(named))
	if err != nil {
		return model.AgentCall{}, err
	}
	return model.AgentCall{AgentID: id, TokenID: p.TokenID, TokenName: p.TokenName, User: p.User.Name, Addr: c.RealIP()}, nil
}

// claimJob answers POST /api/v1/jobs/claim: the next due QUEUED job for
// the agent, now RUNNING; 204 when there is none.
func (s *Server) claimJob(c echo.Context) error {
	var req agentRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return err
	}
	call, err := agentCall(c, req.AgentID)
	if err != nil {
		return err
	}
	j, err := s.store.ClaimJob(c.Request().Context(), call)
	if model.ErrorCode(err) == model.ENOTFOUND {
		return c.NoContent(http.StatusNoContent)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// resultRequest is the body of POST /api/v1/jobs/{id}/result.
type resultRequest struct {
	model.JobResult
	AgentID string `json:"agent_id"`
}

// jobResult answers POST /api/v1/jobs/{id}/result: the claiming agent
// reports SUCCESS or FAILED.
func (s *Server) jobResult(c echo.Context) error {
	id, err := pathID(c, "job")
	if err != nil {
		return err
	}
	var req resultRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	call, err := agentCall(c, req.AgentID)
	if err != nil {
		return err
	}
	var issued []model.Certificate
	if strings.TrimSpace(req.CertificatePEM) != "" {
		if issued, err = model.ParsePEMBundle([]byte(req.CertificatePEM)); err != nil {
			return model.Errorf(model.EINVALID, "certificate_pem: %s", model.ErrorMessage(err))
		}
	}
	ctx := c.Request().Context()
	out, err := s.store.FinishJob(ctx, id, call, req.JobResult, issued)
	if err != nil {
		return err
	}
	for _, a := range append(out.Alerts, out.Released...) {
		if s.cfg.OnAlert != nil {
			s.cfg.OnAlert(ctx, a)
		}
	}
	return c.JSON(http.StatusOK, struct {
		Job                  model.Job               `json:"job"`
		IssuedCertificate    *store.AddedCertificate `json:"issued_certificate,omitempty"`
		ReplacedCertificates []int64                 `json:"replaced_certificates,omitempty"`
		EndpointsUpdated     []int64                 `json:"endpoints_updated,omitempty"`
		Alerts               []model.Alert           `json:"alerts,omitempty"`
	}{out.Job, out.IssuedCertificate, out.Replaced, out.EndpointsUpdated, out.Alerts})
}

// longRunning is how long a RUNNING job runs before the Jobs page marks it.
const longRunning = 15 * time.Minute

// jobsView is the Jobs page.
type jobsView struct {
	Jobs      []jobRow
	Status    string
	Type      string
	From, To  string // the filter's completion time range, for the form
	Statuses  []string
	Types     []string
	SelfURL   string
	CanChange bool
}

// jobRow is a job as the Jobs page lists it.
type jobRow struct {
	model.Job
	Running string // how long a RUNNING job has run
	Long    bool   // RUNNING longer than longRunning
}

// jobsPage serves /jobs: FAILED first, then RUNNING longest first, then the
// rest newest first, filtered by status and type.
func (s *Server) jobsPage(c echo.Context) error {
	return s.showJobs(c, http.StatusOK, &pageData{})
}

func (s *Server) showJobs(c echo.Context, status int, data *pageData) error {
	f, err := model.ParseJobFilter(c.QueryParams())
	if err != nil {
		return err
	}
	f.ProblemsFirst = true
	jobs, _, err := s.store.FindJobs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	now := s.now()
	v := &jobsView{Status: strings.Join(f.Statuses, ","), Type: f.Type, Statuses: model.JobStatuses, Types: model.JobTypes,
		SelfURL: selfURL(c), CanChange: canChange(c), From: formField(f.From), To: formField(f.To)}
	for _, j := range jobs {
		r := jobRow{Job: j}
		if j.Status == model.JobRunning && j.StartedAt != nil {
			d := now.Sub(*j.StartedAt)
			r.Running, r.Long = d.Round(time.Second).String(), d > longRunning
		}
		v.Jobs = append(v.Jobs, r)
	}
	data.Page = v
	return s.openWatchPage(c, status, "jobs", "Jobs", "jobs-table", data)
}

// jobView is a job's detail page.
type jobView struct {
	Job            model.Job
	Input, Output  string // indented JSON
	Duration       string
	CertificateURL string
}

// jobPage serves /jobs/{id}: every field, the input payload, the output or
// error and the timings.
func (s *Server) jobPage(c echo.Context) error {
	j, err := s.jobOfPath(c)
	if err != nil {
		return err
	}
	v := &jobView{Job: j, Input: indentJSON(j.Input), Output: indentJSON(j.Output)}
	if j.DurationMS != nil {
		v.Duration = j.Duration().String()
	} else if j.StartedAt != nil {
		v.Duration = "running for " + s.now().Sub(*j.StartedAt).Round(time.Second).String()
	}
	return s.openWatchPage(c, http.StatusOK, "job", fmt.Sprintf("Job %d", j.ID), "", &pageData{Page: v})
}

// indentJSON returns raw indented for reading, or "" for none.
func indentJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// consoleCreateJob queues a job from the Jobs page form.
func (s *Server) consoleCreateJob(c echo.Context) error {
	show := func(status int, d *pageData) error { return s.showJobs(c, status, d) }
	req := model.NewJobRequest{Type: c.FormValue("type"), Name: c.FormValue("name"), CAID: c.FormValue("ca_id"), AgentID: c.FormValue("agent_id")}
	var err error
	if req.CertificateID, err = formID(c, "certificate_id"); err != nil {
		return s.watchChanged(c, err, "", show)
	}
	if req.EndpointID, err = formID(c, "endpoint_id"); err != nil {
		return s.watchChanged(c, err, "", show)
	}
	if in := strings.TrimSpace(c.FormValue("input")); in != "" {
		req.Input = json.RawMessage(in)
	}
	j, err := req.Job(s.actor(c), s.now())
	if err == nil {
		j, _, err = s.store.CreateJob(c.Request().Context(), j)
	}
	if err != nil {
		return s.watchChanged(c, err, "", show)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/jobs/%d?done=queued", j.ID))
}
