package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// Retention rules and legal holds: an admin's, through the API (a session
// or a token of scope manage) or the Settings page. The store records each
// change as an AUDIT_LOG event of the caller.

// ruleRow is a rule in force, with what it kept at the last retention run:
// one row of the Settings table and of GET /api/v1/retention/rules.
type ruleRow struct {
	ID        int64      `json:"id,omitempty"`
	Category  string     `json:"category,omitempty"`
	Tenant    string     `json:"tenant,omitempty"`
	Keep      string     `json:"keep"`
	Applies   string     `json:"applies_to"`
	Flag      string     `json:"flag,omitempty"` // set by this flag; "" when set in Settings
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// KeptEvents and KeptBytes (roughly) are what the rule kept at the
	// last retention run (CountedAt); nil until a run has counted them.
	KeptEvents *int64     `json:"kept_events,omitempty"`
	KeptBytes  *int64     `json:"kept_bytes,omitempty"`
	CountedAt  *time.Time `json:"counted_at,omitempty"`
}

func newRuleRow(r model.RetentionRule) ruleRow {
	row := ruleRow{ID: r.ID, Category: r.Category, Tenant: r.Tenant, Keep: r.KeepText(), Applies: r.Describe(), Flag: r.Flag, CreatedBy: r.CreatedBy}
	if !r.CreatedAt.IsZero() {
		row.CreatedAt = &r.CreatedAt
	}
	return row
}

// retentionRules returns every rule in force with its figures.
func (s *Server) retentionRules(ctx context.Context) ([]ruleRow, error) {
	rules, err := s.store.RulesInForce(ctx, s.cfg.Retention, s.cfg.RetentionAudit)
	if err != nil {
		return nil, err
	}
	usage, err := s.store.RetentionUsage(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]ruleRow, len(rules))
	for i, r := range rules {
		rows[i] = newRuleRow(r)
		for _, u := range usage {
			if u.Category == r.Category && u.Tenant == r.Tenant {
				rows[i].KeptEvents, rows[i].KeptBytes, rows[i].CountedAt = &u.Events, &u.Bytes, &u.CountedAt
			}
		}
	}
	return rows, nil
}

// listRetentionRules answers GET /api/v1/retention/rules.
func (s *Server) listRetentionRules(c echo.Context) error {
	rows, err := s.retentionRules(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Rules []ruleRow `json:"rules"`
	}{rows})
}

// setRetentionRule answers POST /api/v1/retention/rules: it adds the rule,
// or changes how long the rule of the same category and tenant keeps.
func (s *Server) setRetentionRule(c echo.Context) error {
	var in struct {
		Category string `json:"category"`
		Tenant   string `json:"tenant"`
		Keep     string `json:"keep"`
	}
	if err := decodeJSON(c, &in, false); err != nil {
		return err
	}
	r, err := model.ParseRetentionRule(in.Category, in.Tenant, in.Keep)
	if err != nil {
		return err
	}
	if r, err = s.store.SetRetentionRule(c.Request().Context(), r, s.actor(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newRuleRow(r))
}

// deleteRetentionRule answers DELETE /api/v1/retention/rules/{id}.
func (s *Server) deleteRetentionRule(c echo.Context) error {
	id, err := pathID(c, "rule")
	if err != nil {
		return err
	}
	r, err := s.store.DeleteRetentionRule(c.Request().Context(), id, s.actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newRuleRow(r))
}

// listLegalHolds answers GET /api/v1/retention/holds.
func (s *Server) listLegalHolds(c echo.Context) error {
	holds, err := s.store.LegalHolds(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Holds []model.LegalHold `json:"holds"`
	}{holds})
}

// placeLegalHold answers POST /api/v1/retention/holds.
func (s *Server) placeLegalHold(c echo.Context) error {
	var in struct {
		Tenant string `json:"tenant"`
		From   string `json:"received_from"`
		To     string `json:"received_to"`
		Reason string `json:"reason"`
	}
	if err := decodeJSON(c, &in, false); err != nil {
		return err
	}
	h, err := model.ParseLegalHold(in.Tenant, in.From, in.To, in.Reason)
	if err != nil {
		return err
	}
	if h, err = s.store.PlaceLegalHold(c.Request().Context(), h, s.actor(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h)
}

// releaseLegalHold answers DELETE /api/v1/retention/holds/{id}.
func (s *Server) releaseLegalHold(c echo.Context) error {
	id, err := pathID(c, "legal hold")
	if err != nil {
		return err
	}
	h, err := s.store.ReleaseLegalHold(c.Request().Context(), id, s.actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h)
}

// The same changes from the Settings page.

func (s *Server) consoleSetRetentionRule(c echo.Context) error {
	r, err := model.ParseRetentionRule(c.FormValue("category"), c.FormValue("tenant"), c.FormValue("keep"))
	if err == nil {
		_, err = s.store.SetRetentionRule(c.Request().Context(), r, s.actor(c))
	}
	return s.settingsChanged(c, err, "rule_set")
}

func (s *Server) consoleDeleteRetentionRule(c echo.Context) error {
	id, err := pathID(c, "rule")
	if err == nil {
		_, err = s.store.DeleteRetentionRule(c.Request().Context(), id, s.actor(c))
	}
	return s.settingsChanged(c, err, "rule_deleted")
}

func (s *Server) consolePlaceLegalHold(c echo.Context) error {
	h, err := model.ParseLegalHold(c.FormValue("tenant"), c.FormValue("received_from"), c.FormValue("received_to"), c.FormValue("reason"))
	if err == nil {
		_, err = s.store.PlaceLegalHold(c.Request().Context(), h, s.actor(c))
	}
	return s.settingsChanged(c, err, "hold_placed")
}

func (s *Server) consoleReleaseLegalHold(c echo.Context) error {
	id, err := pathID(c, "legal hold")
	if err == nil {
		_, err = s.store.ReleaseLegalHold(c.Request().Context(), id, s.actor(c))
	}
	return s.settingsChanged(c, err, "hold_released")
}

// retentionView is the retention part of the Settings page.
type retentionView struct {
	Rules      []ruleRow
	Holds      []model.LegalHold
	Categories []string
}

func (s *Server) retentionSettings(ctx context.Context) (retentionView, error) {
	rules, err := s.retentionRules(ctx)
	if err != nil {
		return retentionView{}, err
	}
	holds, err := s.store.LegalHolds(ctx)
	return retentionView{Rules: rules, Holds: holds, Categories: model.Categories}, err
}
