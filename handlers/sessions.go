package handlers

import (
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"vigil/model"
	"vigil/store"
)

// sessionCookie names the console's session cookie. It holds only a random
// id; the session itself lives in the database (table sessions).
const sessionCookie = "vigil_session"

// sessionStore is a gorilla/sessions Store backed by Vigil's database, so
// that logout, a password change or disabling a user really ends a
// session. A session's only value is its principal, under principalKey.
type sessionStore struct {
	st      *store.Store
	idle    time.Duration
	maxAge  time.Duration
	proxies *proxies // the client's address and scheme
}

var _ sessions.Store = (*sessionStore)(nil)

// options are the cookie's attributes: HttpOnly, SameSite=Lax, Secure
// whenever the client used HTTPS (to Vigil, or to a trusted proxy), and no
// Max-Age (the browser forgets the cookie when it closes; the server
// enforces the idle and absolute limits).
func (s *sessionStore) options(r *http.Request) *sessions.Options {
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.proxies.https(r), SameSite: http.SameSiteLaxMode}
}

// Get returns the request's session (see New).
func (s *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

// New returns the session named by the request's cookie, or a new empty
// one. An unknown or expired session yields a new session and the
// EUNAUTHORIZED error saying why.
func (s *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options(r)
	sess.IsNew = true
	ck, err := r.Cookie(name)
	if err != nil || ck.Value == "" {
		return sess, nil
	}
	p, err := s.st.PrincipalBySession(r.Context(), ck.Value, s.idle)
	if err != nil {
		return sess, err
	}
	sess.ID, sess.IsNew = ck.Value, false
	sess.Values[principalKey] = p
	return sess, nil
}

// Save stores a new session (one with a principal and no id yet) and sets
// its cookie; with Options.MaxAge < 0 it ends the session and clears the
// cookie.
func (s *sessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.st.DeleteSession(r.Context(), sess.ID); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		p, ok := sess.Values[principalKey].(model.Principal)
		if !ok {
			return model.Errorf(model.EINTERNAL, "session without a user")
		}
		id, err := s.st.CreateSession(r.Context(), p.User.ID, s.proxies.clientIP(r), r.UserAgent(), s.maxAge)
		if err != nil {
			return err
		}
		sess.ID = id
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, sess.Options))
	return nil
}
