// Package model holds Vigil's domain types and their validation rules. It
// knows nothing of SQL, HTTP or templates.
package model

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the handlers' error handler.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EGONE         = "gone" // was here and was removed on purpose (retention)
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ETOOLARGE     = "too_large"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// Error is Vigil's application error: a code, a message safe to show to the
// caller and, for batch validation, the reason each bad item was refused.
type Error struct {
	Code    string
	Message string
	Items   []ItemError
}

// ItemError names one refused item of a batch by its index.
type ItemError struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// FieldError is a refused value of one event field, safe to show to the
// sender: Field names it as in the JSON and in EventFields ("actor.ip"),
// Reason says why. Intake that can salvage an event (syslog) finds the
// field here, never in the error's text.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// fieldErrorf returns a *FieldError of field with a formatted reason.
func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
