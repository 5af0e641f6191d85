package ingest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// parsed is what a syslog line must become: the header fields, the time
// (RFC 3339 in UTC; "" means the receive time) and details values.
type parsed struct {
	Time     string `json:"time,omitempty"`
	Host     string `json:"host,omitempty"`
	App      string `json:"app,omitempty"`
	Process  string `json:"process,omitempty"`
	Type     string `json:"type,omitempty"`
	Severity string `json:"severity,omitempty"`
	Facility string `json:"facility,omitempty"`
	Message  string `json:"message"`
	// ParseError, when set, must be part of details.parse_error; when
	// empty there must be none.
	ParseError string `json:"parse_error,omitempty"`
}

// mismatch describes how e differs from want, or is "".
func (want parsed) mismatch(t testing.TB, e model.Event) string {
	t.Helper()
	d := detailsOf(t, e)
	got := parsed{Host: e.Host, App: e.App, Process: e.Process, Message: e.Message}
	if e.Time.Equal(e.ReceivedAt) {
		got.Time = ""
	} else {
		got.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	var diffs []string
	check := func(name, g, w string) {
		if g != w {
			diffs = append(diffs, name+" "+quote(g)+", want "+quote(w))
		}
	}
	check("time", got.Time, want.Time)
	check("host", e.Host, want.Host)
	check("app", e.App, want.App)
	check("process", e.Process, want.Process)
	check("message", e.Message, want.Message)
	if want.Type != "" {
		check("type", e.Type, want.Type)
	}
	if want.Severity != "" {
		check("severity", e.Severity, want.Severity)
	}
	if want.Facility != "" {
		f, _ := d["facility"].(string)
		check("facility", f, want.Facility)
	}
	pe, _ := d["parse_error"].(string)
	if (want.ParseError == "") != (pe == "") || !strings.Contains(pe, want.ParseError) {
		diffs = append(diffs, "parse_error "+quote(pe)+", want "+quote(want.ParseError))
	}
	return strings.Join(diffs, "; ")
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// interopNow is when the sender cases are read: 2 December 2026.
var interopNow = time.Date(2026, 12, 2, 9, 40, 0, 0, time.UTC)

// TestDecodeRealSenders decodes lines as rsyslog, Python, network gear and
// other BSD-syslog senders write them.
func TestDecodeRealSenders(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want parsed
	}{
		{"RsyslogTagWithoutColon", "<13>Dec  2 09:31:26 vm appA[4242] hello",
			parsed{Time: "2026-12-02T09:31:26Z", Host: "vm", App: "appA", Process: "4242", Message: "hello"}},
		{"RsyslogForwardFormatTagWithoutColon", "<13>2026-12-02T09:31:26.123456+00:00 vm appA[4242] hello",
			parsed{Time: "2026-12-02T09:31:26.123456Z", Host: "vm", App: "appA", Process: "4242", Message: "hello"}},
		{"PythonUDP", "<155>myapp[321]: disk almost full\x00",
			parsed{App: "myapp", Process: "321", Message: "disk almost full", Severity: "err", Facility: "local3"}},
		{"HeaderlessOpenVPN", "<29>ovpn-server[1234]: client 10.8.0.6 connected",
			parsed{App: "ovpn-server", Process: "1234", Message: "client 10.8.0.6 connected"}},
		{"HeaderlessTagOnly", "<14>myscript: done", parsed{App: "myscript", Message: "done"}},
		{"SingleSpaceDay", "<34>Mar 7 10:00:00 gw su: su root failed",
			parsed{Time: "2026-03-07T10:00:00Z", Host: "gw", App: "su", Message: "su root failed"}},
		{"UpperCaseMonth", "<34>AUG 17 10:00:00 gw su: ok", parsed{Time: "2026-08-17T10:00:00Z", Host: "gw", App: "su", Message: "ok"}},
		{"YearInStamp", "<34>Apr 15 2007 21:28:13 gw su: old", parsed{Time: "2007-04-15T21:28:13Z", Host: "gw", App: "su", Message: "old"}},
		{"YearAfterTime", "<34>Apr 15 21:28:13 2007 gw su: old", parsed{Time: "2007-04-15T21:28:13Z", Host: "gw", App: "su", Message: "old"}},
		{"TrailingColonAfterTime", "<34>Oct 11 22:14:15: gw su: colon", parsed{Time: "2026-10-11T22:14:15Z", Host: "gw", App: "su", Message: "colon"}},
		{"ISOWithoutZone", "<34>2026-11-30T08:00:01 gw su: iso", parsed{Time: "2026-11-30T08:00:01Z", Host: "gw", App: "su", Message: "iso"}},
		{"IPv6Host", "<34>Oct 11 22:14:15 2001:db8::7 sshd[9]: v6", parsed{Time: "2026-10-11T22:14:15Z", Host: "2001:db8::7", App: "sshd", Process: "9", Message: "v6"}},
		{"CiscoIOS", "<189>237: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty2 (10.34.195.36)",
			parsed{Time: "2026-03-01T18:48:50.483Z", App: "%SYS-5-CONFIG_I", Message: "Configured from console by vty2 (10.34.195.36)", Severity: "notice", Facility: "local7"}},
		{"CiscoIOSWithHost", "<189>58: r1: Mar  1 18:48:50.483 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up",
			parsed{Time: "2026-03-01T18:48:50.483Z", Host: "r1", App: "%LINK-3-UPDOWN", Message: "Interface Gi0/1, changed state to up"}},
		{"CiscoASA", "<166>%ASA-6-302013: Built outbound TCP connection 1 for outside:10.0.0.1/443",
			parsed{App: "%ASA-6-302013", Message: "Built outbound TCP connection 1 for outside:10.0.0.1/443", Severity: "info", Facility: "local4"}},
		{"CiscoASAWithStamp", "<166>Nov 30 2026 10:31:54 asa01 : %ASA-6-302013: Built it",
			parsed{Time: "2026-11-30T10:31:54Z", Host: "asa01", App: "%ASA-6-302013", Message: "Built it"}},
		{"AIXForwarded", "<13>Dec  2 09:00:00 Message forwarded from aix01: syslogd: restart",
			parsed{Time: "2026-12-02T09:00:00Z", Host: "aix01", App: "syslogd", Message: "restart"}},
		{"NoPRIReadAs13", "Dec  2 09:00:00 gw cron[5]: tick",
			parsed{Time: "2026-12-02T09:00:00Z", Host: "gw", App: "cron", Process: "5", Message: "tick", Severity: "notice", Facility: "user", ParseError: "no <PRI>"}},
		{"YearInferenceNoFuture", "<13>Jun  1 12:00:00 gw app: june", parsed{Time: "2026-06-01T12:00:00Z", Host: "gw", App: "app", Message: "june"}},
		{"YearInferenceADayAhead", "<13>Dec  3 01:00:00 gw app: clock skew", parsed{Time: "2026-12-03T01:00:00Z", Host: "gw", App: "app", Message: "clock skew"}},
		{"YearInferenceFeb29", "<13>Feb 29 12:00:00 gw app: leap", parsed{Time: "2024-02-29T12:00:00Z", Host: "gw", App: "app", Message: "leap"}},
		{"VersionTwo", "<14>2 2026-12-02T09:00:00Z h a 7 ID - v2",
			parsed{Time: "2026-12-02T09:00:00Z", Host: "h", App: "a", Process: "7", Type: "ID", Message: "v2"}},
		{"FacilityLogAudit", "<110>1 - h a - - - audit", parsed{Host: "h", App: "a", Message: "audit", Facility: "log audit"}},
		{"FacilityLogAlert", "<118>1 - h a - - - alert", parsed{Host: "h", App: "a", Message: "alert", Facility: "log alert"}},
		{"FacilityClockDaemon", "<126>1 - h a - - - clock", parsed{Host: "h", App: "a", Message: "clock", Facility: "clock daemon"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewDecoder(nil).Decode([]byte(tc.in), 0, Peer{Source: model.SourceSyslogUDP, Addr: "192.0.2.1"}, interopNow)
			if diff := tc.want.mismatch(t, e); diff != "" {
				t.Errorf("%s\ndetails %s", diff, e.Details)
			}
		})
	}
	t.Run("CiscoSequenceKept", func(t *testing.T) {
		e := NewDecoder(nil).Decode([]byte("<189>237: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: x"), 0, Peer{Source: model.SourceSyslogUDP}, interopNow)
		if d := detailsOf(t, e); d["sequence"] != "237" {
			t.Errorf("details %s", e.Details)
		}
	})
	t.Run("VersionKept", func(t *testing.T) {
		e := NewDecoder(nil).Decode([]byte("<14>2 - h a - - - v2"), 0, Peer{Source: model.SourceSyslogUDP}, interopNow)
		if d := detailsOf(t, e); d["version"] != float64(2) || d["format"] != "rfc5424" {
			t.Errorf("details %s", e.Details)
		}
	})
}

// TestDecodeStructuredDataLeniency keeps what can be read of structured
// data real senders write outside RFC 5424, saying what was repaired, and
// every value of a repeated parameter.
func TestDecodeStructuredDataLeniency(t *testing.T) {
	longID := strings.Repeat("i", 40)
	cases := []struct {
		name       string
		in         string
		sd         map[string]map[string]any
		parseError string // "" means none
		check      func(e model.Event) bool
	}{
		{"BackslashBeforeOtherCharacterKept", `<14>1 - h a - - [x@1 path="C:\temp\new" user="bob"] m`,
			map[string]map[string]any{"x@1": {"path": `C:\temp\new`, "user": "bob"}}, "",
			func(e model.Event) bool { return e.Actor.ID == "bob" && e.Message == "m" }},
		{"ESXiUnquotedValues", `<14>1 2026-12-02T09:00:00.000Z esx01 Hostd 2099459 - [Originator@6876 sub=Vimsvc.TaskManager opID=abc user=vpxuser] Task Completed`,
			map[string]map[string]any{"Originator@6876": {"sub": "Vimsvc.TaskManager", "opID": "abc", "user": "vpxuser"}}, "unquoted",
			func(e model.Event) bool {
				return e.Actor.ID == "vpxuser" && e.Host == "esx01" && e.App == "Hostd" && e.Process == "2099459" && e.Message == "Task Completed"
			}},
		{"SpaceAfterEquals", `<14>1 - h a - - [x@1 user= "bob"] m`,
			map[string]map[string]any{"x@1": {"user": "bob"}}, "space after",
			func(e model.Event) bool { return e.Actor.ID == "bob" && e.Message == "m" }},
		{"SDIDLongerThan32", `<14>1 - h a - - [` + longID + ` k="v"] m`,
			map[string]map[string]any{longID: {"k": "v"}}, "longer than 32",
			func(e model.Event) bool { return e.Message == "m" }},
		{"RepeatedParamsAllKept", `<14>1 - h a - - [x@1 k="1" k="2" user="alice"][y@1 tag="a" tag="b" tag="c"] m`,
			map[string]map[string]any{"x@1": {"k": []any{"1", "2"}, "user": "alice"}, "y@1": {"tag": []any{"a", "b", "c"}}}, "",
			func(e model.Event) bool { return e.Actor.ID == "alice" && e.Message == "m" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewDecoder(nil).Decode([]byte(tc.in), 0, Peer{Source: model.SourceSyslogTCP}, interopNow)
			d := detailsOf(t, e)
			sd, _ := d["sd"].(map[string]any)
			for id, params := range tc.sd {
				el, _ := sd[id].(map[string]any)
				for name, want := range params {
					if !reflect.DeepEqual(el[name], want) {
						t.Errorf("sd[%s][%s] = %#v, want %#v", id, name, el[name], want)
					}
				}
			}
			pe, _ := d["parse_error"].(string)
			if (tc.parseError == "") != (pe == "") || !strings.Contains(pe, tc.parseError) {
				t.Errorf("parse_error %q, want %q", pe, tc.parseError)
			}
			if !tc.check(e) {
				t.Errorf("host %q app %q process %q actor %q message %q", e.Host, e.App, e.Process, e.Actor.ID, e.Message)
			}
			if t.Failed() {
				t.Logf("details %s", e.Details)
			}
		})
	}
}
