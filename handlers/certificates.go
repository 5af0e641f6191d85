package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"vigil/model"
	"vigil/store"
)

// certView is a certificate as the API shows it, with its days left and
// the alert thresholds that apply to it (its own, its endpoints', or the
// default) and where they come from.
type certView struct {
	model.Certificate
	DaysLeft      int    `json:"days_left"`
	Expired       bool   `json:"expired"`
	AlertDays     []int  `json:"effective_expiry_days"`
	AlertDaysFrom string `json:"expiry_days_from"`
}

// certView is c at now, eps the registered endpoints.
func (s *Server) certView(c model.Certificate, eps []model.Endpoint) certView {
	now := s.now()
	th := model.ThresholdsFor(c, eps, s.cfg.ExpiryDays)
	return certView{Certificate: c, DaysLeft: c.DaysLeft(now), Expired: c.Expired(now), AlertDays: th.Days, AlertDaysFrom: th.From}
}

// uploadCertificates answers POST /api/v1/certificates: a PEM body (or a
// multipart form with a "pem" file or field) of one or more certificates.
func (s *Server) uploadCertificates(c echo.Context) error {
	var data []byte
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt == echo.MIMEMultipartForm {
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, model.MaxPEMBundle+64<<10)
		if fh, err := c.FormFile("pem"); err == nil {
			if data, err = readFile(fh, model.MaxPEMBundle+1); err != nil {
				return err
			}
		} else {
			data = []byte(c.FormValue("pem"))
		}
	} else {
		var err error
		if data, err = readLimited(c, model.MaxPEMBundle+1); err != nil {
			return err
		}
	}
	certs, err := model.ParsePEMBundle(data)
	if err != nil {
		return err
	}
	added, err := s.addUploaded(c, certs)
	if err != nil {
		return err
	}
	n := 0
	for i := range added {
		added[i].PEM = ""
		if added[i].New {
			n++
		}
	}
	status := http.StatusOK
	if n > 0 {
		status = http.StatusCreated
	}
	return c.JSON(status, struct {
		Certificates []store.AddedCertificate `json:"certificates"`
		Added        int                      `json:"added"`
		Known        int                      `json:"known"`
	}{added, n, len(added) - n})
}

// listCertificates answers GET /api/v1/certificates?expiring_within=30d&
// issuer=&subject=&sort=days_left|newest&include_replaced=1.
func (s *Server) listCertificates(c echo.Context) error {
	f, err := model.ParseCertFilter(c.QueryParams())
	if err != nil {
		return err
	}
	certs, err := s.store.FindCertificates(c.Request().Context(), f, s.now())
	if err != nil {
		return err
	}
	eps, err := s.store.ListEndpoints(c.Request().Context())
	if err != nil {
		return err
	}
	views := make([]certView, len(certs))
	for i, cert := range certs {
		views[i] = s.certView(cert, eps)
	}
	return c.JSON(http.StatusOK, struct {
		Certificates []certView `json:"certificates"`
	}{views})
}

// getCertificate answers GET /api/v1/certificates/{id}, PEM included.
func (s *Server) getCertificate(c echo.Context) error {
	id, err := pathID(c, "certificate")
	if err != nil {
		return err
	}
	cert, err := s.store.CertificateByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.certJSON(c, cert)
}

// certJSON answers with cert as the API shows it.
func (s *Server) certJSON(c echo.Context, cert model.Certificate) error {
	eps, err := s.store.ListEndpoints(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.certView(cert, eps))
}

// setCertificateExpiryDays answers PUT /api/v1/certificates/{id}/expiry-days
// ({"days":[60,30,7]}; null or [] clears): the certificate's own alert
// thresholds.
func (s *Server) setCertificateExpiryDays(c echo.Context) error {
	id, err := pathID(c, "certificate")
	if err != nil {
		return err
	}
	days, err := decodeExpiryDays(c)
	if err != nil {
		return err
	}
	cert, err := s.store.SetCertificateExpiryDays(c.Request().Context(), id, days, s.actor(c))
	if err != nil {
		return err
	}
	return s.certJSON(c, cert)
}

// setEndpointExpiryDays answers PUT /api/v1/endpoints/{id}/expiry-days,
// the alert thresholds of the certificates the endpoint serves or expects.
func (s *Server) setEndpointExpiryDays(c echo.Context) error {
	id, err := pathID(c, "endpoint")
	if err != nil {
		return err
	}
	days, err := decodeExpiryDays(c)
	if err != nil {
		return err
	}
	ep, err := s.store.SetEndpointExpiryDays(c.Request().Context(), id, days, s.actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ep)
}

// decodeExpiryDays reads {"days":[60,30,7]} ({"days":null} or [] clears).
func decodeExpiryDays(c echo.Context) ([]int, error) {
	var body struct {
		Days json.RawMessage `json:"days"`
	}
	if err := decodeJSON(c, &body, false); err != nil {
		return nil, err
	}
	if len(body.Days) == 0 {
		return nil, model.Errorf(model.EINVALID, `body: days is required: {"days":[60,30,7]}, or {"days":null} to clear`)
	}
	var days []int
	if err := json.Unmarshal(body.Days, &days); err != nil {
		return nil, model.Errorf(model.EINVALID, "days must be a list of whole numbers of days such as [60,30,7], or null")
	}
	return model.CheckExpiryDays(days)
}

// addEndpoint answers POST /api/v1/endpoints: a TLS endpoint to discover
// and validate.
func (s *Server) addEndpoint(c echo.Context) error {
	var ep struct {
		Host                string `json:"host"`
		Port                int    `json:"port"`
		ServerName          string `json:"server_name"`
		ExpectedFingerprint string `json:"expected_fingerprint"`
	}
	if err := decodeJSON(c, &ep, false); err != nil {
		return err
	}
	out, err := s.registerEndpoint(c, model.Endpoint{
		Host: ep.Host, Port: ep.Port, ServerName: ep.ServerName, ExpectedFingerprint: ep.ExpectedFingerprint,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// listEndpoints answers GET /api/v1/endpoints.
func (s *Server) listEndpoints(c echo.Context) error {
	eps, err := s.store.ListEndpoints(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Endpoints []model.Endpoint `json:"endpoints"`
	}{eps})
}

// certificatesView is the Certificates page: the inventory and the
// endpoints.
type certificatesView struct {
	Certificates []certRow
	Endpoints    []model.Endpoint
	Filter       certFilterBar
	// WithinChoices are the expiring_within values offered.
	WithinChoices []string
	SelfURL       string
	CanChange     bool
}

// certRow is a certificate as the inventory table shows it.
type certRow struct {
	certView
	Countdown string // "expires in 5 days", "expired 2 days ago"
	Urgency   string // expired, critical (≤ 7 days), warn (≤ 30), ok
}

// certFilterBar is the state of the inventory filter form.
type certFilterBar struct {
	Subject, Issuer, ExpiringWithin, Sort string
	IncludeReplaced, Active               bool
}

// certificatesPage serves /certificates: the inventory soonest to expire
// first (or newest first), filtered by subject or SAN, issuer and time to
// expiry, with the upload form and the endpoints.
func (s *Server) certificatesPage(c echo.Context) error {
	return s.showCertificates(c, http.StatusOK, &pageData{})
}

func (s *Server) showCertificates(c echo.Context, status int, data *pageData) error {
	q := c.QueryParams()
	f, err := model.ParseCertFilter(q)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := s.now()
	certs, err := s.store.FindCertificates(ctx, f, now)
	if err != nil {
		return err
	}
	eps, err := s.store.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	v := &certificatesView{Endpoints: eps, SelfURL: selfURL(c), CanChange: canChange(c),
		WithinChoices: []string{"1d", "7d", "14d", "30d", "90d"},
		Filter: certFilterBar{Subject: f.Subject, Issuer: f.Issuer, ExpiringWithin: q.Get("expiring_within"), Sort: f.Sort,
			IncludeReplaced: f.IncludeReplaced}}
	v.Filter.Active = v.Filter.Subject != "" || v.Filter.Issuer != "" || v.Filter.ExpiringWithin != "" || f.IncludeReplaced || q.Get("sort") != ""
	for _, cert := range certs {
		v.Certificates = append(v.Certificates, s.certRow(cert, eps, now))
	}
	data.Page = v
	return s.openWatchPage(c, status, "certificates", "Certificates", "certificates-table", data)
}

// certRow is cert with its countdown and urgency at now.
func (s *Server) certRow(cert model.Certificate, eps []model.Endpoint, now time.Time) certRow {
	r := certRow{certView: s.certView(cert, eps)}
	switch d := r.DaysLeft; {
	case r.Expired:
		r.Urgency, r.Countdown = "expired", fmt.Sprintf("expired %s ago", roundDuration(now.Sub(cert.NotAfter)))
	case d <= 7:
		r.Urgency, r.Countdown = "critical", "expires in "+roundDuration(cert.NotAfter.Sub(now))
	case d <= 30:
		r.Urgency, r.Countdown = "warn", "expires in "+roundDuration(cert.NotAfter.Sub(now))
	default:
		r.Urgency, r.Countdown = "ok", "expires in "+roundDuration(cert.NotAfter.Sub(now))
	}
	return r
}

// roundDuration says d in days, or hours and minutes under a day.
func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 24*time.Hour:
		return "1 day"
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return d.Round(time.Minute).String()
}

// consoleUpload adds the certificates of the upload form (a PEM file or
// pasted PEM) to the inventory.
func (s *Server) consoleUpload(c echo.Context) error {
	show := func(status int, d *pageData) error { return s.showCertificates(c, status, d) }
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, model.MaxPEMBundle+64<<10)
	data := []byte(c.FormValue("pem"))
	if fh, err := c.FormFile("pem_file"); err == nil && fh.Size > 0 {
		if data, err = readFile(fh, model.MaxPEMBundle+1); err != nil {
			return s.watchChanged(c, err, "", show)
		}
	}
	certs, err := model.ParsePEMBundle(data)
	if err == nil {
		_, err = s.addUploaded(c, certs)
	}
	return s.watchChanged(c, err, "uploaded", show)
}

// addUploaded adds the certificates of an upload (API or console) to the
// inventory and has the new ones checked for expiry at once. A failed
// check is logged, not the upload's failure: the scheduled run catches up.
func (s *Server) addUploaded(c echo.Context, certs []model.Certificate) ([]store.AddedCertificate, error) {
	ctx := c.Request().Context()
	added, err := s.store.AddCertificates(ctx, certs, model.CertSourceUpload, s.actor(c))
	if err != nil || s.cfg.OnCertificatesAdded == nil {
		return added, err
	}
	if err := s.cfg.OnCertificatesAdded(context.WithoutCancel(ctx), added); err != nil {
		s.log.Error("expiry check of uploaded certificates", "request_id", requestID(c), "err", err)
	}
	return added, nil
}

// consoleAddEndpoint registers an endpoint from the Certificates page form.
func (s *Server) consoleAddEndpoint(c echo.Context) error {
	show := func(status int, d *pageData) error { return s.showCertificates(c, status, d) }
	port, err := strconv.Atoi(strings.TrimSpace(c.FormValue("port")))
	if err != nil {
		return s.watchChanged(c, model.Errorf(model.EINVALID, "port must be a number between 1 and 65535"), "", show)
	}
	_, err = s.registerEndpoint(c, model.Endpoint{
		Host: c.FormValue("host"), Port: port, ServerName: c.FormValue("server_name"),
		ExpectedFingerprint: strings.TrimSpace(c.FormValue("expected_fingerprint")),
	})
	return s.watchChanged(c, err, "registered", show)
}

// registerEndpoint adds ep for the caller, unless its host is an IP
// address that --endpoint-networks refuses (host names are checked each
// time they are resolved, when dialled).
func (s *Server) registerEndpoint(c echo.Context, ep model.Endpoint) (model.Endpoint, error) {
	if err := s.cfg.EndpointNetworks.CheckHost(ep.Host); err != nil {
		return model.Endpoint{}, err
	}
	return s.store.AddEndpoint(c.Request().Context(), ep, s.actor(c))
}

// aboutRows is how many jobs, alerts and events a certificate's or an
// endpoint's page lists; each list links to the whole of it.
const aboutRows = 20

// maxChain bounds the issuers a certificate's page looks up.
const maxChain = 8

// aboutLists are the jobs and alerts about a certificate or an endpoint,
// newest first, with the links to all of them.
type aboutLists struct {
	Jobs               []model.Job
	Alerts             []model.Alert
	JobsURL, AlertsURL string
}

// certificateView is a certificate's page.
type certificateView struct {
	Cert certRow
	// Chain are its issuers found in the inventory, nearest first;
	// ChainEnd says where the chain stops.
	Chain    []model.Certificate
	ChainEnd string
	// Endpoints serve it (last check) or expect it.
	Endpoints []model.EndpointUse
	aboutLists
	// Usage are the events of the Events log naming its serial; Audit
	// those of the Audit log, for roles that see it (ShowAudit).
	Usage, Audit eventList
	ShowAudit    bool
	// CanChange shows the thresholds form, which comes back to SelfURL.
	CanChange bool
	SelfURL   string
}

// eventList is a short list of events and the link to all of them; ID is
// its table's.
type eventList struct {
	ID     string
	Events []model.Event
	URL    string
}

// certificatePage serves /certificates/{id}: the certificate's fields,
// PEM and chain, days left and alert thresholds, the endpoints serving or
// expecting it, and the jobs, alerts and events about it.
func (s *Server) certificatePage(c echo.Context) error {
	return s.showCertificate(c, http.StatusOK, &pageData{})
}

func (s *Server) showCertificate(c echo.Context, status int, data *pageData) error {
	id, err := pathID(c, "certificate")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cert, err := s.store.CertificateByID(ctx, id)
	if err != nil {
		return err
	}
	eps, err := s.store.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	v := &certificateView{Cert: s.certRow(cert, eps, s.now()), CanChange: canChange(c), SelfURL: selfURL(c)}
	if v.Chain, v.ChainEnd, err = s.issuerChain(c, cert); err != nil {
		return err
	}
	v.Endpoints = model.EndpointsOf(cert.Fingerprint, eps)
	if v.aboutLists, err = s.about(c, model.JobFilter{CertificateID: id}, model.CertificateEntity(id)); err != nil {
		return err
	}
	events := func(page, id string) (eventList, error) {
		f, err := visibleToCaller(c, model.EventFilter{Categories: logPages[page].Categories, CertSerial: cert.Serial, Limit: aboutRows})
		if err != nil {
			return eventList{}, err
		}
		p, err := s.store.FindEvents(ctx, f)
		return eventList{ID: id, Events: p.Events, URL: page + "?" + url.Values{"cert_serial": {cert.Serial}}.Encode()}, err
	}
	if v.Usage, err = events("/events", "usage-events"); err != nil {
		return err
	}
	if v.ShowAudit = mayOpen(c, "/audit"); v.ShowAudit {
		if v.Audit, err = events("/audit", "audit-events"); err != nil {
			return err
		}
	}
	data.Section, data.Page = "/certificates", v
	return s.openWatchPage(c, status, "certificate", "Certificate "+cert.Label(), "", data)
}

// consoleCertificateExpiryDays sets a certificate's alert thresholds from
// its page's form ("60,30,7"; empty clears).
func (s *Server) consoleCertificateExpiryDays(c echo.Context) error {
	show := func(status int, d *pageData) error { return s.showCertificate(c, status, d) }
	id, err := pathID(c, "certificate")
	if err != nil {
		return err
	}
	days, err := model.ParseExpiryDays(c.FormValue("days"))
	if err == nil {
		_, err = s.store.SetCertificateExpiryDays(c.Request().Context(), id, days, s.actor(c))
	}
	return s.watchChanged(c, err, "thresholds", show)
}

// consoleEndpointExpiryDays sets an endpoint's alert thresholds from its
// page's form.
func (s *Server) consoleEndpointExpiryDays(c echo.Context) error {
	show := func(status int, d *pageData) error { return s.showEndpoint(c, status, d) }
	id, err := pathID(c, "endpoint")
	if err != nil {
		return err
	}
	days, err := model.ParseExpiryDays(c.FormValue("days"))
	if err == nil {
		_, err = s.store.SetEndpointExpiryDays(c.Request().Context(), id, days, s.actor(c))
	}
	return s.watchChanged(c, err, "thresholds", show)
}

// issuerChain returns the issuers of cert found in the inventory, nearest
// first (signatures checked), and says where the chain ends.
func (s *Server) issuerChain(c echo.Context, cert model.Certificate) ([]model.Certificate, string, error) {
	var chain []model.Certificate
	cur := cert
	for range maxChain {
		if cur.IssuedBy(cur) {
			return chain, fmt.Sprintf("certificate %d is self-signed: the chain ends there", cur.ID), nil
		}
		cands, err := s.store.CertificatesBySubject(c.Request().Context(), cur.Issuer)
		if err != nil {
			return nil, "", err
		}
		i := slices.IndexFunc(cands, func(p model.Certificate) bool { return p.ID != cur.ID && cur.IssuedBy(p) })
		if i < 0 {
			return chain, "issuer " + cur.Issuer + " is not in the inventory", nil
		}
		cur = cands[i]
		chain = append(chain, cur)
	}
	return chain, "", nil
}

// about returns the newest jobs matching jf and alerts about entity.
func (s *Server) about(c echo.Context, jf model.JobFilter, entity model.Entity) (aboutLists, error) {
	ctx := c.Request().Context()
	jf.Limit = aboutRows
	jobs, _, err := s.store.FindJobs(ctx, jf)
	if err != nil {
		return aboutLists{}, err
	}
	af := model.AlertFilter{EntityType: entity.Type, EntityID: entity.ID, Limit: aboutRows}
	alerts, _, err := s.store.FindAlerts(ctx, af)
	if err != nil {
		return aboutLists{}, err
	}
	jq := url.Values{}
	if jf.CertificateID > 0 {
		jq.Set("certificate_id", strconv.FormatInt(jf.CertificateID, 10))
	}
	if jf.EndpointID > 0 {
		jq.Set("endpoint_id", strconv.FormatInt(jf.EndpointID, 10))
	}
	return aboutLists{Jobs: jobs, Alerts: alerts, JobsURL: "/jobs?" + jq.Encode(), AlertsURL: "/alerts?" + af.Query().Encode()}, nil
}

// endpointView is an endpoint's page.
type endpointView struct {
	Endpoint model.Endpoint
	// Serving and Expected are the inventory's certificates it served at
	// its last check and that it should serve; nil when none or unknown.
	Serving, Expected *model.Certificate
	aboutLists
	// DefaultDays are --expiry-days, which apply without its own.
	DefaultDays []int
	CanChange   bool
	SelfURL     string
}

// endpointPage serves /endpoints/{id}: the endpoint, its last check and
// alert thresholds, the certificates it serves and expects, and the jobs
// and alerts about it.
func (s *Server) endpointPage(c echo.Context) error {
	return s.showEndpoint(c, http.StatusOK, &pageData{})
}

func (s *Server) showEndpoint(c echo.Context, status int, data *pageData) error {
	id, err := pathID(c, "endpoint")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ep, err := s.store.EndpointByID(ctx, id)
	if err != nil {
		return err
	}
	v := &endpointView{Endpoint: ep, DefaultDays: s.cfg.ExpiryDays, CanChange: canChange(c), SelfURL: selfURL(c)}
	for _, fc := range []struct {
		fp  string
		dst **model.Certificate
	}{{ep.LastFingerprint, &v.Serving}, {ep.ExpectedFingerprint, &v.Expected}} {
		if fc.fp == "" {
			continue
		}
		cert, err := s.store.CertificateByFingerprint(ctx, fc.fp)
		if model.ErrorCode(err) == model.ENOTFOUND {
			continue
		}
		if err != nil {
			return err
		}
		*fc.dst = &cert
	}
	if v.aboutLists, err = s.about(c, model.JobFilter{EndpointID: id}, model.EndpointEntity(id)); err != nil {
		return err
	}
	data.Section, data.Page = "/certificates", v
	return s.openWatchPage(c, status, "endpoint", "Endpoint "+ep.Addr(), "", data)
}

// entityURL is the console page of an alert's or event's entity (a
// certificate, an endpoint or a job), or "" when it has none.
func entityURL(e model.Entity) string {
	id, err := parsePositive(e.ID)
	if err != nil {
		return ""
	}
	switch strings.ToUpper(e.Type) {
	case "CERTIFICATE":
		return fmt.Sprintf("/certificates/%d", id)
	case "ENDPOINT":
		return fmt.Sprintf("/endpoints/%d", id)
	case "JOB":
		return fmt.Sprintf("/jobs/%d", id)
	}
	return ""
}
