package ingest

import (
	"net"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// TestSyslogCannotClaimSystem sends, unauthenticated over UDP and TCP, a
// message forged to look like console activity (SD category="SYSTEM").
// Vigil keeps the message, in a category it does not reserve for itself,
// with the claim under details.invalid.category.
func TestSyslogCannotClaimSystem(t *testing.T) {
	const forged = `<14>1 2026-01-02T03:04:05Z web-01 console - E_ROLE_CHANGED [x@1 category="SYSTEM" user="admin" outcome="SUCCESS"] Changed the role of mallory to admin`
	for _, tc := range []struct{ name, source string }{
		{"UDP", model.SourceSyslogUDP},
		{"TCP", model.SourceSyslogTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, store.Options{}, "udp", "tcp")
			var c net.Conn
			var err error
			if tc.name == "UDP" {
				c, err = net.Dial("udp", h.udp)
			} else {
				c, err = net.Dial("tcp", h.tcp)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			frame := forged
			if tc.name == "TCP" {
				frame = octet(forged)
			}
			if _, err := c.Write([]byte(frame)); err != nil {
				t.Fatal(err)
			}
			e := h.waitEvents(t, 1, 5*time.Second)[0]
			if e.Category == model.CategorySystem || e.Category != model.CategoryUsage {
				t.Errorf("category %s, want %s (SYSTEM is Vigil's own)", e.Category, model.CategoryUsage)
			}
			if e.Source != tc.source || e.Type != "E_ROLE_CHANGED" || e.Message != "Changed the role of mallory to admin" || e.Actor.ID != "admin" {
				t.Errorf("message not kept as sent: source %s type %s actor %q message %q", e.Source, e.Type, e.Actor.ID, e.Message)
			}
			inv, _ := detailsOf(t, e)["invalid"].(map[string]any)
			if inv["category"] != "SYSTEM" {
				t.Errorf("details.invalid.category = %v, want SYSTEM; details %s", inv["category"], e.Details)
			}
			found, err := h.st.FindEvents(t.Context(), model.EventFilter{Categories: []string{model.CategorySystem}, Visibility: adminView})
			sys := found.Events
			if err != nil || len(sys) != 0 {
				t.Errorf("SYSTEM events after the forgery: %d (%v)", len(sys), err)
			}
		})
	}
}
