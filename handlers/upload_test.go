package handlers

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"vigil/model"
)

// certPEM returns a self-signed certificate of cn in PEM.
func certPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// multipartFile returns a multipart body holding data as the file of field.
func multipartFile(t *testing.T, field string, data []byte) (string, http.Header) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, err := w.CreateFormFile(field, "cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	return b.String(), http.Header{"Content-Type": {w.FormDataContentType()}}
}

// TestUploadCertificateFile: a PEM file uploaded through the API (field
// pem) and through the console form (field pem_file) is added to the
// inventory.
func TestUploadCertificateFile(t *testing.T) {
	env := newTestEnv(t)
	body, header := multipartFile(t, "pem", certPEM(t, "api.example"))
	header.Set("Authorization", "Bearer "+env.token("admin", model.ScopeManage))
	if resp := env.do("POST", "/api/v1/certificates", "", body, header); resp.StatusCode != http.StatusCreated {
		t.Fatalf("API upload: %d %s", resp.StatusCode, readBody(t, resp))
	}
	body, header = multipartFile(t, "pem_file", certPEM(t, "console.example"))
	if resp := env.do("POST", "/certificates", env.session("admin"), body, header); resp.StatusCode >= 400 {
		t.Fatalf("console upload: %d %s", resp.StatusCode, readBody(t, resp))
	}
	certs, err := env.st.FindCertificates(context.Background(), model.CertFilter{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range certs {
		got[c.Subject] = true
	}
	if !got["CN=api.example"] || !got["CN=console.example"] {
		t.Errorf("inventory holds %v, want both uploads", got)
	}
}
