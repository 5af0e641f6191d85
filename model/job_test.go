package model

import (
	"strings"
	"testing"
	"time"
)

func TestJobCheckFinish(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  Job
		code string
	}{
		{"ClaimedByCaller", Job{ID: 1, Status: JobRunning, ClaimedBy: "a1"}, ""},
		{"ClaimedByAnother", Job{ID: 1, Status: JobRunning, ClaimedBy: "a2"}, EFORBIDDEN},
		{"ReservedForAnother", Job{ID: 1, Status: JobRunning, AgentID: "a2"}, EFORBIDDEN},
		{"NotRunning", Job{ID: 1, Status: JobSuccess, ClaimedBy: "a1"}, ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorCode(tc.job.CheckFinish("a1")); tc.code == "" && got != "" || tc.code != "" && got != tc.code {
				t.Errorf("CheckFinish: code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestNextJobStep(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	issued := &Certificate{ID: 7, Fingerprint: "ff"}
	replacedBy7 := Certificate{ID: 3, ReplacedAt: &now, ReplacedBy: &issued.ID}
	for _, tc := range []struct {
		name   string
		job    Job
		cert   Certificate
		issued *Certificate
		want   JobFollowUp
	}{
		{"NoCertificate", Job{Type: JobRenewal, Status: JobSuccess}, Certificate{}, issued, JobFollowUp{}},
		{"Revoked", Job{Type: JobRevokeCert, Status: JobSuccess}, Certificate{ID: 3}, nil, JobFollowUp{RevokeCert: true}},
		{"RevokedBefore", Job{Type: JobRevokeCert, Status: JobSuccess}, Certificate{ID: 3, RevokedAt: &now}, nil, JobFollowUp{}},
		{"RevocationFailed", Job{Type: JobRevokeCert, Status: JobFailed}, Certificate{ID: 3}, nil, JobFollowUp{}},
		{"Renewed", Job{Type: JobRenewal, Status: JobSuccess}, Certificate{ID: 3}, issued,
			JobFollowUp{Renewed: true, ReplaceCert: true, Replaced: true, MoveEndpoints: true}},
		{"RenewedIssuedUnknown", Job{Type: JobRenewal, Status: JobSuccess}, Certificate{ID: 3}, nil,
			JobFollowUp{Renewed: true, ReplaceCert: true, Replaced: true}},
		{"RenewedSameCertificate", Job{Type: JobRenewal, Status: JobSuccess}, Certificate{ID: 7}, issued, JobFollowUp{Renewed: true}},
		{"RenewalReportedAgain", Job{Type: JobRenewal, Status: JobSuccess}, replacedBy7, issued,
			JobFollowUp{Renewed: true, Replaced: true, MoveEndpoints: true}},
		{"ReplacedByAnother", Job{Type: JobRenewal, Status: JobSuccess}, replacedBy7, &Certificate{ID: 8}, JobFollowUp{Renewed: true, MoveEndpoints: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextJobStep(tc.job, tc.cert, tc.issued, "a1"); got != tc.want {
				t.Errorf("NextJobStep = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("RenewalFailed", func(t *testing.T) {
		j := Job{ID: 12, Type: JobRenewal, Status: JobFailed, Error: "CA unreachable"}
		cert := Certificate{ID: 3, CommonName: "www.example.org", NotAfter: now}
		got := NextJobStep(j, cert, nil, "a1")
		if a := got.Alert; a == nil || a.Type != AlertRenewalFailed || a.Severity != SeverityError ||
			a.Key != "RENEWAL_FAILED:job:12" || a.Entity != (Entity{Type: "JOB", ID: "12"}) ||
			!strings.Contains(a.Message, "failed on agent a1: CA unreachable") || got.Renewed || got.ReplaceCert {
			t.Errorf("failed renewal: %+v alert %+v", got, got.Alert)
		}
	})
}
