package handlers

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

// pageNames lists the templates in views/pages/ that the console needs;
// boot fails when one is missing.
var pageNames = []string{"dashboard", "login", "events", "event", "settings", "account", "error",
	"alerts", "jobs", "job", "certificates", "certificate", "endpoint", "agents"}

// vendorFiles are the third-party assets copied into static/vendor/ by
// make (npm ci); boot fails without them, since the console needs them.
var vendorFiles = []string{"vendor/htmx.min.js"}

// parsePages parses every page once, each with the layouts and partials,
// from the views/ directory of ui.
func parsePages(ui fs.FS) (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		file := "views/pages/" + name + ".html"
		if _, err := fs.Stat(ui, file); err != nil {
			return nil, fmt.Errorf("handlers: page template %s is missing: %w", file, err)
		}
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(ui, "views/layouts/*.html", "views/partials/*.html", file)
		if err != nil {
			return nil, fmt.Errorf("handlers: parsing %s: %w", file, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// staticFS returns the static/ directory of ui after checking that the
// vendored assets are there.
func staticFS(ui fs.FS) (fs.FS, error) {
	static, err := fs.Sub(ui, "static")
	if err != nil {
		return nil, err
	}
	for _, f := range vendorFiles {
		if _, err := fs.Stat(static, f); err != nil {
			return nil, fmt.Errorf("handlers: static/%s is missing; run make (npm ci copies it from package-lock.json): %w", f, err)
		}
	}
	return static, nil
}

var templateFuncs = template.FuncMap{
	"timeUTC": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339Nano)
	},
	"lower": strings.ToLower,
	// entityURL is the page of an alert's or event's entity, or "".
	"entityURL": entityURL,
	"count":     thousands,
	// size writes a byte count as "1.5 MiB".
	"size": func(n int64) string {
		f, unit := float64(n), 0
		for f >= 1024 && unit < 4 {
			f, unit = f/1024, unit+1
		}
		if unit == 0 {
			return fmt.Sprintf("%d B", n)
		}
		return fmt.Sprintf("%.1f %s", f, []string{"", "KiB", "MiB", "GiB", "TiB"}[unit])
	},
	// short abbreviates a long hex digest for a table cell.
	"short": func(s string) string {
		if len(s) <= 16 {
			return s
		}
		return s[:16] + "…"
	},
}

// navItem is one page of SPEC §8 in the navigation, with the roles that
// may open it. The same table guards the page's routes (pageAccess), so a
// page a role may not see is both absent from its navigation and 403.
type navItem struct {
	Path, Label string
	Roles       []string
}

var navItems = []navItem{
	{"/", "Dashboard", model.Roles},
	{"/events", "Events", model.Roles},
	{"/audit", "Audit", []string{model.RoleAdmin, model.RoleAuditor, model.RoleOperator}},
	{"/system", "System log", []string{model.RoleAdmin, model.RoleAuditor, model.RoleOperator}},
	{"/alerts", "Alerts", model.Roles},
	{"/jobs", "Jobs", model.Roles},
	{"/certificates", "Certificates", model.Roles},
	{"/agents", "Agents", model.Roles},
	{"/settings", "Settings", []string{model.RoleAdmin, model.RoleAuditor}},
}

// pageAccess admits the roles the navigation table gives page p.
func pageAccess(p string) echo.MiddlewareFunc {
	for _, n := range navItems {
		if n.Path == p {
			return requireRole(n.Roles...)
		}
	}
	panic("handlers: no navigation entry for page " + p)
}

// mayOpen reports whether the signed-in user's role may open page p.
func mayOpen(c echo.Context, p string) bool {
	for _, n := range navItems {
		if n.Path == p {
			return slices.Contains(n.Roles, principal(c).User.Role)
		}
	}
	return false
}

// navLink is a navigation entry as rendered.
type navLink struct {
	Path, Label string
	Current     bool
	// Count, when CountID is set, is a number shown on the entry (unread
	// alerts), in an element of that id so a page can update it.
	Count   int
	CountID string
}

// navFor returns the pages role may open that have a route, marking the
// one section belongs to.
func (s *Server) navFor(role, section string) []navLink {
	var links []navLink
	for _, n := range navItems {
		if slices.Contains(n.Roles, role) && s.served[n.Path] {
			links = append(links, navLink{Path: n.Path, Label: n.Label, Current: n.Path == section})
		}
	}
	return links
}

// pageData is what every page template gets: the frame's data and the
// page's own in Page.
type pageData struct {
	Title   string
	Section string // path of the navigation entry to highlight
	User    model.User
	Nav     []navLink
	Version string
	Flash   string // a confirmation to show
	Error   string // an error to show
	Page    any
}

// render writes page with data: the whole page normally, or only the
// named block for an htmx request that is not boosted. It renders into a
// buffer, so a template error becomes a clean 500, never half a page.
func (s *Server) render(c echo.Context, status int, page, block string, data *pageData) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("render: no page %q", page)
	}
	name := "base"
	if block != "" && isHTMX(c) && !isBoosted(c) {
		name = block
	}
	if p, ok := c.Get(principalKey).(model.Principal); ok && p.Scope == "" {
		data.User = p.User
		data.Nav = s.navFor(p.User.Role, data.Section)
		s.navCounts(c, data.Nav)
	}
	data.Version = s.cfg.Version
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s/%s: %w", page, name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// renderError shows an error as a console page. An unauthenticated
// browser is sent to the sign-in page instead.
func (s *Server) renderError(c echo.Context, status int, msg string) error {
	if status == http.StatusUnauthorized {
		to := "/login"
		if r := c.Request(); r.Method == http.MethodGet && !isHTMX(c) && r.URL.Path != "/" {
			to += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		if isHTMX(c) {
			setHXRedirect(c, to)
			return c.NoContent(status)
		}
		return c.Redirect(http.StatusSeeOther, to)
	}
	return s.render(c, status, "error", "", &pageData{
		Title: http.StatusText(status), Error: msg,
		Page: struct{ Status int }{status},
	})
}

// isHTMX reports whether the request was made by htmx.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// isBoosted reports whether htmx made the request for a boosted link or
// form, which wants the whole page.
func isBoosted(c echo.Context) bool { return c.Request().Header.Get("HX-Boosted") == "true" }

// setHXRedirect tells htmx to load another page in full.
func setHXRedirect(c echo.Context, to string) { c.Response().Header().Set("HX-Redirect", to) }

// safeNext returns next when it is a path of this site, and "/" otherwise,
// so a redirect to it never leaves the site. A browser drops tabs and
// newlines from a Location and reads \ as /, and next may be decoded again
// on its way (the sign-in form keeps it in a hidden field), so the path
// must be plain at every level of percent-decoding: it starts with one
// "/", never "//" or "/\", and holds no backslash or control character.
// The result is the cleaned path, escaped, with next's query.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return "/"
	}
	p, _, _ := strings.Cut(next, "?")
	for i := 0; ; i++ {
		if !plainPath(p) || i == maxNextDecodings {
			return "/"
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return "/"
		}
		if d == p {
			break
		}
		p = d
	}
	if strings.ContainsFunc(u.RawQuery, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
		return "/"
	}
	query := strings.ReplaceAll(u.RawQuery, " ", "%20")
	return (&url.URL{Path: path.Clean(u.Path), RawQuery: query}).String()
}

// maxNextDecodings bounds how often safeNext decodes a path; one still
// changing after that is refused.
const maxNextDecodings = 4

// plainPath reports whether p starts with exactly one "/" and holds no
// backslash or control character.
func plainPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	return !strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' })
}

// thousands writes n with thousands separators: 123,456.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
		s = s[1:]
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
