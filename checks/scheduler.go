// Package checks runs Vigil's scheduled checks on robfig/cron: certificate
// expiry, agents gone quiet, stuck jobs, deployment validation with
// discovery, and reminders of alerts no one has read. Each run is recorded
// as an AUDIT_LOG event by the scheduler (actor SYSTEM). New alerts go to
// the webhook notifier of package notify.
package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"vigil/model"
	"vigil/notify"
	"vigil/store"
)

// The checks, by name.
const (
	CheckExpiry     = "expiry"
	CheckAgents     = "agents"
	CheckStuckJobs  = "stuck-jobs"
	CheckDeploy     = "deploy"
	CheckCheckpoint = "checkpoint"
	CheckRetention  = "retention"
	CheckReminders  = "reminders"
	CheckVerify     = "verify"
)

// Config holds the schedules and limits of the checks (SPEC §6).
type Config struct {
	CronExpiry, CronAgents, CronJobs, CronDeploy string
	CronCheckpoint, CronRetention, CronVerify    string
	// CronReminders schedules the reminders of unread alerts about
	// expired or failing certificates, sent every RemindEvery (0: off).
	CronReminders string
	RemindEvery   time.Duration

	// CheckpointKey signs checkpoints; nil turns the checkpoint check off.
	CheckpointKey *model.CheckpointKey
	// CheckpointSyslog, if set, is a remote syslog receiver (host:port,
	// TCP) that gets a copy of every checkpoint.
	CheckpointSyslog string
	// TSAURL, if set, is an RFC 3161 time-stamping authority asked for a
	// token over every checkpoint (--tsa-url); TSATimeout bounds each
	// request (default 15s).
	TSAURL     string
	TSATimeout time.Duration
	// Retention removes events received longer ago (0: never);
	// RetentionAudit is the same for AUDIT_LOG events.
	Retention, RetentionAudit time.Duration

	ExpiryDays        []int         // alert thresholds in days, e.g. 30,14,7,1
	AgentOfflineAfter time.Duration // silence that makes an agent offline
	JobStuckAfter     time.Duration // RUNNING (or QUEUED unclaimed) this long is stuck
	DialTimeout       time.Duration // per endpoint connection and handshake; default 10s
	DialParallel      int           // endpoints dialed at once; default 4
	// EndpointNetworks is where endpoint dials may go (--endpoint-networks),
	// checked on the resolved address of each dial.
	EndpointNetworks model.EndpointNetworks
}

// specParser reads the cron specs of the flags: five fields, or a
// descriptor such as @hourly or @every 5s.
var specParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec checks a cron spec.
func ParseSpec(spec string) error {
	if _, err := specParser.Parse(spec); err != nil {
		return fmt.Errorf("cron spec %q: %w", spec, err)
	}
	return nil
}

// Report is what a check run found, recorded in its audit event.
type Report struct {
	Summary string
	Details map[string]any
}

// ErrBusy is returned when a check is asked to run while its previous run
// is still going: checks never overlap themselves.
var ErrBusy = model.Errorf(model.ECONFLICT, "the check is still running")

type check struct {
	name string
	spec string
	fn   func(ctx context.Context, now time.Time) (Report, error)
	mu   sync.Mutex // held while running
}

// Scheduler runs the checks on their cron schedules.
type Scheduler struct {
	cfg      Config
	st       *store.Store
	notifier *notify.Notifier
	clock    model.Clock
	log      *slog.Logger
	cron     *cron.Cron
	checks   map[string]*check
	tsa      *notify.TSA // nil: checkpoints are not time-stamped
	// stopping is closed by Stop: a verification under way ends early
	// rather than hold up shutdown.
	stopping chan struct{}
	stopOnce sync.Once
	leader   atomic.Bool // this node ran the last scheduled check (see leads)

	runs     *prometheus.CounterVec
	failures *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a scheduler for st; notifier may be nil.
func New(cfg Config, st *store.Store, notifier *notify.Notifier, clock model.Clock, log *slog.Logger, reg prometheus.Registerer) (*Scheduler, error) {
	if clock == nil {
		clock = model.SystemClock{}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.DialParallel <= 0 {
		cfg.DialParallel = 4
	}
	if cfg.TSATimeout <= 0 {
		cfg.TSATimeout = 15 * time.Second
	}
	if len(cfg.ExpiryDays) == 0 {
		return nil, errors.New("checks: no expiry thresholds")
	}
	cfg.ExpiryDays = slices.Clone(cfg.ExpiryDays)
	slices.Sort(cfg.ExpiryDays)
	slices.Reverse(cfg.ExpiryDays)
	if cfg.AgentOfflineAfter <= 0 || cfg.JobStuckAfter <= 0 {
		return nil, errors.New("checks: agent offline and job stuck limits must be positive")
	}
	s := &Scheduler{
		cfg: cfg, st: st, notifier: notifier, clock: clock, log: log, tsa: notify.NewTSA(cfg.TSAURL, cfg.TSATimeout),
		stopping: make(chan struct{}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_scheduler_runs_total", Help: "Scheduler check runs, by check.",
		}, []string{"check"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_scheduler_failures_total", Help: "Scheduler check runs that failed, by check.",
		}, []string{"check"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_scheduler_skipped_total", Help: "Scheduled runs skipped because the previous run of the check was still going.",
		}, []string{"check"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_scheduler_run_seconds", Help: "Duration of scheduler check runs, by check.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"check"}),
	}
	s.checks = map[string]*check{
		CheckExpiry:    {name: CheckExpiry, spec: cfg.CronExpiry, fn: s.checkExpiry},
		CheckAgents:    {name: CheckAgents, spec: cfg.CronAgents, fn: s.checkAgents},
		CheckStuckJobs: {name: CheckStuckJobs, spec: cfg.CronJobs, fn: s.checkStuckJobs},
		CheckDeploy:    {name: CheckDeploy, spec: cfg.CronDeploy, fn: s.checkDeploy},
		CheckRetention: {name: CheckRetention, spec: cfg.CronRetention, fn: s.checkRetention},
		CheckVerify:    {name: CheckVerify, spec: cfg.CronVerify, fn: s.checkVerify},
		CheckReminders: {name: CheckReminders, spec: cfg.CronReminders, fn: s.checkReminders},
	}
	if cfg.RemindEvery <= 0 {
		s.checks[CheckReminders].spec = "" // off; a run says so
	}
	if cfg.CheckpointKey != nil {
		s.checks[CheckCheckpoint] = &check{name: CheckCheckpoint, spec: cfg.CronCheckpoint, fn: s.checkCheckpoint}
	}
	// Every check's series exist from the start, at zero.
	for name := range s.checks {
		s.runs.WithLabelValues(name)
		s.failures.WithLabelValues(name)
		s.skipped.WithLabelValues(name)
	}
	s.cron = cron.New(cron.WithParser(specParser), cron.WithLocation(time.UTC))
	if reg != nil {
		for _, c := range []prometheus.Collector{s.runs, s.failures, s.skipped, s.duration, newStateCollector(st, clock)} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("checks: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Start schedules every check with a spec; runs use ctx. An empty spec
// leaves a check unscheduled (it can still be run with RunCheck).
func (s *Scheduler) Start(ctx context.Context) error {
	for _, name := range []string{CheckExpiry, CheckAgents, CheckStuckJobs, CheckDeploy, CheckCheckpoint, CheckRetention, CheckReminders, CheckVerify} {
		c := s.checks[name]
		if c == nil || c.spec == "" {
			continue
		}
		if _, err := s.cron.AddFunc(c.spec, func() {
			if !s.leads(ctx) {
				return
			}
			if _, err := s.RunCheck(ctx, c.name); errors.Is(err, ErrBusy) {
				s.skipped.WithLabelValues(c.name).Inc()
				s.log.Warn("check skipped: previous run still going", "job", c.name)
			}
		}); err != nil {
			return fmt.Errorf("checks: schedule %s: %w", name, err)
		}
		s.log.Info("check scheduled", "job", name, "spec", c.spec)
	}
	s.cron.Start()
	return nil
}

// leads reports whether this node runs the scheduled checks: with nodes
// sharing a PostgreSQL database, only the one holding the scheduler's lock
// does (store.LeadsScheduler); another takes over at its next scheduled
// run once the holder is gone. A change is logged.
func (s *Scheduler) leads(ctx context.Context) bool {
	now := s.st.LeadsScheduler(ctx)
	if was := s.leader.Swap(now); was != now && s.st.Shared() {
		if now {
			s.log.Info("this node runs the scheduled checks (it holds the scheduler lock)")
		} else {
			s.log.Info("another node runs the scheduled checks (it holds the scheduler lock)")
		}
	}
	return now
}

// Stop stops scheduling and waits for running checks to end.
func (s *Scheduler) Stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
	<-s.cron.Stop().Done()
}

// RunCheck runs check name now and records the run as a SCHEDULER_RUN
// audit event (actor SYSTEM) with what it found and how long it took. It
// returns ErrBusy, without running, when the check is already running.
func (s *Scheduler) RunCheck(ctx context.Context, name string) (Report, error) {
	c := s.checks[name]
	if c == nil {
		return Report{}, model.Errorf(model.EINVALID, "no check named %q", name)
	}
	if !c.mu.TryLock() {
		return Report{}, ErrBusy
	}
	defer c.mu.Unlock()
	now := s.clock.Now()
	start := time.Now()
	rep, err := c.fn(ctx, now)
	took := time.Since(start)
	s.runs.WithLabelValues(name).Inc()
	s.duration.WithLabelValues(name).Observe(took.Seconds())
	details := map[string]any{"check": name, "duration_ms": took.Milliseconds()}
	for k, v := range rep.Details {
		details[k] = v
	}
	outcome, msg := "SUCCESS", fmt.Sprintf("%s check: %s", name, rep.Summary)
	if err != nil {
		s.failures.WithLabelValues(name).Inc()
		outcome, msg = "FAILURE", fmt.Sprintf("%s check failed: %v", name, err)
		details["error"] = err.Error()
		s.log.Error("check failed", "job", name, "took", took, "err", err)
	} else {
		s.log.Info("check ran", "job", name, "took", took, "found", rep.Summary)
	}
	e, eerr := model.NewAuditEvent(now, "SCHEDULER_RUN", outcome, model.SchedulerActor,
		model.Entity{Type: "CHECK", ID: name}, msg, details)
	if eerr == nil {
		_, eerr = s.st.AppendEvents(context.WithoutCancel(ctx), []model.Event{e})
	}
	if eerr != nil {
		s.log.Error("recording check run", "job", name, "err", eerr)
		if err == nil {
			err = eerr
		}
	}
	return rep, err
}

// raise stores alert a unless the same condition is already open, and
// hands a new one to the notifier unless it is held. It reports whether a
// was new.
func (s *Scheduler) raise(ctx context.Context, a model.Alert) (bool, error) {
	stored, created, err := s.st.RaiseAlert(ctx, a)
	if err != nil || !created {
		return false, err
	}
	s.log.Info("alert raised", "type", a.Type, "severity", a.Severity, "key", a.Key, "alert_id", stored.ID, "delivery", stored.Delivery.Status)
	if stored.Delivery.Status != model.DeliveryHeld {
		s.notifier.Notify(ctx, stored)
	}
	return true, nil
}
