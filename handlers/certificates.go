package handlers

import (
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"vigil/model"
	"vigil/store"
)

// certView is a certificate as the API shows it, with its days left.
type certView struct {
	model.Certificate
	DaysLeft int  `json:"days_left"`
	Expired  bool `json:"expired"`
}

func (s *Server) certView(c model.Certificate) certView {
	now := s.now()
	return certView{Certificate: c, DaysLeft: c.DaysLeft(now), Expired: c.Expired(now)}
}

// uploadCertificates answers POST /api/v1/certificates: a PEM body (or a
// multipart form with a "pem" file or field) of one or more certificates.
func (s *Server) uploadCertificates(c echo.Context) error {
	var data []byte
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt == echo.MIMEMultipartForm {
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, model.MaxPEMBundle+64<<10)
		if fh, err := c.FormFile("pem"); err == nil {
			f, err := fh.Open()
			if err != nil {
				return model.Errorf(model.EINVALID, "reading the uploaded file: %v", err)
			}
			defer f.Close()
			if data, err = io.ReadAll(io.LimitReader(f, model.MaxPEMBundle+1)); err != nil {
				return model.Errorf(model.EINVALID, "reading the uploaded file: %v", err)
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
	added, err := s.store.AddCertificates(c.Request().Context(), certs, model.CertSourceUpload, s.actor(c))
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
	ctx := c.Request().Context()
	if err := s.store.FlushSightings(ctx, s.cfg.Sightings); err != nil {
		s.log.Warn("flushing certificate sightings", "request_id", requestID(c), "err", err)
	}
	certs, err := s.store.FindCertificates(ctx, f, s.now())
	if err != nil {
		return err
	}
	views := make([]certView, len(certs))
	for i, cert := range certs {
		views[i] = s.certView(cert)
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
	return c.JSON(http.StatusOK, s.certView(cert))
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
	out, err := s.store.AddEndpoint(c.Request().Context(), model.Endpoint{
		Host: ep.Host, Port: ep.Port, ServerName: ep.ServerName, ExpectedFingerprint: ep.ExpectedFingerprint,
	}, s.actor(c))
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
