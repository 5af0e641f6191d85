package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/testtools"
)

// TestReadmeTLSCertificate runs the README's lab certificate commands as
// written, then serves syslog over TLS with the files they make, named as
// in the README's serve command: an agent trusting vigil.pem completes the
// handshake with the name the certificate gives.
func TestReadmeTLSCertificate(t *testing.T) {
	testtools.Require(t, "bash")
	testtools.Require(t, "openssl")
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shell(t, dir, docSnippet(t, string(b), "tls-lab-certificate"))
	if !strings.Contains(string(b), "--tls-cert vigil.pem --tls-key vigil.key") {
		t.Fatal("the README's serve command no longer names vigil.pem and vigil.key")
	}
	for _, f := range []string{"vigil.pem", "vigil.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the README's commands made no %s: %v", f, err)
		}
	}
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--syslog-udp", "", "--syslog-tcp", "", "--syslog-tls", "127.0.0.1:0",
		"--tls-cert", filepath.Join(dir, "vigil.pem"), "--tls-key", filepath.Join(dir, "vigil.key"))
	defer stop()
	pemBytes, err := os.ReadFile(filepath.Join(dir, "vigil.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("vigil.pem holds no certificate")
	}
	conn, err := tls.Dial("tcp", addrs["syslog-tls"], &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS syslog with the README's lab certificate: %v", err)
	}
	conn.Close()
}

// TestMakeRunTakesPortAndData checks what make run runs with HTTP= and
// DATA= given, as the README says.
func TestMakeRunTakesPortAndData(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, "-n", "run", "HTTP=127.0.0.1:9090", "DATA=/srv/vigil")
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "./bin/vigil serve --data /srv/vigil --http 127.0.0.1:9090") {
		t.Fatalf("make run HTTP=127.0.0.1:9090 DATA=/srv/vigil runs:\n%s", out)
	}
}
