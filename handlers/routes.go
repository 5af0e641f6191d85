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
	e.Use(middleware.Recover())
	e.Use(securityHeaders)
	e.Use(crossOriginProtection())

	// Public.
	e.GET("/healthz", s.healthz)
	e.StaticFS("/static", s.static)
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
	read.GET("/api/v1/events/:id", s.getEvent)
	read.GET("/api/v1/events/:id/proof", s.eventProof)
	integrity := requireRole("admin", "auditor", "operator")
	read.GET("/api/v1/audit/verify", s.verifyChain, integrity)
	read.GET("/api/v1/audit/checkpoint", s.latestCheckpoint, integrity)
	read.GET("/api/v1/audit/consistency", s.consistencyProof, integrity)
	read.GET("/metrics", s.metricsHandler())

	// Manage: a session or a token of scope manage, of an admin or operator.
	manage := e.Group("/api/v1", s.authenticate, requireManage, s.requireWritable)
	manage.POST("/audit/checkpoint", s.createCheckpoint)

	// Agents: a token of scope agent claims jobs and reports results.
	agent := e.Group("/api/v1", s.authenticate, requireAgent)
	_ = agent

	// Console: a session; each page admits the roles its navigation entry
	// names (navItems).
	console := e.Group("", s.authenticate, requireSession)
	console.POST("/logout", s.logout)
	console.GET("/", s.dashboardPage, pageAccess("/"))
	for _, p := range []string{"/events", "/audit", "/system"} {
		console.GET(p, s.logHandler(logPages[p]), pageAccess(p))
	}
	console.GET("/events/:id", s.eventDetail, pageAccess("/events"))
	console.GET("/settings", s.settingsPage, pageAccess("/settings"))
	console.GET("/account", s.accountPage)
	console.POST("/account/password", s.changeOwnPassword)

	// Console changes of users and tokens: an admin's session.
	settings := e.Group("/settings", s.authenticate, requireSession, requireRole(model.RoleAdmin))
	settings.POST("/users", s.createUser)
	settings.POST("/users/:name/role", s.changeRole)
	settings.POST("/users/:name/disabled", s.setDisabled)
	settings.POST("/users/:name/password", s.resetPassword)
	settings.POST("/tokens", s.createToken)
	settings.POST("/tokens/:id/revoke", s.revokeToken)
}
