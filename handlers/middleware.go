package handlers

import (
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
)

const principalKey = "principal"

// authenticate resolves the caller from an Authorization: Bearer token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="vigil"`)
			return model.Errorf(model.EUNAUTHORIZED, "authentication required: send Authorization: Bearer TOKEN")
		}
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

// principal returns the authenticated caller.
func principal(c echo.Context) model.Principal {
	p, _ := c.Get(principalKey).(model.Principal)
	return p
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

// requireWritable refuses changes while event writes fail (disk full, I/O
// errors): a change that cannot be audited is not made.
func (s *Server) requireWritable(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if o, down := s.store.Unavailable(); down {
			return model.Errorf(model.EUNAVAILABLE, "storage is failing since %s (%s): changes that could not be audited are refused",
				o.Since.UTC().Format(time.RFC3339), o.Err)
		}
		return next(c)
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
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		return next(c)
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
