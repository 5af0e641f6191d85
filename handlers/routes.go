package handlers

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"vigil/model"
)

// routes declares every route, grouped by who may call it.
func (s *Server) routes(e *echo.Echo) {
	e.Use(middleware.RequestID())
	e.Use(s.observe)
	// Pages and assets go compressed to browsers that ask; API answers,
	// metrics and streamed exports are left as they are.
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{Skipper: notForGzip}))
	e.Use(middleware.Recover())
	e.Use(securityHeaders)
	e.Use(crossOriginProtection())
	// While storage fails, every change is refused (503, Retry-After);
	// ingest is still tried, and answers 503 by itself.
	e.Use(s.requireWritable("/api/v1/events"))

	// Public.
	e.GET("/healthz", s.healthz)
	e.GET("/static/*", s.serveStatic)
	e.GET("/login", s.loginPage)
	e.POST("/login", s.login)

	// Ingest: bearer token of scope ingest or agent.
	ingest := e.Group("/api/v1", s.authenticate, requireIngest)
	ingest.POST("/events", s.postEvents)

	// Read: token of scope read or manage, or a session; role checks in
	// each handler through the principal's visibility.
	read := e.Group("", s.authenticate, requireRead)
	read.GET("/api/v1/events", s.listEvents)
	read.GET("/api/v1/events.csv", s.exportEvents)
	read.GET("/api/v1/events/export", s.exportEvents)
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
	manage := e.Group("/api/v1", s.authenticate, requireManage)
	manage.POST("/audit/checkpoint", s.createCheckpoint)
	manage.POST("/alerts/:id/read", s.readAlert)
	manage.POST("/alerts/read-all", s.readAllAlerts)
	manage.POST("/jobs", s.createJob)
	manage.POST("/certificates", s.uploadCertificates)
	manage.POST("/endpoints", s.addEndpoint)
	manage.PUT("/certificates/:id/expiry-days", s.setCertificateExpiryDays)
	manage.PUT("/endpoints/:id/expiry-days", s.setEndpointExpiryDays)

	// Retention rules and legal holds: an admin, through a session or a
	// token of scope manage.
	retention := e.Group("/api/v1/retention", s.authenticate, requireManage, requireRole(model.RoleAdmin))
	retention.GET("/rules", s.listRetentionRules)
	retention.POST("/rules", s.setRetentionRule)
	retention.DELETE("/rules/:id", s.deleteRetentionRule)
	retention.GET("/holds", s.listLegalHolds)
	retention.POST("/holds", s.placeLegalHold)
	retention.DELETE("/holds/:id", s.releaseLegalHold)

	// Agents: a token of scope agent claims jobs and reports results.
	agent := e.Group("/api/v1", s.authenticate, requireAgent)
	agent.POST("/jobs/claim", s.claimJob)
	agent.POST("/jobs/:id/result", s.jobResult)

	// Console: a session; each page admits the roles its navigation entry
	// names (navItems).
	console := e.Group("", s.authenticate, requireSession)
	console.POST("/logout", s.logout)
	console.GET("/", s.dashboardPage, pageAccess("/"))
	for _, p := range []string{"/events", "/audit", "/system"} {
		console.GET(p, s.eventsPage(logPages[p]), pageAccess(p))
	}
	console.GET("/events/:id", s.eventDetail, pageAccess("/events"))
	console.GET("/alerts", s.alertsPage, pageAccess("/alerts"))
	console.GET("/jobs", s.jobsPage, pageAccess("/jobs"))
	console.GET("/jobs/:id", s.jobPage, pageAccess("/jobs"))
	console.GET("/certificates", s.certificatesPage, pageAccess("/certificates"))
	console.GET("/certificates/:id", s.certificatePage, pageAccess("/certificates"))
	console.GET("/endpoints/:id", s.endpointPage, pageAccess("/certificates"))
	console.GET("/agents", s.agentsPage, pageAccess("/agents"))
	// Changes of alerts, jobs and certificates: an admin's or operator's
	// session (SPEC §5).
	changers := requireRole(model.RoleAdmin, model.RoleOperator)
	console.POST("/alerts/:id/read", s.consoleReadAlert, changers)
	console.POST("/alerts/read-all", s.consoleReadAllAlerts, changers)
	console.POST("/jobs", s.consoleCreateJob, changers)
	console.POST("/certificates", s.consoleUpload, changers)
	console.POST("/endpoints", s.consoleAddEndpoint, changers)
	console.POST("/certificates/:id/expiry-days", s.consoleCertificateExpiryDays, changers)
	console.POST("/endpoints/:id/expiry-days", s.consoleEndpointExpiryDays, changers)
	console.GET("/settings", s.settingsPage, pageAccess("/settings"))
	console.GET("/account", s.accountPage)
	console.POST("/account/password", s.changeOwnPassword)

	// Console changes of users, tokens and retention: an admin's session.
	settings := e.Group("/settings", s.authenticate, requireSession, requireRole(model.RoleAdmin))
	settings.POST("/users", s.createUser)
	settings.POST("/users/:name/role", s.changeRole)
	settings.POST("/users/:name/disabled", s.setDisabled)
	settings.POST("/users/:name/password", s.resetPassword)
	settings.POST("/tokens", s.createToken)
	settings.POST("/tokens/:id/revoke", s.revokeToken)
	settings.POST("/checkpoint", s.signCheckpoint)
	settings.POST("/retention/rules", s.consoleSetRetentionRule)
	settings.POST("/retention/rules/:id/delete", s.consoleDeleteRetentionRule)
	settings.POST("/retention/holds", s.consolePlaceLegalHold)
	settings.POST("/retention/holds/:id/release", s.consoleReleaseLegalHold)
}
