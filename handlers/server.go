// Package handlers serves Vigil's HTTP API and console on echo. Every route
// is declared in routes.go, grouped by who may call it.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vigil/ingest"
	"vigil/model"
	"vigil/store"
)

// Config is what the handlers need from the appliance's configuration.
type Config struct {
	MaxBodyBytes int64 // largest accepted request body
	Version      string
	// CheckpointKey signs checkpoints made on demand.
	CheckpointKey *model.CheckpointKey
	// Schedules are the scheduler's checks and cron specs, shown in Settings.
	Schedules []Schedule
	// Retention and RetentionAudit (--retention, --retention-audit; 0:
	// forever) are the default rule and the AUDIT_LOG rule of retention.
	Retention, RetentionAudit time.Duration

	// UI holds the console's views/ and static/: ui.FS, embedded in the
	// binary.
	UI fs.FS
	// SessionIdle ends a console session after this long without a
	// request; SessionMaxAge ends it this long after sign-in regardless.
	SessionIdle   time.Duration
	SessionMaxAge time.Duration
	// LoginFailures failed sign-ins within LoginWindow for one account make
	// further attempts for it wait (429); as many from one address, for any
	// accounts, pace that address's attempts (see loginThrottle).
	LoginFailures int
	LoginWindow   time.Duration
	// TrustedProxies are the reverse proxies (addresses and networks)
	// whose X-Forwarded-For and X-Forwarded-Proto tell the client's
	// address and scheme; from any other peer those headers are ignored.
	TrustedProxies []netip.Prefix
	// DashboardRefresh is how often an open dashboard refreshes itself
	// (whole seconds; default 15 s).
	DashboardRefresh time.Duration

	// MaxBatchEvents caps the events of one POST /api/v1/events (default
	// 10,000): a request with more is refused whole with 413.
	MaxBatchEvents int

	// Certificate watch.
	AgentOfflineAfter time.Duration                      // silence that makes an agent offline
	ExpiryDays        []int                              // --expiry-days, largest first (default 30,14,7,1)
	OnAlert           func(context.Context, model.Alert) // told of each alert a request raises (webhook)
	EndpointNetworks  model.EndpointNetworks             // where endpoints may point (--endpoint-networks)
	// OnCertificatesAdded is told of the certificates of each upload (API
	// or console) once stored, before the upload is answered: the expiry
	// check of the new ones runs there, not at the next scheduled run.
	OnCertificatesAdded func(context.Context, []store.AddedCertificate) error

	// OnCheckpoint is told of each checkpoint signed on request (API or
	// Settings), to send a copy off the box (webhook, --checkpoint-syslog).
	OnCheckpoint func(context.Context, store.StoredCheckpoint)
	// StampCheckpoint, if set, has each checkpoint signed on request
	// time-stamped (--tsa-url) before it is answered and sent off the box;
	// it returns the checkpoint as it then stands, stamped or not (its
	// error is reported by the alert it raises, not to the caller).
	StampCheckpoint func(context.Context, store.StoredCheckpoint) (store.StoredCheckpoint, error)
	// TSAURL is the time-stamping authority's address, shown in Settings.
	TSAURL string

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Schedule is one scheduled check as configured.
type Schedule struct {
	Check string // e.g. expiry
	Spec  string // cron spec; "" when off
	About string // what it does
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      Config
	store    *store.Store
	log      *slog.Logger
	gatherer prometheus.Gatherer
	now      func() time.Time

	pages map[string]*template.Template // by page name, parsed at boot
	// staticFiles are static's files, read once, with their ETags.
	staticFiles map[string]staticFile
	served      map[string]bool // GET paths with a route, for the navigation
	sessions    *sessionStore
	throttle    *loginThrottle
	proxies     *proxies
	verifier    *chainVerifier

	ingestReceived *prometheus.CounterVec
	ingestRejected *prometheus.CounterVec
	requests       *prometheus.HistogramVec
	logins         *prometheus.CounterVec
	loginsPaced    prometheus.Counter
}

// New returns the HTTP handler of the appliance.
func New(cfg Config, st *store.Store, log *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = ingest.DefaultMaxBatchEvents
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AgentOfflineAfter <= 0 {
		cfg.AgentOfflineAfter = 10 * time.Minute
	}
	if len(cfg.ExpiryDays) == 0 {
		cfg.ExpiryDays = []int{30, 14, 7, 1}
	}
	var err error
	if cfg.ExpiryDays, err = model.CheckExpiryDays(cfg.ExpiryDays); err != nil {
		return nil, fmt.Errorf("handlers: expiry days: %w", err)
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = 12 * time.Hour
	}
	if cfg.LoginFailures <= 0 {
		cfg.LoginFailures = 10
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = 5 * time.Minute
	}
	if cfg.DashboardRefresh < time.Second {
		cfg.DashboardRefresh = 15 * time.Second
	}
	if cfg.UI == nil {
		return nil, fmt.Errorf("handlers: no UI file system (views and static)")
	}
	pages, err := parsePages(cfg.UI)
	if err != nil {
		return nil, err
	}
	static, err := staticFS(cfg.UI)
	if err != nil {
		return nil, err
	}
	files, err := staticFiles(static)
	if err != nil {
		return nil, err
	}
	px := &proxies{trusted: cfg.TrustedProxies}
	s := &Server{
		cfg: cfg, store: st, log: log, gatherer: reg, now: cfg.Now,
		pages: pages, staticFiles: files,
		sessions: &sessionStore{st: st, idle: cfg.SessionIdle, maxAge: cfg.SessionMaxAge, proxies: px},
		proxies:  px,
		throttle: newLoginThrottle(cfg.LoginFailures, cfg.LoginWindow),
		ingestReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_received_total", Help: "Events received at intake over HTTP, valid or not, by source (syslog: vigil_syslog_received_total).",
		}, []string{"source"}),
		ingestRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_rejected_total", Help: "Events refused at intake, by source and reason.",
		}, []string{"source", "reason"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_http_request_seconds", Help: "HTTP request latency by route and status class.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_console_logins_total", Help: "Console sign-in attempts by result (succeeded, failed, throttled).",
		}, []string{"result"}),
		loginsPaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_console_logins_paced_total", Help: "Sign-in attempts that waited their turn because their address had too many recent failures.",
		}),
	}
	if s.verifier, err = newChainVerifier(st, cfg.Now, reg); err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{s.ingestReceived, s.ingestRejected, s.requests, s.logins, s.loginsPaced} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Handler builds the echo instance with every route.
func (s *Server) Handler() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.JSONSerializer = jsonSerializer{}
	// Client addresses come from the connection, or from X-Forwarded-For
	// of trusted proxies only.
	e.IPExtractor = s.proxies.clientIP
	s.routes(e)
	s.served = map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == http.MethodGet {
			s.served[r.Path] = true
		}
	}
	return e
}

// healthz answers whether Vigil is up, and its version.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	return echo.WrapHandler(h)
}

// apiError is the JSON body of every error response.
type apiError struct {
	Error string            `json:"error"`
	Items []model.ItemError `json:"items,omitempty"`
}

// statusOf maps an error code to its HTTP status: the one place this is done.
var statusOf = map[string]int{
	model.EINVALID:      http.StatusBadRequest,
	model.ENOTFOUND:     http.StatusNotFound,
	model.EGONE:         http.StatusGone,
	model.ECONFLICT:     http.StatusConflict,
	model.EUNAUTHORIZED: http.StatusUnauthorized,
	model.EFORBIDDEN:    http.StatusForbidden,
	model.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	model.EUNAVAILABLE:  http.StatusServiceUnavailable,
	model.EINTERNAL:     http.StatusInternalServerError,
}

// errorHandler writes every error as JSON {"error": …} with its status.
// Internal errors are logged with the request id and shown as a generic
// message, never as a stack trace.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.Warn("error after response started", "request_id", requestID(c), "err", err)
		return
	}
	status := http.StatusInternalServerError
	body := apiError{Error: "internal error"}
	var he *echo.HTTPError
	var me *model.Error
	switch {
	case errors.As(err, &me):
		status = statusOf[me.Code]
		body = apiError{Error: me.Message, Items: me.Items}
	case errors.As(err, &he):
		status = he.Code
		body.Error = http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			body.Error = m
		}
	case errors.Is(err, context.Canceled):
		status = 499
		body.Error = "request canceled"
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "1")
	}
	attrs := []any{"request_id", requestID(c), "method", c.Request().Method, "path", c.Request().URL.Path, "status", status}
	switch {
	case status >= 500:
		s.log.Error("request failed", append(attrs, "err", err)...)
	case status >= 400:
		s.log.Warn("request refused", append(attrs, "err", body.Error)...)
	}
	switch {
	case c.Request().Method == http.MethodHead:
		err = c.NoContent(status)
	case wantsHTML(c):
		err = s.renderError(c, status, body.Error)
	default:
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.Warn("writing error response", "request_id", requestID(c), "err", err)
	}
}

// wantsHTML reports whether an error should be shown as a console page
// rather than as JSON: a browser's request for anything but the API.
func wantsHTML(c echo.Context) bool {
	p := c.Request().URL.Path
	if strings.HasPrefix(p, "/api/") || p == "/metrics" || p == "/healthz" {
		return false
	}
	return isHTMX(c) || strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/html")
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
