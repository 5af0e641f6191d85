// Command vigil is an on-prem audit, event and certificate-monitoring
// appliance: one binary, one data directory.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"vigil/handlers"
	"vigil/ingest"
	"vigil/jobs"
	"vigil/model"
	"vigil/store"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

// schemaFS holds the base schema and the numbered migrations.
//
//go:embed schema.sql migrations
var schemaFS embed.FS

// uiFS holds the console's templates (views/) and assets (static/, with
// static/vendor/ filled by make from package-lock.json).
//
//go:embed views static
var uiFS embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usage is the command overview printed by vigil help.
const usage = `vigil: audit, event and certificate-monitoring appliance

Usage:
  vigil [serve] [flags]                       run the appliance
  vigil verify [--checkpoint FILE]            check the hash chain, Merkle tree and checkpoints
  vigil user add NAME --role ROLE             create a user (password on stdin or VIGIL_PASSWORD)
  vigil token create --user NAME --name LABEL [--scope ingest|agent|read|manage] [--agent ID]
  vigil backup --out FILE                     consistent online copy of the database
  vigil healthcheck [--http ADDR]             exit 0 when the appliance at ADDR answers /healthz
  vigil --version

Every command takes --data DIR (default ./data, env VIGIL_DATA).
Every flag X also reads the environment variable VIGIL_X (upper snake case).
Run "vigil COMMAND --help" for a command's flags.
`

// run dispatches a command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stderr)
	case "verify":
		var ok bool
		ok, err = cmdVerify(ctx, args, stdout)
		if err == nil && !ok {
			return 1
		}
	case "user":
		err = cmdUser(ctx, args, stdin, stdout)
	case "token":
		err = cmdToken(ctx, args, stdout)
	case "backup":
		err = cmdBackup(ctx, args, stdout)
	case "healthcheck":
		err = cmdHealthcheck(ctx, args, stdout)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintf(stdout, "vigil %s\n", version)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

var errVersion = errors.New("version requested")

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// newFlagSet returns a flag set with --data and --version defined.
func newFlagSet(name string, dataDir *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(dataDir, "data", "./data", "data directory; the database is DIR/vigil.db")
	fs.Bool("version", false, "print the version and exit")
	return fs
}

// parseFlags fills unset flags from VIGIL_<FLAG> (and VIGIL_<FLAG>_FILE for
// secrets), then parses args, which win. Positional arguments may stand
// between flags; they are returned in order.
func parseFlags(fs *flag.FlagSet, args []string, secrets ...string) ([]string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := "VIGIL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(f.Name, v); err != nil && envErr == nil {
				envErr = usageError{fmt.Sprintf("%s: %v", key, err)}
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if v := fs.Lookup("version"); v != nil && v.Value.String() == "true" {
		return nil, errVersion
	}
	return pos, nil
}

// secretFromEnv returns VIGIL_NAME, or the trimmed content of the file
// named by VIGIL_NAME_FILE.
func secretFromEnv(name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	if p := os.Getenv(name + "_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// Config is the validated configuration of vigil serve.
type Config struct {
	DataDir       string
	HTTPAddr      string
	MetricsAddr   string // a listener serving only /metrics, without authentication; "" is off
	MaxBodyBytes  int64
	AdminPassword string
	LogFormat     string
	LogLevel      slog.Level
	SessionIdle   time.Duration // console sessions end after this long unused
	SessionMaxAge time.Duration // and this long after sign-in at the latest
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto Vigil believes (--trusted-proxies).
	TrustedProxies []netip.Prefix

	// Syslog listeners; an empty address turns one off.
	SyslogUDP, SyslogTCP, SyslogTLS string
	TLSCert, TLSKey, TLSClientCA    string
	Syslog                          ingest.Config

	// Certificate watch (SPEC §6): cron specs of the checks (empty turns a
	// check off), expiry thresholds, limits and the alert webhook.
	Watch      jobs.Config
	WebhookURL string

	// MaxBatchEvents caps the events of one POST /api/v1/events.
	MaxBatchEvents int

	// Listening, if set, is told each listener's actual address once it is
	// bound (for tests that listen on port 0).
	Listening func(name, addr string)
	// Clock, if set, replaces the wall clock (for tests).
	Clock jobs.Clock
}

// maxBatchEventsLimit bounds --max-batch-events: the events of a request
// are held in memory until the batch is committed.
const maxBatchEventsLimit = 1_000_000

func parseServeConfig(args []string) (Config, error) {
	var cfg Config
	fs := newFlagSet("serve", &cfg.DataDir)
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address for the console and API; empty turns it off")
	fs.StringVar(&cfg.MetricsAddr, "metrics-listen", "", "listen address serving only /metrics, open to anyone who can reach it (e.g. 127.0.0.1:9090); "+
		"without it, /metrics on --http needs a token of scope read")
	maxBody := fs.String("max-body", "16MiB", "largest accepted HTTP request body (e.g. 512KiB, 16MiB)")
	fs.IntVar(&cfg.MaxBatchEvents, "max-batch-events", 10_000, "most events in one HTTP request; a request with more is refused whole (413)")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	w := &cfg.Watch
	fs.StringVar(&w.CronExpiry, "cron-expiry", "@hourly", "cron spec of the certificate expiry check (empty: off)")
	fs.StringVar(&w.CronAgents, "cron-agents", "@every 1m", "cron spec of the agent offline check (empty: off)")
	fs.StringVar(&w.CronJobs, "cron-jobs", "@every 1m", "cron spec of the stuck jobs check (empty: off)")
	fs.StringVar(&w.CronDeploy, "cron-deploy", "@every 15m", "cron spec of deployment validation and discovery (empty: off)")
	fs.StringVar(&w.CronCheckpoint, "cron-checkpoint", "@every 10m", "cron spec of signed checkpoints of the event log (empty: off)")
	fs.StringVar(&w.CronRetention, "cron-retention", "@daily", "cron spec of retention (empty: off)")
	retention := fs.String("retention", "0", "remove events received longer ago than this (e.g. 400d); 0 keeps them forever")
	retentionAudit := fs.String("retention-audit", "", "keep AUDIT_LOG events this long instead (e.g. 2555d); default: as --retention")
	endpointNets := fs.String("endpoint-networks", "", "CIDR networks endpoints may point at, comma-separated (e.g. 10.0.0.0/8,2001:db8::/32); "+
		"default: any; link-local and cloud metadata addresses are never allowed")
	fs.StringVar(&w.CheckpointSyslog, "checkpoint-syslog", "", "also send each checkpoint to this remote syslog receiver (host:port, TCP, RFC 5424)")
	expiryDays := fs.String("expiry-days", "30,14,7,1", "days before expiry at which to alert, comma-separated")
	offline := fs.String("agent-offline-after", "10m", "silence after which an agent is offline (e.g. 10m, 1h)")
	stuck := fs.String("job-stuck-after", "1h", "time after which a RUNNING or unclaimed QUEUED job is stuck")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "URL to POST each new alert to as JSON (empty: off)")
	fs.StringVar(&cfg.SyslogUDP, "syslog-udp", ":5514", "syslog UDP listen address; empty turns it off")
	fs.StringVar(&cfg.SyslogTCP, "syslog-tcp", ":5514", "syslog TCP listen address (octet-counted or LF framing); empty turns it off")
	fs.StringVar(&cfg.SyslogTLS, "syslog-tls", "", "syslog TLS listen address (RFC 5425, typically :6514); needs --tls-cert and --tls-key")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) of the syslog TLS listener")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "PEM CA bundle; when set, syslog TLS senders must present a client certificate it signed")
	maxMsg := fs.String("syslog-max-msg", "64KiB", "longest syslog message kept; longer ones are cut to this size")
	udpBuf := fs.String("syslog-udp-buffer", "8MiB", "UDP socket receive buffer; what overflows it is dropped by the kernel "+
		"(counted as reason receive_buffer); above net.core.rmem_max only when run as root")
	tz := fs.String("syslog-tz", "UTC", "time zone of RFC 3164 timestamps, which carry none (e.g. Europe/Berlin, Local)")
	fs.DurationVar(&cfg.Syslog.IdleTimeout, "syslog-idle-timeout", 10*time.Minute, "close a syslog connection silent for this long")
	fs.IntVar(&cfg.Syslog.MaxConns, "syslog-max-conns", 1024, "open syslog connections per listener")
	fs.IntVar(&cfg.Syslog.MaxConnsPerAddr, "syslog-max-conns-per-ip", 128, "open syslog connections per sender IP address")
	fs.DurationVar(&cfg.SessionIdle, "session-idle", 30*time.Minute, "a console session ends after this long without a request")
	fs.DurationVar(&cfg.SessionMaxAge, "session-max-age", 12*time.Hour, "a console session ends this long after sign-in")
	trustedProxies := fs.String("trusted-proxies", "", "comma-separated addresses and CIDR networks of reverse proxies whose "+
		"X-Forwarded-For and X-Forwarded-Proto give the client's address and scheme (e.g. 127.0.0.1,10.0.0.0/8); others' are ignored")
	if _, err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	if err := parseSyslogConfig(&cfg, *maxMsg, *tz, *udpBuf); err != nil {
		return cfg, err
	}
	if err := parseWatchFlags(&cfg, *expiryDays, *offline, *stuck, *retention, *retentionAudit); err != nil {
		return cfg, err
	}
	nets, err := model.ParseEndpointNetworks(*endpointNets)
	if err != nil {
		return cfg, usageError{"--endpoint-networks: " + err.Error()}
	}
	w.EndpointNetworks = nets
	n, err := parseSize(*maxBody)
	if err != nil {
		return cfg, usageError{"--max-body: " + err.Error()}
	}
	cfg.MaxBodyBytes = n
	if cfg.MaxBatchEvents < 1 || cfg.MaxBatchEvents > maxBatchEventsLimit {
		return cfg, usageError{fmt.Sprintf("--max-batch-events: must be between 1 and %d", maxBatchEventsLimit)}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, usageError{"--log-level: " + err.Error()}
	}
	if cfg.TrustedProxies, err = handlers.ParseTrustedProxies(*trustedProxies); err != nil {
		return cfg, usageError{"--trusted-proxies: " + err.Error()}
	}
	if cfg.SessionIdle <= 0 || cfg.SessionMaxAge < cfg.SessionIdle {
		return cfg, usageError{"--session-idle must be positive and at most --session-max-age"}
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return cfg, usageError{"--log-format must be text or json"}
	}
	if cfg.AdminPassword, err = secretFromEnv("VIGIL_ADMIN_PASSWORD"); err != nil {
		return cfg, err
	}
	for _, l := range []struct{ flag, addr string }{{"--http", cfg.HTTPAddr}, {"--metrics-listen", cfg.MetricsAddr}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return cfg, usageError{l.flag + ": " + err.Error()}
		}
	}
	return cfg, nil
}

// parseSyslogConfig checks the syslog flags.
func parseSyslogConfig(cfg *Config, maxMsg, tz, udpBuf string) error {
	n, err := parseSize(maxMsg)
	if err != nil {
		return usageError{"--syslog-max-msg: " + err.Error()}
	}
	if n < 480 || n > 16<<20 {
		return usageError{"--syslog-max-msg: must be between 480B and 16MiB"}
	}
	cfg.Syslog.MaxMessageSize = int(n)
	if n, err = parseSize(udpBuf); err != nil || n < 64<<10 || n > 1<<30 {
		return usageError{"--syslog-udp-buffer: must be a size between 64KiB and 1GiB"}
	}
	cfg.Syslog.UDPReceiveBuffer = int(n)
	if cfg.Syslog.Location, err = time.LoadLocation(tz); err != nil {
		return usageError{"--syslog-tz: " + err.Error()}
	}
	for _, l := range []struct{ flag, addr string }{
		{"--syslog-udp", cfg.SyslogUDP}, {"--syslog-tcp", cfg.SyslogTCP}, {"--syslog-tls", cfg.SyslogTLS},
	} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return usageError{l.flag + ": " + err.Error()}
		}
	}
	if cfg.SyslogTLS != "" && (cfg.TLSCert == "" || cfg.TLSKey == "") {
		return usageError{"--syslog-tls needs --tls-cert and --tls-key"}
	}
	if cfg.SyslogTLS == "" && (cfg.TLSCert != "" || cfg.TLSKey != "" || cfg.TLSClientCA != "") {
		return usageError{"--tls-cert, --tls-key and --tls-client-ca apply to --syslog-tls, which is off"}
	}
	if cfg.Syslog.IdleTimeout <= 0 || cfg.Syslog.MaxConns <= 0 || cfg.Syslog.MaxConnsPerAddr <= 0 {
		return usageError{"--syslog-idle-timeout, --syslog-max-conns and --syslog-max-conns-per-ip must be positive"}
	}
	return nil
}

// parseWatchFlags validates the scheduler's flags into cfg.Watch.
func parseWatchFlags(cfg *Config, expiryDays, offline, stuck, retention, retentionAudit string) error {
	w := &cfg.Watch
	for _, f := range []struct{ name, spec string }{
		{"cron-expiry", w.CronExpiry}, {"cron-agents", w.CronAgents}, {"cron-jobs", w.CronJobs}, {"cron-deploy", w.CronDeploy},
		{"cron-checkpoint", w.CronCheckpoint}, {"cron-retention", w.CronRetention},
	} {
		if f.spec == "" {
			continue
		}
		if err := jobs.ParseSpec(f.spec); err != nil {
			return usageError{fmt.Sprintf("--%s: %v", f.name, err)}
		}
	}
	seen := map[int]bool{}
	for _, v := range strings.Split(expiryDays, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &n); err != nil || n < 1 || n > 3650 || fmt.Sprint(n) != strings.TrimSpace(v) {
			return usageError{fmt.Sprintf("--expiry-days: %q is not a number of days between 1 and 3650", strings.TrimSpace(v))}
		}
		if seen[n] {
			return usageError{fmt.Sprintf("--expiry-days: %d given twice", n)}
		}
		seen[n] = true
		w.ExpiryDays = append(w.ExpiryDays, n)
	}
	var err error
	for _, f := range []struct {
		name, v string
		dst     *time.Duration
	}{{"agent-offline-after", offline, &w.AgentOfflineAfter}, {"job-stuck-after", stuck, &w.JobStuckAfter}} {
		if *f.dst, err = model.ParseDays(f.v); err != nil || *f.dst <= 0 {
			return usageError{fmt.Sprintf("--%s: %q is not a positive duration such as 10m, 1h or 2d", f.name, f.v)}
		}
	}
	if w.Retention, err = model.ParseDays(retention); err != nil || w.Retention < 0 {
		return usageError{fmt.Sprintf("--retention: %q is not a duration such as 400d (0 keeps events forever)", retention)}
	}
	w.RetentionAudit = w.Retention
	if retentionAudit != "" {
		if w.RetentionAudit, err = model.ParseDays(retentionAudit); err != nil || w.RetentionAudit < 0 {
			return usageError{fmt.Sprintf("--retention-audit: %q is not a duration such as 2555d", retentionAudit)}
		}
		// AUDIT_LOG events may be kept longer than the rest (0: forever),
		// never shorter.
		if w.RetentionAudit > 0 && (w.Retention == 0 || w.RetentionAudit < w.Retention) {
			return usageError{"--retention-audit must not be shorter than --retention"}
		}
	}
	if w.CheckpointSyslog != "" {
		if _, _, err := net.SplitHostPort(w.CheckpointSyslog); err != nil {
			return usageError{fmt.Sprintf("--checkpoint-syslog: %v", err)}
		}
	}
	if cfg.WebhookURL != "" {
		u, err := url.Parse(cfg.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError{fmt.Sprintf("--webhook-url: %q is not an http or https URL", cfg.WebhookURL)}
		}
	}
	return nil
}

// parseSize parses a byte size such as 1048576, 512KiB or 16MiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServeConfig(args)
	if err != nil {
		return err
	}
	return Run(ctx, cfg, stderr)
}

// Run runs the appliance until ctx is done, then shuts down: it stops
// accepting requests, lets running ones finish, drains the write queue and
// closes the database.
func Run(ctx context.Context, cfg Config, stderr io.Writer) error {
	var h slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})
	}
	log := slog.New(h)
	var tlsConfig *tls.Config
	if cfg.SyslogTLS != "" {
		var err error
		if tlsConfig, err = ingest.TLSConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA); err != nil {
			return fmt.Errorf("syslog TLS: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clock := cfg.Clock
	if clock == nil {
		clock = jobs.SystemClock{}
	}

	// Every committed event naming an agent or a certificate is noted in
	// memory by the writer and flushed by the agents check.
	sightings := store.NewSightings()
	var st *store.Store
	var notifier *jobs.Notifier
	st, err := openStore(ctx, cfg.DataDir, store.Options{
		Registerer:           reg,
		Logger:               log,
		LatestCheckpointFile: filepath.Join(cfg.DataDir, latestCheckpointFile),
		OnRecovered:          func(o store.Outage) { recordOutage(st, notifier, o, log) },
		OnCommit:             sightings.Observe,
		Now:                  clock.Now,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.FlushSightings(context.Background(), sightings); err != nil {
			log.Error("flushing heartbeats", "err", err)
		}
		if err := st.Close(); err != nil {
			log.Error("closing database", "err", err)
		}
		log.Info("stopped")
	}()
	if err := bootstrapAdmin(ctx, st, cfg.AdminPassword, stderr, log); err != nil {
		return err
	}
	key, err := loadCheckpointKey(cfg.DataDir, true)
	if err != nil {
		return err
	}
	checkRollback(ctx, st, cfg.DataDir, key, log)

	// The syslog listeners stop (and store all they read) before the
	// database closes: deferred calls run in reverse order.
	syslogSrv, err := ingest.New(cfg.Syslog, st, log.With("component", "syslog"), reg)
	if err != nil {
		return err
	}
	defer syslogSrv.Close()
	for _, l := range []struct {
		name, addr string
		listen     func(string) (net.Addr, error)
	}{
		{"syslog-udp", cfg.SyslogUDP, syslogSrv.ListenUDP},
		{"syslog-tcp", cfg.SyslogTCP, syslogSrv.ListenTCP},
		{"syslog-tls", cfg.SyslogTLS, func(a string) (net.Addr, error) { return syslogSrv.ListenTLS(a, tlsConfig) }},
	} {
		if l.addr == "" {
			continue
		}
		a, err := l.listen(l.addr)
		if err != nil {
			return fmt.Errorf("%s listener: %w", l.name, err)
		}
		log.Info("listening", "listener", l.name, "addr", a.String())
		if cfg.Listening != nil {
			cfg.Listening(l.name, a.String())
		}
	}

	// The scheduler and the webhook run until shutdown, after the HTTP
	// server has drained.
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	notifier, err = jobs.NewNotifier(cfg.WebhookURL, st, log.With("job", "webhook"), reg, jobs.NotifierOptions{})
	if err != nil {
		return err
	}
	cfg.Watch.CheckpointKey = key
	sched, err := jobs.New(cfg.Watch, st, sightings, notifier, clock, log, reg)
	if err != nil {
		return err
	}
	srv, err := handlers.New(handlers.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, Version: version, UI: uiFS, CheckpointKey: key, Schedules: schedules(cfg),
		SessionIdle: cfg.SessionIdle, SessionMaxAge: cfg.SessionMaxAge, TrustedProxies: cfg.TrustedProxies,
		Sightings: sightings, AgentOfflineAfter: cfg.Watch.AgentOfflineAfter, OnAlert: notifier.Notify, Now: clock.Now,
		EndpointNetworks: cfg.Watch.EndpointNetworks,
		MaxBatchEvents:   cfg.MaxBatchEvents,
	}, st, log, reg)
	if err != nil {
		return err
	}
	if err := notifier.Start(bg); err != nil {
		return err
	}
	defer notifier.Wait()
	if err := sched.Start(bg); err != nil {
		return err
	}
	defer func() {
		sched.Stop()
		stopBackground()
	}()
	errc := make(chan error, 1)
	if cfg.MetricsAddr != "" {
		ms, err := serveMetrics(cfg.MetricsAddr, reg, h, errc)
		if err != nil {
			return err
		}
		defer ms.Close()
		log.Info("listening", "listener", "metrics", "addr", ms.Addr)
		if cfg.Listening != nil {
			cfg.Listening("metrics", ms.Addr)
		}
	}
	var httpServer *http.Server
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		httpServer = &http.Server{
			Handler:           srv.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(h, slog.LevelWarn),
		}
		log.Info("listening", "listener", "http", "addr", ln.Addr().String(), "version", version, "data", cfg.DataDir)
		if cfg.Listening != nil {
			cfg.Listening("http", ln.Addr().String())
		}
		go func() {
			if err := httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		return err
	}
	if httpServer != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := httpServer.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}
	if err := syslogSrv.Close(); err != nil {
		log.Warn("syslog shutdown", "err", err)
	}
	return nil
}

// checkRollback compares the database with the newest checkpoint kept
// beside it. A database that no longer extends it (an older backup was
// restored, events were cut or rewritten) is reported loudly and recorded;
// Vigil still starts, so intake is not lost.
func checkRollback(ctx context.Context, st *store.Store, dataDir string, key *model.CheckpointKey, log *slog.Logger) {
	note, err := os.ReadFile(filepath.Join(dataDir, latestCheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var problem error
	if err != nil {
		problem = err
	} else if cp, err := model.OpenCheckpoint(note, key.PublicKey()); err != nil {
		problem = fmt.Errorf("%s: %w", latestCheckpointFile, err)
	} else {
		problem = st.CheckExtends(ctx, cp)
	}
	if problem == nil {
		return
	}
	log.Error("DATABASE DOES NOT EXTEND ITS LATEST CHECKPOINT", "err", problem)
	e := model.Event{Category: model.CategorySystem, Type: "E_ROLLBACK_DETECTED", Outcome: "FAILURE", Severity: "crit",
		Source: model.SourceInternal, Actor: model.Actor{Type: "SYSTEM", ID: "vigil"},
		Message: "The database does not extend its latest checkpoint: " + problem.Error()}
	if err := e.Normalize(time.Now()); err == nil {
		if _, err := st.AppendEvents(ctx, []model.Event{e}); err != nil {
			log.Error("recording rollback", "err", err)
		}
	}
}

// schedules lists the scheduler's checks for the Settings page.
func schedules(cfg Config) []handlers.Schedule {
	w := cfg.Watch
	retention := "keeps events forever"
	if w.Retention > 0 || w.RetentionAudit > 0 {
		retention = fmt.Sprintf("drops events older than %s (AUDIT_LOG: %s; 0 = forever): the oldest are removed, later ones redacted, under a retention record in the chain", model.FormatDays(w.Retention), model.FormatDays(w.RetentionAudit))
	}
	return []handlers.Schedule{
		{Check: jobs.CheckExpiry, Spec: w.CronExpiry, About: fmt.Sprintf("certificates expiring within %v days; queues renewals", w.ExpiryDays)},
		{Check: jobs.CheckAgents, Spec: w.CronAgents, About: "agents silent for " + model.FormatDays(w.AgentOfflineAfter)},
		{Check: jobs.CheckStuckJobs, Spec: w.CronJobs, About: "jobs running or unclaimed for " + model.FormatDays(w.JobStuckAfter)},
		{Check: jobs.CheckDeploy, Spec: w.CronDeploy, About: "dials each endpoint and compares the served certificate"},
		{Check: jobs.CheckCheckpoint, Spec: w.CronCheckpoint, About: "signs a checkpoint and sends it off the box"},
		{Check: jobs.CheckRetention, Spec: w.CronRetention, About: retention},
	}
}

// recordOutage records, once writes succeed again, that they failed: an
// E_STORAGE_UNAVAILABLE event and an ERROR alert (sent to the webhook).
func recordOutage(st *store.Store, notifier *jobs.Notifier, o store.Outage, log *slog.Logger) {
	ctx := context.Background()
	took := o.Until.Sub(o.Since).Round(time.Second)
	d, _ := json.Marshal(map[string]any{
		"since": o.Since.UTC().Format(time.RFC3339Nano), "until": o.Until.UTC().Format(time.RFC3339Nano),
		"failed_batches": o.FailedBatches, "error": o.Err,
	})
	e := model.Event{Category: model.CategorySystem, Type: "E_STORAGE_UNAVAILABLE", Outcome: "FAILURE", Severity: "err",
		Source: model.SourceInternal, Actor: model.Actor{Type: "SYSTEM", ID: "vigil"},
		Message: fmt.Sprintf("Events could not be written for %s: %s", took, o.Err), Details: d}
	if err := e.Normalize(time.Now()); err == nil {
		if _, err = st.AppendEvents(ctx, []model.Event{e}); err != nil {
			log.Error("recording storage outage", "err", err)
		}
	}
	a, created, err := st.RaiseAlert(ctx, model.Alert{
		Severity: model.SeverityError, Type: "STORAGE_FAILED",
		Title: "Events could not be stored",
		Message: fmt.Sprintf("From %s for %s no event could be written (%s); intake paused and resumed by itself. Senders without retries may have lost events in that time.",
			o.Since.UTC().Format(time.RFC3339), took, o.Err),
		Entity: model.Entity{Type: "STORAGE", ID: "events"},
		Key:    "storage-failed:" + o.Since.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		log.Error("raising storage alert", "err", err)
	} else if created {
		notifier.Notify(ctx, a)
	}
}

// openStore creates the data directory if needed and opens the database.
func openStore(ctx context.Context, dataDir string, opts store.Options) (*store.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	schema, err := fs.Sub(schemaFS, ".")
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, filepath.Join(dataDir, "vigil.db"), schema, opts)
}

// checkpointKeyFile is the Ed25519 key that signs checkpoints, in the data
// directory; it never leaves the box.
const checkpointKeyFile = "checkpoint.key"

// latestCheckpointFile holds the newest checkpoint's signed note outside the
// database, so that restoring an older database is noticed.
const latestCheckpointFile = "checkpoint.latest"

// loadCheckpointKey reads the checkpoint signing key of dataDir, creating
// it on first start (create false: it must exist).
func loadCheckpointKey(dataDir string, create bool) (*model.CheckpointKey, error) {
	p := filepath.Join(dataDir, checkpointKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) && create {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		origin := fmt.Sprintf("%s/vigil/%s", strings.ToLower(host), model.NewSecret(6))
		text, err := model.NewCheckpointKeyText(origin)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(text+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("checkpoint key: %w", err)
		}
		b = []byte(text)
	} else if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return model.ParseCheckpointKey(string(b))
}

// bootstrapAdmin creates user admin on first start, with password or a
// random one printed once.
func bootstrapAdmin(ctx context.Context, st *store.Store, password string, stderr io.Writer, log *slog.Logger) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		password = model.NewSecret(18)
	}
	_, err = st.CreateUser(ctx, "admin", model.RoleAdmin, password, func(_, u model.User) ([]model.Event, error) {
		return auditEvent(st, model.Actor{Type: "SYSTEM", ID: "vigil"}, "USER_CREATED", model.Entity{Type: "USER", ID: u.Name},
			"First start: created user admin (admin)", map[string]any{"role": u.Role})
	})
	if err != nil {
		return fmt.Errorf("creating the first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(stderr, "\n  First start: created user \"admin\" with password\n\n      %s\n\n  It is shown only this once. Sign in and change it.\n\n", password)
	}
	log.Info("created first admin user", "user", "admin", "generated_password", generated)
	return nil
}

// auditEvent returns the AUDIT_LOG event of an administrative change made
// outside the console, for the store to commit with the change.
func auditEvent(st *store.Store, actor model.Actor, typ string, entity model.Entity, msg string, details map[string]any) ([]model.Event, error) {
	e, err := model.NewAuditEvent(st.Now(), typ, "SUCCESS", actor, entity, msg, details)
	if err != nil {
		return nil, err
	}
	return []model.Event{e}, nil
}

// cliActor is the actor of changes made with the command line: the
// operating-system user running it.
func cliActor() model.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return model.Actor{Type: "USER", ID: "os:" + name}
}

func cmdVerify(ctx context.Context, args []string, stdout io.Writer) (bool, error) {
	var dataDir, checkpointFile, pubKey string
	fs := newFlagSet("verify", &dataDir)
	fs.StringVar(&checkpointFile, "checkpoint", "", "a signed checkpoint kept off the box: the database must still extend it")
	fs.StringVar(&pubKey, "key", "", "verifier key of the checkpoints (default: derived from DIR/checkpoint.key)")
	if _, err := parseFlags(fs, args); err != nil {
		return false, err
	}
	st, err := openExisting(ctx, dataDir)
	if err != nil {
		return false, err
	}
	defer st.Close()
	var opts store.VerifyOptions
	if pubKey == "" {
		if key, err := loadCheckpointKey(dataDir, false); err == nil {
			pubKey = key.PublicKey()
		} else if checkpointFile != "" {
			return false, fmt.Errorf("%v; name the verifier key with --key", err)
		}
	}
	opts.PublicKey = pubKey
	// The newest checkpoint kept beside the database is checked too.
	files := []string{checkpointFile}
	if latest := filepath.Join(dataDir, latestCheckpointFile); pubKey != "" {
		if _, err := os.Stat(latest); err == nil {
			files = append(files, latest)
		}
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		cp, err := model.OpenCheckpoint(b, pubKey)
		if err != nil {
			fmt.Fprintf(stdout, "FAILED: %s: %v\n", f, err)
			return false, nil
		}
		opts.External = append(opts.External, cp)
	}
	rep, err := st.VerifyChain(ctx, opts)
	if err != nil {
		return false, err
	}
	if !rep.OK {
		if rep.FirstBad != nil {
			fmt.Fprintf(stdout, "FAILED: first bad sequence id %d: %s (%d events verified before it)\n", *rep.FirstBad, rep.Reason, rep.Checked)
		} else {
			fmt.Fprintf(stdout, "FAILED: %s (%d events verified)\n", rep.Reason, rep.Checked)
		}
		return false, nil
	}
	fmt.Fprintf(stdout, "OK: hash chain intact: %d events verified, last id %d, last hash %s\n", rep.Checked, rep.LastID, rep.LastHash)
	fmt.Fprintf(stdout, "OK: Merkle tree of %d events, root %s, matches %d checkpoint(s)\n", rep.TreeSize, rep.RootHash, rep.CheckpointsChecked)
	if rep.RetentionRecord > 0 {
		fmt.Fprintf(stdout, "OK: retention: the chain starts after event %d, %d removed events' hashes kept, %d events redacted, as retention record %d states\n",
			rep.BaseID, rep.Pruned, rep.Redacted, rep.RetentionRecord)
	}
	return true, nil
}

// openExisting opens the database of dataDir, which must exist.
func openExisting(ctx context.Context, dataDir string) (*store.Store, error) {
	p := filepath.Join(dataDir, "vigil.db")
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("no database at %s (see --data)", p)
	}
	return openStore(ctx, dataDir, store.Options{})
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: vigil user add NAME --role ROLE"}
	}
	var dataDir, role string
	fs := newFlagSet("user add", &dataDir)
	fs.StringVar(&role, "role", "", "role: admin, auditor, operator or viewer")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || role == "" {
		return usageError{"usage: vigil user add NAME --role admin|auditor|operator|viewer"}
	}
	password, err := secretFromEnv("VIGIL_PASSWORD")
	if err != nil {
		return err
	}
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return fmt.Errorf("reading the password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	st, err := openStore(ctx, dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, pos[0], role, password, func(_, u model.User) ([]model.Event, error) {
		return auditEvent(st, cliActor(), "USER_CREATED", model.Entity{Type: "USER", ID: u.Name},
			fmt.Sprintf("Created user %s (%s)", u.Name, u.Role), map[string]any{"role": u.Role, "via": "cli"})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s (%s)\n", u.Name, u.Role)
	return nil
}

const tokenUsage = "usage: vigil token create --user NAME --name LABEL [--scope ingest|read|manage | --scope agent --agent ID]"

func cmdToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{tokenUsage}
	}
	var dataDir, userName, name, scope, agent string
	fs := newFlagSet("token create", &dataDir)
	fs.StringVar(&userName, "user", "", "user the token acts as")
	fs.StringVar(&name, "name", "", "label of the token")
	fs.StringVar(&scope, "scope", model.ScopeIngest, "ingest, agent, read or manage")
	fs.StringVar(&agent, "agent", "", "the agent id an agent token acts as (required with --scope agent)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 || userName == "" || name == "" {
		return usageError{tokenUsage}
	}
	if scope == model.ScopeAgent && agent == "" {
		return usageError{"an agent token acts as one agent: give its id with --agent ID\n" + tokenUsage}
	}
	if scope != model.ScopeAgent && agent != "" {
		return usageError{fmt.Sprintf("--agent binds only a token of --scope agent, not %s\n%s", scope, tokenUsage)}
	}
	st, err := openExisting(ctx, dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, _, err := st.CreateToken(ctx, userName, name, scope, agent, func(t model.Token) ([]model.Event, error) {
		return auditEvent(st, cliActor(), "TOKEN_CREATED", model.Entity{Type: "TOKEN", ID: fmt.Sprint(t.ID)},
			t.CreatedMessage(), t.AuditDetails("cli"))
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func cmdBackup(ctx context.Context, args []string, stdout io.Writer) error {
	var dataDir, out string
	fs := newFlagSet("backup", &dataDir)
	fs.StringVar(&out, "out", "", "file to write the copy to (must not exist)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if out == "" {
		return usageError{"usage: vigil backup --out FILE"}
	}
	st, err := openExisting(ctx, dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s\n", out)
	return nil
}
