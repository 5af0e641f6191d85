package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"vigil/model"
)

// sightings collects, in memory, what committed events say about agents
// (every event naming an agent_id is a heartbeat) and about certificates in
// use (events naming a certificate's serial or fingerprint). The writer
// calls observe after each commit, on its goroutine, so it only updates
// maps; the store writes them to the agents and certificate_usage tables
// before it reads those (ListAgents, the certificates' usage) and when it
// closes.
type sightings struct {
	mu     sync.Mutex
	agents map[string]*agentSighting
	certs  map[certKey]*certSighting
	// full is signalled when the buffer holds flushAt sightings or more,
	// so that a busy store writes them out long before its next read.
	full    chan struct{}
	flushAt int
}

// sightingsFlushAt is how many agents and certificates the buffer holds
// before it is written out: a flood of events naming ever new certificates
// must not grow it until the next read (tens of MiB at most).
const sightingsFlushAt = 50_000

type agentSighting struct {
	first, last time.Time
	host        string
	events      int64
}

type certSighting struct {
	fingerprint, serial, subject string
	first, last                  time.Time
	agent, host                  string
	uses                         int64
}

func newSightings(flushAt int) *sightings {
	return &sightings{agents: map[string]*agentSighting{}, certs: map[certKey]*certSighting{},
		full: make(chan struct{}, 1), flushAt: flushAt}
}

// observe records the agents and certificates named by events just
// committed. It never blocks on I/O.
func (sg *sightings) observe(events []*model.Event) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for _, e := range events {
		at := e.ReceivedAt
		if e.AgentID != "" {
			a := sg.agents[e.AgentID]
			if a == nil {
				a = &agentSighting{first: at}
				sg.agents[e.AgentID] = a
			}
			if at.After(a.last) {
				a.last = at
			}
			if at.Before(a.first) {
				a.first = at
			}
			if e.Host != "" {
				a.host = e.Host
			}
			a.events++
		}
		// Vigil's own records about certificates are not uses of them.
		if e.Source == model.SourceInternal {
			continue
		}
		fp, serial := model.NormalizeFingerprint(e.Certificate.Fingerprint), model.NormalizeSerial(e.Certificate.Serial)
		for _, key := range [...]certKey{{"fp:", fp}, {"serial:", serial}} {
			if key.value == "" {
				continue
			}
			c := sg.certs[key]
			if c == nil {
				c = &certSighting{first: at}
				sg.certs[key] = c
			}
			c.fingerprint, c.serial = orKeep(fp, c.fingerprint), orKeep(serial, c.serial)
			c.subject = orKeep(e.Certificate.Subject, c.subject)
			if !at.Before(c.last) {
				c.last, c.agent, c.host = at, e.AgentID, e.Host
			}
			c.uses++
		}
	}
	if len(sg.agents)+len(sg.certs) >= sg.flushAt {
		select {
		case sg.full <- struct{}{}:
		default:
		}
	}
}

// flushWhenFull writes the sightings out each time the buffer fills, until
// stop is closed.
func (s *Store) flushWhenFull(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-s.sightings.full:
			s.flushBeforeRead(context.Background())
		}
	}
}

// certKey is a certificate's key in certificate_usage, "fp:" or
// "serial:" and the value, kept apart so that noting a use allocates
// nothing.
type certKey struct{ kind, value string }

func (k certKey) String() string { return k.kind + k.value }

func orKeep(v, old string) string {
	if v != "" {
		return v
	}
	return old
}

// take returns what was collected and starts afresh.
func (sg *sightings) take() (map[string]*agentSighting, map[certKey]*certSighting) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	a, c := sg.agents, sg.certs
	sg.agents, sg.certs = map[string]*agentSighting{}, map[certKey]*certSighting{}
	return a, c
}

// putBack merges sightings that could not be written back into sg, so
// that a failed flush loses nothing.
func (sg *sightings) putBack(agents map[string]*agentSighting, certs map[certKey]*certSighting) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for id, a := range agents {
		if n := sg.agents[id]; n != nil {
			n.events += a.events
			if a.first.Before(n.first) {
				n.first = a.first
			}
			if n.host == "" {
				n.host = a.host
			}
		} else {
			sg.agents[id] = a
		}
	}
	for k, c := range certs {
		if n := sg.certs[k]; n != nil {
			n.uses += c.uses
			if c.first.Before(n.first) {
				n.first = c.first
			}
		} else {
			sg.certs[k] = c
		}
	}
}

// flushSightings writes what the writer's commits said about agents and
// certificates in use to the agents and certificate_usage tables in one
// transaction. What cannot be written is kept for the next flush.
func (s *Store) flushSightings(ctx context.Context) error {
	agents, certs := s.sightings.take()
	if len(agents) == 0 && len(certs) == 0 {
		return nil
	}
	err := s.writeSightings(ctx, agents, certs)
	if err != nil {
		s.sightings.putBack(agents, certs)
	}
	return err
}

// flushBeforeRead flushes the sightings before a read of what they feed.
// A failed flush is logged, not returned: the reader gets what is already
// written, and the sightings wait for the next flush.
func (s *Store) flushBeforeRead(ctx context.Context) {
	if err := s.flushSightings(ctx); err != nil {
		s.log.Warn("flushing agent and certificate sightings", "err", err)
	}
}

func (s *Store) writeSightings(ctx context.Context, agents map[string]*agentSighting, certs map[certKey]*certSighting) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: flush sightings: %w", err)
	}
	defer tx.Rollback()
	// Many rows per statement: on PostgreSQL each statement is a round
	// trip, and a flush may hold tens of thousands of rows.
	agentRows := make([][]any, 0, len(agents))
	for id, a := range agents {
		agentRows = append(agentRows, []any{id, timeText(a.first), timeText(a.last), a.last.UnixNano(), nullStr(a.host), a.events})
	}
	if err := execRows(ctx, tx, `INSERT INTO agents (id, first_seen, last_seen, last_seen_ns, host, events)`, `
			ON CONFLICT (id) DO UPDATE SET
				last_seen    = CASE WHEN excluded.last_seen_ns > agents.last_seen_ns THEN excluded.last_seen ELSE agents.last_seen END,
				last_seen_ns = CASE WHEN excluded.last_seen_ns > agents.last_seen_ns THEN excluded.last_seen_ns ELSE agents.last_seen_ns END,
				host         = coalesce(excluded.host, agents.host),
				events       = agents.events + excluded.events`, agentRows); err != nil {
		return fmt.Errorf("store: flush agents: %w", err)
	}
	certRows := make([][]any, 0, len(certs))
	for key, c := range certs {
		certRows = append(certRows, []any{key.String(), nullStr(c.fingerprint), nullStr(c.serial), nullStr(c.subject), timeText(c.first), timeText(c.last),
			c.last.UnixNano(), nullStr(c.agent), nullStr(c.host), c.uses})
	}
	if err := execRows(ctx, tx, `INSERT INTO certificate_usage (key, fingerprint, serial, subject, first_seen, last_seen, last_seen_ns, agent_id, host, uses)`, `
			ON CONFLICT (key) DO UPDATE SET
				fingerprint  = coalesce(excluded.fingerprint, certificate_usage.fingerprint),
				serial       = coalesce(excluded.serial, certificate_usage.serial),
				subject      = coalesce(excluded.subject, certificate_usage.subject),
				agent_id     = CASE WHEN excluded.last_seen_ns >= certificate_usage.last_seen_ns THEN excluded.agent_id ELSE certificate_usage.agent_id END,
				host         = CASE WHEN excluded.last_seen_ns >= certificate_usage.last_seen_ns THEN excluded.host ELSE certificate_usage.host END,
				last_seen    = CASE WHEN excluded.last_seen_ns >= certificate_usage.last_seen_ns THEN excluded.last_seen ELSE certificate_usage.last_seen END,
				last_seen_ns = CASE WHEN excluded.last_seen_ns > certificate_usage.last_seen_ns THEN excluded.last_seen_ns ELSE certificate_usage.last_seen_ns END,
				uses         = certificate_usage.uses + excluded.uses`, certRows); err != nil {
		return fmt.Errorf("store: flush certificate usage: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: flush sightings: %w", err)
	}
	return nil
}

// ListAgents returns every known agent, by id, with online computed at now:
// seen within offlineAfter. Heartbeats committed until now are counted.
func (s *Store) ListAgents(ctx context.Context, now time.Time, offlineAfter time.Duration) ([]model.Agent, error) {
	s.flushBeforeRead(ctx)
	return queryAll(ctx, s.rdb, "agents", func(sc scanner) (model.Agent, error) {
		var a model.Agent
		var first, last string
		var host sql.NullString
		err := sc.Scan(&a.ID, &first, &last, &host, &a.Events)
		a.FirstSeen, a.LastSeen, a.Host = parseTimeText(first), parseTimeText(last), host.String
		a.Online = model.OnlineAt(a.LastSeen, now, offlineAfter)
		return a, err
	}, `SELECT id, first_seen, last_seen, host, events FROM agents ORDER BY id`)
}
