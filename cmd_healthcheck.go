package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// cmdHealthcheck asks a running appliance for GET /healthz and succeeds
// when it answers 200. It is the container's HEALTHCHECK (the image has no
// shell or curl) and works for any monitoring that runs a command. The
// address is serve's --http (env VIGIL_HTTP), so the same environment
// configures both; a wildcard host is reached over loopback.
func cmdHealthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	var loc location
	var addr string
	var timeout time.Duration
	fs := newFlagSet("healthcheck", &loc)
	fs.StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address of the running vigil serve")
	fs.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	url, err := healthzURL(addr)
	if err != nil {
		return usageError{"--http: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "healthy: %s\n", body)
	return nil
}

// healthzURL returns the /healthz URL of a listen address such as
// ":8080", "0.0.0.0:8080" or "[::]:8080" as seen from the same host.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
