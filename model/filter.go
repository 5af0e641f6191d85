package model

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paging limits of event listings.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// EventFilter selects events. Zero values mean "not set". It is built once
// from a query string by ParseEventFilter and shared by the API, the CSV
// export and the UI.
type EventFilter struct {
	Q                 string   // full-text query
	Categories        []string // any of
	Sources           []string // any of
	Type              string
	Outcome           string
	Actor             string // actor id
	AgentID           string
	Tenant            string
	IP                string    // actor ip, exactly
	CertSerial        string    // certificate serial, exactly
	Policy            string    // exactly
	ActorType         string    // USER, SYSTEM or AGENT
	EntityType        string    // exactly (entity types are upper case)
	EntityID          string    // exactly
	From, To          time.Time // event time, inclusive
	Before            int64     // id < Before (cursor)
	After             int64     // id > After (newer rows for live tables)
	Offset            int       // rows to skip (start index)
	Limit             int
	HideAccessControl bool

	// Visibility restricts the result to what the caller's role may see.
	// It is set by the handlers from the principal, never from the query.
	Visibility Visibility
}

// ParseEventFilter builds a filter from the query parameters of SPEC §4.
// Unknown parameters are ignored (pages add their own); malformed values of
// known ones are an EINVALID error.
func ParseEventFilter(q url.Values) (EventFilter, error) {
	f := EventFilter{
		Q:          strings.TrimSpace(q.Get("q")),
		Type:       strings.TrimSpace(q.Get("type")),
		Outcome:    strings.ToUpper(strings.TrimSpace(q.Get("outcome"))),
		Actor:      strings.TrimSpace(q.Get("actor")),
		AgentID:    strings.TrimSpace(q.Get("agent_id")),
		Tenant:     strings.TrimSpace(q.Get("tenant")),
		IP:         strings.TrimSpace(q.Get("ip")),
		Policy:     strings.TrimSpace(q.Get("policy")),
		CertSerial: strings.TrimSpace(q.Get("cert_serial")),
		EntityType: strings.ToUpper(strings.TrimSpace(q.Get("entity_type"))),
		EntityID:   strings.TrimSpace(q.Get("entity_id")),
		Limit:      DefaultLimit,
	}
	var err error
	if f.ActorType, err = oneOf("actor_type", strings.TrimSpace(q.Get("actor_type")), "", ActorTypes, strings.ToUpper); err != nil {
		return f, &Error{Code: EINVALID, Message: err.Error()}
	}
	if f.Categories, err = parseList(q, "category", Categories, strings.ToUpper); err != nil {
		return f, err
	}
	if f.Sources, err = parseList(q, "source", Sources, strings.ToLower); err != nil {
		return f, err
	}
	// Redacted events can be listed too (outcome REDACTED).
	if f.Outcome != "" && f.Outcome != OutcomeRedacted {
		if _, err := oneOf("outcome", f.Outcome, "", Outcomes, strings.ToUpper); err != nil {
			return f, &Error{Code: EINVALID, Message: err.Error()}
		}
	}
	if f.From, f.To, err = parseTimeRange(q); err != nil {
		return f, err
	}
	if f.Before, err = parseNonNegative(q, "before"); err != nil {
		return f, err
	}
	if f.After, err = parseNonNegative(q, "after"); err != nil {
		return f, err
	}
	off, err := parseNonNegative(q, "start")
	if err != nil {
		return f, err
	}
	f.Offset = int(off)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return f, Errorf(EINVALID, "limit must be between 1 and %d", MaxLimit)
		}
		f.Limit = n
	}
	switch v := q.Get("hide_access_control"); v {
	case "", "0", "false":
	case "1", "true", "on":
		f.HideAccessControl = true
	default:
		return f, Errorf(EINVALID, "hide_access_control must be 1 or 0")
	}
	return f, nil
}

// parseList parses the comma-separated values of parameter name, each
// canonicalized with norm and one of allowed; nil when none is given.
func parseList(q url.Values, name string, allowed []string, norm func(string) string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(q.Get(name), ",") {
		if v = norm(strings.TrimSpace(v)); v == "" {
			continue
		}
		if _, err := oneOf(name, v, "", allowed, norm); err != nil {
			return nil, &Error{Code: EINVALID, Message: err.Error()}
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// parseTimeRange parses the from and to parameters (each optional,
// inclusive) of a listing.
func parseTimeRange(q url.Values) (from, to time.Time, err error) {
	if from, err = parseFilterTime(q, "from"); err != nil {
		return from, to, err
	}
	if to, err = parseFilterTime(q, "to"); err != nil {
		return from, to, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, Errorf(EINVALID, "to is before from")
	}
	return from, to, nil
}

// parseFilterTime parses an RFC3339 time parameter. A time without offset
// (2026-01-02T15:04 or 2026-01-02T15:04:05, what a browser's
// datetime-local field sends) and a bare date (2026-01-02, midnight) are
// taken as UTC.
func parseFilterTime(q url.Values, name string) (time.Time, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, Errorf(EINVALID, "%s: %q is not an RFC3339 time", name, v)
}

func parseNonNegative(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, Errorf(EINVALID, "%s must be a non-negative integer", name)
	}
	return n, nil
}

// CheckVisible returns EFORBIDDEN when f names a category its Visibility
// excludes: a request for what the role may not see is refused, never
// answered with a silently empty result.
func (f EventFilter) CheckVisible() error {
	for _, c := range f.Categories {
		if !f.Visibility.MaySeeCategory(c) {
			return Errorf(EFORBIDDEN, "your role may not see %s events", c)
		}
	}
	return nil
}

// Query returns the filter as query parameters (without paging), the form
// used for export links and recorded in E_REPORT_* events.
func (f EventFilter) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) { setParam(q, k, v) }
	set("q", f.Q)
	set("category", strings.Join(f.Categories, ","))
	set("source", strings.Join(f.Sources, ","))
	set("type", f.Type)
	set("outcome", f.Outcome)
	set("actor", f.Actor)
	set("agent_id", f.AgentID)
	set("tenant", f.Tenant)
	set("ip", f.IP)
	set("cert_serial", f.CertSerial)
	set("policy", f.Policy)
	set("actor_type", f.ActorType)
	set("entity_type", f.EntityType)
	set("entity_id", f.EntityID)
	setTimeParams(q, f.From, f.To)
	if f.HideAccessControl {
		set("hide_access_control", "1")
	}
	return q
}

// setParam sets q's parameter k to v unless v is empty.
func setParam(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// setTimeParams sets q's from and to parameters to the times that are set.
func setTimeParams(q url.Values, from, to time.Time) {
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
}

// String describes the filter for logs and reports.
func (f EventFilter) String() string {
	s := f.Query().Encode()
	if s == "" {
		return "(none)"
	}
	return fmt.Sprint(s)
}
