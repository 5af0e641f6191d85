package ingest

import (
	"bytes"
	"strings"
	"time"

	"vigil/model"
)

// BSD syslog (RFC 3164) as senders really write it. RFC 3164 describes
// what it saw rather than prescribing, and senders differ: this reader
// takes, in order,
//
//	[<PRI>] [SEQ: [HOST: ]] [STAMP[:] [HOST | "Message forwarded from" HOST:] [" :"]] [TAG[PID][:]] MSG
//
// where STAMP is "Mmm dd hh:mm:ss" (any case, one or two spaces or a zero
// before the day, a year before or after the time, fractions, a zone
// name, Cisco's leading '*' or '.'), or an ISO 8601 time with or without
// zone. A line without <PRI> is read as <13> (user.notice), as rsyslog
// does, when it has a stamp; without one it is not syslog. A tag without
// colon needs a [PID] ("appA[4242] hello", as rsyslog's forward templates
// relay it); without a stamp there is no HOST (header-less
// "<PRI>tag[pid]: msg", as Python's SysLogHandler and openvpn send).

// defaultPRI is the PRI of a line that has none: user.notice.
const defaultPRI = 13

// bsdMessage is what parseBSD reads from a line.
type bsdMessage struct {
	pri             int
	time            time.Time // zero: no stamp
	host, app, proc string
	msg             string
	seq             string // Cisco's sequence number
	noPRI           bool
	zoneIgnored     string // a zone name read but not known: the configured zone is used
}

// decodeBSD parses a BSD syslog line into e and det. It reports false for
// a line that is not syslog (no <PRI> and no stamp).
func (d *Decoder) decodeBSD(frame []byte, e *model.Event, det *details, now time.Time) bool {
	m, ok := parseBSD(frame, now, d.loc)
	if !ok {
		det.ParseError = "no <PRI> at the start"
		return false
	}
	det.Format = formatRFC3164
	e.Severity = model.SeverityName(m.pri % 8)
	det.Facility = facilityName(m.pri / 8)
	if !m.time.IsZero() {
		e.Time = m.time
	}
	e.Host, e.App, e.Process, e.Message = m.host, m.app, m.proc, m.msg
	det.Sequence = m.seq
	var notes []string
	if m.noPRI {
		notes = append(notes, "no <PRI>: read as <13> (user.notice)")
	}
	if m.zoneIgnored != "" {
		notes = append(notes, "time zone "+m.zoneIgnored+" not known: --syslog-tz used")
	}
	det.ParseError = strings.Join(notes, "; ")
	return true
}

// parseBSD reads a BSD syslog line; times without zone are in loc and
// times without year get the year inferYear gives them.
func parseBSD(b []byte, now time.Time, loc *time.Location) (m bsdMessage, ok bool) {
	s := string(b)
	if hasPRI(b) {
		i := strings.IndexByte(s, '>')
		for _, c := range s[1:i] {
			m.pri = m.pri*10 + int(c-'0')
		}
		s = s[i+1:]
	} else {
		m.pri, m.noPRI = defaultPRI, true
	}
	// Cisco: a sequence number (Nexus: an empty one) before a stamp or a
	// %FACILITY tag, and with "logging origin-id" a host before the stamp.
	if n := digitsPrefix(s); strings.HasPrefix(s[n:], ": ") {
		rest := s[n+2:]
		h, after, found := strings.Cut(rest, ": ")
		switch {
		case strings.HasPrefix(rest, "%") || isStamp(rest, loc):
			m.seq, s = s[:n], rest
		case found && isHostToken(h) && isStamp(after, loc):
			m.seq, m.host, s = s[:n], h, after
		}
	}
	m.time, s, m.zoneIgnored, ok = parseStamp(s, now, loc)
	if !ok && m.noPRI {
		return m, false
	}
	if ok && m.host == "" {
		s = trimSpace1(s)
		switch {
		case strings.HasPrefix(s, "Message forwarded from "):
			// AIX: "Message forwarded from HOST: TAG: MSG".
			if h, rest, found := strings.Cut(s[len("Message forwarded from "):], ": "); found {
				m.host, s = h, rest
			}
		default:
			if tok, rest := cutToken(s); tok != "" && !strings.HasSuffix(tok, ":") && !strings.Contains(tok, "[") && rest != "" {
				m.host, s = tok, rest
				// Cisco ASA with a device id: "HOST : %ASA-…".
				if strings.HasPrefix(s, ": ") {
					s = s[2:]
				}
			}
		}
	}
	s = trimSpace1(s)
	m.app, m.proc, s = cutTag(s)
	m.msg = s
	return m, true
}

// isStamp reports whether s starts with a stamp.
func isStamp(s string, loc *time.Location) bool {
	_, _, _, ok := parseStamp(s, time.Now(), loc)
	return ok
}

// parseStamp reads a stamp at the start of s (see above) and returns the
// time and the rest after it and its trailing colon. A zone name other
// than UTC or GMT is returned as unknown: the time is in loc.
func parseStamp(s string, now time.Time, loc *time.Location) (t time.Time, rest, unknownZone string, ok bool) {
	if t, rest, ok := parseISO(s, loc); ok {
		return t, rest, "", true
	}
	fail := func() (time.Time, string, string, bool) { return time.Time{}, s, "", false }
	p := s
	if strings.HasPrefix(p, "*") || strings.HasPrefix(p, ".") {
		p = p[1:] // Cisco: clock not synchronized, or synchronization lost
	}
	year := 0
	if digitsPrefix(p) == 4 && len(p) > 5 && p[4] == ' ' {
		year, p = atoi(p[:4]), p[5:] // Cisco Nexus: "2017 Mar  6 12:53:10"
	}
	if len(p) < 4 || p[3] != ' ' {
		return fail()
	}
	mon, ok := monthOf(p[:3])
	if !ok {
		return fail()
	}
	p = strings.TrimLeft(p[4:], " ")
	n := digitsPrefix(p)
	if n < 1 || n > 2 {
		return fail()
	}
	day := atoi(p[:n])
	p = p[n:]
	if !strings.HasPrefix(p, " ") {
		return fail()
	}
	p = p[1:]
	if n := digitsPrefix(p); year == 0 && n == 4 && strings.HasPrefix(p[4:], " ") {
		year, p = atoi(p[:4]), p[5:]
	}
	h, mi, sec, ns, rest, ok := parseClock(p)
	if !ok {
		return fail()
	}
	p = rest
	yearAfter := func() {
		if year == 0 && len(p) >= 5 && p[0] == ' ' && digitsPrefix(p[1:]) == 4 && endsWord(p[5:]) {
			year, p = atoi(p[1:5]), p[5:]
		}
	}
	yearAfter()
	at := loc
	if z := zoneName(p); z == "UTC" || z == "GMT" || z == "Z" {
		at, p = time.UTC, p[1+len(z):]
	} else if after := p[min(1+len(z), len(p)):]; z != "" && (strings.HasPrefix(after, ":") ||
		(year == 0 && len(after) >= 5 && digitsPrefix(after[1:]) == 4 && endsWord(after[5:]))) {
		unknownZone, p = z, after // "CET:" as Cisco writes it, "CST 1987" as RFC 3164's example
	}
	yearAfter()
	p = strings.TrimPrefix(p, ":")
	if p != "" && p[0] != ' ' {
		return fail()
	}
	if year != 0 {
		t = time.Date(year, mon, day, h, mi, sec, ns, at)
		if t.Day() != day {
			return fail()
		}
	} else if t, ok = inferYear(mon, day, h, mi, sec, ns, at, now); !ok {
		return fail()
	}
	return t, p, unknownZone, true
}

// endsWord reports whether p, following a word, ends it: the end, a space,
// or a colon and then the end or a space.
func endsWord(p string) bool {
	p = strings.TrimPrefix(p, ":")
	return p == "" || p[0] == ' '
}

// zoneName returns the zone name (1 to 5 upper-case letters) after the
// space that starts p, or "".
func zoneName(p string) string {
	if len(p) < 2 || p[0] != ' ' {
		return ""
	}
	n := 1
	for n < len(p) && n <= 5 && p[n] >= 'A' && p[n] <= 'Z' {
		n++
	}
	if n == 1 || n > 5 || (n < len(p) && p[n] != ' ' && p[n] != ':') {
		return ""
	}
	return p[1:n]
}

// parseISO reads an ISO 8601 / RFC 3339 time ("2026-01-02T03:04:05",
// fractions and zone optional) at the start of s; without zone it is in loc.
func parseISO(s string, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') {
		return time.Time{}, s, false
	}
	end := strings.IndexByte(s, ' ')
	if end < 0 {
		end = len(s)
	}
	ts := strings.TrimSuffix(s[:end], ":")
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		return t, s[end:], true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", ts, loc); err == nil {
		return t, s[end:], true
	}
	return time.Time{}, s, false
}

// parseClock reads hh:mm:ss with optional fractions.
func parseClock(p string) (h, m, s, ns int, rest string, ok bool) {
	if len(p) < 8 || p[2] != ':' || p[5] != ':' || digitsPrefix(p[:2]) != 2 || digitsPrefix(p[3:5]) != 2 || digitsPrefix(p[6:8]) != 2 {
		return 0, 0, 0, 0, p, false
	}
	h, m, s = atoi(p[:2]), atoi(p[3:5]), atoi(p[6:8])
	if h > 23 || m > 59 || s > 60 {
		return 0, 0, 0, 0, p, false
	}
	p = p[8:]
	if len(p) > 1 && p[0] == '.' {
		n := digitsPrefix(p[1:])
		if n == 0 {
			return 0, 0, 0, 0, p, false
		}
		frac := p[1 : 1+min(n, 9)]
		ns = atoi(frac)
		for range 9 - len(frac) {
			ns *= 10
		}
		p = p[1+n:]
	}
	return h, m, s, ns, p, true
}

// inferYear gives a stamp without year the latest year that puts it no
// more than a day after now (clocks drift, zones are misconfigured), and
// that has the date: Feb 29 is in a leap year.
func inferYear(mon time.Month, day, h, mi, s, ns int, loc *time.Location, now time.Time) (time.Time, bool) {
	const ahead = 24 * time.Hour
	y := now.In(loc).Year()
	for year := y + 1; year >= y-8; year-- {
		t := time.Date(year, mon, day, h, mi, s, ns, loc)
		if t.Day() == day && !t.After(now.Add(ahead)) {
			return t, true
		}
	}
	return time.Time{}, false
}

// cutTag reads "TAG[PID]:", "TAG:" or "TAG[PID]" and a space at the start
// of s; anything else has no tag and is all message.
func cutTag(s string) (app, proc, msg string) {
	i := strings.IndexAny(s, " :[\t")
	if i <= 0 {
		return "", "", s
	}
	switch s[i] {
	case '\t':
		return s[:i], "", s[i+1:] // Snare: tab-separated fields
	case ':':
		if i+1 < len(s) && s[i+1] != ' ' {
			return "", "", s // "a:b", an address or a time, not a tag
		}
		return s[:i], "", trimSpace1(s[i+1:])
	case '[':
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			return "", "", s
		}
		j += i
		rest := s[j+1:]
		if strings.HasPrefix(rest, ":") {
			rest = rest[1:]
		} else if rest != "" && rest[0] != ' ' {
			return "", "", s
		}
		return s[:i], s[i+1 : j], trimSpace1(rest)
	}
	return "", "", s
}

// cutToken returns the text before the first space of s and what follows
// that space.
func cutToken(s string) (string, string) {
	tok, rest, _ := strings.Cut(s, " ")
	return tok, rest
}

// isHostToken reports whether s can be a host name or address.
func isHostToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " []%")
}

func trimSpace1(s string) string {
	if strings.HasPrefix(s, " ") {
		return s[1:]
	}
	return s
}

// digitsPrefix returns how many ASCII digits s starts with.
func digitsPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// atoi converts a string of at most 9 ASCII digits.
func atoi(s string) int {
	n := 0
	for _, c := range []byte(s) {
		n = n*10 + int(c-'0')
	}
	return n
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// monthOf reads a three-letter month name in any case.
func monthOf(s string) (time.Month, bool) {
	for i, m := range months {
		if strings.EqualFold(s, m) {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// facilityNames are the facilities of RFC 5424 §6.2.1 as rsyslog and
// syslog-ng name them; 13 to 15 have no keyword and take RFC 5424's words.
var facilityNames = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "log audit", "log alert", "clock daemon",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// facilityName names a facility number (0 to 23).
func facilityName(n int) string {
	if n < 0 || n >= len(facilityNames) {
		return ""
	}
	return facilityNames[n]
}

// trimFrameEnd removes the end of line and the NULs that end a frame (a
// Python SysLogHandler datagram ends with NUL).
func trimFrameEnd(b []byte) []byte {
	b = trimEOL(bytes.TrimRight(b, "\x00"))
	return bytes.TrimRight(b, "\x00")
}
