package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"vigil/model"
)

// eventColumns lists the events columns in the order of row.args and scanEvent.
const eventColumns = `id, event_id, time, time_ns, received_at, source, category, type, outcome, severity,
	actor_type, actor_id, actor_dn, actor_ip, entity_type, entity_id,
	cert_serial, cert_fingerprint, cert_subject,
	agent_id, host, app, process, command, policy, tenant, message, details, hash`

// toRow converts a normalized event to its stored form with sequence id id.
func toRow(id int64, e *model.Event) row {
	return row{
		id: id, eventID: e.EventID,
		time: e.Time.Format(time.RFC3339Nano), timeNS: e.Time.UnixNano(),
		receivedAt: e.ReceivedAt.UnixNano(),
		source:     e.Source, category: e.Category, typ: e.Type, outcome: e.Outcome, severity: e.Severity,
		actorType: e.Actor.Type, actorID: e.Actor.ID, actorDN: e.Actor.DN, actorIP: e.Actor.IP,
		entityType: e.Entity.Type, entityID: e.Entity.ID,
		certSerial: e.Certificate.Serial, certFingerprint: e.Certificate.Fingerprint, certSubject: e.Certificate.Subject,
		agentID: e.AgentID, host: e.Host, app: e.App, process: e.Process, command: e.Command,
		policy: e.Policy, tenant: e.Tenant, message: e.Message, details: string(e.Details),
	}
}

// document appends the full-text document of r to buf: its words, then its
// filter tokens.
func (r *row) document(buf []byte) []byte { return r.filterTokens(r.words(buf)) }

// words appends to buf what people search for in r, each field followed by
// a space. Details are indexed as their JSON text, so both keys and values
// are found.
func (r *row) words(buf []byte) []byte {
	for _, s := range [...]string{
		r.typ, r.message, r.actorID, r.actorDN, r.actorIP, r.entityType, r.entityID,
		r.certSubject, r.certSerial, r.certFingerprint, r.agentID, r.host, r.app,
		r.process, r.command, r.policy, r.tenant, r.details,
	} {
		if s != "" {
			buf = append(buf, s...)
			buf = append(buf, ' ')
		}
	}
	return buf
}

// filterTokens appends to buf the filter tokens of r's type, actor, agent,
// tenant, actor ip, certificate serial, policy, actor type, entity type and
// id, category, outcome and source, each followed by a space.
func (r *row) filterTokens(buf []byte) []byte {
	for _, fv := range [...]struct {
		field filterField
		value string
	}{{fieldType, r.typ}, {fieldActor, r.actorID}, {fieldAgent, r.agentID}, {fieldTenant, r.tenant},
		{fieldIP, r.actorIP}, {fieldCertSerial, r.certSerial}, {fieldPolicy, r.policy},
		{fieldActorType, r.actorType}, {fieldEntityType, r.entityType}, {fieldEntityID, r.entityID},
		{fieldCategory, r.category}, {fieldOutcome, r.outcome}, {fieldSource, r.source}} {
		if fv.value != "" {
			buf = filterToken(buf, fv.field, fv.value)
			buf = append(buf, ' ')
		}
	}
	return buf
}

// filterField names a column filtered through the full-text index.
type filterField string

const (
	fieldType   filterField = "zzy"
	fieldActor  filterField = "zza"
	fieldAgent  filterField = "zzg"
	fieldTenant filterField = "zzt"
	// The console's click-to-filter values (index format 7).
	fieldIP         filterField = "zzi"
	fieldCertSerial filterField = "zzk"
	fieldPolicy     filterField = "zzp"
	// The Audit log's click-to-filter values (index format 8).
	fieldActorType  filterField = "zzu"
	fieldEntityType filterField = "zze"
	fieldEntityID   filterField = "zzn"
	// Category and outcome take few values, but a B-tree index on each
	// cost more per insert than both tokens.
	fieldCategory filterField = "zzc"
	fieldOutcome  filterField = "zzo"
	// Source has five values. A rare one (http beside millions of syslog
	// lines) must not be found by walking every row; a frequent one costs
	// what a frequent category does.
	fieldSource filterField = "zzs"
)

// filterToken appends the full-text token standing for "field = value": a
// single word (the field's prefix and a 64-bit FNV-1a hash of the value in
// base 36) that no text the tokenizer reads can produce by accident. A hash
// collision only adds candidates: queries also compare the column exactly.
// Indexing these tokens is far cheaper than a B-tree index per column,
// whose scattered pages every commit rewrites.
func filterToken(buf []byte, field filterField, value string) []byte {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(value); i++ {
		h ^= uint64(value[i])
		h *= prime64
	}
	buf = append(buf, field...)
	return strconv.AppendUint(buf, h, 36)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanRow reads eventColumns into a row and its hash.
func scanRow(sc scanner) (row, []byte, error) {
	var r row
	var hash []byte
	var ns [22]sql.NullString
	err := sc.Scan(&r.id, &ns[0], &r.time, &r.timeNS, &r.receivedAt, &r.source, &r.category, &r.typ, &r.outcome, &r.severity,
		&ns[1], &ns[2], &ns[3], &ns[4], &ns[5], &ns[6], &ns[7], &ns[8], &ns[9],
		&ns[10], &ns[11], &ns[12], &ns[13], &ns[14], &ns[15], &ns[16], &r.message, &ns[17], &hash)
	if err != nil {
		return r, nil, err
	}
	for i, dst := range [...]*string{
		&r.eventID, &r.actorType, &r.actorID, &r.actorDN, &r.actorIP, &r.entityType, &r.entityID,
		&r.certSerial, &r.certFingerprint, &r.certSubject, &r.agentID, &r.host, &r.app, &r.process,
		&r.command, &r.policy, &r.tenant, &r.details,
	} {
		*dst = ns[i].String
	}
	return r, hash, nil
}

// event converts a stored row back to the model.
func (r *row) event(hash []byte) model.Event {
	t, err := time.Parse(time.RFC3339Nano, r.time)
	if err != nil {
		t = time.Unix(0, r.timeNS).UTC()
	}
	e := model.Event{
		ID: r.id, EventID: r.eventID, Time: t, ReceivedAt: time.Unix(0, r.receivedAt).UTC(),
		Source: r.source, Category: r.category, Type: r.typ, Outcome: r.outcome, Severity: r.severity,
		Actor:       model.Actor{Type: r.actorType, ID: r.actorID, DN: r.actorDN, IP: r.actorIP},
		Entity:      model.Entity{Type: r.entityType, ID: r.entityID},
		Certificate: model.CertRef{Serial: r.certSerial, Fingerprint: r.certFingerprint, Subject: r.certSubject},
		AgentID:     r.agentID, Host: r.host, App: r.app, Process: r.process, Command: r.command,
		Policy: r.policy, Tenant: r.tenant, Message: r.message, Hash: hash,
	}
	if r.details != "" {
		e.Details = []byte(r.details)
	}
	return e
}

func scanEvent(sc scanner) (model.Event, error) {
	r, hash, err := scanRow(sc)
	if err != nil {
		return model.Event{}, err
	}
	return r.event(hash), nil
}

// EventByID returns event id if vis may see it: ENOTFOUND when there is no
// such event, EFORBIDDEN when there is one the caller may not see.
func (s *Store) EventByID(ctx context.Context, id int64, vis model.Visibility) (model.Event, error) {
	e, err := scanEvent(s.rdb.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, missingEvent(ctx, s.d, s.rdb, id)
	}
	if err != nil {
		return e, fmt.Errorf("store: event by id: %w", err)
	}
	if !vis.MaySee(e) {
		return model.Event{}, model.Errorf(model.EFORBIDDEN, "your role may not see event %d", id)
	}
	return e, nil
}

// timeIndexProbe is how many rows of a time range are counted to decide
// whether walking the time index beats walking ids newest first.
const timeIndexProbe = 5000

// EventPage is one page of events as FindEvents found them, with what the
// full-text index may have kept out of it.
type EventPage struct {
	Events []model.Event // newest first
	Next   int64         // the cursor of the next page (0 when there is none)
	// Index is how far the full-text index was behind once the page was read.
	Index IndexStatus
	// ThroughIndex is set when the page was found through the full-text
	// index (usesFullText): it may then miss the Index.Lag newest events.
	ThroughIndex bool
}

// MayMiss returns how many committed events the page may be missing: the
// index's lag when the page went through the index, else 0.
func (p EventPage) MayMiss() int64 {
	if !p.ThroughIndex {
		return 0
	}
	return p.Index.Lag
}

// FindEvents returns a page of the events matching f, newest first. Only
// events f.Visibility may see are read; refusing a filter that names a
// category the role may not see (model.EventFilter.CheckVisible) is the
// caller's, before it answers anything.
func (s *Store) FindEvents(ctx context.Context, f model.EventFilter) (EventPage, error) {
	events, next, err := s.findEvents(ctx, f)
	if err != nil {
		return EventPage{}, err
	}
	return EventPage{Events: events, Next: next, Index: s.IndexStatus(), ThroughIndex: usesFullText(f)}, nil
}

// findEvents reads the events of one page of f and the next page's cursor.
func (s *Store) findEvents(ctx context.Context, f model.EventFilter) ([]model.Event, int64, error) {
	limit := f.Limit
	if limit <= 0 || limit > model.MaxLimit {
		limit = model.DefaultLimit
	}
	// The index first: a prefix expands to the words it holds.
	s.waitIndexed(ctx, f)
	q, args, err := s.pageQuery(ctx, f, limit+1)
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	defer func() { s.logSlowQuery(ctx, start, q, args) }()
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: find events: %w", err)
	}
	defer rows.Close()
	events := make([]model.Event, 0, min(limit, 128))
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: find events: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: find events: %w", err)
	}
	var next int64
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].ID
	}
	return events, next, nil
}

// eachRow runs q in tx and passes its rows to fn, in the query's order,
// until fn returns false.
func eachRow(ctx context.Context, tx *sql.Tx, d dialect, q string, args []any, fn func(r *row, hash []byte) bool) error {
	if d.postgres {
		return eachRowByCursor(ctx, tx, q, args, fn)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, hash, err := scanRow(rows)
		if err != nil {
			return err
		}
		if !fn(&r, hash) {
			return nil
		}
	}
	return rows.Err()
}

// cursorFetch is how many rows eachRowByCursor reads at a time.
const cursorFetch = 1000

// eachRowByCursor is eachRow on PostgreSQL, where a connection runs one
// query at a time: q's rows are fetched through a cursor, cursorFetch at
// a time, so that fn may query the same transaction between fetches.
func eachRowByCursor(ctx context.Context, tx *sql.Tx, q string, args []any, fn func(r *row, hash []byte) bool) error {
	if _, err := tx.ExecContext(ctx, `DECLARE each_row NO SCROLL CURSOR FOR `+q, args...); err != nil {
		return err
	}
	defer tx.ExecContext(ctx, `CLOSE each_row`)
	type fetched struct {
		r    row
		hash []byte
	}
	batch := make([]fetched, 0, cursorFetch)
	for {
		batch = batch[:0]
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(`FETCH %d FROM each_row`, cursorFetch))
		if err != nil {
			return err
		}
		for rows.Next() {
			r, hash, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, fetched{r, hash})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range batch {
			if !fn(&batch[i].r, batch[i].hash) {
				return nil
			}
		}
		if len(batch) < cursorFetch {
			return nil
		}
	}
}

// NewerCursor returns the cursor (before=) of the page of f that comes just
// before f's page, newer events: f.Before is the cursor of f's page, and
// the newer page lists the f.Limit matching events from f.Before up. ok is
// false when that page is the first one, which has no cursor. The start
// index (f.Offset) is the caller's to step back.
func (s *Store) NewerCursor(ctx context.Context, f model.EventFilter) (before int64, ok bool, err error) {
	if f.Before <= 0 {
		return 0, false, nil
	}
	limit := f.Limit
	if limit <= 0 || limit > model.MaxLimit {
		limit = model.DefaultLimit
	}
	f.After, f.Before, f.Offset = f.Before-1, 0, 0
	q, args, err := s.orderedEventQuery(ctx, f, "ASC")
	if err != nil {
		return 0, false, err
	}
	// The limit+1-th matching event from the old cursor up, if there is
	// one, is the newer page's cursor: the page lists the limit below it.
	var n int
	var top sql.NullInt64
	err = s.rdb.QueryRowContext(ctx, `SELECT count(*), max(id) FROM (`+q+` LIMIT ?) AS page`, append(args, limit+1)...).Scan(&n, &top)
	if err != nil {
		return 0, false, fmt.Errorf("store: newer page: %w", err)
	}
	if n <= limit || !top.Valid {
		return 0, false, nil
	}
	return top.Int64, true, nil
}

// pageQuery is the query of at most limit events of f from its start index
// (f.Offset) on. An unfiltered listing turns the start index into an id
// bound (startBound), so its cost does not grow with the index; one by
// category and role (the Events page, Audit, System log) adds the rollups'
// per-block counts until the block holding it (blockStart) and skips by
// OFFSET within that block only; other filters skip with OFFSET.
func (s *Store) pageQuery(ctx context.Context, f model.EventFilter, limit int) (string, []any, error) {
	skip := f.Offset
	if skip > 0 && unfiltered(f) {
		bound, ok, err := s.startBound(ctx, f.Before, int64(skip))
		if err != nil {
			return "", nil, err
		}
		if ok {
			// id <= bound; Before = 1 (no id below it) when bound < 1.
			f.Before, skip = max(bound, 0)+1, 0
		}
	}
	if skip > 0 && byCategoryOnly(f) {
		before, rest, ok, err := s.blockStart(ctx, f, int64(skip))
		if err != nil {
			return "", nil, err
		}
		if ok {
			f.Before, skip = before, int(rest)
		}
	}
	q, args, err := s.eventQuery(ctx, f)
	if err != nil {
		return "", nil, err
	}
	return q + ` LIMIT ? OFFSET ?`, append(args, limit, skip), nil
}

// unfiltered reports whether f lists every event (but for its cursors):
// no text, field, category, access-control, time or visibility filter.
func unfiltered(f model.EventFilter) bool {
	return !usesFullText(f) && len(f.Categories) == 0 && !f.HideAccessControl &&
		f.From.IsZero() && f.To.IsZero() && f.Visibility.All()
}

// byCategoryOnly reports whether f filters by categories and the role's
// visibility alone (and a cursor), which the per-block rollups count.
func byCategoryOnly(f model.EventFilter) bool {
	return !usesFullText(f) && f.From.IsZero() && f.To.IsZero() && f.After == 0
}

// blockStart finds where the listing of f (byCategoryOnly) is after skip
// of its events: below the cursor before, skipping rest more events. The
// events of the block holding the cursor's top are counted one by one (at
// most blockIDs rows), the blocks under it from event_rollups_block, newest
// first, until the one holding the start; rest is then within that block.
// ok is false while the rollups are being rebuilt.
func (s *Store) blockStart(ctx context.Context, f model.EventFilter, skip int64) (before, rest int64, ok bool, err error) {
	if !s.rollups {
		return 0, 0, false, nil
	}
	if st, err := readRollupState(ctx, s.rdb); err != nil || !st.ready() {
		return 0, 0, false, err
	}
	top := f.Before // ids below top
	if top <= 0 {
		var maxID sql.NullInt64
		if err := s.rdb.QueryRowContext(ctx, `SELECT max(id) FROM events`).Scan(&maxID); err != nil {
			return 0, 0, false, fmt.Errorf("store: start index: %w", err)
		}
		top = maxID.Int64 + 1
	}
	// The top block, from its first id to the cursor.
	first := (top - 1) / blockIDs * blockIDs
	g := f
	g.Before, g.After, g.Offset = top, first-1, 0
	q, args, err := s.eventQuery(ctx, g)
	if err != nil {
		return 0, 0, false, err
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`) AS listed`, args...).Scan(&n); err != nil {
		return 0, 0, false, fmt.Errorf("store: start index: %w", err)
	}
	if skip < n {
		return top, skip, true, nil
	}
	skip -= n
	// The whole blocks below it.
	where := []string{`e.block < ?`}
	args = []any{first / blockIDs}
	if cond, a := s.d.visibilityCond(f.Visibility); cond != "" {
		where, args = append(where, cond), append(args, a...)
	}
	if len(f.Categories) > 0 {
		where = append(where, `e.category IN (`+placeholders(len(f.Categories))+`)`)
		for _, c := range f.Categories {
			args = append(args, c)
		}
	}
	if f.HideAccessControl {
		where = append(where, `e.category <> 'ACCESS_CONTROL'`)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT e.block, sum(e.n) FROM event_rollups_block e WHERE `+strings.Join(where, ` AND `)+
		` GROUP BY e.block ORDER BY e.block DESC`, args...)
	if err != nil {
		return 0, 0, false, fmt.Errorf("store: start index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var block int64
		if err := rows.Scan(&block, &n); err != nil {
			return 0, 0, false, fmt.Errorf("store: start index: %w", err)
		}
		if skip < n {
			return (block + 1) * blockIDs, skip, true, nil
		}
		skip -= n
	}
	if err := rows.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("store: start index: %w", err)
	}
	return 1, 0, true, nil // past the oldest: an empty page
}

// startBound returns the largest id of the unfiltered listing below the
// cursor before (0: none) once skip events are skipped. Ids are dense: the
// writer numbers events one after another, retention removes an oldest
// prefix and redaction keeps ids, so the skipped events are the ids just
// below the top. Only events removed by retention of an older version
// (pruned_events above the oldest stored id) leave holes; ok is false when
// the skipped ids reach into them, and the caller skips by OFFSET.
func (s *Store) startBound(ctx context.Context, before, skip int64) (bound int64, ok bool, err error) {
	var minID, maxID, maxPruned sql.NullInt64
	err = s.rdb.QueryRowContext(ctx, `SELECT (SELECT min(id) FROM events), (SELECT max(id) FROM events),
		(SELECT max(id) FROM pruned_events)`).Scan(&minID, &maxID, &maxPruned)
	if err != nil {
		return 0, false, fmt.Errorf("store: start index: %w", err)
	}
	if !maxID.Valid {
		return 0, true, nil
	}
	top := maxID.Int64
	if before > 0 && before-1 < top {
		top = before - 1
	}
	bound = top - skip
	if maxPruned.Valid && maxPruned.Int64 > minID.Int64 && bound < maxPruned.Int64 {
		return 0, false, nil
	}
	return bound, true, nil
}

// ExportEvents calls fn for every event matching f, newest first, without a
// limit, streaming from one read transaction. It returns the number of
// events passed to fn. Like FindEvents it reads only what f.Visibility may
// see and leaves refusing the filter to the caller.
func (s *Store) ExportEvents(ctx context.Context, f model.EventFilter, fn func(*model.Event) error) (int, error) {
	s.waitIndexed(ctx, f)
	q, args, err := s.eventQuery(ctx, f)
	if err != nil {
		return 0, err
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("store: export events: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return n, fmt.Errorf("store: export events: %w", err)
		}
		if err := fn(&e); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("store: export events: %w", err)
	}
	return n, nil
}

// usesFullText reports whether f is answered through the full-text index:
// a text search (q) and the type, actor, agent, tenant, ip, certificate
// serial, policy, actor type, entity, outcome, source and
// single-category filters are; the time, access-control and
// several-category filters on their own are not.
// While the index is behind (IndexStatus), a listing that uses it may miss
// the newest events.
func usesFullText(f model.EventFilter) bool {
	return f.Q != "" || f.Type != "" || f.Actor != "" || f.AgentID != "" || f.Tenant != "" ||
		f.IP != "" || f.CertSerial != "" || f.Policy != "" || f.ActorType != "" || f.EntityType != "" || f.EntityID != "" ||
		len(f.Categories) == 1 && ownCategoryIndex[f.Categories[0]].name == "" || f.Outcome != "" || len(f.Sources) > 0
}

// ownCategoryIndex are the partial indexes of the rare categories
// (migration 0013), with the condition that lets SQLite use each: a
// listing of one of them alone reads its index newest first.
var ownCategoryIndex = map[string]struct{ name, cond string }{
	model.CategoryAuditLog: {"events_category_audit_log", `e.category = 'AUDIT_LOG'`},
	model.CategorySystem:   {"events_category_system", `e.category = 'SYSTEM'`},
}

// waitIndexed lets the full-text index catch up with the events committed
// so far before a query that uses it, so what was acknowledged is found.
func (s *Store) waitIndexed(ctx context.Context, f model.EventFilter) {
	if usesFullText(f) {
		s.ix.waitFor(ctx, s.writer.committed.Load())
	}
}

// eventQuery builds the SELECT for f, ordered newest first, without LIMIT.
func (s *Store) eventQuery(ctx context.Context, f model.EventFilter) (string, []any, error) {
	return s.orderedEventQuery(ctx, f, "DESC")
}

// orderedEventQuery builds the SELECT for f ordered by id, order "DESC"
// (newest first) or "ASC" (oldest first), without LIMIT.
func (s *Store) orderedEventQuery(ctx context.Context, f model.EventFilter, order string) (string, []any, error) {
	var where []string
	var args []any
	var upTo int64     // when > 0, no matching event has a larger id
	var downTo int64   // when > 0, no matching event has a smaller id
	var timeIndex bool // a narrow time range, read through events_time
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if cond, a := s.d.visibilityCond(f.Visibility); cond != "" {
		add(cond, a...)
	}
	// Type, actor, agent, tenant, category, outcome and source are found through
	// their filter tokens in the full-text index and then compared exactly.
	var tokens []string
	var ownIndex string // a rare category alone: read through its index
	switch len(f.Categories) {
	case 0:
	case 1:
		if ix := ownCategoryIndex[f.Categories[0]]; ix.name != "" {
			add(ix.cond)
			ownIndex = ix.name
			break
		}
		add(`e.category = ?`, f.Categories[0])
		tokens = append(tokens, `"`+string(filterToken(nil, fieldCategory, f.Categories[0]))+`"`)
	default:
		// Several categories (the Events page's three) match most events:
		// walking ids newest first finds them at once, without the index,
		// so such a list is complete even while the index is behind.
		for _, c := range f.Categories {
			args = append(args, c)
		}
		where = append(where, `e.category IN (`+placeholders(len(f.Categories))+`)`)
	}
	if f.HideAccessControl {
		add(`e.category <> 'ACCESS_CONTROL'`)
	}
	// One token per value, any of them; then the exact comparison.
	anyOf := func(field filterField, col string, values []string) {
		var alts []string
		for _, v := range values {
			args = append(args, v)
			alts = append(alts, `"`+string(filterToken(nil, field, v))+`"`)
		}
		where = append(where, col+` IN (`+placeholders(len(values))+`)`)
		if !s.d.ownIndex(field) {
			tokens = append(tokens, `(`+strings.Join(alts, ` OR `)+`)`)
		}
	}
	if len(f.Sources) > 0 {
		anyOf(fieldSource, `e.source`, f.Sources)
	}
	if f.Type != "" {
		// A renamed action is found under its former names too.
		anyOf(fieldType, `e.type`, model.TypeNames(f.Type))
	}
	if f.Outcome != "" {
		add(`e.outcome = ?`, f.Outcome)
		tokens = append(tokens, `"`+string(filterToken(nil, fieldOutcome, f.Outcome))+`"`)
	}
	for _, fv := range []struct {
		field filterField
		col   string
		value string
	}{{fieldActor, "e.actor_id", f.Actor}, {fieldAgent, "e.agent_id", f.AgentID}, {fieldTenant, "e.tenant", f.Tenant},
		{fieldIP, "e.actor_ip", f.IP}, {fieldCertSerial, "e.cert_serial", f.CertSerial}, {fieldPolicy, "e.policy", f.Policy},
		{fieldActorType, "e.actor_type", f.ActorType}, {fieldEntityType, "e.entity_type", f.EntityType}, {fieldEntityID, "e.entity_id", f.EntityID}} {
		if fv.value != "" {
			add(fv.col+` = ?`, fv.value)
			if !s.d.ownIndex(fv.field) {
				tokens = append(tokens, `"`+string(filterToken(nil, fv.field, fv.value))+`"`)
			}
		}
	}
	if ownIndex != "" && (f.Q != "" || len(tokens) > 0) {
		// With other token filters the full-text index finds the rows.
		tokens = append(tokens, `"`+string(filterToken(nil, fieldCategory, f.Categories[0]))+`"`)
		ownIndex = ""
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		from, to := int64(-1<<63), int64(1<<63-1)
		if !f.From.IsZero() {
			from = f.From.UnixNano()
		}
		if !f.To.IsZero() {
			to = f.To.UnixNano()
		}
		// A narrow range is best read through the time index; a wide one by
		// walking ids newest first and filtering, which stops at the limit.
		col := s.d.noIndex(`e.time_ns`)
		if f.Q == "" && len(tokens) == 0 {
			narrow, err := s.fewInTimeRange(ctx, from, to)
			if err != nil {
				return "", nil, err
			}
			if narrow {
				col, timeIndex = `e.time_ns`, true
			}
		}
		add(col+` BETWEEN ? AND ?`, from, to)
		if !timeIndex && !f.To.IsZero() {
			// A window in the past: the walk starts at the newest event in
			// it instead of the newest of all, and stops at its oldest.
			lo, hi, ok, err := s.timeRangeIDs(ctx, from, to)
			if err != nil {
				return "", nil, err
			}
			if ok {
				upTo, downTo = max(hi, 0), lo
			}
		}
	}
	idCol := `e.id`
	orderBy := idCol
	from := `events e`
	if timeIndex {
		// Named, so that statistics taken when the table was small cannot
		// turn the walk into a scan of every event.
		from = `events e` + s.d.indexedBy(`events_time`)
	} else if ownIndex != "" {
		from = `events e` + s.d.indexedBy(ownIndex)
	}
	if f.Q != "" || len(tokens) > 0 {
		match := strings.Join(tokens, " AND ")
		if f.Q != "" {
			user, err := ftsQuery(f.Q, func(p string) []string { return s.prefixWords(ctx, p) })
			if err != nil {
				return "", nil, err
			}
			match = strings.Join(append([]string{"(" + user + ")"}, tokens...), " AND ")
		}
		// The full-text table drives: its rowids come newest first and each
		// is joined to its row by primary key. CROSS JOIN fixes that order:
		// with statistics taken while the table was small (PRAGMA optimize
		// when a command closes the store), SQLite chose to scan every event
		// and probe the index for each, then sort: 30 s at 1M events.
		from = `fts.events_fts f ` + s.d.joinInOrder() + ` events e ON e.id = f.rowid`
		idCol, orderBy = `f.rowid`, `f.rowid`
		where = append([]string{s.d.match()}, where...)
		args = append([]any{s.d.matchArg(match)}, args...)
		if s.d.postgres {
			few, err := s.fewMatches(ctx, match)
			if err != nil {
				return "", nil, err
			}
			if few {
				// Not in the index's order: PostgreSQL reads the matches
				// through the GIN index and sorts them.
				orderBy = `f.rowid + 0`
			}
		}
	}
	// A bound on the ids: on the full-text table's, which drives, and on
	// PostgreSQL on the events' too (it does not carry a range across the
	// join, and would otherwise walk the events from the newest).
	bound := func(op string, v int64) {
		add(idCol+` `+op+` ?`, v)
		if idCol != `e.id` && s.d.postgres {
			add(`e.id `+op+` ?`, v)
		}
	}
	if upTo > 0 || downTo > 0 {
		bound(`<=`, upTo)
	}
	if downTo > 0 {
		bound(`>=`, downTo)
	}
	if f.Before > 0 {
		bound(`<`, f.Before)
	}
	if f.After > 0 {
		bound(`>`, f.After)
	}
	q := `SELECT ` + prefixColumns("e.") + ` FROM ` + from
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if order != "ASC" {
		order = "DESC"
	}
	q += ` ORDER BY ` + orderBy + ` ` + order
	return q, args, nil
}

// visibilityCond is the condition on events e that restricts a query to
// what v sees ("" when v sees everything). It never uses the category
// index ("+category"): it matches most rows, and walking ids newest first
// (or a time range) is what is fast.
func (d dialect) visibilityCond(v model.Visibility) (string, []any) {
	if v.All() {
		return "", nil
	}
	var args []any
	cond := d.noIndex(`e.category`) + ` IN (` + placeholders(len(v.Categories)) + `)`
	for _, c := range v.Categories {
		args = append(args, c)
	}
	if v.OwnSystem != "" {
		cond = `(` + cond + ` OR (` + d.noIndex(`e.category`) + ` = 'SYSTEM' AND (e.actor_type = 'SYSTEM' OR e.actor_id = ?)))`
		args = append(args, v.OwnSystem)
	}
	return cond, args
}

// blockProbes bounds how many blocks of ids timeRangeIDs reads from each
// end before it turns to the time index: blocks whose time span covers the
// window but that hold none of its events (a sender's clock far off puts
// one event in many blocks' spans).
const blockProbes = 16

// timeRangeIDs returns ids lo and hi such that every event with a time in
// [from, to] has an id in [lo, hi] (hi < lo: there is none); ok is false
// when they are not known. Blocks of ids whose time span (event_blocks)
// meets the window are read newest first for hi and oldest first for lo,
// each block at most blockIDs rows; without them (rollups being rebuilt)
// or after blockProbes empty blocks, the time index gives hi alone.
func (s *Store) timeRangeIDs(ctx context.Context, from, to int64) (lo, hi int64, ok bool, err error) {
	if s.rollups {
		if st, err := readRollupState(ctx, s.rdb); err != nil {
			return 0, 0, false, err
		} else if st.ready() {
			lo, hi, ok, err = s.blockRangeIDs(ctx, from, to)
			if err != nil || ok {
				return lo, hi, ok, err
			}
		}
	}
	hi, ok, err = s.maxIDInTimeRange(ctx, from, to)
	return 0, hi, ok, err
}

// blockRangeIDs is timeRangeIDs read through event_blocks.
func (s *Store) blockRangeIDs(ctx context.Context, from, to int64) (lo, hi int64, ok bool, err error) {
	blocks, err := queryAll(ctx, s.rdb, "time window", func(sc scanner) (int64, error) {
		var b int64
		return b, sc.Scan(&b)
	}, `SELECT block FROM event_blocks WHERE min_time_ns <= ? AND max_time_ns >= ? ORDER BY block`, to, from)
	if err != nil {
		return 0, 0, false, err
	}
	if len(blocks) == 0 {
		return 1, 0, true, nil
	}
	// edge returns agg(id) of the window's events in the first block of
	// order holding one.
	edge := func(agg string, order []int64) (int64, bool, error) {
		for i, b := range order {
			if i == blockProbes {
				return 0, false, nil
			}
			var id sql.NullInt64
			if err := s.rdb.QueryRowContext(ctx, `SELECT `+agg+`(id) FROM events WHERE id BETWEEN ? AND ? AND time_ns BETWEEN ? AND ?`,
				b*blockIDs, b*blockIDs+blockIDs-1, from, to).Scan(&id); err != nil {
				return 0, false, fmt.Errorf("store: time window: %w", err)
			}
			if id.Valid {
				return id.Int64, true, nil
			}
		}
		return 0, true, nil // none in any block
	}
	newest := slices.Clone(blocks)
	slices.Reverse(newest)
	if hi, ok, err = edge("max", newest); err != nil || !ok {
		return 0, 0, false, err
	}
	if hi == 0 {
		return 1, 0, true, nil
	}
	if lo, ok, err = edge("min", blocks); err != nil || !ok {
		return 0, 0, false, err
	}
	return lo, hi, true, nil
}

// timeWindowScan bounds how many time-index entries maxIDInTimeRange reads.
const timeWindowScan = 500_000

// maxIDInTimeRange returns the largest id of an event whose time is in
// [from, to], reading the time index; ok is false when the window holds
// more than timeWindowScan events (a window that large reaches recent ids
// anyway) or none.
func (s *Store) maxIDInTimeRange(ctx context.Context, from, to int64) (int64, bool, error) {
	var hi sql.NullInt64
	var n int64
	err := s.rdb.QueryRowContext(ctx, `SELECT max(id), count(*) FROM (SELECT id FROM events`+s.d.indexedBy(`events_time`)+` WHERE time_ns BETWEEN ? AND ? LIMIT ?) AS recent`,
		from, to, timeWindowScan+1).Scan(&hi, &n)
	if err != nil {
		return 0, false, fmt.Errorf("store: time window: %w", err)
	}
	return hi.Int64, hi.Valid && n <= timeWindowScan, nil
}

// fewMatchesEstimate is the most documents a full-text expression may
// match, as PostgreSQL's planner estimates, for a listing to read all its
// matches and sort them rather than walk the documents newest first until
// it has a page. The planner makes that choice itself from the same
// estimate, but for a word too rare for its statistics (not among the
// most common lexemes ANALYZE keeps) it assumes about 0.1% of the
// documents, 11,000 at 10M events, and walks: a word in 100 events of 10M
// walked them all (5 s). Reading 20,000 matches and sorting them takes
// tens of milliseconds; a word that common in the newest events is found
// as fast by the walk.
const fewMatchesEstimate = 20_000

// fewMatches reports whether the planner expects at most
// fewMatchesEstimate documents to match expr (PostgreSQL).
func (s *Store) fewMatches(ctx context.Context, expr string) (bool, error) {
	var plan string
	err := s.rdb.QueryRowContext(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM fts.events_fts f WHERE `+s.d.match(), s.d.matchArg(expr)).Scan(&plan)
	if err != nil {
		return false, fmt.Errorf("store: estimate full-text matches: %w", err)
	}
	var est []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal([]byte(plan), &est); err != nil || len(est) != 1 {
		return false, fmt.Errorf("store: estimate full-text matches: %q: %v", plan, err)
	}
	return est[0].Plan.Rows <= fewMatchesEstimate, nil
}

// fewInTimeRange reports whether at most timeIndexProbe events have an
// event time in [from, to], counting no further than that.
func (s *Store) fewInTimeRange(ctx context.Context, from, to int64) (bool, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events`+s.d.indexedBy(`events_time`)+` WHERE time_ns BETWEEN ? AND ? LIMIT ?) AS probe`,
		from, to, timeIndexProbe+1).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: probe time range: %w", err)
	}
	return n <= timeIndexProbe, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func prefixColumns(p string) string {
	cols := strings.Split(eventColumns, ",")
	for i, c := range cols {
		cols[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// PrevHash returns the hash that event id's hash continues from: the hash
// of event id-1, or the chain's start (all zero) for the first event.
func (s *Store) PrevHash(ctx context.Context, id int64) ([]byte, error) {
	if id <= 1 {
		return make([]byte, HashSize), nil
	}
	var h []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT hash FROM events WHERE id < ? ORDER BY id DESC LIMIT 1`, id).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return make([]byte, HashSize), nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: previous hash: %w", err)
	}
	return h, nil
}

// slowQuery is how long a listing may take before it is logged.
const slowQuery = time.Second

// logSlowQuery logs a listing that started at start and took longer than
// slowQuery, with its SQL and query plan, for whoever has to find out why.
func (s *Store) logSlowQuery(ctx context.Context, start time.Time, q string, args []any) {
	took := time.Since(start)
	if took < slowQuery {
		return
	}
	plan, err := s.queryPlan(ctx, q, args)
	if err != nil {
		plan = "(" + err.Error() + ")"
	}
	s.ix.log.Warn("slow event listing", "took", took.Round(time.Millisecond), "sql", q,
		"args", fmt.Sprint(args...), "plan", plan)
}

// queryPlan returns the database's plan for q with args, its steps joined by "; ".
func (s *Store) queryPlan(ctx context.Context, q string, args []any) (string, error) {
	rows, err := s.rdb.QueryContext(ctx, s.d.explain()+q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	// SQLite's rows are id, parent, notused, detail; PostgreSQL's one line
	// of text. The step is the last column.
	cells := make([]any, len(cols))
	var detail string
	for i := range cells {
		cells[i] = new(any)
	}
	cells[len(cells)-1] = &detail
	var plan []string
	for rows.Next() {
		if err := rows.Scan(cells...); err != nil {
			return "", err
		}
		plan = append(plan, strings.TrimSpace(detail))
	}
	return strings.Join(plan, "; "), rows.Err()
}
