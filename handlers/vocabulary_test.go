package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
)

// TestAdminChangesUseSeedEventNames: a change made in the console is
// recorded under the seed's event name (E_ROLE_CHANGED …) with the seed's
// details fields, beside the details Vigil recorded before, in AUDIT_LOG
// and in its SYSTEM entry alike.
func TestAdminChangesUseSeedEventNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		as      string // role making the change
		setup   string // a path posted with disabled=1 first, "" for none
		path    string
		form    url.Values
		typ     string
		details map[string]any // wanted details (a value of nil: present)
	}{
		{"RoleChanged", "admin", "", "/settings/users/viewer/role", url.Values{"role": {"auditor"}}, "E_ROLE_CHANGED",
			map[string]any{"username": "viewer", "initiatedby": "admin", "role_changed_from": "viewer", "role_changed_to": "auditor",
				"old_role": "viewer", "new_role": "auditor", "timestamp": nil, "epoch_time": nil}},
		{"AccountLocked", "admin", "", "/settings/users/operator/disabled", url.Values{"disabled": {"1"}}, "E_ACCOUNT_LOCKED",
			map[string]any{"username": "operator", "initiatedby": "admin", "lockedAt": nil, "reason": nil, "reasonCode": "DISABLED_BY_ADMIN"}},
		{"AccountUnlocked", "admin", "/settings/users/operator/disabled", "/settings/users/operator/disabled", url.Values{"disabled": {"0"}}, "E_ACCOUNT_UNLOCKED",
			map[string]any{"username": "operator", "initiatedby": "admin", "reason": nil, "reasonCode": "ENABLED_BY_ADMIN"}},
		{"PasswordReset", "admin", "", "/settings/users/auditor/password", url.Values{"password": {"fresh-password-99"}}, "E_PWDRESET_SUCCEEDED",
			map[string]any{"username": "auditor", "initiatedby": "admin"}},
		{"OwnPasswordChanged", "viewer", "", "/account/password",
			url.Values{"current": {password("viewer")}, "password": {"brand-new-password"}, "confirm": {"brand-new-password"}}, "E_PWDRESET_SUCCEEDED",
			map[string]any{"username": "viewer", "initiatedby": "viewer"}},
		{"UserCreated", "admin", "", "/settings/users", url.Values{"username": {"erin"}, "role": {"operator"}, "password": {"erin-password-1"}}, "USER_CREATED",
			map[string]any{"username": "erin", "initiatedby": "admin", "role": "operator", "via": "console"}},
		{"TokenCreated", "admin", "", "/settings/tokens", url.Values{"user": {"operator"}, "name": {"siem"}, "scope": {"read"}}, "TOKEN_CREATED",
			map[string]any{"username": "operator", "initiatedby": "admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			if tc.setup != "" {
				env.do(http.MethodPost, tc.setup, env.session(tc.as), "disabled=1", nil)
			}
			resp := env.do(http.MethodPost, tc.path, env.session(tc.as), tc.form.Encode(), nil)
			if body := readBody(t, resp); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusCreated {
				t.Fatalf("%s: %d\n%s", tc.path, resp.StatusCode, body)
			}
			for _, cat := range []string{"AUDIT_LOG", "SYSTEM"} {
				r := env.list("category="+cat+"&type="+tc.typ, "admin/read")
				if len(r.Events) != 1 || r.Events[0].Type != tc.typ || r.Events[0].Actor.ID != tc.as {
					t.Fatalf("%s %s events: %+v", cat, tc.typ, r.Events)
				}
				if cat == "SYSTEM" {
					continue
				}
				var d map[string]any
				if err := json.Unmarshal(r.Events[0].Details, &d); err != nil {
					t.Fatal(err)
				}
				for k, want := range tc.details {
					got, ok := d[k]
					if !ok || want != nil && got != want {
						t.Errorf("details[%s] = %v, want %v (details %s)", k, got, want, r.Events[0].Details)
					}
				}
				if ts, ok := d["timestamp"].(string); ok {
					at, err := time.Parse(time.RFC3339Nano, ts)
					if err != nil || int64(d["epoch_time"].(float64)) != at.UnixMilli() {
						t.Errorf("timestamp %q and epoch_time %v disagree", ts, d["epoch_time"])
					}
				}
			}
		})
	}
}

// TestTypeFilterFindsFormerNames: events recorded before the seed's names
// keep their type, and a type filter finds them under either name.
func TestTypeFilterFindsFormerNames(t *testing.T) {
	env := newTestEnv(t)
	env.appendEvents(`{"category":"AUDIT_LOG","type":"USER_ROLE_CHANGED","actor":{"id":"admin"},"entity":{"type":"USER","id":"viewer"}}`,
		`{"category":"AUDIT_LOG","type":"USER_DISABLED","actor":{"id":"admin"},"entity":{"type":"USER","id":"bob"}}`)
	if resp := env.do(http.MethodPost, "/settings/users/viewer/role", env.session("admin"), "role=auditor", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("role change: %d", resp.StatusCode)
	}
	for _, typ := range []string{"E_ROLE_CHANGED", "USER_ROLE_CHANGED"} {
		r := env.list("category=AUDIT_LOG&type="+typ, "admin/read")
		if len(r.Events) != 2 || r.Events[0].Type != "E_ROLE_CHANGED" || r.Events[1].Type != "USER_ROLE_CHANGED" {
			t.Errorf("type=%s: %+v", typ, r.Events)
		}
		page := readBody(t, env.do(http.MethodGet, "/audit?type="+typ, env.session("auditor"), "", nil))
		if n := len(rowIDs(page)); n != 2 {
			t.Errorf("/audit?type=%s shows %d rows, want 2", typ, n)
		}
	}
	if r := env.list("category=AUDIT_LOG&type=E_ACCOUNT_LOCKED", "admin/read"); len(r.Events) != 1 || r.Events[0].Type != "USER_DISABLED" {
		t.Errorf("type=E_ACCOUNT_LOCKED: %+v", r.Events)
	}
}

// rowIDs returns the ids of the event rows of a log page, in order.
func rowIDs(page string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr [^>]*data-id="(\d+)"`).FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}
