package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"vigil/model"
	"vigil/store"
)

// checkDeploy dials every registered endpoint, adds the chain it serves to
// the inventory (discovery) and validates the deployment: a failure to
// connect, an expired certificate, one that does not cover the server name
// or one other than expected_fingerprint fails it. Every run updates each
// endpoint's last check (time, result, reason, certificate served); only a
// change of what was found since the last check (first check, OK to FAILED
// or back, another reason or another certificate served) is recorded as a
// DEPLOYMENT_VALIDATION job, FAILED with a DEPLOYMENT_FAILED alert or
// SUCCESS resolving it. The run's report names the failing endpoints.
func (s *Scheduler) checkDeploy(ctx context.Context, now time.Time) (Report, error) {
	eps, err := s.st.ListEndpoints(ctx)
	if err != nil {
		return Report{}, err
	}
	results := make([]endpointCheck, len(eps))
	sem := make(chan struct{}, s.cfg.DialParallel)
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = s.validateEndpoint(ctx, ep, now)
		}()
	}
	wg.Wait()
	var okN, failed, discovered, changed int
	failing := []int64{}
	var errs []error
	for i, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case r.ok:
			okN++
		default:
			failed++
			if len(failing) < maxNamedEndpoints {
				failing = append(failing, eps[i].ID)
			}
		}
		if r.changed {
			changed++
		}
		discovered += r.discovered
	}
	rep := Report{
		Summary: fmt.Sprintf("%d endpoints validated: %d passed, %d failed; %d changed since their last check (one job each), %d unchanged; %d certificates discovered",
			len(eps), okN, failed, changed, len(eps)-changed, discovered),
		Details: map[string]any{"endpoints": len(eps), "passed": okN, "failed": failed, "discovered": discovered,
			"changed": changed, "unchanged": len(eps) - changed, "failing_endpoints": failing},
	}
	if failed > len(failing) {
		rep.Details["failing_endpoints_truncated"] = true
	}
	return rep, errors.Join(errs...)
}

// maxNamedEndpoints bounds the failing endpoints a run's event names, so
// that it stays within an event's details.
const maxNamedEndpoints = 2000

// endpointCheck is the outcome of checking one endpoint: whether the
// deployment is valid, whether that or what it serves changed since the
// last check, and how many certificates were new to the inventory. err
// means the outcome could not be recorded.
type endpointCheck struct {
	ok, changed bool
	discovered  int
	err         error
}

// validateEndpoint checks one endpoint and records the outcome: a job and
// the alert's raising or resolution when it changed, the endpoint's last
// check always, last, so that a failure to record the change is retried at
// the next run.
func (s *Scheduler) validateEndpoint(ctx context.Context, ep model.Endpoint, now time.Time) endpointCheck {
	start := time.Now()
	chain, dialErr := s.dial(ctx, ep)
	var reason string
	var leaf store.AddedCertificate
	var out endpointCheck
	if dialErr != nil {
		reason = dialFailure(ep, dialErr)
		s.log.Warn("endpoint dial failed", "job", CheckDeploy, "endpoint", ep.ID, "addr", ep.Addr(), "err", dialErr)
	} else {
		certs := make([]model.Certificate, len(chain))
		for i, x := range chain {
			certs[i] = model.CertificateFromX509(x)
		}
		added, err := s.st.AddCertificates(ctx, certs, model.CertSourceDiscovery, model.SchedulerActor)
		if err != nil {
			out.err = err
			return out
		}
		for _, a := range added {
			if a.New {
				out.discovered++
			}
		}
		leaf = added[0]
		reason = deploymentFault(ep, leaf.Certificate, chain[0], now)
	}
	out.ok = reason == ""
	status, jobStatus := "OK", model.JobSuccess
	if !out.ok {
		status, jobStatus = "FAILED", model.JobFailed
	}
	out.changed = ep.LastChecked == nil || ep.LastStatus != status || ep.LastError != reason || ep.LastFingerprint != leaf.Fingerprint
	if out.changed {
		if out.err = s.recordDeployChange(ctx, ep, leaf.Certificate, len(chain), jobStatus, reason, now, time.Since(start)); out.err != nil {
			return out
		}
	}
	out.err = s.st.RecordEndpointCheck(ctx, ep.ID, now, status, reason, leaf.Fingerprint)
	return out
}

// deploymentFault says what is wrong with ep serving leaf (x509 the same)
// at now, or "" when nothing is.
func deploymentFault(ep model.Endpoint, leaf model.Certificate, x *x509.Certificate, now time.Time) string {
	switch {
	case leaf.Expired(now):
		return fmt.Sprintf("%s serves certificate %s that expired at %s", ep.Addr(), leaf.Label(), leaf.NotAfter.Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("%s serves certificate %s that is not valid before %s", ep.Addr(), leaf.Label(), leaf.NotBefore.Format(time.RFC3339))
	case ep.ExpectedFingerprint != "" && leaf.Fingerprint != ep.ExpectedFingerprint:
		return fmt.Sprintf("%s serves certificate %s (SHA-256 %s), not the expected %s", ep.Addr(), leaf.Label(), leaf.Fingerprint, ep.ExpectedFingerprint)
	}
	if err := x.VerifyHostname(ep.SNI()); err != nil {
		return fmt.Sprintf("%s serves certificate %s that does not cover %s", ep.Addr(), leaf.Label(), ep.SNI())
	}
	return ""
}

// recordDeployChange records a changed outcome of checking ep: a
// DEPLOYMENT_VALIDATION job ended with jobStatus, and the endpoint's
// DEPLOYMENT_FAILED alert raised (FAILED) or resolved (SUCCESS).
func (s *Scheduler) recordDeployChange(ctx context.Context, ep model.Endpoint, leaf model.Certificate, chainLen int, jobStatus, reason string, now time.Time, took time.Duration) error {
	output := map[string]any{"endpoint": ep.Addr(), "server_name": ep.SNI(), "chain_length": chainLen}
	if leaf.ID != 0 {
		output["served_fingerprint"] = leaf.Fingerprint
		output["served_certificate_id"] = leaf.ID
		output["not_after"] = leaf.NotAfter
	}
	if ep.ExpectedFingerprint != "" {
		output["expected_fingerprint"] = ep.ExpectedFingerprint
	}
	if ep.LastChecked != nil {
		output["previous_status"] = ep.LastStatus
		if ep.LastFingerprint != "" {
			output["previous_fingerprint"] = ep.LastFingerprint
		}
	}
	ms := took.Milliseconds()
	done := now.UTC()
	_, _, err := s.st.CreateJob(ctx, model.Job{
		Type: model.JobDeploymentValidation, Status: jobStatus, Name: "Validate deployment on " + ep.Addr(),
		EndpointID: ep.ID, CertificateID: leaf.ID, TriggeredBy: model.SchedulerActor,
		ScheduledAt: now, StartedAt: &done, CompletedAt: &done, DurationMS: &ms,
		Input:  jsonObject(map[string]any{"host": ep.Host, "port": ep.Port, "server_name": ep.ServerName, "expected_fingerprint": ep.ExpectedFingerprint}),
		Output: jsonObject(output), Error: reason,
	})
	if err != nil {
		return err
	}
	key := fmt.Sprintf("DEPLOYMENT_FAILED:endpoint:%d", ep.ID)
	if jobStatus == model.JobSuccess {
		_, err = s.st.ResolveAlert(ctx, key)
		return err
	}
	_, err = s.raise(ctx, model.Alert{
		Severity: model.SeverityError, Type: model.AlertDeploymentFailed,
		Title:   fmt.Sprintf("Deployment validation failed on %s", ep.Addr()),
		Message: reason + ".",
		Entity:  model.EndpointEntity(ep.ID), Key: key,
	})
	return err
}

// dialFailure is the recorded reason of a failed dial. Everyone who can
// read jobs, alerts or endpoints sees it, so refused, unreachable, timed
// out, reset and "not TLS" read the same: the record is no port scanner.
// The server log has the cause. An address --endpoint-networks refuses
// and a name that does not resolve are said as such.
func dialFailure(ep model.Endpoint, err error) string {
	var refused *model.Error
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &refused):
		return fmt.Sprintf("cannot connect to %s: %s", ep.Addr(), refused.Message)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("cannot connect to %s: the host name does not resolve", ep.Addr())
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot connect to %s: the host name could not be resolved", ep.Addr())
	}
	return fmt.Sprintf("cannot connect to %s: no TLS service answered (the server log has the cause)", ep.Addr())
}

// allowDial is the dialer's Control hook: it runs once the address is
// resolved and before the connection is made, and refuses an address that
// --endpoint-networks does not allow. So a host name that resolves (or is
// rebound) to a forbidden address is refused without a packet sent to it.
func (s *Scheduler) allowDial(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return model.Errorf(model.EINVALID, "address %q not allowed by --endpoint-networks: not an IP address", address)
	}
	return s.cfg.EndpointNetworks.Check(ap.Addr())
}

// dial connects to ep with TLS (SNI from server_name) and returns the chain
// it serves. The chain is not verified against any roots: Vigil records
// what is deployed and judges it itself.
func (s *Scheduler) dial(ctx context.Context, ep model.Endpoint) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: s.cfg.DialTimeout, Control: s.allowDial},
		Config:    &tls.Config{ServerName: ep.SNI(), InsecureSkipVerify: true}, //nolint:gosec // the chain is judged by Vigil, not by roots
	}
	conn, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, errors.New("no certificate served")
	}
	return chain, nil
}
