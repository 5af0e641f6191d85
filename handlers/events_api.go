// The events API: HTTP intake (POST /api/v1/events), the listing, one
// event, and the CSV export. The console's events pages are in events.go.

package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"vigil/ingest"
	"vigil/model"
	"vigil/store"
)

// maxItemErrors bounds the per-item reasons returned for a refused batch.
const maxItemErrors = 100

// postEvents takes one JSON object, a JSON array or NDJSON, and answers 202
// only once the whole batch is durable. A batch with any invalid item is
// refused whole, naming each bad item (400); so is one reusing an event_id
// of its token with different content (409). One of more than
// MaxBatchEvents events is refused whole with 413 as soon as its next event
// is read.
func (s *Server) postEvents(c echo.Context) error {
	req := c.Request()
	body := http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
	mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	now := s.now()
	events, items, err := ingest.DecodeBatch(body, mt == "application/x-ndjson" || mt == "application/jsonl", s.cfg.MaxBatchEvents, now)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, ingest.ErrTooManyEvents):
			s.ingestRejected.WithLabelValues(model.SourceHTTP, "too_many_events").Inc()
			// The rest is read, not decoded, so that a client still
			// sending gets this answer rather than a reset connection.
			io.Copy(io.Discard, body)
			return model.Errorf(model.ETOOLARGE, "request holds more than %d events (--max-batch-events); nothing of it was stored; send smaller batches", s.cfg.MaxBatchEvents)
		case errors.As(err, &mbe):
			s.ingestRejected.WithLabelValues(model.SourceHTTP, "too_large").Inc()
			return model.Errorf(model.ETOOLARGE, "request body exceeds %d bytes; send smaller batches", s.cfg.MaxBodyBytes)
		}
		return model.Errorf(model.EINVALID, "reading request body: %v", err)
	}
	s.ingestReceived.WithLabelValues(model.SourceHTTP).Add(float64(len(events) + len(items)))
	if len(items) > 0 {
		s.ingestRejected.WithLabelValues(model.SourceHTTP, "invalid").Add(float64(len(items)))
		msg := fmt.Sprintf("%d invalid item(s); nothing of this batch was stored", len(items))
		if len(items) > maxItemErrors {
			items = items[:maxItemErrors]
		}
		return &model.Error{Code: model.EINVALID, Message: msg, Items: items}
	}
	if len(events) == 0 {
		return model.Errorf(model.EINVALID, "no events in request body")
	}
	if err := principal(c).BindEvents(events); err != nil {
		return err
	}
	// The token scopes event_id: its retries are de-duplicated, another
	// sender's events never are.
	sender := ""
	if p := principal(c); p.TokenID != 0 {
		sender = model.TokenSender(p.TokenID)
	}
	for i := range events {
		events[i].Source = model.SourceHTTP
		events[i].Sender = sender
	}
	res, err := s.store.AppendEvents(req.Context(), events)
	if err != nil {
		var me *model.Error
		if errors.As(err, &me) && me.Code == model.ECONFLICT {
			s.ingestRejected.WithLabelValues(model.SourceHTTP, "conflict").Add(float64(len(me.Items)))
		}
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int{"accepted": res.Accepted, "duplicates": res.Duplicates})
}

// eventFilter parses the request's filter and restricts it to what the
// caller's role may see.
func eventFilter(c echo.Context) (model.EventFilter, error) {
	f, err := model.ParseEventFilter(c.QueryParams())
	if err != nil {
		return f, err
	}
	return visibleToCaller(c, f)
}

// visibleToCaller restricts f to what the caller's role may see and refuses
// (EFORBIDDEN) a filter naming a category the role may not see. This is the
// one place that check runs, for the API, the CSV export and the log pages,
// and it runs here rather than in the store because it must come before a
// handler answers anything: an export records E_REPORT_REQUESTED and sends
// 200 before its first row. The store applies f.Visibility in SQL to every
// read, so a filter that skipped the check could only come back short,
// never show more.
func visibleToCaller(c echo.Context, f model.EventFilter) (model.EventFilter, error) {
	f.Visibility = model.VisibilityFor(principal(c).User)
	return f, f.CheckVisible()
}

func (s *Server) listEvents(c echo.Context) error {
	f, err := eventFilter(c)
	if err != nil {
		return err
	}
	page, err := s.store.FindEvents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	var cursor *string
	if page.Next > 0 {
		v := strconv.FormatInt(page.Next, 10)
		cursor = &v
	}
	// index_lag: how many of the newest events the listing may miss.
	return c.JSON(http.StatusOK, struct {
		Events   []model.Event `json:"events"`
		Next     *string       `json:"next"`
		IndexLag int64         `json:"index_lag"`
	}{page.Events, cursor, page.MayMiss()})
}

func (s *Server) getEvent(c echo.Context) error {
	id, err := pathID(c, "event")
	if err != nil {
		return err
	}
	e, err := s.store.EventByID(c.Request().Context(), id, model.VisibilityFor(principal(c).User))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, e)
}

// csvHeader is the header row of an events export: a column for each of
// model.EventFields, in its order.
var csvHeader = func() []string {
	h := make([]string, len(model.EventFields))
	for i, f := range model.EventFields {
		h[i] = f.CSV
	}
	return h
}()

func csvRecord(e *model.Event, rec []string) []string {
	rec = rec[:0]
	for _, f := range model.EventFields {
		rec = append(rec, neutralizeFormula(f.Text(e)))
	}
	return rec
}

// appendCSV appends one RFC 4180 record ending in CRLF. Every field is
// quoted, with its quotes doubled, so that a separator of any locale inside
// a value (a ';' where spreadsheets split on ';') never starts a second
// cell; its bytes are otherwise kept exactly (encoding/csv would rewrite a
// lone CR).
func appendCSV(b []byte, rec []string) []byte {
	for i, f := range rec {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for {
			j := strings.IndexByte(f, '"')
			if j < 0 {
				break
			}
			b = append(b, f[:j+1]...)
			b = append(b, '"')
			f = f[j+1:]
		}
		b = append(b, f...)
		b = append(b, '"')
	}
	return append(b, '\r', '\n')
}

// neutralizeFormula keeps a spreadsheet from reading a cell as a formula:
// a cell starting with tab or CR, or with = + - @ after any leading
// whitespace, gets a leading apostrophe.
func neutralizeFormula(v string) string {
	if v == "" {
		return v
	}
	t := strings.TrimLeftFunc(v, unicode.IsSpace)
	if v[0] == '\t' || v[0] == '\r' || (t != "" && strings.ContainsRune("=+-@", rune(t[0]))) {
		return "'" + v
	}
	return v
}

// Export scopes (the scope parameter of the export): the page shown,
// by its start index or cursor and its max count, or every event of the
// filter (the default).
const (
	exportPage = "page"
	exportAll  = "all"
)

// Export formats (the format parameter of the export): CSV, the default,
// or a bundle that proves itself off the box (store.Bundle).
const (
	formatCSV    = "csv"
	formatBundle = "bundle"
)

// exportEvents writes the events of the filter (scope=all) or of one
// page of it (scope=page) as CSV, row by row, or as a bundle
// (format=bundle), says which scope in the Vigil-Export-Scope header and
// the file name, and records the export as SYSTEM events
// E_REPORT_REQUESTED and E_REPORT_GENERATED.
func (s *Server) exportEvents(c echo.Context) error {
	f, err := eventFilter(c)
	if err != nil {
		return err
	}
	scope := c.QueryParam("scope")
	switch scope {
	case "":
		scope = exportAll
	case exportAll, exportPage:
	default:
		return model.Errorf(model.EINVALID, "scope must be page or all, not %q", scope)
	}
	format, err := s.exportFormat(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	filters := f.Query().Encode()
	report := func(more map[string]any) map[string]any {
		d := map[string]any{"filters_used": filters, "format": format, "scope": scope, "username": principal(c).User.Name}
		if scope == exportPage {
			d["start"], d["limit"] = f.Offset, f.Limit
			if f.Before > 0 {
				d["before"] = f.Before
			}
		}
		for k, v := range more {
			d[k] = v
		}
		return d
	}
	if err := s.recordSystem(c, model.TypeReportRequested, "SUCCESS", "Events export requested", report(nil)); err != nil {
		return err
	}
	var page []model.Event
	if scope == exportPage {
		found, err := s.store.FindEvents(ctx, f)
		if err != nil {
			return err
		}
		page = found.Events
	}
	// An export may outlast the server's write timeout.
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Time{})
	var n int
	if format == formatBundle {
		n, err = s.writeBundle(c, f, scope, filters, page)
	} else {
		n, err = s.writeCSV(c, f, scope, page)
	}
	outcome := "SUCCESS"
	if err != nil {
		outcome = "FAILURE"
		s.log.Warn("export ended early", "request_id", requestID(c), "format", format, "rows", n, "err", err)
	}
	if rerr := s.recordSystem(c, model.TypeReportGenerated, outcome, fmt.Sprintf("Events export of %d records", n),
		report(map[string]any{"number_of_records": n})); rerr != nil {
		s.log.Error("recording export", "request_id", requestID(c), "err", rerr)
	}
	if !c.Response().Committed {
		// It failed before its first byte: the caller gets the error.
		return err
	}
	return nil
}

// exportFormat returns the export's format parameter, checked: a bundle
// comes from /api/v1/events/export and needs the checkpoint key.
func (s *Server) exportFormat(c echo.Context) (string, error) {
	switch format := c.QueryParam("format"); format {
	case "", formatCSV:
		return formatCSV, nil
	case formatBundle:
		if strings.HasSuffix(c.Path(), ".csv") {
			return "", model.Errorf(model.EINVALID, "a bundle is exported from /api/v1/events/export?format=bundle")
		}
		if s.cfg.CheckpointKey == nil {
			return "", model.Errorf(model.EUNAVAILABLE, "no checkpoint key is configured: a bundle needs a signed checkpoint")
		}
		return formatBundle, nil
	default:
		return "", model.Errorf(model.EINVALID, "format must be csv or bundle, not %q", format)
	}
}

// exportHeaders sets the headers of an export's answer, whose file name
// ends in ext.
func (s *Server) exportHeaders(c echo.Context, scope, contentType, ext string) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType)
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="vigil-events-%s-%s.%s"`, scope, s.now().UTC().Format("20060102T150405Z"), ext))
	h.Set("Vigil-Export-Scope", scope)
}

// writeCSV streams the export as CSV and returns the rows written.
func (s *Server) writeCSV(c echo.Context, f model.EventFilter, scope string, page []model.Event) (int, error) {
	s.exportHeaders(c, scope, "text/csv; charset=utf-8", "csv")
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(c.Response(), 64<<10)
	line := appendCSV(nil, csvHeader)
	w.Write(line)
	var rec []string
	write := func(e *model.Event) error {
		rec = csvRecord(e, rec)
		line = appendCSV(line[:0], rec)
		_, err := w.Write(line)
		return err
	}
	var n int
	var err error
	if scope == exportPage {
		for i := range page {
			if err = write(&page[i]); err != nil {
				break
			}
			n++
		}
	} else {
		n, err = s.store.ExportEvents(c.Request().Context(), f, write)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return n, err
}

// writeBundle writes the export as a bundle (store.WriteBundle) against a
// checkpoint that covers its newest event, and returns the events written.
func (s *Server) writeBundle(c echo.Context, f model.EventFilter, scope, filters string, page []model.Event) (int, error) {
	ctx := c.Request().Context()
	var ids []int64
	var newest int64
	if scope == exportPage {
		ids = make([]int64, 0, len(page))
		for _, e := range page {
			ids = append(ids, e.ID)
			newest = max(newest, e.ID)
		}
	} else {
		first := f
		first.Offset, first.Limit = 0, 1
		found, err := s.store.FindEvents(ctx, first)
		if err != nil {
			return 0, err
		}
		if len(found.Events) > 0 {
			newest = found.Events[0].ID
		}
	}
	cp, err := s.bundleCheckpoint(c, newest)
	if err != nil {
		return 0, err
	}
	s.exportHeaders(c, scope, echo.MIMEApplicationJSON, "bundle.json")
	c.Response().WriteHeader(http.StatusOK)
	return s.store.WriteBundle(ctx, c.Response(), store.BundleRequest{
		BundleHeader: store.BundleHeader{CreatedAt: s.now().UTC().Format(time.RFC3339), Scope: scope, Filters: filters},
		Signed:       cp, Filter: f, IDs: ids,
	})
}

// bundleCheckpoint returns the newest checkpoint when it covers event
// newest and this appliance's key signed it, else signs one for the caller.
func (s *Server) bundleCheckpoint(c echo.Context, newest int64) (store.StoredCheckpoint, error) {
	cp, err := s.store.LatestCheckpoint(c.Request().Context())
	switch {
	case err == nil && cp.Size >= uint64(newest):
		if _, err := model.OpenCheckpoint([]byte(cp.Note), s.cfg.CheckpointKey.PublicKey()); err == nil {
			return cp, nil
		}
	case err != nil && model.ErrorCode(err) != model.ENOTFOUND:
		return store.StoredCheckpoint{}, err
	}
	return s.signAuditedCheckpoint(c)
}
