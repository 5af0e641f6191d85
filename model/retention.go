package model

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// RetentionRule keeps the events it matches for Keep after they were
// received (0: forever). A rule names a category, a tenant, both, or
// neither (the default rule, --retention). The most specific rule that
// matches an event decides, the one that keeps longer of equals (RuleRank).
type RetentionRule struct {
	ID        int64         // 0 for the rules the flags set
	Category  string        // "" any
	Tenant    string        // "" any
	Keep      time.Duration // 0: forever
	Flag      string        // the flag that sets it (--retention, --retention-audit); "" for rules set in Settings
	CreatedBy string
	CreatedAt time.Time
}

// RuleRank says how specific a rule naming ruleCategory and ruleTenant
// ("" any) is for an event of category and tenant: -1 when it does not
// match; otherwise 2 for category and tenant, 1 for a category or a tenant,
// 0 for the default rule. The matching rule of highest rank decides; of a
// category's rule and a tenant's, the one that keeps longer: evidence is
// never removed earlier than a rule that matches it promises, unless a rule
// naming both says so.
func RuleRank(ruleCategory, ruleTenant, category, tenant string) int {
	if (ruleCategory != "" && ruleCategory != category) || (ruleTenant != "" && ruleTenant != tenant) {
		return -1
	}
	rank := 0
	if ruleTenant != "" {
		rank++
	}
	if ruleCategory != "" {
		rank++
	}
	return rank
}

// Validate checks a rule set in Settings or through the API. The default
// rule and the AUDIT_LOG rule belong to the flags --retention and
// --retention-audit.
func (r RetentionRule) Validate() error {
	switch {
	case r.Category != "" && !slices.Contains(Categories, r.Category):
		return Errorf(EINVALID, "category %q is not one of %s", r.Category, strings.Join(Categories, ", "))
	case len(r.Tenant) > 200:
		return Errorf(EINVALID, "tenant is longer than 200 bytes")
	case r.Keep < 0:
		return Errorf(EINVALID, "keep must not be negative")
	case r.Tenant == "" && r.Category == "":
		return Errorf(EINVALID, "a rule names a category, a tenant or both; the default rule is set with --retention")
	case r.Tenant == "" && r.Category == CategoryAuditLog:
		return Errorf(EINVALID, "the AUDIT_LOG rule is set with --retention-audit")
	}
	return nil
}

// Describe says which events the rule is about, e.g. "ACCESS_CONTROL
// events of tenant acme".
func (r RetentionRule) Describe() string { return DescribeRuleScope(r.Category, r.Tenant) }

// DescribeRuleScope says which events a rule naming category and tenant
// ("" any) is about.
func DescribeRuleScope(category, tenant string) string {
	s := "events"
	if category != "" {
		s = category + " events"
	}
	switch {
	case tenant != "":
		s += " of tenant " + tenant
	case category == "":
		s = "all other events"
	}
	return s
}

// KeepText is Keep as a person reads it: "90d", or "forever".
func (r RetentionRule) KeepText() string {
	if r.Keep == 0 {
		return "forever"
	}
	return FormatDays(r.Keep)
}

// ParseRetentionRule reads a rule as the API and the console take it: a
// category and a tenant ("" any) and how long to keep ("90d", "12h"; "0"
// or "forever": forever).
func ParseRetentionRule(category, tenant, keep string) (RetentionRule, error) {
	r := RetentionRule{Category: strings.ToUpper(strings.TrimSpace(category)), Tenant: strings.TrimSpace(tenant)}
	switch keep = strings.TrimSpace(keep); keep {
	case "":
		return r, Errorf(EINVALID, "keep is required: a duration such as 90d, or forever")
	case "forever":
	default:
		d, err := ParseDays(keep)
		if err != nil {
			return r, err
		}
		r.Keep = d
	}
	return r, r.Validate()
}

// LegalHold keeps events from retention: those of Tenant, those received
// in [From, To], or those of Tenant received in [From, To]. Retention never
// removes or redacts a held event.
type LegalHold struct {
	ID        int64     `json:"id"`
	Tenant    string    `json:"tenant,omitempty"`
	From      time.Time `json:"received_from,omitzero"`
	To        time.Time `json:"received_to,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// ParseLegalHold reads a hold as the API and the console take it: a
// tenant, a time range (RFC 3339; a time without offset or a date is UTC)
// or both, and a reason.
func ParseLegalHold(tenant, from, to, reason string) (LegalHold, error) {
	h := LegalHold{Tenant: strings.TrimSpace(tenant), Reason: strings.TrimSpace(reason)}
	q := url.Values{"received_from": {from}, "received_to": {to}}
	var err error
	if h.From, err = parseFilterTime(q, "received_from"); err != nil {
		return h, err
	}
	if h.To, err = parseFilterTime(q, "received_to"); err != nil {
		return h, err
	}
	return h, h.Validate()
}

// Validate checks a hold before it is placed.
func (h LegalHold) Validate() error {
	switch {
	case h.Tenant == "" && h.From.IsZero() && h.To.IsZero():
		return Errorf(EINVALID, "a legal hold names a tenant, a time range (received_from and received_to) or both")
	case h.From.IsZero() != h.To.IsZero():
		return Errorf(EINVALID, "a legal hold's time range needs both received_from and received_to")
	case h.To.Before(h.From):
		return Errorf(EINVALID, "received_to is before received_from")
	case len(h.Tenant) > 200:
		return Errorf(EINVALID, "tenant is longer than 200 bytes")
	case len(h.Reason) > 1000:
		return Errorf(EINVALID, "reason is longer than 1000 bytes")
	}
	return nil
}

// Describe says what the hold keeps, e.g. "tenant acme, received
// 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z".
func (h LegalHold) Describe() string {
	var parts []string
	if h.Tenant != "" {
		parts = append(parts, "tenant "+h.Tenant)
	}
	if !h.From.IsZero() {
		parts = append(parts, "received "+h.From.UTC().Format(time.RFC3339)+" to "+h.To.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}
