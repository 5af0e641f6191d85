package model

import (
	"errors"
	"slices"
	"testing"
)

func TestBindEvents(t *testing.T) {
	web := Principal{Scope: ScopeAgent, AgentID: "web-01", TokenName: "web"}
	unbound := Principal{Scope: ScopeAgent, TokenName: "old"}
	ingest := Principal{Scope: ScopeIngest}
	cases := []struct {
		name    string
		p       Principal
		agents  []string // agent_id of each event posted
		want    []string // agent_id of each event after binding; nil when refused
		refused []int    // indexes named by the refusal
	}{
		{"FillsTheTokensAgent", web, []string{"", "web-01"}, []string{"web-01", "web-01"}, nil},
		{"OtherAgentRefused", web, []string{"", "db-07", "web-01", "db-08"}, nil, []int{1, 3}},
		{"UnboundPostsWithoutAgent", unbound, []string{"", ""}, []string{"", ""}, nil},
		{"UnboundNamingAnAgent", unbound, []string{"", "web-01"}, nil, []int{1}},
		{"IngestAsGiven", ingest, []string{"", "db-07"}, []string{"", "db-07"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := make([]Event, len(tc.agents))
			for i, a := range tc.agents {
				events[i].AgentID = a
			}
			err := tc.p.BindEvents(events)
			if tc.want == nil {
				var e *Error
				if ErrorCode(err) != EFORBIDDEN || !errors.As(err, &e) {
					t.Fatalf("error %v, want EFORBIDDEN", err)
				}
				var idx []int
				for _, it := range e.Items {
					idx = append(idx, it.Index)
				}
				if !slices.Equal(idx, tc.refused) {
					t.Errorf("refused items %v, want %v (%+v)", idx, tc.refused, e.Items)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range events {
				if e.AgentID != tc.want[i] {
					t.Errorf("event %d agent_id %q, want %q", i, e.AgentID, tc.want[i])
				}
			}
		})
	}
}

func TestActAsAgent(t *testing.T) {
	web := Principal{Scope: ScopeAgent, AgentID: "web-01"}
	for _, tc := range []struct {
		name, named string
		p           Principal
		want        string
		code        string
	}{
		{"Unnamed", "", web, "web-01", ""},
		{"Itself", "web-01", web, "web-01", ""},
		{"Another", "db-07", web, "", EFORBIDDEN},
		{"Unbound", "", Principal{Scope: ScopeAgent}, "", EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.ActAsAgent(tc.named)
			if got != tc.want || ErrorCode(err) != tc.code {
				t.Errorf("%q, %v; want %q, code %q", got, err, tc.want, tc.code)
			}
		})
	}
}

func TestValidateAgentID(t *testing.T) {
	for _, id := range []string{"web-01", "web-01.example.net", "ÄÖ-1"} {
		if err := ValidateAgentID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", "web 01", "web\t01", "a\x00b", string(make([]byte, MaxAgentIDLen+1))} {
		if err := ValidateAgentID(id); ErrorCode(err) != EINVALID {
			t.Errorf("%q accepted", id)
		}
	}
}
