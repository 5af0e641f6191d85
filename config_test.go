package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeConfigTypedFlags: sizes, durations and day lists are parsed
// into the Config once; a bad value is a usage error naming the flag, or
// the environment variable it came from; a flag overrides a bad variable.
func TestServeConfigTypedFlags(t *testing.T) {
	cfg, err := parseServeConfig([]string{"--max-body", "512KiB", "--syslog-max-msg", "2KB", "--retention", "400d",
		"--job-stuck-after", "90m", "--expiry-days", "14, 3"})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watch
	if cfg.MaxBodyBytes != 512<<10 || cfg.Syslog.MaxMessageSize != 2000 || w.Retention != 400*24*time.Hour ||
		w.RetentionAudit != w.Retention || w.JobStuckAfter != 90*time.Minute || len(w.ExpiryDays) != 2 || w.ExpiryDays[1] != 3 {
		t.Errorf("parsed max body %d, max msg %d, watch %+v", cfg.MaxBodyBytes, cfg.Syslog.MaxMessageSize, w)
	}
	for _, c := range []struct {
		name, env, value string
		args             []string
		want             string // "" means no error
	}{
		{"EnvBadSize", "VIGIL_MAX_BODY", "lots", nil, `VIGIL_MAX_BODY: "lots" is not a size`},
		{"FlagOverridesBadEnv", "VIGIL_MAX_BODY", "lots", []string{"--max-body", "1MiB"}, ""},
		{"EnvBadDays", "VIGIL_EXPIRY_DAYS", "7,7", nil, "VIGIL_EXPIRY_DAYS: 7 given twice"},
		{"EnvEmptyRetentionAuditIsUnset", "VIGIL_RETENTION_AUDIT", "", []string{"--retention", "30d"}, ""},
		{"RetentionAuditShorter", "VIGIL_RETENTION_AUDIT", "10d", []string{"--retention", "30d"}, "--retention-audit must not be shorter than --retention"},
		{"FlagBadDuration", "VIGIL_JOB_STUCK_AFTER", "2h", []string{"--job-stuck-after", "0"}, `--job-stuck-after: "0" is not a positive duration`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			_, err := parseServeConfig(c.args)
			if c.want == "" && err != nil {
				t.Fatalf("error %v", err)
			}
			if _, ok := err.(usageError); c.want != "" && (!ok || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("error %v, want a usage error mentioning %q", err, c.want)
			}
		})
	}
}
