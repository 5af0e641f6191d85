package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// JSONReason says, for a person, why encoding/json refused a document:
// from the error's type where it has one, else its own words.
func JSONReason(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of the body"
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s (at byte %d)", syntax, syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %s: a JSON %s cannot be a %s", typ.Field, typ.Value, typ.Type)
	case errors.As(err, &typ):
		return fmt.Sprintf("a JSON %s cannot be a %s", typ.Value, typ.Type)
	}
	return err.Error()
}
