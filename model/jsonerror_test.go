package model

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONReason names what encoding/json refused from the error's type.
func TestJSONReason(t *testing.T) {
	var v struct {
		N int `json:"n"`
	}
	for _, c := range []struct{ doc, want string }{
		{`{"n": x}`, "invalid character 'x' looking for beginning of value (at byte 7)"},
		{`{"n": "a"}`, "field n: a JSON string cannot be a int"},
		{`"a"`, "a JSON string cannot be a struct"},
		{`{"n": 1`, "unexpected end of JSON input"},
	} {
		err := json.Unmarshal([]byte(c.doc), &v)
		if got := JSONReason(err); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q", c.doc, got, c.want)
		}
	}
}
