package model

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Alert severities (SPEC §6), most severe first.
const (
	SeverityError = "ERROR"
	SeverityWarn  = "WARN"
	SeverityInfo  = "INFO"
)

// AlertSeverities lists every alert severity, most severe first.
var AlertSeverities = []string{SeverityError, SeverityWarn, SeverityInfo}

// Alert types raised by Vigil's checks and job results.
const (
	AlertExpiringSoon     = "EXPIRING_SOON"
	AlertExpired          = "EXPIRED"
	AlertRenewalFailed    = "RENEWAL_FAILED"
	AlertAgentOffline     = "AGENT_OFFLINE"
	AlertDeploymentFailed = "DEPLOYMENT_FAILED"
	AlertJobStuck         = "JOB_STUCK"
	AlertJobUnclaimed     = "JOB_UNCLAIMED"
	// AlertTimestampFailed: the time-stamping authority (--tsa-url) did
	// not stamp a checkpoint, which was stored without a trusted time.
	AlertTimestampFailed = "TIMESTAMP_FAILED"
	// AlertIntegrityFailed: the scheduled verification (--cron-verify)
	// found the event log changed; it names the first bad id.
	AlertIntegrityFailed = "INTEGRITY_FAILED"
)

// Webhook delivery states of an alert.
const (
	DeliveryNone      = "none"      // not handed to a webhook (none configured)
	DeliveryHeld      = "held"      // not sent while the renewal it names is on its way
	DeliveryPending   = "pending"   // queued or being retried
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // every attempt failed
)

// Alert is a risk or failure an operator should look at: a certificate
// nearing expiry, an agent gone quiet, a failed renewal or deployment.
type Alert struct {
	ID       int64  `json:"id"`
	Severity string `json:"severity"`
	Type     string `json:"type"`
	Title    string `json:"title"`
	Message  string `json:"message"`
	Entity   Entity `json:"entity"`
	// Key identifies the condition: while an alert with the same key is
	// open, raising it again does nothing.
	Key        string     `json:"key"`
	CreatedAt  time.Time  `json:"created_at"`
	Read       bool       `json:"read"`
	ReadAt     *time.Time `json:"read_at,omitempty"`
	ReadBy     string     `json:"read_by,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Delivery   Delivery   `json:"delivery"`
	// Reminders counts the times the alert was sent again because it was
	// still unread and open (RemindableTypes); RemindedAt is the last.
	Reminders  int        `json:"reminders"`
	RemindedAt *time.Time `json:"reminded_at,omitempty"`
}

// Delivery is the state of an alert's webhook notification.
type Delivery struct {
	Status   string     `json:"status"`
	Attempts int        `json:"attempts"`
	Error    string     `json:"error,omitempty"`
	At       *time.Time `json:"at,omitempty"`
	// HeldForJob is the renewal job a held alert waits for: it is sent
	// when that job fails or is overdue, never if the renewal replaces the
	// certificate first.
	HeldForJob int64 `json:"held_for_job,omitempty"`
}

// RemindableTypes are the alerts about an expired or failing certificate:
// while one is unread and open at ERROR it is sent again every
// --remind-every.
var RemindableTypes = []string{AlertExpired, AlertRenewalFailed, AlertDeploymentFailed}

// Open reports whether the condition behind the alert still holds.
func (a Alert) Open() bool { return a.ResolvedAt == nil }

// Validate checks an alert before it is stored.
func (a *Alert) Validate() error {
	if !slices.Contains(AlertSeverities, a.Severity) {
		return Errorf(EINVALID, "alert severity %q is not one of ERROR, WARN, INFO", a.Severity)
	}
	if !isName(a.Type, 64) {
		return Errorf(EINVALID, "alert type %q must be 1-64 letters, digits or _ . : -", a.Type)
	}
	if a.Title == "" || len(a.Title) > MaxFieldLen {
		return Errorf(EINVALID, "alert title must be 1-%d bytes", MaxFieldLen)
	}
	if a.Key == "" || len(a.Key) > MaxFieldLen {
		return Errorf(EINVALID, "alert key must be 1-%d bytes", MaxFieldLen)
	}
	if len(a.Message) > MaxMessageLen {
		return Errorf(EINVALID, "alert message longer than %d bytes", MaxMessageLen)
	}
	return nil
}

// AlertFilter selects alerts; zero values mean "not set".
type AlertFilter struct {
	Unread   bool
	Open     bool // only alerts whose condition still holds
	Severity string
	Type     string
	From, To time.Time // created between, inclusive, to the second
	Before   int64     // id < Before (cursor)
	Limit    int
	// EntityType and EntityID, when set, select the alerts about that
	// entity (CERTIFICATE 3, ENDPOINT 1, AGENT edge-2).
	EntityType, EntityID string
}

// ParseAlertFilter builds an alert filter from query parameters
// (unread, open, severity, type, from, to, before, limit, entity_type,
// entity_id).
func ParseAlertFilter(q url.Values) (AlertFilter, error) {
	get := q.Get
	var f AlertFilter
	var err error
	if f.Unread, err = parseFlagParam("unread", get("unread")); err != nil {
		return f, err
	}
	if f.Open, err = parseFlagParam("open", get("open")); err != nil {
		return f, err
	}
	if v := get("severity"); v != "" {
		if f.Severity, err = oneOf("severity", v, "", AlertSeverities, upper); err != nil {
			return f, Errorf(EINVALID, "%v", err)
		}
	}
	f.Type = upper(get("type"))
	f.EntityType, f.EntityID = upper(get("entity_type")), strings.TrimSpace(get("entity_id"))
	if f.From, f.To, err = parseTimeRange(q); err != nil {
		return f, err
	}
	if f.Before, err = parseNonNegative(q, "before"); err != nil {
		return f, err
	}
	f.Limit, err = parseLimitParam(q)
	return f, err
}

// Query returns the filter as query parameters (without paging), the form
// recorded in audit events.
func (f AlertFilter) Query() url.Values {
	q := url.Values{}
	if f.Unread {
		q.Set("unread", "1")
	}
	if f.Open {
		q.Set("open", "1")
	}
	setParam(q, "severity", f.Severity)
	setParam(q, "type", f.Type)
	setParam(q, "entity_type", f.EntityType)
	setParam(q, "entity_id", f.EntityID)
	setTimeParams(q, f.From, f.To)
	return q
}

// parseFlagParam parses a boolean query parameter: 1/true/on or 0/false/"".
func parseFlagParam(name, v string) (bool, error) {
	switch v {
	case "", "0", "false", "off":
		return false, nil
	case "1", "true", "on":
		return true, nil
	}
	return false, Errorf(EINVALID, "%s must be 1 or 0", name)
}

// parseLimitParam parses the limit parameter of a listing.
func parseLimitParam(q url.Values) (int, error) {
	if q.Get("limit") == "" {
		return DefaultLimit, nil
	}
	n, err := parseNonNegative(q, "limit")
	if err != nil || n < 1 || n > MaxLimit {
		return 0, Errorf(EINVALID, "limit must be between 1 and %d", MaxLimit)
	}
	return int(n), nil
}
