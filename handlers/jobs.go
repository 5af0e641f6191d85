package handlers

import (
	"net/http"
	"strings"

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

// getJob answers GET /api/v1/jobs/{id}.
func (s *Server) getJob(c echo.Context) error {
	id, err := pathID(c, "job")
	if err != nil {
		return err
	}
	j, err := s.store.JobByID(c.Request().Context(), id)
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

// agentRequest names the calling agent; without it the agent is the
// token's user.
type agentRequest struct {
	AgentID string `json:"agent_id"`
}

func (s *Server) agentID(c echo.Context, given string) (string, error) {
	id := strings.TrimSpace(given)
	if id == "" {
		id = principal(c).User.Name
	}
	if len(id) > model.MaxFieldLen {
		return "", model.Errorf(model.EINVALID, "agent_id: longer than %d bytes", model.MaxFieldLen)
	}
	return id, nil
}

// claimJob answers POST /api/v1/jobs/claim: the next due QUEUED job for
// the agent, now RUNNING; 204 when there is none.
func (s *Server) claimJob(c echo.Context) error {
	var req agentRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return err
	}
	agent, err := s.agentID(c, req.AgentID)
	if err != nil {
		return err
	}
	j, err := s.store.ClaimJob(c.Request().Context(), agent)
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
	agent, err := s.agentID(c, req.AgentID)
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
	out, err := s.store.FinishJob(ctx, id, agent, req.JobResult, issued)
	if err != nil {
		return err
	}
	for _, a := range out.Alerts {
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
