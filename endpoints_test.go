package main

import (
	"strings"
	"testing"

	"vigil/model"
)

// TestEndpointTargetsNeverLinkLocal registers endpoints at link-local and
// cloud metadata addresses through the API: each is refused with 400
// naming the address, and none is stored. Nothing is dialled: the rig's
// scheduler runs checks only when told to.
func TestEndpointTargetsNeverLinkLocal(t *testing.T) {
	r := newWatchRig(t, 0)
	ops := r.tokens[model.RoleOperator]
	for _, host := range []string{
		"169.254.169.254", "169.254.0.23", "fe80::1", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254",
	} {
		t.Run(host, func(t *testing.T) {
			status, body := r.call("POST", "/api/v1/endpoints", ops, "application/json", `{"host":"`+host+`","port":443}`)
			if status != 400 || !strings.Contains(string(body), "not allowed by --endpoint-networks") {
				t.Errorf("POST /api/v1/endpoints at %s: %d %s, want 400 not allowed by --endpoint-networks", host, status, body)
			}
		})
	}
	var eps struct {
		Endpoints []model.Endpoint `json:"endpoints"`
	}
	r.must(200, "GET", "/api/v1/endpoints", ops, "", &eps)
	if len(eps.Endpoints) != 0 {
		t.Errorf("refused endpoints stored: %+v", eps.Endpoints)
	}
}
