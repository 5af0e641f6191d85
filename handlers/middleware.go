package handlers

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"vigil/model"
)

const principalKey = "principal"

// authenticate resolves the caller from an Authorization: Bearer token or,
// without one, from the console's session cookie (a session is a
// principal of scope "").
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if h == "" {
			if _, err := c.Cookie(sessionCookie); err == nil {
				return s.authenticateSession(next, c)
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="vigil"`)
			return model.Errorf(model.EUNAUTHORIZED, "authentication required: sign in or send Authorization: Bearer TOKEN")
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="vigil", error="invalid_request"`)
			return model.Errorf(model.EUNAUTHORIZED, "malformed Authorization header: expected Bearer TOKEN")
		}
		p, err := s.store.PrincipalByToken(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			if model.ErrorCode(err) == model.EUNAUTHORIZED {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="vigil", error="invalid_token"`)
			}
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// authenticateSession admits the holder of a live console session; an
// ended one has its cookie cleared.
func (s *Server) authenticateSession(next echo.HandlerFunc, c echo.Context) error {
	sess, err := s.sessions.Get(c.Request(), sessionCookie)
	if err != nil {
		if model.ErrorCode(err) == model.EUNAUTHORIZED {
			sess.Options.MaxAge = -1
			if serr := sess.Save(c.Request(), c.Response()); serr != nil {
				return serr
			}
		}
		return err
	}
	c.Set(principalKey, sess.Values[principalKey])
	c.Set(sessionKey, sess)
	return next(c)
}

const sessionKey = "session"

// principal returns the authenticated caller.
func principal(c echo.Context) model.Principal {
	p, _ := c.Get(principalKey).(model.Principal)
	return p
}

// requireSession admits console sessions only: the pages are for people
// signed in, API tokens use /api/v1.
func requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := c.Get(sessionKey).(*sessions.Session); !ok {
			return model.Errorf(model.EFORBIDDEN, "the console needs a signed-in session; API tokens use /api/v1")
		}
		return next(c)
	}
}

func requireIngest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := principal(c)
		if !p.CanIngest() {
			return model.Errorf(model.EFORBIDDEN, "posting events needs a token of scope ingest or agent, of an admin or operator")
		}
		return next(c)
	}
}

func requireRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).CanRead() {
			return model.Errorf(model.EFORBIDDEN, "this route needs a session or a token of scope read or manage")
		}
		return next(c)
	}
}

func requireManage(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).CanManage() {
			return model.Errorf(model.EFORBIDDEN, "changes need an admin or operator, through a session or a token of scope manage")
		}
		return next(c)
	}
}

// requireWritable refuses every request that could change something (any
// method but GET, HEAD and OPTIONS: changes, sign-in and sign-out alike)
// while storage is failing (disk full, I/O errors): a change that could not
// be audited is not made, and the caller is told to retry (503 with
// Retry-After). The routes in selfGuarded are still tried: what they store
// is the events themselves, they answer 503 on their own when it cannot be
// written, and their first success is how Vigil learns that writes work
// again.
func (s *Server) requireWritable(selfGuarded ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return next(c)
			}
			if o, down := s.store.Unavailable(); down && !slices.Contains(selfGuarded, c.Path()) {
				return model.Errorf(model.EUNAVAILABLE, "storage is failing since %s (%s): changes that could not be audited are refused",
					o.Since.UTC().Format(time.RFC3339), o.Err)
			}
			return next(c)
		}
	}
}

func requireAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).CanRunJobs() {
			return model.Errorf(model.EFORBIDDEN, "claiming jobs needs a token of scope agent")
		}
		return next(c)
	}
}

// requireRole admits only the named roles.
func requireRole(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			role := principal(c).User.Role
			for _, r := range roles {
				if r == role {
					return next(c)
				}
			}
			return model.Errorf(model.EFORBIDDEN, "the %s role may not use this route", role)
		}
	}
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			h.Set(echo.HeaderCacheControl, "no-store")
		}
		return next(c)
	}
}

// crossOriginProtection refuses state-changing requests that a browser
// sent from another origin (Sec-Fetch-Site, or Origin against Host). With
// SameSite cookies this is the console's CSRF protection; clients that
// are not browsers (bearer tokens, curl) send neither header and pass.
func crossOriginProtection() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := cop.Check(c.Request()); err != nil {
				return model.Errorf(model.EFORBIDDEN, "cross-origin request refused")
			}
			return next(c)
		}
	}
}

// observe records each request's latency by route.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			c.Error(err)
			status = c.Response().Status
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status/100)+"xx").Observe(time.Since(start).Seconds())
		return nil
	}
}
