package handlers

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"vigil/model"
)

// loginView is the sign-in form's data.
type loginView struct {
	Next, Name string
}

// loginPage shows the sign-in form, or sends a browser that is signed in
// already on to where it was going.
func (s *Server) loginPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if sess, err := s.sessions.Get(c.Request(), sessionCookie); err == nil && !sess.IsNew {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return s.render(c, http.StatusOK, "login", "", &pageData{
		Title: "Sign in", Page: loginView{Next: next},
	})
}

// login checks a user name and password, throttling guessers (see
// loginThrottle), and starts a new session (a new id, whatever the browser
// had before).
func (s *Server) login(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	view := loginView{Next: safeNext(c.FormValue("next")), Name: name}
	fail := func(status int, msg string) error {
		return s.render(c, status, "login", "", &pageData{Title: "Sign in", Error: msg, Page: view})
	}
	if name == "" || password == "" {
		return fail(http.StatusBadRequest, "Enter your user name and password.")
	}
	if len(name) > 64 {
		return fail(http.StatusBadRequest, "User names are at most 64 characters.")
	}
	ip := c.RealIP()
	att, wait := s.throttle.reserve(name, ip)
	if wait > 0 {
		// The lock itself was recorded (E_ACCOUNT_LOCKED); attempts while
		// it lasts are counted and logged, not stored, so a guesser cannot
		// flood the event log.
		s.logins.WithLabelValues("throttled").Inc()
		s.log.Warn("sign-in throttled", "request_id", requestID(c), "user", name, "ip", ip, "wait", wait.Round(time.Second))
		return s.throttled(c, wait, fail)
	}
	defer att.release()
	ctx := c.Request().Context()
	paced, err := att.wait(ctx)
	if paced {
		s.loginsPaced.Inc()
	}
	if err != nil {
		return err
	}
	u, err := s.store.Authenticate(ctx, name, password)
	if model.ErrorCode(err) == model.EUNAUTHORIZED {
		s.logins.WithLabelValues("failed").Inc()
		locked := att.fail()
		if err := s.recordLogin(c, name, "E_LOGIN_FAILED", "FAILURE", "Sign-in failed: wrong user name or password",
			map[string]any{"reason": "bad_credentials"}); err != nil {
			return err
		}
		if locked > 0 {
			if err := s.recordLogin(c, name, "E_ACCOUNT_LOCKED", "FAILURE",
				fmt.Sprintf("Sign-in locked for %s after %d failed attempts", s.cfg.LoginWindow, s.cfg.LoginFailures),
				map[string]any{"username": name, "reason": "too_many_failures", "reasonCode": "TOO_MANY_FAILURES",
					"failures": s.cfg.LoginFailures, "window": s.cfg.LoginWindow.String()}); err != nil {
				return err
			}
			return s.throttled(c, locked, fail)
		}
		return fail(http.StatusUnauthorized, "Wrong user name or password.")
	}
	if err != nil {
		return err
	}
	att.succeed()
	req := c.Request()
	if old, err := s.sessions.Get(req, sessionCookie); err == nil && old.ID != "" {
		if err := s.store.DeleteSession(req.Context(), old.ID); err != nil {
			return err
		}
	}
	p := model.Principal{User: u}
	sess := sessions.NewSession(s.sessions, sessionCookie)
	sess.Options = s.sessions.options(req)
	sess.Values[principalKey] = p
	if err := sess.Save(req, c.Response()); err != nil {
		return err
	}
	c.Set(principalKey, p)
	s.logins.WithLabelValues("succeeded").Inc()
	if err := s.recordLogin(c, name, "E_LOGIN_SUCCEEDED", "SUCCESS", "Signed in to the console", map[string]any{"role": u.Role}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, view.Next)
}

// throttled answers 429 with how long to wait.
func (s *Server) throttled(c echo.Context, wait time.Duration, fail func(int, string) error) error {
	minutes := int(math.Ceil(wait.Minutes()))
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	return fail(http.StatusTooManyRequests, fmt.Sprintf(
		"Too many failed sign-ins for this account. Try again in %d minute(s).", max(minutes, 1)))
}

// recordLogin appends a sign-in event as AUTH, with the console's SYSTEM
// entry.
func (s *Server) recordLogin(c echo.Context, name, typ, outcome, msg string, details map[string]any) error {
	auth, err := s.consoleEvent(c, model.CategoryAuth, name, typ, outcome, msg, details)
	if err != nil {
		return err
	}
	return s.recordWithSystem(c, auth, "login")
}

// logout ends the caller's session for good and clears its cookie.
func (s *Server) logout(c echo.Context) error {
	sess, ok := c.Get(sessionKey).(*sessions.Session)
	if !ok {
		return model.Errorf(model.EINVALID, "logout ends a console session; API tokens are revoked in Settings")
	}
	if err := s.recordSystem(c, "E_LOGOUT", "SUCCESS", "Signed out of the console", map[string]any{"section": "logout"}); err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}
