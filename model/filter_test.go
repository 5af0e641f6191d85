package model

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseEventFilterTimes(t *testing.T) {
	for _, tc := range []struct {
		name, from string
		want       time.Time
		wantErr    bool
	}{
		{"RFC3339WithOffset", "2026-01-02T15:04:05+02:00", time.Date(2026, 1, 2, 13, 4, 5, 0, time.UTC), false},
		{"RFC3339Fraction", "2026-01-02T15:04:05.25Z", time.Date(2026, 1, 2, 15, 4, 5, 250e6, time.UTC), false},
		{"DatetimeLocalSeconds", "2026-01-02T15:04:05", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), false},
		{"DatetimeLocalMinutes", "2026-01-02T15:04", time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC), false},
		{"Date", "2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), false},
		{"Words", "yesterday", time.Time{}, true},
		{"BadMonth", "2026-13-02T00:00", time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseEventFilter(url.Values{"from": {tc.from}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if ErrorCode(err) != EINVALID {
					t.Errorf("code %s, want invalid", ErrorCode(err))
				}
				return
			}
			if !f.From.Equal(tc.want) {
				t.Errorf("from = %v, want %v", f.From, tc.want)
			}
		})
	}
}

func TestParseEventFilterSource(t *testing.T) {
	for _, tc := range []struct {
		name, source string
		want         []string
		wantErr      string
	}{
		{"None", "", nil, ""},
		{"One", "syslog-udp", []string{SourceSyslogUDP}, ""},
		{"CaseAndSpaces", " HTTP , internal ", []string{SourceHTTP, SourceInternal}, ""},
		{"Repeated", "http,http", []string{SourceHTTP}, ""},
		{"Unknown", "console", nil, `source: "console" is not one of http, syslog-udp, syslog-tcp, syslog-tls, internal`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseEventFilter(url.Values{"source": {tc.source}})
			if tc.wantErr != "" {
				if ErrorCode(err) != EINVALID || ErrorMessage(err) != tc.wantErr {
					t.Fatalf("error %v, want invalid %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(f.Sources, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("sources %q (%v), want %q", f.Sources, err, tc.want)
			}
			if got := f.Query().Get("source"); got != strings.Join(tc.want, ",") {
				t.Errorf("query source=%q, want %q", got, strings.Join(tc.want, ","))
			}
		})
	}
}
