package ingest

import (
	"bytes"
	"slices"
	"strings"

	"github.com/leodido/go-syslog/v4/rfc5424"
)

// Structured data as senders write it. The strict RFC 5424 parser reads
// clean frames; what it refuses because of the structured data is read
// here, keeping what can be read as rsyslog and syslog-ng do:
//
//   - a backslash before any character but '"', '\' and ']' is kept with
//     the character, as RFC 5424 §6.3.3 says (no repair);
//   - unquoted values (VMware ESXi: [Originator@6876 sub=Vimsvc user=root]),
//     spaces after '=', SD-IDs and names over 32 characters, an unescaped
//     ']' inside a quoted value, a name without value and an SD-ID given
//     twice are read and noted in details.parse_error;
//   - a parameter given more than once (allowed by the RFC) keeps every
//     value: details.sd holds the list; the first value is the one mapped
//     to an event field.
//
// The rest of the frame must still be RFC 5424: the header is parsed
// strictly after the structured data is set aside.

// sdResult is structured data read by readSD.
type sdResult struct {
	first map[string]map[string]string   // the first value of each param
	lists map[string]map[string][]string // every value of params given more than once
	notes []string                       // what was repaired
	rest  []byte                         // what follows the structured data: "" or " MSG"
}

// parse5424 parses an RFC 5424 frame. Structured data the strict parser
// refuses, or that repeats a parameter, is read by readSD; notes says what
// was repaired. Anything else the strict parser refuses goes to the best
// effort parser, its complaint in det.ParseError.
func (d *Decoder) parse5424(input []byte, det *details) (m *rfc5424.SyslogMessage, notes string, ok bool) {
	msg, err := d.m5424.Parse(input)
	if m, ok := msg.(*rfc5424.SyslogMessage); err == nil && ok && m != nil {
		if m.StructuredData != nil && repeatsParams(input, m) {
			if sd, ok := readSD(input[sdStart(input):]); ok {
				*m.StructuredData, det.SDLists = sd.first, sd.lists
			}
		}
		return m, "", true
	}
	if start := sdStart(input); start > 0 && input[start] == '[' {
		if sd, ok := readSD(input[start:]); ok {
			clean := append(append(append(make([]byte, 0, start+1+len(sd.rest)), input[:start]...), '-'), sd.rest...)
			msg, err := d.m5424.Parse(clean)
			if m, ok := msg.(*rfc5424.SyslogMessage); err == nil && ok && m != nil {
				m.StructuredData, det.SDLists = &sd.first, sd.lists
				if len(sd.notes) > 0 {
					notes = "structured data repaired: " + strings.Join(sd.notes, "; ")
				}
				return m, notes, true
			}
		}
	}
	m, ok = parse[rfc5424.SyslogMessage](d.m5424, d.m5424BE, input, det)
	return m, "", ok
}

// sdStart returns the index where the structured data of an RFC 5424 frame
// starts, after PRI, VERSION and five header fields, or -1.
func sdStart(b []byte) int {
	i := versionEnd(b)
	for range 5 {
		if i < 0 {
			return -1
		}
		j := bytes.IndexByte(b[i+1:], ' ')
		if j <= 0 {
			return -1
		}
		i += 1 + j
	}
	if i+1 >= len(b) {
		return -1
	}
	return i + 1
}

// repeatsParams reports whether the structured data of a strictly parsed
// frame may give a parameter more than once (the parser keeps only the
// last value): it has more '=' than the parser found parameters. '='
// inside values only sends the frame through readSD, which is exact.
func repeatsParams(input []byte, m *rfc5424.SyslogMessage) bool {
	n := 0
	for _, params := range *m.StructuredData {
		n += len(params)
	}
	end := len(input)
	if m.Message != nil {
		end -= len(*m.Message)
	}
	return bytes.Count(input[:max(end, 0)], []byte{'='}) > n
}

// readSD reads structured data leniently from the start of b ('[').
func readSD(b []byte) (sd sdResult, ok bool) {
	sd.first = map[string]map[string]string{}
	note := func(s string) {
		if !slices.Contains(sd.notes, s) {
			sd.notes = append(sd.notes, s)
		}
	}
	i := 0
	for i < len(b) && b[i] == '[' {
		i++
		end := bytes.IndexAny(b[i:], " ]")
		if end <= 0 {
			return sd, false
		}
		id := string(b[i : i+end])
		i += end
		if len(id) > 32 {
			note("SD-ID longer than 32 characters")
		}
		params, seen := sd.first[id]
		if seen {
			note("SD-ID " + id + " given twice: its params merged")
		} else {
			params = map[string]string{}
			sd.first[id] = params
		}
		for {
			for i < len(b) && b[i] == ' ' {
				i++
			}
			if i >= len(b) {
				return sd, false
			}
			if b[i] == ']' {
				i++
				break
			}
			end := bytes.IndexAny(b[i:], "= ]")
			if end <= 0 {
				return sd, false
			}
			name := string(b[i : i+end])
			i += end
			if len(name) > 32 {
				note("param name longer than 32 characters")
			}
			var value string
			if b[i] != '=' {
				note("param without value")
			} else {
				i++
				if i < len(b) && b[i] == ' ' {
					note("space after '='")
					for i < len(b) && b[i] == ' ' {
						i++
					}
				}
				var n int
				if value, n, ok = readSDValue(b[i:], note); !ok {
					return sd, false
				}
				i += n
			}
			sd.add(id, params, name, value)
		}
	}
	if i < len(b) && b[i] != ' ' {
		return sd, false
	}
	sd.rest = b[i:]
	return sd, true
}

// readSDValue reads a quoted value (escapes per RFC 5424 §6.3.3) or an
// unquoted one (up to a space or ']') and returns it and the bytes read.
func readSDValue(b []byte, note func(string)) (string, int, bool) {
	if len(b) == 0 || b[0] != '"' {
		n := bytes.IndexAny(b, " ]")
		if n < 0 {
			return "", 0, false
		}
		note("unquoted value")
		return string(b[:n]), n, true
	}
	var v []byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return string(v), i + 1, true
		case c == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\' || b[i+1] == ']'):
			i++
			v = append(v, b[i])
		case c == ']':
			note("unescaped ']' in a value")
			v = append(v, c)
		default:
			v = append(v, c)
		}
	}
	return "", 0, false
}

// add records a value of param name of SD element id.
func (sd *sdResult) add(id string, params map[string]string, name, value string) {
	first, given := params[name]
	if !given {
		params[name] = value
		return
	}
	if sd.lists == nil {
		sd.lists = map[string]map[string][]string{}
	}
	if sd.lists[id] == nil {
		sd.lists[id] = map[string][]string{}
	}
	if sd.lists[id][name] == nil {
		sd.lists[id][name] = []string{first}
	}
	sd.lists[id][name] = append(sd.lists[id][name], value)
}

// appendSDParams appends the params of one SD element as a JSON object,
// keys sorted; a param in lists is the list of its values.
func appendSDParams(b []byte, params map[string]string, lists map[string][]string) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(params, nil) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		vs, many := lists[k]
		if !many {
			b = appendJSONString(b, params[k])
			continue
		}
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
