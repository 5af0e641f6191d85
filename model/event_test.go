package model

import (
	"strings"
	"testing"
	"time"
)

// TestSystemCategoryReserved: only Vigil's own records (source internal)
// may be SYSTEM; what a sender posts is http, whatever source it names.
func TestSystemCategoryReserved(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, body string
		wantErr    bool
	}{
		{"System", `{"category":"SYSTEM","message":"Changed the role of mallory to admin"}`, true},
		{"SystemLowerCase", `{"category":"system"}`, true},
		{"SystemClaimingInternal", `{"category":"SYSTEM","source":"internal"}`, true},
		{"AuditLog", `{"category":"AUDIT_LOG","source":"internal"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := DecodeEvent([]byte(tc.body), now)
			if tc.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "category: SYSTEM is reserved") {
					t.Fatalf("error %v, want the reserved category named", err)
				}
				return
			}
			if err != nil || e.Source != SourceHTTP {
				t.Fatalf("source %q (%v), want http", e.Source, err)
			}
		})
	}
	own := Event{Category: CategorySystem, Source: SourceInternal, Type: "E_SETTINGS_CHANGED"}
	if err := own.Normalize(now); err != nil {
		t.Errorf("Vigil's own SYSTEM record refused: %v", err)
	}
	for _, src := range []string{"", SourceHTTP, SourceSyslogUDP, SourceSyslogTCP, SourceSyslogTLS} {
		e := Event{Category: CategorySystem, Source: src}
		if err := e.Normalize(now); err == nil {
			t.Errorf("SYSTEM with source %q accepted", src)
		}
	}
}
