package handlers

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

// TestCSVQuotesEveryField: every field of an export is quoted, so a ';' in
// a value never splits it into a second cell (spreadsheets in ';'
// locales), and a value that starts a formula, also after leading
// whitespace, is neutralised in any column.
func TestCSVQuotesEveryField(t *testing.T) {
	e := newTestEnv(t)
	ev := map[string]any{
		"event_id": "csv-semicolon", "type": "CERT_USED",
		"message": "total;=1+2",                // second part starts a formula
		"host":    " =cmd|' /C calc'!A0",       // formula after a space
		"app":     "\n+SUM(A1)",                // after a newline
		"process": "@x",                        // in another column
		"command": "plain",                     // no special character at all
		"tenant":  "-2;@A1",                    // both
		"details": map[string]any{"k": "v;=x"}, // JSON with a ';'
	}
	b, _ := json.Marshal(ev)
	if code, m := e.post(string(b), "application/json"); code != 202 {
		t.Fatalf("post: %d %v", code, m)
	}
	code, body := e.api("GET", "/api/v1/events.csv?type=CERT_USED", "auditor/read", "", nil)
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), body)
	}
	for _, line := range lines {
		// Every field quoted: the line is "f1","f2",…,"fn".
		if !strings.HasPrefix(line, `"`) || !strings.HasSuffix(line, `"`) || strings.Count(line, `","`) != len(csvHeader)-1 {
			t.Errorf("not every field is quoted: %s", line)
		}
		// A spreadsheet splitting on ';' (or ',') outside quotes sees no
		// cell that starts a formula.
		for _, sep := range []rune{';', ','} {
			for _, cell := range splitCells(line, sep) {
				if c := strings.TrimLeft(cell, " \t\r\n"); c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
					t.Errorf("splitting on %q gives a formula cell %q in %s", sep, cell, line)
				}
			}
		}
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]string{}
	for i, h := range recs[0] {
		col[h] = recs[1][i]
	}
	for field, want := range map[string]string{
		"message": "total;=1+2", "host": "' =cmd|' /C calc'!A0", "app": "'\n+SUM(A1)",
		"process": "'@x", "command": "plain", "tenant": "'-2;@A1", "event_id": "csv-semicolon",
	} {
		if col[field] != want {
			t.Errorf("%s = %q, want %q", field, col[field], want)
		}
	}
}

// splitCells splits a CSV line the way a spreadsheet does with sep as the
// separator: quotes toggle quoting and are dropped, sep outside quotes ends
// a cell.
func splitCells(line string, sep rune) []string {
	var cells []string
	var cur strings.Builder
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == sep && !quoted:
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(cells, cur.String())
}
