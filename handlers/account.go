package handlers

import (
	"net/http"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"vigil/model"
)

// accountPage lets every signed-in user change their own password.
func (s *Server) accountPage(c echo.Context) error {
	data := &pageData{Title: "Your account"}
	if c.QueryParam("done") == "password_changed" {
		data.Flash = "Password changed. Your other sessions have ended."
	}
	return s.render(c, http.StatusOK, "account", "", data)
}

// changeOwnPassword checks the current password (throttled like a
// sign-in), sets the new one, ends every session of the user and starts a
// new one for this browser.
func (s *Server) changeOwnPassword(c echo.Context) error {
	p := principal(c)
	fail := func(status int, msg string) error {
		return s.render(c, status, "account", "", &pageData{Title: "Your account", Error: msg})
	}
	current, next := c.FormValue("current"), c.FormValue("password")
	if next != c.FormValue("confirm") {
		return fail(http.StatusBadRequest, "The new password and its confirmation differ.")
	}
	att, wait := s.throttle.reserve(p.User.Name, c.RealIP())
	if wait > 0 {
		return s.throttled(c, wait, fail)
	}
	defer att.release()
	ctx := c.Request().Context()
	if _, err := s.store.Authenticate(ctx, p.User.Name, current); err != nil {
		if model.ErrorCode(err) != model.EUNAUTHORIZED {
			return err
		}
		att.fail()
		return fail(http.StatusBadRequest, "The current password is wrong.")
	}
	_, err := s.store.SetPassword(ctx, p.User.Name, next, func(_, u model.User) ([]model.Event, error) {
		return s.consoleChange(c, model.TypePasswordReset, userEntity(u.Name), "Changed own password; all sessions ended",
			model.UserChangeDetails(u.Name, nil))
	})
	if err != nil {
		if model.ErrorCode(err) == model.EINVALID {
			return fail(http.StatusBadRequest, model.ErrorMessage(err))
		}
		return err
	}
	sess := sessions.NewSession(s.sessions, sessionCookie)
	sess.Options = s.sessions.options(c.Request())
	sess.Values[principalKey] = p
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=password_changed")
}
