package handlers

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// routes declares every route, grouped by who may call it.
func (s *Server) routes(e *echo.Echo) {
	e.Use(middleware.RequestID())
	e.Use(s.observe)
	e.Use(middleware.Recover())
	e.Use(securityHeaders)

	// Public.
	e.GET("/healthz", s.healthz)

	// Ingest: bearer token of scope ingest or agent.
	ingest := e.Group("/api/v1", s.authenticate, requireIngest)
	ingest.POST("/events", s.postEvents)

	// Read: token of scope read or manage, or a session; role checks in
	// each handler through the principal's visibility.
	read := e.Group("", s.authenticate, requireRead)
	read.GET("/api/v1/events", s.listEvents)
	read.GET("/api/v1/events.csv", s.exportEvents)
	read.GET("/api/v1/events/:id", s.getEvent)
	read.GET("/api/v1/events/:id/proof", s.eventProof)
	integrity := requireRole("admin", "auditor", "operator")
	read.GET("/api/v1/audit/verify", s.verifyChain, integrity)
	read.GET("/api/v1/audit/checkpoint", s.latestCheckpoint, integrity)
	read.GET("/api/v1/audit/consistency", s.consistencyProof, integrity)
	read.GET("/metrics", s.metricsHandler())
	read.GET("/api/v1/alerts", s.listAlerts)
	read.GET("/api/v1/jobs", s.listJobs)
	read.GET("/api/v1/jobs/:id", s.getJob)
	read.GET("/api/v1/certificates", s.listCertificates)
	read.GET("/api/v1/certificates/:id", s.getCertificate)
	read.GET("/api/v1/endpoints", s.listEndpoints)
	read.GET("/api/v1/agents", s.listAgents)

	// Manage: a session or a token of scope manage, of an admin or operator.
	manage := e.Group("/api/v1", s.authenticate, requireManage, s.requireWritable)
	manage.POST("/audit/checkpoint", s.createCheckpoint)
	manage.POST("/alerts/:id/read", s.readAlert)
	manage.POST("/alerts/read-all", s.readAllAlerts)
	manage.POST("/jobs", s.createJob)
	manage.POST("/certificates", s.uploadCertificates)
	manage.POST("/endpoints", s.addEndpoint)

	// Agents: a token of scope agent claims jobs and reports results.
	agent := e.Group("/api/v1", s.authenticate, requireAgent)
	agent.POST("/jobs/claim", s.claimJob)
	agent.POST("/jobs/:id/result", s.jobResult)
}
