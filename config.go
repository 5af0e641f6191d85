package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"time"

	"vigil/checks"
	"vigil/handlers"
	"vigil/ingest"
	"vigil/model"
	"vigil/notify"
)

// Config is the validated configuration of vigil serve.
type Config struct {
	location
	HTTPAddr      string
	MetricsAddr   string // a listener serving only /metrics, without authentication; "" is off
	PprofAddr     string // a loopback listener serving Go's profiler (/debug/pprof/); "" is off
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
	Watch      checks.Config
	WebhookURL string
	// Webhook tunes the webhook's retries (zero: the defaults; for tests).
	Webhook notify.Options

	// MaxBatchEvents caps the events of one POST /api/v1/events.
	MaxBatchEvents int

	// Listening, if set, is told each listener's actual address once it is
	// bound (for tests that listen on port 0).
	Listening func(name, addr string)
	// Clock, if set, replaces the wall clock (for tests).
	Clock model.Clock
}

// maxBatchEventsLimit bounds --max-batch-events: the events of a request
// are held in memory until the batch is committed.
const maxBatchEventsLimit = 1_000_000

// serveFlags holds the serve flags that are checked after parsing.
type serveFlags struct {
	level, endpointNets, trustedProxies, tz string
	maxMsg, udpBuf                          int64
	retentionAudit                          *daysValue
}

func parseServeConfig(args []string) (Config, error) {
	var cfg Config
	fs := newFlagSet("serve", &cfg.location)
	var f serveFlags
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address for the console and API; empty turns it off")
	fs.StringVar(&cfg.MetricsAddr, "metrics-listen", "", "listen address serving only /metrics, open to anyone who can reach it (e.g. 127.0.0.1:9090); "+
		"without it, /metrics on --http needs a token of scope read")
	fs.StringVar(&cfg.PprofAddr, "pprof-listen", "", "loopback listen address serving Go's profiler at /debug/pprof/ (e.g. 127.0.0.1:6060); off by default")
	sizeVar(fs, &cfg.MaxBodyBytes, "max-body", "16MiB", "largest accepted HTTP request body, a `size` (e.g. 512KiB, 16MiB)")
	fs.IntVar(&cfg.MaxBatchEvents, "max-batch-events", 10_000, "most events in one HTTP request; a request with more is refused whole (413)")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.level, "log-level", "info", "log level: debug, info, warn, error")
	f.retentionAudit = watchFlags(fs, &cfg)
	fs.StringVar(&f.endpointNets, "endpoint-networks", "", "CIDR networks endpoints may point at, comma-separated (e.g. 10.0.0.0/8,2001:db8::/32); "+
		"default: any; link-local and cloud metadata addresses are never allowed")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "URL to POST each new alert to as JSON (empty: off)")
	syslogFlags(fs, &cfg, &f)
	fs.DurationVar(&cfg.SessionIdle, "session-idle", 30*time.Minute, "a console session ends after this long without a request")
	fs.DurationVar(&cfg.SessionMaxAge, "session-max-age", 12*time.Hour, "a console session ends this long after sign-in")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated addresses and CIDR networks of reverse proxies whose "+
		"X-Forwarded-For and X-Forwarded-Proto give the client's address and scheme (e.g. 127.0.0.1,10.0.0.0/8); others' are ignored")
	if _, err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	if err := checkSyslogConfig(&cfg, f); err != nil {
		return cfg, err
	}
	if err := checkWatchConfig(&cfg, f); err != nil {
		return cfg, err
	}
	if err := checkServeConfig(&cfg, f); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// watchFlags defines the scheduler's flags; it returns --retention-audit,
// whose default depends on --retention.
func watchFlags(fs *flag.FlagSet, cfg *Config) *daysValue {
	w := &cfg.Watch
	fs.StringVar(&w.CronExpiry, "cron-expiry", "@hourly", "cron spec of the certificate expiry check (empty: off)")
	fs.StringVar(&w.CronAgents, "cron-agents", "@every 1m", "cron spec of the agent offline check (empty: off)")
	fs.StringVar(&w.CronJobs, "cron-jobs", "@every 1m", "cron spec of the stuck jobs check (empty: off)")
	fs.StringVar(&w.CronDeploy, "cron-deploy", "@every 15m", "cron spec of deployment validation and discovery (empty: off)")
	fs.StringVar(&w.CronCheckpoint, "cron-checkpoint", "@every 10m", "cron spec of signed checkpoints of the event log (empty: off)")
	fs.StringVar(&w.CronRetention, "cron-retention", "@daily", "cron spec of retention (empty: off)")
	fs.StringVar(&w.CronReminders, "cron-reminders", "@every 5m", "cron spec of the run that re-sends unread alerts due a reminder (empty: off)")
	fs.StringVar(&w.CronVerify, "cron-verify", "@daily", "cron spec of the background verification of the whole log (chain, Merkle tree, checkpoints); "+
		"a failure raises an INTEGRITY_FAILED alert (empty: off)")
	daysVar(fs, &w.Retention, "retention", "0", true, "a duration such as 400d (0 keeps events forever)",
		"remove events received longer ago than this `duration` (e.g. 400d); 0 keeps them forever")
	audit := daysVar(fs, &w.RetentionAudit, "retention-audit", "", true, "a duration such as 2555d",
		"keep AUDIT_LOG events this `duration` instead (e.g. 2555d); default: as --retention")
	fs.StringVar(&w.CheckpointSyslog, "checkpoint-syslog", "", "also send each checkpoint to this remote syslog receiver (host:port, TCP, RFC 5424)")
	fs.StringVar(&w.TSAURL, "tsa-url", "", "URL of an RFC 3161 time-stamping authority asked for a token over each checkpoint (empty: off)")
	dayListVar(fs, &w.ExpiryDays, "expiry-days", "30,14,7,1", "`days` before expiry at which to alert, comma-separated")
	daysVar(fs, &w.AgentOfflineAfter, "agent-offline-after", "10m", false, "a positive duration such as 10m, 1h or 2d",
		"`duration` of silence after which an agent is offline (e.g. 10m, 1h)")
	daysVar(fs, &w.JobStuckAfter, "job-stuck-after", "1h", false, "a positive duration such as 10m, 1h or 2d",
		"`duration` after which a RUNNING or unclaimed QUEUED job is stuck")
	daysVar(fs, &w.RemindEvery, "remind-every", "24h", true, "a duration such as 24h or 2d (0 turns reminders off)",
		"re-send to the webhook every `duration` an unread, open ERROR alert about an expired or failing certificate (0: off)")
	return audit
}

// syslogFlags defines the syslog listeners' flags.
func syslogFlags(fs *flag.FlagSet, cfg *Config, f *serveFlags) {
	fs.StringVar(&cfg.SyslogUDP, "syslog-udp", ":5514", "syslog UDP listen address; empty turns it off")
	fs.StringVar(&cfg.SyslogTCP, "syslog-tcp", ":5514", "syslog TCP listen address (octet-counted or LF framing); empty turns it off")
	fs.StringVar(&cfg.SyslogTLS, "syslog-tls", "", "syslog TLS listen address (RFC 5425, typically :6514); needs --tls-cert and --tls-key")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) of the syslog TLS listener")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "PEM CA bundle; when set, syslog TLS senders must present a client certificate it signed")
	sizeVar(fs, &f.maxMsg, "syslog-max-msg", "64KiB", "longest syslog message kept, a `size`; longer ones are cut to this size")
	sizeVar(fs, &f.udpBuf, "syslog-udp-buffer", "8MiB", "UDP socket receive buffer, a `size`; what overflows it is dropped by the kernel "+
		"(counted as reason receive_buffer); above net.core.rmem_max only when run as root")
	fs.StringVar(&f.tz, "syslog-tz", "UTC", "time zone of RFC 3164 timestamps, which carry none (e.g. Europe/Berlin, Local)")
	fs.DurationVar(&cfg.Syslog.IdleTimeout, "syslog-idle-timeout", 10*time.Minute, "close a syslog connection silent for this long")
	fs.IntVar(&cfg.Syslog.MaxConns, "syslog-max-conns", 1024, "open syslog connections per listener")
	fs.IntVar(&cfg.Syslog.MaxConnsPerAddr, "syslog-max-conns-per-ip", 128, "open syslog connections per sender IP address")
}

// checkServeConfig checks the HTTP, console and logging flags.
func checkServeConfig(cfg *Config, f serveFlags) error {
	var err error
	if err := cfg.location.check(); err != nil {
		return err
	}
	if cfg.Watch.EndpointNetworks, err = model.ParseEndpointNetworks(f.endpointNets); err != nil {
		return usageError{"--endpoint-networks: " + err.Error()}
	}
	if cfg.MaxBatchEvents < 1 || cfg.MaxBatchEvents > maxBatchEventsLimit {
		return usageError{fmt.Sprintf("--max-batch-events: must be between 1 and %d", maxBatchEventsLimit)}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(f.level)); err != nil {
		return usageError{"--log-level: " + err.Error()}
	}
	if cfg.TrustedProxies, err = handlers.ParseTrustedProxies(f.trustedProxies); err != nil {
		return usageError{"--trusted-proxies: " + err.Error()}
	}
	if cfg.SessionIdle <= 0 || cfg.SessionMaxAge < cfg.SessionIdle {
		return usageError{"--session-idle must be positive and at most --session-max-age"}
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return usageError{"--log-format must be text or json"}
	}
	if cfg.AdminPassword, err = secretFromEnv("VIGIL_ADMIN_PASSWORD"); err != nil {
		return err
	}
	if err := checkLoopback("--pprof-listen", cfg.PprofAddr); err != nil {
		return err
	}
	return checkAddrs(listenFlag{"--http", cfg.HTTPAddr}, listenFlag{"--metrics-listen", cfg.MetricsAddr})
}

// checkLoopback checks that addr, if given, is host:port on a loopback
// address (an IP or localhost).
func checkLoopback(flag, addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{flag + ": " + err.Error()}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError{fmt.Sprintf("%s: %q is not a loopback address (127.0.0.1, [::1] or localhost)", flag, addr)}
	}
	return nil
}

// listenFlag is a listen address and the flag that gave it.
type listenFlag struct{ flag, addr string }

// checkAddrs checks that each listen address given is host:port.
func checkAddrs(addrs ...listenFlag) error {
	for _, l := range addrs {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return usageError{l.flag + ": " + err.Error()}
		}
	}
	return nil
}

// checkSyslogConfig checks the syslog flags.
func checkSyslogConfig(cfg *Config, f serveFlags) error {
	if f.maxMsg < 480 || f.maxMsg > 16<<20 {
		return usageError{"--syslog-max-msg: must be between 480B and 16MiB"}
	}
	cfg.Syslog.MaxMessageSize = int(f.maxMsg)
	if f.udpBuf < 64<<10 || f.udpBuf > 1<<30 {
		return usageError{"--syslog-udp-buffer: must be a size between 64KiB and 1GiB"}
	}
	cfg.Syslog.UDPReceiveBuffer = int(f.udpBuf)
	var err error
	if cfg.Syslog.Location, err = time.LoadLocation(f.tz); err != nil {
		return usageError{"--syslog-tz: " + err.Error()}
	}
	if err := checkAddrs(listenFlag{"--syslog-udp", cfg.SyslogUDP}, listenFlag{"--syslog-tcp", cfg.SyslogTCP}, listenFlag{"--syslog-tls", cfg.SyslogTLS}); err != nil {
		return err
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

// checkWatchConfig checks the scheduler's flags in cfg.Watch.
func checkWatchConfig(cfg *Config, f serveFlags) error {
	w := &cfg.Watch
	for _, c := range []struct{ name, spec string }{
		{"cron-expiry", w.CronExpiry}, {"cron-agents", w.CronAgents}, {"cron-jobs", w.CronJobs}, {"cron-deploy", w.CronDeploy},
		{"cron-checkpoint", w.CronCheckpoint}, {"cron-retention", w.CronRetention}, {"cron-reminders", w.CronReminders},
		{"cron-verify", w.CronVerify},
	} {
		if c.spec == "" {
			continue
		}
		if err := checks.ParseSpec(c.spec); err != nil {
			return usageError{fmt.Sprintf("--%s: %v", c.name, err)}
		}
	}
	if !f.retentionAudit.set {
		w.RetentionAudit = w.Retention
	} else if w.RetentionAudit > 0 && (w.Retention == 0 || w.RetentionAudit < w.Retention) {
		// AUDIT_LOG events may be kept longer than the rest (0: forever),
		// never shorter.
		return usageError{"--retention-audit must not be shorter than --retention"}
	}
	if w.CheckpointSyslog != "" {
		if _, _, err := net.SplitHostPort(w.CheckpointSyslog); err != nil {
			return usageError{fmt.Sprintf("--checkpoint-syslog: %v", err)}
		}
	}
	if err := checkHTTPURL("--webhook-url", cfg.WebhookURL); err != nil {
		return err
	}
	return checkHTTPURL("--tsa-url", w.TSAURL)
}

// checkHTTPURL checks that v, if given, is an http or https URL.
func checkHTTPURL(flag, v string) error {
	if v == "" {
		return nil
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("%s: %q is not an http or https URL", flag, v)}
	}
	return nil
}
