package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"vigil/checks"
	"vigil/handlers"
	"vigil/ingest"
	"vigil/model"
	"vigil/notify"
	"vigil/store"
	"vigil/ui"
)

// App is the appliance wired from one Config: the store, the syslog
// server, the webhook notifier, the scheduler and the HTTP handler. build
// makes it, Start opens its listeners and starts its background work, and
// Close stops everything in order. vigil serve runs it; the end-to-end
// tests build it the same way.
type App struct {
	cfg      Config
	logs     slog.Handler
	Log      *slog.Logger
	Registry *prometheus.Registry
	Clock    model.Clock

	Store     *store.Store
	Syslog    *ingest.Server
	Notifier  *notify.Notifier
	Scheduler *checks.Scheduler
	Handler   http.Handler // the console and the API

	syslogTLS  *tls.Config
	stopBg     context.CancelFunc
	httpServer *http.Server
	metrics    *http.Server
	pprof      *http.Server // --pprof-listen
	errc       chan error   // a listener that stopped serving
}

// build wires the appliance of cfg: it opens (creating on first start) the
// data directory and its database, creates the first admin and the
// checkpoint key if needed, and reports a database rolled back behind its
// latest checkpoint. Nothing listens until Start.
func build(ctx context.Context, cfg Config, stderr io.Writer) (app *App, err error) {
	a := &App{cfg: cfg, Clock: cfg.Clock, Registry: prometheus.NewRegistry(), errc: make(chan error, 1)}
	a.logs = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})
	if cfg.LogFormat == "json" {
		a.logs = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})
	}
	a.Log = slog.New(a.logs)
	if cfg.SyslogTLS != "" {
		if a.syslogTLS, err = ingest.TLSConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA); err != nil {
			return nil, fmt.Errorf("syslog TLS: %w", err)
		}
	}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.Clock == nil {
		a.Clock = model.SystemClock{}
	}
	a.Store, err = openStore(ctx, cfg.location, store.Options{
		Registerer:           a.Registry,
		Logger:               a.Log,
		LatestCheckpointFile: filepath.Join(cfg.DataDir, latestCheckpointFile),
		OnRecovered:          a.recordOutage,
		Now:                  a.Clock.Now,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := bootstrapAdmin(ctx, a.Store, cfg.AdminPassword, stderr, a.Log); err != nil {
		return nil, err
	}
	key, err := loadCheckpointKey(cfg.DataDir, true)
	if err != nil {
		return nil, err
	}
	_ = a.Store.CheckRollback(ctx, key.PublicKey()) // logged and recorded; Vigil starts anyway
	if err := a.wire(key); err != nil {
		return nil, err
	}
	return a, nil
}

// wire creates the syslog server, the notifier, the scheduler and the
// HTTP handler over the open store.
func (a *App) wire(key *model.CheckpointKey) error {
	cfg, st, log, reg := a.cfg, a.Store, a.Log, a.Registry
	var err error
	if a.Syslog, err = ingest.New(cfg.Syslog, st, log.With("component", "syslog"), reg); err != nil {
		return err
	}
	if a.Notifier, err = notify.New(cfg.WebhookURL, st, log.With("job", "webhook"), reg, cfg.Webhook); err != nil {
		return err
	}
	cfg.Watch.CheckpointKey = key
	if a.Scheduler, err = checks.New(cfg.Watch, st, a.Notifier, a.Clock, log, reg); err != nil {
		return err
	}
	srv, err := handlers.New(handlers.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, Version: version, UI: ui.FS, CheckpointKey: key, Schedules: schedules(cfg),
		SessionIdle: cfg.SessionIdle, SessionMaxAge: cfg.SessionMaxAge, TrustedProxies: cfg.TrustedProxies,
		AgentOfflineAfter: cfg.Watch.AgentOfflineAfter, ExpiryDays: cfg.Watch.ExpiryDays, OnAlert: a.Notifier.Notify, Now: a.Clock.Now,
		EndpointNetworks:    cfg.Watch.EndpointNetworks,
		MaxBatchEvents:      cfg.MaxBatchEvents,
		Retention:           cfg.Watch.Retention,
		RetentionAudit:      cfg.Watch.RetentionAudit,
		OnCheckpoint:        a.publishCheckpoint,
		StampCheckpoint:     a.Scheduler.StampCheckpoint,
		TSAURL:              cfg.Watch.TSAURL,
		OnCertificatesAdded: a.Scheduler.CheckAddedCertificates,
	}, st, log, reg)
	if err != nil {
		return err
	}
	a.Handler = srv.Handler()
	return nil
}

// publishCheckpoint sends a checkpoint signed on request off the box, as
// the scheduler does its own: to the webhook and to --checkpoint-syslog.
func (a *App) publishCheckpoint(ctx context.Context, cp store.StoredCheckpoint) {
	go func() {
		if err := a.Notifier.PublishCheckpoint(ctx, cp, a.cfg.Watch.CheckpointSyslog, a.Clock.Now()); err != nil {
			a.Log.Error("sending checkpoint", "checkpoint_id", cp.ID, "err", err)
		}
	}()
}

// recordOutage records in the store, once writes succeed again, that they
// failed, and sends the alert to the webhook.
func (a *App) recordOutage(o store.Outage) {
	ctx := context.Background()
	alert, created, err := a.Store.RecordOutage(ctx, o)
	if err != nil {
		a.Log.Error("raising storage alert", "err", err)
	} else if created {
		a.Notifier.Notify(ctx, alert)
	}
}

// Start opens the syslog listeners, starts the webhook and the scheduler,
// then opens the metrics and HTTP listeners. A listener that stops
// serving later is reported by Err.
func (a *App) Start() error {
	if err := a.listenSyslog(); err != nil {
		return err
	}
	// The scheduler and the webhook run until Close, after the HTTP server
	// has drained.
	bg, stop := context.WithCancel(context.Background())
	a.stopBg = stop
	if err := a.Notifier.Start(bg); err != nil {
		return err
	}
	if err := a.Scheduler.Start(bg); err != nil {
		return err
	}
	if a.cfg.MetricsAddr != "" {
		ms, err := serveMetrics(a.cfg.MetricsAddr, a.Registry, a.logs, a.errc)
		if err != nil {
			return err
		}
		a.metrics = ms
		a.listening("metrics", ms.Addr)
	}
	if a.cfg.PprofAddr != "" {
		ps, err := servePprof(a.cfg.PprofAddr, a.logs, a.errc)
		if err != nil {
			return err
		}
		a.pprof = ps
		a.listening("pprof", ps.Addr)
	}
	return a.serveHTTP()
}

// Err receives the error of a listener that stopped serving.
func (a *App) Err() <-chan error { return a.errc }

// listening logs a bound listener and tells cfg.Listening of it.
func (a *App) listening(name, addr string, attrs ...any) {
	a.Log.Info("listening", append([]any{"listener", name, "addr", addr}, attrs...)...)
	if a.cfg.Listening != nil {
		a.cfg.Listening(name, addr)
	}
}

func (a *App) listenSyslog() error {
	for _, l := range []struct {
		name, addr string
		listen     func(string) (net.Addr, error)
	}{
		{"syslog-udp", a.cfg.SyslogUDP, a.Syslog.ListenUDP},
		{"syslog-tcp", a.cfg.SyslogTCP, a.Syslog.ListenTCP},
		{"syslog-tls", a.cfg.SyslogTLS, func(addr string) (net.Addr, error) { return a.Syslog.ListenTLS(addr, a.syslogTLS) }},
	} {
		if l.addr == "" {
			continue
		}
		addr, err := l.listen(l.addr)
		if err != nil {
			return fmt.Errorf("%s listener: %w", l.name, err)
		}
		a.listening(l.name, addr.String())
	}
	return nil
}

func (a *App) serveHTTP() error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	a.httpServer = &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.logs, slog.LevelWarn),
	}
	a.listening("http", ln.Addr().String(), "version", version, "data", a.cfg.DataDir)
	go func() {
		if err := a.httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			a.errc <- fmt.Errorf("http: %w", err)
		}
	}()
	return nil
}

// Close shuts down what build and Start began: it stops accepting
// requests and lets running ones finish, stops the syslog listeners (which
// store all they read), the scheduler and the webhook, then drains the
// write queue and closes the database.
func (a *App) Close() {
	if a.httpServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.httpServer.Shutdown(ctx); err != nil {
			a.Log.Warn("http shutdown", "err", err)
		}
	}
	if a.Syslog != nil {
		if err := a.Syslog.Close(); err != nil {
			a.Log.Warn("syslog shutdown", "err", err)
		}
	}
	if a.pprof != nil {
		a.pprof.Close()
	}
	if a.metrics != nil {
		a.metrics.Close()
	}
	if a.stopBg != nil {
		a.Scheduler.Stop()
		a.stopBg()
		a.Notifier.Wait()
	}
	if err := a.Store.Close(); err != nil {
		a.Log.Error("closing database", "err", err)
	}
	a.Log.Info("stopped")
}

// checkpointAbout says what the checkpoint check does.
func checkpointAbout(w checks.Config) string {
	if w.TSAURL != "" {
		return "signs a checkpoint, has " + w.TSAURL + " time-stamp it (RFC 3161) and sends it off the box"
	}
	return "signs a checkpoint and sends it off the box"
}

// schedules lists the scheduler's checks for the Settings page.
func schedules(cfg Config) []handlers.Schedule {
	w := cfg.Watch
	retention := "applies the retention rules below (by default events are kept forever); legal holds keep what they cover"
	if w.Retention > 0 || w.RetentionAudit > 0 {
		retention = fmt.Sprintf("drops events older than %s (AUDIT_LOG: %s; 0 = forever) or as the retention rules below say; legal holds keep what they cover: the oldest are removed, later ones redacted, under a retention record in the chain", model.FormatDays(w.Retention), model.FormatDays(w.RetentionAudit))
	}
	reminderSpec, reminders := w.CronReminders, "off (--remind-every 0)"
	if w.RemindEvery > 0 {
		reminders = "re-sends unread alerts about expired or failing certificates every " + model.FormatDays(w.RemindEvery)
	} else {
		reminderSpec = ""
	}
	return []handlers.Schedule{
		{Check: checks.CheckExpiry, Spec: w.CronExpiry, About: fmt.Sprintf("certificates expiring within %v days (or their own thresholds); queues renewals", w.ExpiryDays)},
		{Check: checks.CheckAgents, Spec: w.CronAgents, About: "agents silent for " + model.FormatDays(w.AgentOfflineAfter)},
		{Check: checks.CheckStuckJobs, Spec: w.CronJobs, About: "jobs running or unclaimed for " + model.FormatDays(w.JobStuckAfter)},
		{Check: checks.CheckDeploy, Spec: w.CronDeploy, About: "dials each endpoint and compares the served certificate"},
		{Check: checks.CheckCheckpoint, Spec: w.CronCheckpoint, About: checkpointAbout(w)},
		{Check: checks.CheckRetention, Spec: w.CronRetention, About: retention},
		{Check: checks.CheckReminders, Spec: reminderSpec, About: reminders},
		{Check: checks.CheckVerify, Spec: w.CronVerify, About: "verifies the whole log in the background (chain, Merkle tree, checkpoints and their time-stamp tokens); a failure raises INTEGRITY_FAILED"},
	}
}
