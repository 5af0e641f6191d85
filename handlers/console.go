package handlers

import (
	"strings"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// consoleEvent builds an event of console activity by user, from the
// request's address. SYSTEM events carry the console section in details.
func (s *Server) consoleEvent(c echo.Context, category, user, typ, outcome, msg string, details map[string]any) (model.Event, error) {
	if details == nil {
		details = map[string]any{}
	}
	if _, ok := details["section"]; !ok && category == model.CategorySystem {
		details["section"] = sectionOf(c.Request().URL.Path)
	}
	return model.NewConsoleEvent(s.now(), category, typ, outcome, model.ConsoleActor(user, c.RealIP()), msg, details)
}

// recordSystem appends a SYSTEM event for the caller's console activity.
func (s *Server) recordSystem(c echo.Context, typ, outcome, msg string, details map[string]any) error {
	e, err := s.consoleEvent(c, model.CategorySystem, principal(c).User.Name, typ, outcome, msg, details)
	if err != nil {
		return err
	}
	_, err = s.store.AppendEvents(c.Request().Context(), []model.Event{e})
	return err
}

// consoleChange returns the events that record an administrative change
// made in the console: its AUDIT_LOG event and its SYSTEM entry. The store
// commits them with the change.
func (s *Server) consoleChange(c echo.Context, typ string, entity model.Entity, msg string, details map[string]any) ([]model.Event, error) {
	audit, err := s.consoleEvent(c, model.CategoryAuditLog, principal(c).User.Name, typ, "SUCCESS", msg, details)
	if err != nil {
		return nil, err
	}
	audit.Entity = entity
	return s.withSystem(c, audit, "settings")
}

// recordWithSystem appends e together with its SYSTEM entry for the
// console's section, as one batch.
func (s *Server) recordWithSystem(c echo.Context, e model.Event, section string) error {
	events, err := s.withSystem(c, e, section)
	if err != nil {
		return err
	}
	_, err = s.store.AppendEvents(c.Request().Context(), events)
	return err
}

// withSystem returns e and its SYSTEM entry for the console's section.
func (s *Server) withSystem(c echo.Context, e model.Event, section string) ([]model.Event, error) {
	sys, err := s.consoleEvent(c, model.CategorySystem, e.Actor.ID, e.Type, e.Outcome, e.Message, map[string]any{"section": section})
	if err != nil {
		return nil, err
	}
	return []model.Event{e, sys}, nil
}

// sectionOf names the console section of a request path.
func sectionOf(p string) string {
	switch {
	case p == "/":
		return "dashboard"
	case strings.HasPrefix(p, "/api/v1/events.csv"), p == "/api/v1/events/export":
		return "export"
	case strings.HasPrefix(p, "/api/"):
		return "api"
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return first
}
