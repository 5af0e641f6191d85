package handlers

import (
	"encoding/json"

	"github.com/labstack/echo/v4"
)

// jsonSerializer is echo's JSON serializer without HTML escaping: the API
// answers application/json, never HTML, and an event's details must come
// out byte for byte as stored, the bytes its chain hash covers
// (docs/verification.md).
type jsonSerializer struct{ echo.DefaultJSONSerializer }

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}
