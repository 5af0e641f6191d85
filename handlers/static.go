package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// staticFile is one console asset, read once at boot with its validator.
type staticFile struct {
	body []byte
	etag string
}

// staticFiles reads every file of the console's static/ tree, so that each
// is served with a strong ETag (the hash of its content): a browser asks
// again with If-None-Match and gets 304 until a new version of Vigil
// changes the file.
func staticFiles(static fs.FS) (map[string]staticFile, error) {
	files := map[string]staticFile{}
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[p] = staticFile{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("handlers: read static files: %w", err)
	}
	return files, nil
}

// serveStatic answers GET /static/*: the file with its ETag and
// "Cache-Control: no-cache" (use it, but check it is current), or 304 when
// the browser already holds this version.
func (s *Server) serveStatic(c echo.Context) error {
	name := path.Clean("/" + c.Param("*"))[1:]
	f, ok := s.staticFiles[name]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(f.body))
	return nil
}

// notForGzip is true for what is not compressed: API answers and
// exports (machines, often on the same host), metrics and health checks.
func notForGzip(c echo.Context) bool {
	p := c.Request().URL.Path
	return strings.HasPrefix(p, "/api/") || p == "/metrics" || p == "/healthz"
}
