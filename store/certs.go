package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"vigil/model"
)

// AddedCertificate is one certificate of an upload or discovery: New when
// it was not in the inventory yet, Replaced naming the older certificates
// for the same subject and SANs that it replaced.
type AddedCertificate struct {
	model.Certificate
	New      bool    `json:"new"`
	Replaced []int64 `json:"replaced,omitempty"`
}

// certAddedTypes names the audit event of a certificate entering the
// inventory, by source.
var certAddedTypes = map[string]string{
	model.CertSourceUpload:    "CERTIFICATE_UPLOADED",
	model.CertSourceDiscovery: "CERTIFICATE_DISCOVERED",
	model.CertSourceRenewal:   "CERTIFICATE_ISSUED",
}

// AddCertificates adds certs to the inventory (one row per fingerprint;
// known ones are returned as they are) and records each new one as an
// audit event by actor. A new certificate replaces the current ones with
// the same subject and SANs that expire earlier, which resolves their
// expiry alerts.
func (s *Store) AddCertificates(ctx context.Context, certs []model.Certificate, source string, actor model.Actor) ([]AddedCertificate, error) {
	var out []AddedCertificate
	now := s.now()
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		out = out[:0]
		var events []model.Event
		for _, c := range certs {
			a, evs, err := addCertTx(tx, c, source, actor, now)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
			events = append(events, evs...)
		}
		return events, nil
	})
	return out, err
}

func addCertTx(tx *sql.Tx, c model.Certificate, source string, actor model.Actor, now time.Time) (AddedCertificate, []model.Event, error) {
	existing, err := scanCert(tx.QueryRow(`SELECT `+certColumns+` FROM certificates WHERE fingerprint = ?`, c.Fingerprint))
	if err == nil {
		return AddedCertificate{Certificate: existing}, nil, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return AddedCertificate{}, nil, fmt.Errorf("store: add certificate: %w", err)
	}
	sans, _ := json.Marshal(c.SANs)
	c.Source, c.CreatedAt = source, now.UTC()
	err = tx.QueryRow(`INSERT INTO certificates (fingerprint, serial, subject, common_name, issuer, sans, key_type, key_bits,
		not_before, not_after, not_after_ns, is_ca, pem, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Fingerprint, c.Serial, c.Subject, c.CommonName, c.Issuer, string(sans), c.KeyType, c.KeyBits,
		timeText(c.NotBefore), timeText(c.NotAfter), c.NotAfter.UnixNano(), flag(c.IsCA), c.PEM, source, timeText(c.CreatedAt)).Scan(&c.ID)
	if err != nil {
		return AddedCertificate{}, nil, fmt.Errorf("store: add certificate: %w", err)
	}
	added := AddedCertificate{Certificate: c, New: true}
	e, err := model.NewAuditEvent(now, certAddedTypes[source], "SUCCESS", actor, model.CertificateEntity(c.ID),
		fmt.Sprintf("Certificate %s (%s) added to the inventory from %s", c.Label(), c.Fingerprint[:16], source),
		map[string]any{"fingerprint": c.Fingerprint, "serial": c.Serial, "subject": c.Subject, "issuer": c.Issuer,
			"sans": c.SANs, "not_after": c.NotAfter, "source": source})
	if err != nil {
		return added, nil, err
	}
	e.Certificate = model.CertRef{Serial: c.Serial, Fingerprint: c.Fingerprint, Subject: c.Subject}
	events := []model.Event{e}
	// Older certificates for the same subject and SANs are replaced.
	older, err := queryAll(context.Background(), tx, "add certificate", scanCert, `SELECT `+certColumns+` FROM certificates
		WHERE subject = ? AND replaced_at IS NULL AND revoked_at IS NULL AND id <> ? AND not_after_ns < ?`, c.Subject, c.ID, c.NotAfter.UnixNano())
	if err != nil {
		return added, nil, err
	}
	for _, o := range older {
		if !o.SameIdentity(c) {
			continue
		}
		ev, err := replaceCertTx(tx, o, &c, actor, "a newer certificate for the same subject and SANs was added", now)
		if err != nil {
			return added, nil, err
		}
		added.Replaced = append(added.Replaced, o.ID)
		events = append(events, ev)
	}
	return added, events, nil
}

// replaceCertTx marks old replaced by repl (nil when the successor is not
// in the inventory) and resolves old's expiry alerts.
func replaceCertTx(tx *sql.Tx, old model.Certificate, repl *model.Certificate, actor model.Actor, why string, now time.Time) (model.Event, error) {
	var replBy any
	details := map[string]any{"reason": why, "old_fingerprint": old.Fingerprint}
	msg := fmt.Sprintf("Certificate %d (%s) replaced: %s", old.ID, old.Label(), why)
	if repl != nil {
		replBy = repl.ID
		details["replaced_by"] = repl.ID
		details["new_fingerprint"] = repl.Fingerprint
		msg = fmt.Sprintf("Certificate %d (%s) replaced by certificate %d: %s", old.ID, old.Label(), repl.ID, why)
	}
	if _, err := tx.Exec(`UPDATE certificates SET replaced_by = ?, replaced_at = ? WHERE id = ? AND replaced_at IS NULL`,
		replBy, timeText(now), old.ID); err != nil {
		return model.Event{}, fmt.Errorf("store: replace certificate: %w", err)
	}
	n, err := resolveEntityAlertsTx(tx, model.CertificateEntity(old.ID), []string{model.AlertExpiringSoon, model.AlertExpired}, now)
	if err != nil {
		return model.Event{}, err
	}
	details["alerts_resolved"] = n
	e, err := model.NewAuditEvent(now, "CERTIFICATE_REPLACED", "SUCCESS", actor, model.CertificateEntity(old.ID), msg, details)
	e.Certificate = model.CertRef{Serial: old.Serial, Fingerprint: old.Fingerprint, Subject: old.Subject}
	return e, err
}

const certColumns = `id, fingerprint, serial, subject, common_name, issuer, sans, key_type, key_bits,
	not_before, not_after, is_ca, source, created_at, replaced_by, replaced_at, revoked_at, pem, expiry_days`

func scanCert(sc scanner) (model.Certificate, error) {
	var c model.Certificate
	var sans, nb, na, created string
	var replBy sql.NullInt64
	var replAt, revAt, days sql.NullString
	err := sc.Scan(&c.ID, &c.Fingerprint, &c.Serial, &c.Subject, &c.CommonName, &c.Issuer, &sans, &c.KeyType, &c.KeyBits,
		&nb, &na, &c.IsCA, &c.Source, &created, &replBy, &replAt, &revAt, &c.PEM, &days)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(sans), &c.SANs); err != nil {
		return c, fmt.Errorf("certificate %d: sans: %w", c.ID, err)
	}
	if c.ExpiryDays, err = scanExpiryDays(days); err != nil {
		return c, fmt.Errorf("certificate %d: %w", c.ID, err)
	}
	c.NotBefore, c.NotAfter, c.CreatedAt = parseTimeText(nb), parseTimeText(na), parseTimeText(created)
	if replBy.Valid {
		c.ReplacedBy = &replBy.Int64
	}
	c.ReplacedAt, c.RevokedAt = optTime(replAt), optTime(revAt)
	return c, nil
}

// CertificateByID returns inventory certificate id, with its PEM and when
// it was last seen in use.
func (s *Store) CertificateByID(ctx context.Context, id int64) (model.Certificate, error) {
	c, err := queryOne(ctx, s.rdb, fmt.Sprintf("certificate %d", id), scanCert, `SELECT `+certColumns+` FROM certificates WHERE id = ?`, id)
	if err != nil {
		return c, err
	}
	certs := []model.Certificate{c}
	if err := s.attachUsage(ctx, certs); err != nil {
		return c, err
	}
	return certs[0], nil
}

// CertificateByFingerprint returns the inventory certificate with SHA-256
// fingerprint fp, without its PEM or usage.
func (s *Store) CertificateByFingerprint(ctx context.Context, fp string) (model.Certificate, error) {
	c, err := queryOne(ctx, s.rdb, "certificate "+fp, scanCert, `SELECT `+certColumns+` FROM certificates WHERE fingerprint = ?`, fp)
	c.PEM = ""
	return c, err
}

// CertificatesBySubject returns the inventory certificates whose subject
// is subject (replaced ones included), with their PEM, newest first: the
// candidates for the issuer of a certificate issued by subject.
func (s *Store) CertificatesBySubject(ctx context.Context, subject string) ([]model.Certificate, error) {
	return queryAll(ctx, s.rdb, "certificates by subject", scanCert,
		`SELECT `+certColumns+` FROM certificates WHERE subject = ? ORDER BY id DESC LIMIT 20`, subject)
}

// FindCertificates returns the inventory certificates matching f at now,
// without their PEM.
func (s *Store) FindCertificates(ctx context.Context, f model.CertFilter, now time.Time) ([]model.Certificate, error) {
	certs, err := s.findCertificates(ctx, f, now)
	if err != nil {
		return nil, err
	}
	return certs, s.attachUsage(ctx, certs)
}

// CurrentCertificates returns every certificate not replaced nor revoked, soonest to
// expire first, without PEM or usage: what the expiry check watches.
func (s *Store) CurrentCertificates(ctx context.Context) ([]model.Certificate, error) {
	return s.findCertificates(ctx, model.CertFilter{}, time.Time{})
}

func (s *Store) findCertificates(ctx context.Context, f model.CertFilter, now time.Time) ([]model.Certificate, error) {
	var where []string
	var args []any
	if !f.IncludeReplaced {
		where = append(where, `replaced_at IS NULL AND revoked_at IS NULL`)
	}
	if f.ExpiringWithin > 0 {
		where, args = append(where, `not_after_ns <= ?`), append(args, now.Add(f.ExpiringWithin).UnixNano())
	}
	if f.Issuer != "" {
		where, args = append(where, s.d.containsFold(`issuer`)), append(args, f.Issuer)
	}
	if f.Subject != "" {
		where, args = append(where, `(`+s.d.containsFold(`subject`)+` OR `+s.d.containsFold(`sans`)+`)`), append(args, f.Subject, f.Subject)
	}
	q := `SELECT ` + certColumns + ` FROM certificates` + whereSQL(where)
	if f.Sort == "newest" {
		q += ` ORDER BY id DESC`
	} else {
		q += ` ORDER BY not_after_ns, id`
	}
	limit := f.Limit
	if limit <= 0 {
		limit = math.MaxInt64 // no limit: the expiry check reads every current certificate
	}
	certs, err := queryAll(ctx, s.rdb, "find certificates", scanCert, q+` LIMIT ?`, append(args, limit)...)
	for i := range certs {
		certs[i].PEM = ""
	}
	return certs, err
}

// attachUsage fills the "seen in use" fields of certs from the events that
// named them, by fingerprint or by serial number.
func (s *Store) attachUsage(ctx context.Context, certs []model.Certificate) error {
	s.flushBeforeRead(ctx)
	type usage struct {
		last        string
		agent, host sql.NullString
		uses        int64
	}
	for i := range certs {
		c := &certs[i]
		us, err := queryAll(ctx, s.rdb, "certificate usage", func(sc scanner) (usage, error) {
			var u usage
			return u, sc.Scan(&u.last, &u.agent, &u.host, &u.uses)
		}, `SELECT last_seen, agent_id, host, uses FROM certificate_usage WHERE key IN (?, ?)`, "fp:"+c.Fingerprint, "serial:"+c.Serial)
		if err != nil {
			return err
		}
		for _, u := range us {
			// An event naming both is counted under each key: keep the larger.
			c.Uses = max(c.Uses, u.uses)
			if t := parseTimeText(u.last); c.LastSeen == nil || t.After(*c.LastSeen) {
				c.LastSeen, c.LastSeenAgent, c.LastSeenHost = &t, u.agent.String, u.host.String
			}
		}
	}
	return nil
}

const endpointColumns = `id, host, port, server_name, expected_fingerprint, created_at, created_by,
	last_checked, last_status, last_error, last_fingerprint, expiry_days`

func scanEndpoint(sc scanner) (model.Endpoint, error) {
	var e model.Endpoint
	var expected, by, checked, status, lerr, lfp, days sql.NullString
	var created string
	err := sc.Scan(&e.ID, &e.Host, &e.Port, &e.ServerName, &expected, &created, &by, &checked, &status, &lerr, &lfp, &days)
	if err != nil {
		return e, err
	}
	if e.ExpiryDays, err = scanExpiryDays(days); err != nil {
		return e, fmt.Errorf("endpoint %d: %w", e.ID, err)
	}
	e.ExpectedFingerprint, e.CreatedBy = expected.String, by.String
	e.CreatedAt, e.LastChecked = parseTimeText(created), optTime(checked)
	e.LastStatus, e.LastError, e.LastFingerprint = status.String, lerr.String, lfp.String
	return e, nil
}

// AddEndpoint registers a TLS endpoint to discover and validate, and
// records it as an ENDPOINT_REGISTERED audit event.
func (s *Store) AddEndpoint(ctx context.Context, ep model.Endpoint, actor model.Actor) (model.Endpoint, error) {
	if err := ep.Validate(); err != nil {
		return ep, err
	}
	now := s.now()
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		ep.CreatedAt, ep.CreatedBy = now.UTC(), actor.ID
		err := tx.QueryRow(`INSERT INTO endpoints (host, port, server_name, expected_fingerprint, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, ep.Host, ep.Port, ep.ServerName, nullStr(ep.ExpectedFingerprint), timeText(now), actor.ID).Scan(&ep.ID)
		if isConstraint(err) {
			return nil, model.Errorf(model.ECONFLICT, "endpoint %s (server name %q) is already registered", ep.Addr(), ep.ServerName)
		}
		if err != nil {
			return nil, fmt.Errorf("store: add endpoint: %w", err)
		}
		e, err := model.NewAuditEvent(now, "ENDPOINT_REGISTERED", "SUCCESS", actor, model.EndpointEntity(ep.ID),
			fmt.Sprintf("Endpoint %s registered for discovery and deployment validation", ep.Addr()),
			map[string]any{"host": ep.Host, "port": ep.Port, "server_name": ep.ServerName, "expected_fingerprint": ep.ExpectedFingerprint})
		return []model.Event{e}, err
	})
	return ep, err
}

// EndpointByID returns registered endpoint id.
func (s *Store) EndpointByID(ctx context.Context, id int64) (model.Endpoint, error) {
	return queryOne(ctx, s.rdb, fmt.Sprintf("endpoint %d", id), scanEndpoint, `SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`, id)
}

// ListEndpoints returns every registered endpoint in registration order.
func (s *Store) ListEndpoints(ctx context.Context) ([]model.Endpoint, error) {
	return queryAll(ctx, s.rdb, "endpoints", scanEndpoint, `SELECT `+endpointColumns+` FROM endpoints ORDER BY id`)
}

// RecordEndpointCheck stores the outcome of dialing endpoint id at now:
// status OK or FAILED, the error, and the fingerprint it served.
func (s *Store) RecordEndpointCheck(ctx context.Context, id int64, now time.Time, status, errText, fingerprint string) error {
	_, err := s.wdb.ExecContext(ctx, `UPDATE endpoints SET last_checked = ?, last_status = ?, last_error = ?, last_fingerprint = ? WHERE id = ?`,
		timeText(now), status, nullStr(errText), nullStr(fingerprint), id)
	if err != nil {
		return fmt.Errorf("store: record endpoint check: %w", err)
	}
	return nil
}

// scanExpiryDays reads an expiry_days column: a JSON array, or NULL.
func scanExpiryDays(ns sql.NullString) ([]int, error) {
	if !ns.Valid {
		return nil, nil
	}
	var days []int
	if err := json.Unmarshal([]byte(ns.String), &days); err != nil {
		return nil, fmt.Errorf("expiry_days: %w", err)
	}
	return days, nil
}

// SetCertificateExpiryDays sets the alert thresholds of certificate id
// (nil clears them) and records the change as an EXPIRY_DAYS_CHANGED audit
// event; setting what is already set records nothing.
func (s *Store) SetCertificateExpiryDays(ctx context.Context, id int64, days []int, actor model.Actor) (model.Certificate, error) {
	var c model.Certificate
	err := s.setExpiryDays(ctx, days, actor, func(tx *sql.Tx) (thresholdsOf, error) {
		var err error
		c, err = queryOne(ctx, tx, fmt.Sprintf("certificate %d", id), scanCert, `SELECT `+certColumns+` FROM certificates WHERE id = ?`, id)
		if err != nil {
			return thresholdsOf{}, err
		}
		c.PEM = ""
		return thresholdsOf{"certificates", id, model.CertificateEntity(id), "certificate " + c.Label(), &c.ExpiryDays,
			model.CertRef{Serial: c.Serial, Fingerprint: c.Fingerprint, Subject: c.Subject}}, nil
	})
	return c, err
}

// SetEndpointExpiryDays sets the alert thresholds of the certificates
// endpoint id serves or expects (nil clears them), audited as
// SetCertificateExpiryDays.
func (s *Store) SetEndpointExpiryDays(ctx context.Context, id int64, days []int, actor model.Actor) (model.Endpoint, error) {
	var e model.Endpoint
	err := s.setExpiryDays(ctx, days, actor, func(tx *sql.Tx) (thresholdsOf, error) {
		var err error
		e, err = queryOne(ctx, tx, fmt.Sprintf("endpoint %d", id), scanEndpoint, `SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`, id)
		if err != nil {
			return thresholdsOf{}, err
		}
		return thresholdsOf{"endpoints", id, model.EndpointEntity(id), "endpoint " + e.Addr(), &e.ExpiryDays, model.CertRef{}}, nil
	})
	return e, err
}

// thresholdsOf is the row whose expiry_days setExpiryDays changes.
type thresholdsOf struct {
	table  string // a constant of the caller's
	id     int64
	entity model.Entity
	label  string
	days   *[]int // the row's, updated
	cert   model.CertRef
}

// setExpiryDays sets the expiry_days of the row load reads to days.
func (s *Store) setExpiryDays(ctx context.Context, days []int, actor model.Actor, load func(tx *sql.Tx) (thresholdsOf, error)) error {
	days, err := model.CheckExpiryDays(days)
	if err != nil {
		return err
	}
	now := s.now()
	_, err = s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		row, err := load(tx)
		if err != nil {
			return nil, err
		}
		old := *row.days
		if slices.Equal(old, days) {
			return nil, nil
		}
		var col any
		if days != nil {
			b, _ := json.Marshal(days)
			col = string(b)
		}
		if _, err := tx.Exec(`UPDATE `+row.table+` SET expiry_days = ? WHERE id = ?`, col, row.id); err != nil {
			return nil, fmt.Errorf("store: set expiry days: %w", err)
		}
		*row.days = days
		msg := fmt.Sprintf("Alert thresholds of %s set to %s days before expiry", row.label, model.FormatExpiryDays(days))
		if days == nil {
			msg = fmt.Sprintf("Alert thresholds of %s cleared: the default applies", row.label)
		}
		e, err := model.NewAuditEvent(now, "EXPIRY_DAYS_CHANGED", "SUCCESS", actor, row.entity, msg,
			map[string]any{"old": old, "new": days})
		e.Certificate = row.cert
		return []model.Event{e}, err
	})
	return err
}
