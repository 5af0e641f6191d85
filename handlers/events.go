// The console's events pages: Events, Audit and System log, three logs of
// events sharing one handler (eventsPage), one template
// (ui/views/pages/events.html) and one table partial, and the detail of
// one event (eventDetail, ui/views/pages/event.html). The events API is in
// events_api.go.

package handlers

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
	"vigil/store"
)

// logPage is one of the console's event logs: Events, Audit, System log.
// All three share one handler, one template and one table partial.
type logPage struct {
	Path       string
	Title      string
	Categories []string // what the page lists
	Columns    []column
}

// column is one column of a log table: its header and how a cell is made.
type column struct {
	Header string
	Cell   func(e *model.Event) cell
}

// cell is one table cell. Param and Value, when set, make the cell a link
// that filters the page by that value; Badge is the class of a badge
// around the text.
type cell struct {
	Text, Title, Class, Badge string
	Param, Value              string
	Also                      url.Values // more parameters the link sets
	Href                      string     // filled from Param and Value
}

func timeCell(e *model.Event) cell {
	return cell{Text: e.Time.UTC().Format("2006-01-02 15:04:05"), Title: e.Time.Format("2006-01-02T15:04:05.999999999Z07:00"), Class: "time"}
}

func filterCell(param string, get func(e *model.Event) string) func(*model.Event) cell {
	return func(e *model.Event) cell {
		v := get(e)
		return cell{Text: v, Param: param, Value: v}
	}
}

// entityIDCell filters by an event's entity: its id and type, exactly
// (certificate 1 is neither certificate 10 nor job 1).
func entityIDCell(e *model.Event) cell {
	c := cell{Text: e.Entity.ID, Param: "entity_id", Value: e.Entity.ID}
	if e.Entity.Type != "" {
		c.Also = url.Values{"entity_type": {e.Entity.Type}}
	}
	return c
}

// certCell shows an event's certificate by subject (or serial) and
// filters by its serial, exactly; a certificate without serial is not a
// link.
func certCell(e *model.Event) cell {
	c := cell{Text: firstOf(e.Certificate.Subject, e.Certificate.Serial), Title: e.Certificate.Serial}
	if e.Certificate.Serial != "" {
		c.Param, c.Value = "cert_serial", e.Certificate.Serial
	}
	return c
}

// messageCell shows what happened on one line, cut with an ellipsis by the
// stylesheet (td.message); its title holds up to messageTitleLen of it and
// the detail drawer all of it.
func messageCell(e *model.Event) cell {
	m := model.ValidUTF8(e.Message)
	return cell{Text: clip(m, messageTextLen), Title: clip(m, messageTitleLen), Class: "message"}
}

// A message is up to 64 KiB: the table carries what a line and a tooltip
// can show.
const messageTextLen, messageTitleLen = 300, 1000

// clip returns s cut to at most n runes, with an ellipsis when cut.
func clip(s string, n int) string {
	i := 0
	for at := range s {
		if i == n {
			return s[:at] + "…"
		}
		i++
	}
	return s
}

func outcomeCell(e *model.Event) cell {
	return cell{Text: e.Outcome, Param: "outcome", Value: e.Outcome, Badge: "outcome-" + strings.ToLower(e.Outcome)}
}

// sourceCell shows where an event came from: Vigil's own records
// (internal) stand apart from what senders posted or sent over syslog.
func sourceCell(e *model.Event) cell {
	return cell{Text: e.Source, Param: "source", Value: e.Source, Badge: sourceBadge(e.Source)}
}

func sourceBadge(source string) string {
	if source == model.SourceInternal {
		return "source-internal"
	}
	return "source-external"
}

var (
	userCol    = column{"User", filterCell("actor", func(e *model.Event) string { return e.Actor.ID })}
	ipCol      = column{"IP", filterCell("ip", func(e *model.Event) string { return e.Actor.IP })}
	typeCol    = column{"Type", filterCell("type", func(e *model.Event) string { return e.Type })}
	outcomeCol = column{"Outcome", outcomeCell}
	sourceCol  = column{"Source", sourceCell}
	timeCol    = column{"Time (UTC)", timeCell}
	messageCol = column{"Message", messageCell}
)

// logPages are the three event logs, by path.
var logPages = map[string]logPage{
	"/events": {
		Path: "/events", Title: "Events",
		Categories: []string{model.CategoryUsage, model.CategoryAuth, model.CategoryAccessControl},
		Columns: []column{timeCol, userCol, ipCol, typeCol, outcomeCol, messageCol,
			{"Certificate", certCell},
			{"Policy", filterCell("policy", func(e *model.Event) string { return e.Policy })},
			{"Agent", filterCell("agent_id", func(e *model.Event) string { return e.AgentID })},
			sourceCol,
		},
	},
	"/audit": {
		Path: "/audit", Title: "Audit",
		Categories: []string{model.CategoryAuditLog},
		Columns: []column{timeCol,
			{"Action", filterCell("type", func(e *model.Event) string { return e.Type })},
			{"Entity type", filterCell("entity_type", func(e *model.Event) string { return e.Entity.Type })},
			{"Entity id", entityIDCell},
			{"Actor type", filterCell("actor_type", func(e *model.Event) string { return e.Actor.Type })},
			{"Actor id", filterCell("actor", func(e *model.Event) string { return e.Actor.ID })},
			outcomeCol, messageCol, sourceCol,
		},
	},
	"/system": {
		Path: "/system", Title: "System log",
		Categories: []string{model.CategorySystem},
		Columns: []column{timeCol, userCol, ipCol,
			{"Section", func(e *model.Event) cell { return cell{Text: detailString(e, "section")} }},
			{"Information", messageCell}, // the seed's name for the message
			sourceCol,
		},
	},
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// detailString returns the string value of details[key], or "".
func detailString(e *model.Event, key string) string {
	var d map[string]any
	if json.Unmarshal(e.Details, &d) != nil {
		return ""
	}
	s, _ := d[key].(string)
	return s
}

// logView is what the log page template gets.
type logView struct {
	Path, Title   string
	Headers       []string
	Rows          []tableRow
	Filter        filterBar
	ExportURL     string // every event of the filter
	ExportPageURL string // the rows shown (pageExport)
	BundleURL     string // every event of the filter as a bundle that proves itself
	OlderURL      string // next page by cursor, "" when there is none
	NewestURL     string // first page, when this is not it
	NewerURL      string // the page before this one, when this is not the first
	LiveURL       string // newer-rows poll, "" when not on the first page
	CountShown    int
	Start, Limit  int
	Index         indexNotice
}

// indexNotice is the log pages' notice that the full-text index is behind
// the events (store.IndexStatus): shown while a search may miss the
// newest events, kept current by the live poll, gone once it has caught up.
type indexNotice struct {
	Behind   bool
	Lag      int64 // events not yet searchable
	Filtered bool  // the list shown goes through the index, so it may miss them
	OOB      bool  // in a live poll's answer: swapped in out of band
}

// indexBehindParam marks a live poll sent by a page that shows the index
// notice. While the index is behind, every poll answers with the notice
// (its count moves); the first poll after it has caught up takes the
// notice away, even when there are no new rows.
const indexBehindParam = "index_behind"

// tableRow is one event in a log table.
type tableRow struct {
	ID        int64
	DetailURL string
	Severity  string
	Cells     []cell
}

// filterBar is the state of the filter form.
type filterBar struct {
	Q, Type, Outcome, Actor, AgentID, Tenant, From, To string
	IP, CertSerial, Policy                             string
	ActorType, EntityType, EntityID                    string
	Category                                           string
	Categories                                         []string // choices; none when the page has one
	Outcomes                                           []string
	Source                                             string   // as given: one source or a list
	Sources                                            []string // choices, with Source when it is a list
	HideAccessControl, ShowHideAC                      bool
	Start, Limit                                       string
	Active                                             bool   // any filter set
	MoreActive                                         bool   // a filter behind "More filters" is set
	Error                                              string // why the filter was refused
}

// logQuery is a log page's request: the filter as the user gave it, the
// filter as run (restricted to the page and the role), and the query that
// links keep (the user's filter and the page's access-control choice,
// without paging).
type logQuery struct {
	shown, run model.EventFilter
	base       url.Values
	hideACFor  bool // the page lists ACCESS_CONTROL, so the toggle applies
}

// parseLogQuery reads a log page's query string with the API's one filter
// parser and restricts it to what the page lists and the caller may see.
func parseLogQuery(c echo.Context, lp logPage) (logQuery, error) {
	q := c.QueryParams()
	shown, err := model.ParseEventFilter(q)
	if err != nil {
		return logQuery{}, err
	}
	f := shown
	for _, cat := range f.Categories {
		if !slices.Contains(lp.Categories, cat) {
			return logQuery{}, model.Errorf(model.EINVALID, "%s events are not listed on %s; it lists %s", cat, lp.Title, strings.Join(lp.Categories, ", "))
		}
	}
	if len(f.Categories) == 0 {
		f.Categories = lp.Categories
	}
	// Asking for ACCESS_CONTROL by name shows it: the hide toggle applies
	// only when the category is not chosen, and the form leaves it out.
	hideACFor := !slices.Contains(shown.Categories, model.CategoryAccessControl) &&
		slices.Contains(f.Categories, model.CategoryAccessControl)
	if !q.Has("hide_access_control") {
		f.HideAccessControl = true // hidden unless asked for (SPEC §2)
	}
	f.HideAccessControl = f.HideAccessControl && hideACFor
	if f, err = visibleToCaller(c, f); err != nil {
		return logQuery{}, err
	}
	if q.Has("after") && (f.Before > 0 || f.Offset > 0) {
		return logQuery{}, model.Errorf(model.EINVALID, "after (live rows) cannot be combined with before or start")
	}
	base := shown.Query()
	base.Del("hide_access_control")
	if hideACFor {
		base.Set("hide_access_control", boolParam(f.HideAccessControl))
	}
	if v := q.Get("limit"); v != "" {
		base.Set("limit", v)
	}
	return logQuery{shown: shown, run: f, base: base, hideACFor: hideACFor}, nil
}

// eventsPage serves a log page and its live poll for rows newer than
// after=N: one handler for the three logs.
func (s *Server) eventsPage(lp logPage) echo.HandlerFunc {
	return func(c echo.Context) error {
		lq, err := parseLogQuery(c, lp)
		if err != nil {
			return s.badFilterPage(c, lp, err)
		}
		f := lq.run
		page, err := s.store.FindEvents(c.Request().Context(), f)
		if err != nil {
			return s.badFilterPage(c, lp, err)
		}
		events, next, ix := page.Events, page.Next, page.Index
		view := &logView{Path: lp.Path, Title: lp.Title, CountShown: len(events), Start: f.Offset, Limit: f.Limit,
			Index: indexNotice{Behind: ix.Behind, Lag: ix.Lag, Filtered: page.ThroughIndex}}
		for _, col := range lp.Columns {
			view.Headers = append(view.Headers, col.Header)
		}
		for i := range events {
			view.Rows = append(view.Rows, s.tableRow(lp, &events[i], lq.base))
		}
		if f.Before == 0 && f.Offset == 0 {
			after := f.After
			if len(events) > 0 {
				after = events[0].ID
			}
			view.LiveURL = lp.Path + "?" + withParam(lq.base, "after", strconv.FormatInt(after, 10))
			if ix.Behind {
				view.LiveURL += "&" + indexBehindParam + "=1"
			}
		}
		if c.QueryParams().Has("after") {
			// Nothing to change on the page: no new rows and no notice to
			// show, update or take away.
			if len(events) == 0 && !ix.Behind && c.QueryParam(indexBehindParam) != "1" {
				return c.NoContent(http.StatusNoContent)
			}
			view.Index.OOB = true
			return s.render(c, http.StatusOK, "events", "live", &pageData{Section: lp.Path, Page: view})
		}
		if next > 0 {
			view.OlderURL = lp.Path + "?" + withParam(lq.base, "before", strconv.FormatInt(next, 10))
		}
		if f.Before > 0 || f.Offset > 0 {
			view.NewestURL = lp.Path + "?" + lq.base.Encode()
			if view.NewerURL, err = s.newerURL(c, lp, lq); err != nil {
				return err
			}
		}
		view.ExportURL = "/api/v1/events.csv?" + f.Query().Encode()
		view.ExportPageURL = "/api/v1/events.csv?" + pageExport(f, events).Encode()
		bundle := f.Query()
		bundle.Set("format", "bundle")
		view.BundleURL = "/api/v1/events/export?" + bundle.Encode()
		view.Filter = lq.filterBar(c, lp)
		if !isHTMX(c) {
			if err := s.recordSystem(c, "E_SECTION_VISITED", "INFO", "Opened "+lp.Title,
				map[string]any{"filters_used": lq.base.Encode()}); err != nil {
				return err
			}
		}
		return s.render(c, http.StatusOK, "events", "", &pageData{Title: lp.Title, Section: lp.Path, Page: view})
	}
}

// pageExport is the export query of the page of f that shows events:
// pinned below the newest of them (before), so that events arriving
// later do not shift it, with the page's max count.
func pageExport(f model.EventFilter, events []model.Event) url.Values {
	q := f.Query()
	q.Set("scope", exportPage)
	switch {
	case len(events) > 0:
		q.Set("before", strconv.FormatInt(events[0].ID+1, 10))
	case f.Before > 0:
		q.Set("before", strconv.FormatInt(f.Before, 10))
	case f.Offset > 0:
		q.Set("start", strconv.Itoa(f.Offset))
	}
	q.Set("limit", strconv.Itoa(f.Limit))
	return q
}

// newerURL is the link to the page before this one (newer events): a
// start index steps back by a page; a cursor moves to the one whose page
// ends just above it (store.NewerCursor), or to the newest page.
func (s *Server) newerURL(c echo.Context, lp logPage, lq logQuery) (string, error) {
	f := lq.run
	q := url.Values{}
	for k, v := range lq.base {
		q[k] = v
	}
	if f.Offset > 0 {
		if f.Before > 0 {
			q.Set("before", strconv.FormatInt(f.Before, 10))
		}
		if start := f.Offset - f.Limit; start > 0 {
			q.Set("start", strconv.Itoa(start))
		}
		return lp.Path + "?" + q.Encode(), nil
	}
	before, ok, err := s.store.NewerCursor(c.Request().Context(), f)
	if err != nil {
		return "", err
	}
	if ok {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	return lp.Path + "?" + q.Encode(), nil
}

// badFilterPage answers a log page whose filter is malformed (err is
// EINVALID) with the page itself: the message beside the form, the form
// as typed and an empty table, status 400. Other errors, and live polls,
// go to the error handler.
func (s *Server) badFilterPage(c echo.Context, lp logPage, err error) error {
	var me *model.Error
	if !errors.As(err, &me) || me.Code != model.EINVALID || c.QueryParams().Has("after") || isHTMX(c) {
		return err
	}
	view := &logView{Path: lp.Path, Title: lp.Title}
	for _, col := range lp.Columns {
		view.Headers = append(view.Headers, col.Header)
	}
	q := c.QueryParams()
	category := strings.TrimSpace(q.Get("category"))
	fb := filterBar{
		Q: q.Get("q"), Type: q.Get("type"), Outcome: q.Get("outcome"), Actor: q.Get("actor"), AgentID: q.Get("agent_id"),
		Tenant: q.Get("tenant"), IP: q.Get("ip"), CertSerial: q.Get("cert_serial"), Policy: q.Get("policy"),
		ActorType: q.Get("actor_type"), EntityType: q.Get("entity_type"), EntityID: q.Get("entity_id"),
		From: q.Get("from"), To: q.Get("to"), Category: category, Source: q.Get("source"),
		Start: q.Get("start"), Limit: q.Get("limit"), Active: true, Error: me.Message,
		HideAccessControl: !q.Has("hide_access_control") || slices.Contains([]string{"1", "true", "on"}, q.Get("hide_access_control")),
		ShowHideAC:        slices.Contains(lp.Categories, model.CategoryAccessControl) && !strings.EqualFold(category, model.CategoryAccessControl),
	}
	view.Filter = fb.complete(lp)
	return s.render(c, http.StatusBadRequest, "events", "", &pageData{Title: lp.Title, Section: lp.Path, Page: view})
}

// filterBar fills the filter form with the user's filter.
func (lq logQuery) filterBar(c echo.Context, lp logPage) filterBar {
	sh := lq.shown
	fb := filterBar{
		Q: sh.Q, Type: sh.Type, Outcome: sh.Outcome, Actor: sh.Actor, AgentID: sh.AgentID, Tenant: sh.Tenant,
		IP: sh.IP, CertSerial: sh.CertSerial, Policy: sh.Policy,
		ActorType: sh.ActorType, EntityType: sh.EntityType, EntityID: sh.EntityID,
		From: formField(sh.From), To: formField(sh.To), Category: strings.Join(sh.Categories, ","),
		Source: strings.Join(sh.Sources, ","), HideAccessControl: lq.run.HideAccessControl, ShowHideAC: lq.hideACFor,
		Start: c.QueryParam("start"), Limit: c.QueryParam("limit"),
		Active: len(sh.Query()) > 0,
	}
	return fb.complete(lp)
}

// complete adds the form's choices and what "More filters" opens with.
func (fb filterBar) complete(lp logPage) filterBar {
	fb.Outcomes, fb.Sources = model.Outcomes, model.Sources
	if strings.Contains(fb.Source, ",") {
		fb.Sources = append(slices.Clip(fb.Sources), fb.Source)
	}
	fb.MoreActive = fb.Actor != "" || fb.AgentID != "" || fb.Tenant != "" || fb.IP != "" || fb.CertSerial != "" || fb.Policy != "" ||
		fb.ActorType != "" || fb.EntityType != "" || fb.EntityID != "" ||
		fb.From != "" || fb.To != "" || fb.Start != "" || fb.Limit != ""
	if len(lp.Categories) > 1 {
		fb.Categories = lp.Categories
	}
	return fb
}

// tableRow renders one event's cells, each filter link keeping base.
func (s *Server) tableRow(lp logPage, e *model.Event, base url.Values) tableRow {
	r := tableRow{ID: e.ID, DetailURL: "/events/" + strconv.FormatInt(e.ID, 10), Severity: e.Severity}
	for _, col := range lp.Columns {
		cl := col.Cell(e)
		if cl.Param != "" && cl.Text != "" {
			q := base
			if len(cl.Also) > 0 {
				q = url.Values{}
				for _, vs := range []url.Values{base, cl.Also} {
					for k, v := range vs {
						q[k] = v
					}
				}
			}
			cl.Href = lp.Path + "?" + withParam(q, cl.Param, cl.Value)
		}
		r.Cells = append(r.Cells, cl)
	}
	return r
}

// withParam returns base with key set to value, encoded.
func withParam(base url.Values, key, value string) string {
	q := url.Values{}
	for k, v := range base {
		q[k] = v
	}
	q.Set(key, value)
	return q.Encode()
}

// formField formats t for a datetime-local field, in UTC.
func formField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// eventView is an event's full detail.
type eventView struct {
	Event    model.Event
	Fields   []detailField
	Details  string // pretty-printed JSON
	Hash     string
	PrevHash string
	BackURL  string
	// Redaction says when and under which rule retention removed a
	// redacted event's content.
	Redaction *store.Redaction
}

// detailField is one labelled value of an event's detail; Href, when set,
// makes the value a link to its page filtered by it, or with Page, to the
// page of what it names.
type detailField struct {
	Label, Value, Href string
	Page               bool
}

// detailFields are the fields the detail view lists, when set: those of
// model.EventFields with a label, the two ids first.
var detailFields = func() []model.EventField {
	var ids, rest []model.EventField
	for _, f := range model.EventFields {
		switch {
		case f.Label == "":
		case f.Name == "id" || f.Name == "event_id":
			ids = append(ids, f)
		default:
			rest = append(rest, f)
		}
	}
	return append(ids, rest...)
}()

// eventDetail shows one event in full: the drawer's content for htmx, a
// page of its own otherwise.
func (s *Server) eventDetail(c echo.Context) error {
	id, err := pathID(c, "event")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	e, err := s.store.EventByID(ctx, id, model.VisibilityFor(principal(c).User))
	if err != nil {
		return err
	}
	prev, err := s.store.PrevHash(ctx, id)
	if err != nil {
		return err
	}
	v := &eventView{Event: e, Hash: hex.EncodeToString(e.Hash), PrevHash: hex.EncodeToString(prev)}
	if len(e.Details) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, e.Details, "", "  ") == nil {
			v.Details = unescapeHTMLInJSON(buf.String())
		}
	}
	section := "/events"
	switch e.Category {
	case model.CategoryAuditLog:
		section = "/audit"
	case model.CategorySystem:
		section = "/system"
	}
	for _, f := range detailFields {
		val := f.Text(&e)
		if val == "" {
			continue
		}
		if f.Name == "message" {
			val = model.ValidUTF8(val)
		}
		df := detailField{Label: f.Label, Value: val}
		switch f.Name {
		case "source":
			df.Href = section + "?" + url.Values{"source": {e.Source}}.Encode()
		case "entity.id":
			df.Href, df.Page = entityURL(e.Entity), true // the certificate's, endpoint's or job's page
		}
		v.Fields = append(v.Fields, df)
	}
	v.BackURL = section
	if e.Redacted() {
		switch r, err := s.store.RedactionOf(ctx, e); model.ErrorCode(err) {
		case "":
			v.Redaction = &r
		case model.ENOTFOUND, model.EINVALID:
			// Its message still names the record.
		default:
			return err
		}
	}
	return s.render(c, http.StatusOK, "event", "detail", &pageData{
		Title: "Event " + strconv.FormatInt(e.ID, 10), Section: section, Page: v,
	})
}

// unescapeHTMLInJSON turns the \u0026, \u003c and \u003e escapes that
// Go's JSON encoder writes for &, < and > back into the characters, so a
// recorded value (filters_used) reads as it was given; the template still
// escapes them for HTML. An escaped backslash is kept as it is.
func unescapeHTMLInJSON(s string) string {
	if !strings.Contains(s, `\u00`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == 'u' && i+6 <= len(s) {
			switch strings.ToLower(s[i+2 : i+6]) {
			case "0026":
				b.WriteByte('&')
				i += 5
				continue
			case "003c":
				b.WriteByte('<')
				i += 5
				continue
			case "003e":
				b.WriteByte('>')
				i += 5
				continue
			}
		}
		b.WriteString(s[i : i+2])
		i++
	}
	return b.String()
}
