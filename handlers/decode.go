package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// maxJSONBody bounds the JSON bodies of the manage and agent routes.
const maxJSONBody = 1 << 20

// decodeJSON decodes the request's JSON body into v, refusing unknown
// fields so that a misspelt field is reported rather than ignored. An empty
// body leaves v as it is when optional.
func decodeJSON(c echo.Context, v any, optional bool) error {
	data, err := readLimited(c, maxJSONBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		return model.Errorf(model.EINVALID, "empty body: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return model.Errorf(model.EINVALID, "body: %s", model.JSONReason(err))
	}
	if dec.More() {
		return model.Errorf(model.EINVALID, "body: trailing data after the JSON object")
	}
	return nil
}

// readLimited reads at most limit bytes of the request body.
func readLimited(c echo.Context, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, model.Errorf(model.ETOOLARGE, "request body exceeds %d bytes", limit)
	}
	if err != nil {
		return nil, model.Errorf(model.EINVALID, "reading request body: %v", err)
	}
	return data, nil
}

// readFile reads at most limit bytes of the uploaded file fh.
func readFile(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, model.Errorf(model.EINVALID, "reading the uploaded file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, model.Errorf(model.EINVALID, "reading the uploaded file: %v", err)
	}
	return data, nil
}

// pathID parses the :id path parameter as a positive integer.
func pathID(c echo.Context, what string) (int64, error) {
	id, err := parsePositive(c.Param("id"))
	if err != nil {
		return 0, model.Errorf(model.EINVALID, "%s id must be a positive integer", what)
	}
	return id, nil
}

func parsePositive(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, errors.New("not a positive integer")
	}
	return id, nil
}

// cursor renders a next-page cursor, null when there is none.
func cursor(next int64) *string {
	if next <= 0 {
		return nil
	}
	v := strconv.FormatInt(next, 10)
	return &v
}
