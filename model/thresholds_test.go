package model

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestThresholdsFor: a certificate's own thresholds win; else those of the
// endpoints serving or expecting it, merged; else the default.
func TestThresholdsFor(t *testing.T) {
	c := Certificate{ID: 1, Fingerprint: "aa"}
	own := c
	own.ExpiryDays = []int{60}
	eps := []Endpoint{
		{ID: 1, ExpectedFingerprint: "aa", ExpiryDays: []int{45, 20}},
		{ID: 2, LastFingerprint: "aa", ExpiryDays: []int{20, 10}},
		{ID: 3, ExpectedFingerprint: "bb", ExpiryDays: []int{90}}, // another certificate's
		{ID: 4, ExpectedFingerprint: "aa"},                        // none of its own
	}
	def := []int{7, 30, 1}
	for _, tc := range []struct {
		name     string
		cert     Certificate
		eps      []Endpoint
		wantDays string
		wantFrom string
	}{
		{"Own", own, eps, "[60]", "certificate"},
		{"ExpectingEndpoint", c, eps[:1], "[45 20]", "endpoint 1"},
		{"ServingEndpoint", c, eps[1:2], "[20 10]", "endpoint 2"},
		{"BothMerged", c, eps, "[45 20 10]", "endpoints 1, 2"},
		{"OthersIgnored", c, eps[2:], "[30 7 1]", "default"},
		{"NoEndpoints", c, nil, "[30 7 1]", "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ThresholdsFor(tc.cert, tc.eps, def)
			if fmt.Sprint(got.Days) != tc.wantDays || got.From != tc.wantFrom {
				t.Errorf("got %v from %q, want %s from %q", got.Days, got.From, tc.wantDays, tc.wantFrom)
			}
		})
	}
}

func TestParseExpiryDays(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"30,14,7,1", "[30 14 7 1]", ""},
		{" 7, 60 ", "[60 7]", ""},
		{"", "[]", ""},
		{"30,x", "", `"x" is not a number of days`},
		{"0", "", "0 is not a number of days between 1 and 3650"},
		{"3651", "", "3651 is not a number of days"},
		{"7,7", "", "7 given twice"},
		{"+7", "", `"+7" is not a number of days`},
	} {
		got, err := ParseExpiryDays(tc.in)
		if tc.err != "" {
			if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tc.err) {
				t.Errorf("%q: %v, want an EINVALID saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestExpiryText(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{5*24*time.Hour - time.Hour, "expires at 2026-03-06T11:00:00Z, in 4 days 23 hours"},
		{90 * time.Minute, "expires at 2026-03-01T13:30:00Z, in 1h30m0s"},
		{-time.Hour, "expired at 2026-03-01T11:00:00Z, less than a day ago"},
		{-25 * time.Hour, "expired at 2026-02-28T11:00:00Z, 1 day ago"},
		{-49 * time.Hour, "expired at 2026-02-27T11:00:00Z, 2 days ago"},
	} {
		if got := (Certificate{NotAfter: now.Add(tc.left)}).ExpiryText(now); got != tc.want {
			t.Errorf("%s left: %q, want %q", tc.left, got, tc.want)
		}
	}
}

// TestJobOverdue: QUEUED past its due time, or RUNNING, for longer than
// the limit; an ended job is never overdue.
func TestJobOverdue(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, tc := range []struct {
		name string
		job  Job
		want bool
	}{
		{"QueuedRecently", Job{Status: JobQueued, ScheduledAt: now.Add(-59 * time.Minute)}, false},
		{"QueuedLong", Job{Status: JobQueued, ScheduledAt: now.Add(-61 * time.Minute)}, true},
		{"DueLater", Job{Status: JobQueued, ScheduledAt: now.Add(time.Hour)}, false},
		{"RunningRecently", Job{Status: JobRunning, ScheduledAt: now.Add(-3 * time.Hour), StartedAt: ago(time.Minute)}, false},
		{"RunningLong", Job{Status: JobRunning, StartedAt: ago(2 * time.Hour)}, true},
		{"Failed", Job{Status: JobFailed, ScheduledAt: now.Add(-3 * time.Hour)}, false},
	} {
		if got := tc.job.Overdue(now, time.Hour); got != tc.want {
			t.Errorf("%s: overdue %v, want %v", tc.name, got, tc.want)
		}
		if onItsWay := tc.job.OnItsWay(now, time.Hour); onItsWay != (!tc.want && !tc.job.Done()) {
			t.Errorf("%s: on its way %v", tc.name, onItsWay)
		}
	}
}
