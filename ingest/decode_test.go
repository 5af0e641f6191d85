package ingest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

func TestDecode(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	peer := Peer{Source: model.SourceSyslogTCP, Addr: "192.0.2.7"}
	cases := []struct {
		name  string
		in    string
		now   time.Time
		loc   *time.Location
		check func(t *testing.T, e model.Event, d map[string]any)
	}{
		{"RFC5424WithSDAndBOM", "<86>1 2026-01-02T03:04:05.123456789+02:00 ca01 ejbca 77 CERT_USED [meta@1 user=\"bob\" policy=\"tls-client\" entity_type=\"certificate\" entity_id=\"c-9\"][vigil@32473 cert_fingerprint=\"AB:CD" + strings.Repeat("ef", 30) + "\" command=\"openssl s_client\"] \xEF\xBB\xBFused cert\n", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if e.Message != "used cert" || e.Type != "CERT_USED" || e.Host != "ca01" || e.App != "ejbca" || e.Process != "77" ||
					e.Severity != "info" || d["facility"] != "authpriv" || e.Policy != "tls-client" || e.Command != "openssl s_client" ||
					e.Entity != (model.Entity{Type: "CERTIFICATE", ID: "c-9"}) || e.Actor.ID != "bob" ||
					e.Certificate.Fingerprint != "abcd"+strings.Repeat("ef", 30) {
					t.Errorf("fields %+v", e)
				}
				if got := e.Time.Format(time.RFC3339Nano); got != "2026-01-02T03:04:05.123456789+02:00" {
					t.Errorf("time %s", got)
				}
				if d["peer"] != "192.0.2.7" || d["sd"].(map[string]any)["meta@1"].(map[string]any)["user"] != "bob" {
					t.Errorf("details %v", d)
				}
			}},
		{"LeapSecondKeptRaw", "<14>1 2016-12-31T23:59:60Z host app - - - leap", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if !e.Time.Equal(now) || d["raw_time"] != "2016-12-31T23:59:60Z" || e.Host != "host" || e.Message != "leap" {
					t.Errorf("time %v details %v event %+v", e.Time, d, e)
				}
			}},
		{"NoZoneKeptRaw", "<14>1 2026-01-02T03:04:05 host app - - - nozone", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if !e.Time.Equal(now) || d["raw_time"] != "2026-01-02T03:04:05" || e.Message != "nozone" {
					t.Errorf("time %v details %v", e.Time, d)
				}
			}},
		{"FarFutureKeptRaw", "<14>1 9999-12-31T23:59:59Z host app - - - future", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if !e.Time.Equal(now) || d["raw_time"] != "9999-12-31T23:59:59Z" || e.Message != "future" {
					t.Errorf("time %v details %v", e.Time, d)
				}
			}},
		{"InvalidMappedValuesMovedToDetails", `<14>1 - host app - bad/msgid [x@1 ip="not-an-ip" outcome="MAYBE" cert_fingerprint="zz" user="carol"] kept`, now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				inv, _ := d["invalid"].(map[string]any)
				if e.Message != "kept" || e.Actor.IP != "" || e.Actor.ID != "carol" || e.Outcome != "INFO" || e.Type != "EVENT" ||
					inv["actor.ip"] != "not-an-ip" || inv["outcome"] != "MAYBE" || inv["type"] != "bad/msgid" ||
					inv["certificate.fingerprint"] != "zz" {
					t.Errorf("event %+v details %v", e, d)
				}
			}},
		{"TooLongFieldMovedToDetails", `<14>1 - host app - - [x@1 user="` + strings.Repeat("u", 2000) + `"] long`, now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if e.Actor.ID != "" || len(d["invalid"].(map[string]any)["actor.id"].(string)) != model.MaxFieldLen || e.Message != "long" {
					t.Errorf("event %+v", e.Actor)
				}
			}},
		{"NotSyslog", "hello \x00 world", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if e.Type != TypeUnparsed || e.Message != "hello \x00 world" || d["format"] != "unparsed" || d["parse_error"] == nil {
					t.Errorf("event %+v details %v", e, d)
				}
			}},
		{"NULAndInvalidUTF8Kept", "<14>1 - h a - - - bad \xff\xfe and \x00 nul", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if e.Message != "bad \xff\xfe and \x00 nul" || e.Host != "h" {
					t.Errorf("message %q", e.Message)
				}
				if got := model.ValidUTF8(e.Message); got != `bad \xff\xfe and \x00 nul` {
					t.Errorf("shown as %q", got)
				}
			}},
		{"BrokenSDKeepsHeaderAndRawText", `<14>1 - host app - ID [broken sd`, now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if e.Host != "host" || e.Type != "ID" || e.Message != `<14>1 - host app - ID [broken sd` || d["parse_error"] == nil {
					t.Errorf("event %+v details %v", e, d)
				}
			}},
		{"RFC3164DecemberReadInJanuary", "<38>Dec 31 23:59:50 gw sshd[99]: Accepted key", time.Date(2027, 1, 1, 0, 0, 10, 0, time.UTC), nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if got := e.Time.Format(time.RFC3339); got != "2026-12-31T23:59:50Z" || e.App != "sshd" || e.Process != "99" ||
					e.Message != "Accepted key" || e.Host != "gw" || e.Severity != "info" || d["facility"] != "auth" {
					t.Errorf("time %s event %+v", got, e)
				}
			}},
		{"RFC3164JanuaryReadInDecember", "<38>Jan  1 00:00:05 gw app: early clock", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if got := e.Time.Format(time.RFC3339); got != "2027-01-01T00:00:05Z" {
					t.Errorf("time %s", got)
				}
			}},
		{"RFC3164ConfiguredZone", "<13>Jun  1 12:00:00 gw app: summer", now, berlin,
			func(t *testing.T, e model.Event, d map[string]any) {
				if got := e.Time.UTC().Format(time.RFC3339); got != "2026-06-01T10:00:00Z" {
					t.Errorf("time %s", got)
				}
			}},
		{"RFC3164WithRFC3339Timestamp", "<13>2026-01-02T03:04:05.123456+01:00 gw app[5]: rsyslog forward format", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if got := e.Time.Format(time.RFC3339Nano); got != "2026-01-02T03:04:05.123456+01:00" || e.App != "app" ||
					e.Process != "5" || e.Host != "gw" || e.Message != "rsyslog forward format" {
					t.Errorf("time %s event %+v", got, e)
				}
			}},
		{"RFC3164Unparseable", "<13>not a date at all", now, nil,
			func(t *testing.T, e model.Event, d map[string]any) {
				if e.Message == "" || !strings.Contains(e.Message, "not a date") {
					t.Errorf("event %+v details %v", e, d)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewDecoder(tc.loc).Decode([]byte(tc.in), 0, peer, tc.now)
			again := e
			if err := again.Normalize(tc.now); err != nil {
				t.Fatalf("decoded event does not validate: %v", err)
			}
			if e.Source != model.SourceSyslogTCP {
				t.Errorf("source %q", e.Source)
			}
			tc.check(t, e, detailsOf(t, e))
		})
	}
}

func TestDecodeTruncatedFrame(t *testing.T) {
	e := NewDecoder(nil).Decode([]byte("<14>1 - h a - - - head of a long one"), 300000, Peer{Source: model.SourceSyslogUDP}, time.Now())
	if d := detailsOf(t, e); d["truncated_from"] != float64(300000) || e.Message != "head of a long one" {
		t.Errorf("details %v message %q", d, e.Message)
	}
}

func TestMarshalDetailsMatchesEncodingJSON(t *testing.T) {
	cases := []struct {
		name string
		det  details
	}{
		{"Minimal", details{Format: formatRFC5424}},
		{"Everything", details{Peer: "::1", PeerCN: "agent <7> & co", PeerSubject: "CN=a,O=\"b\"", ClaimedAgentID: "db-07\x01", Format: formatRFC3164, Version: 2,
			Facility: "local7", SD: map[string]map[string]string{"z@1": {"b": "2", "a": "1"}, "a@1": {}, "m@1": {"k": "\u2028\u2029"}},
			RawTime: "2016-12-31T23:59:60Z", ParseError: "tab\there\nnewline\r\x00\x1f", Invalid: map[string]string{"actor.ip": "x", "type": "a/b"},
			Truncated: 300000, Omitted: "back\\slash", Sequence: "237"}},
		{"InvalidUTF8", details{Format: formatUnparsed, ParseError: "bad \xff\xfe end \xe2\x82", Invalid: map[string]string{"\xff": "\xc3"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours := marshalDetails(&tc.det)
			theirs, err := json.Marshal(tc.det)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(ours, &a); err != nil {
				t.Fatalf("%s: %v", ours, err)
			}
			json.Unmarshal(theirs, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("ours   %s\ntheirs %s", ours, theirs)
			}
		})
	}
}
