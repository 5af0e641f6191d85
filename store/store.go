// Package store keeps Vigil's data in embedded SQLite: vigil.db holds the
// hash-chained events, users, tokens and the rest; vigil-fts.db the
// full-text index derived from the events. All SQL lives here. Event writes
// go through one writer goroutine (group commit), indexing through another;
// reads use their own connection pool. docs/storage.md describes the design.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"vigil/model"
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// SightingsFlushAt is how many agents and certificates named by events
	// are held in memory before they are written out (default 50,000).
	SightingsFlushAt int
	// Registerer receives the store's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// QueueSize bounds the append requests waiting for the writer.
	QueueSize int
	// MaxBatch bounds the events committed in one transaction.
	MaxBatch int
	// OnRecovered, if set, is called (in its own goroutine) when writes
	// succeed again after failing, e.g. once a full disk has space again.
	OnRecovered func(Outage)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LatestCheckpointFile, if set, receives the signed note of every
	// checkpoint made, outside the database: restoring an older copy of the
	// database does not roll it back, so the rollback is detected.
	LatestCheckpointFile string
	// Logger receives the store's log lines; nil means slog.Default().
	Logger *slog.Logger

	rollups      bool // the schema has event_rollups (set by Open)
	batchInserts bool // the writer inserts a transaction's events at once (set by Open)
	// partitionIDs is the size of a new PostgreSQL store's event
	// partitions (tests make it small); 0 means defaultPartitionIDs.
	partitionIDs int64
	// room makes room for event ids before the writer stores them (set
	// by Open from the engine; nil on SQLite).
	room *partitions
}

// Store is Vigil's database.
type Store struct {
	path   string  // the SQLite file or the PostgreSQL URL opened
	eng    engine  // what differs between SQLite and PostgreSQL
	d      dialect // the SQL spelled differently by the two
	wdb    *sql.DB // one connection: the writer and the few other writes
	rdb    *sql.DB // read pool
	writer *writer
	ix     *indexer // keeps the full-text database up to date
	now    func() time.Time
	log    *slog.Logger

	// sightings are the agents and certificates named by committed events,
	// not yet written to their tables.
	sightings *sightings
	// stopFlush ends flushWhenFull, which closes flushDone.
	stopFlush, flushDone chan struct{}
	// stopOptimize ends optimizeEvery, which closes optimizeDone.
	stopOptimize, optimizeDone chan struct{}
	// stopRollups ends buildRollups, which closes rollupsDone.
	stopRollups, rollupsDone chan struct{}

	latestFile string    // see Options.LatestCheckpointFile
	hashes     *hashGate // password hashes running at once

	retentionMu sync.Mutex // one retention run at a time

	// lease is the scheduler's lock when nodes share the database (nil on
	// SQLite); see LeadsScheduler.
	lease *lease

	// rollups is false for a schema before migration 0016 (as tests of
	// upgrades open): nothing keeps or reads the event rollups then.
	rollups bool
}

// schemaFS holds the base schema and the numbered migrations the store
// applies to its own database; migrations/README.md says how to add one.
//
//go:embed schema.sql migrations/*.sql
var schemaFS embed.FS

// Open opens (creating if needed) the database at path, applies the
// embedded schema and every migration not yet recorded, and starts the
// event writer. Close stops it after draining its queue.
func Open(ctx context.Context, dbPath string, opts Options) (*Store, error) {
	return openWithSchema(ctx, dbPath, schemaFS, opts)
}

// openWithSchema is Open with the schema and migrations taken from schema
// (schema.sql and migrations/NNNN_*.sql); tests pass an older set to
// upgrade from it.
func openWithSchema(ctx context.Context, dbPath string, schema fs.FS, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SightingsFlushAt <= 0 {
		opts.SightingsFlushAt = sightingsFlushAt
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 8192
	}
	eng, err := engineFor(dbPath, schema, opts)
	if err != nil {
		return nil, err
	}
	// What is open so far is closed, newest first, when a later step fails.
	var opened []func()
	fail := func(err error) (*Store, error) {
		for i := len(opened) - 1; i >= 0; i-- {
			opened[i]()
		}
		return nil, err
	}
	wdb, err := eng.openWriter(ctx)
	if err != nil {
		return nil, err
	}
	opened = append(opened, func() { wdb.Close() })
	if err := migrate(ctx, wdb, eng.schema(), opts.Now()); err != nil {
		return fail(err)
	}
	if err := eng.afterMigrate(ctx, wdb); err != nil {
		return fail(err)
	}
	var maxID int64
	if err := wdb.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&maxID); err != nil {
		return fail(fmt.Errorf("store: open: %w", err))
	}
	ix, err := openIndexer(ctx, eng.fullText(), nil, maxID, opts.Logger)
	if err != nil {
		return fail(err)
	}
	opened = append(opened, func() { ix.fts.close(ix.db) })
	rdb, err := eng.openReaders(ctx)
	if err != nil {
		return fail(err)
	}
	opened = append(opened, func() { rdb.Close() })
	ix.events = rdb
	leaseDB, err := eng.openLease(ctx)
	if err != nil {
		return fail(err)
	}
	s := &Store{path: dbPath, eng: eng, d: eng.dialect(), wdb: wdb, rdb: rdb, ix: ix, now: opts.Now, log: opts.Logger, latestFile: opts.LatestCheckpointFile,
		hashes: newHashGate(runtime.NumCPU()), sightings: newSightings(opts.SightingsFlushAt),
		stopFlush: make(chan struct{}), flushDone: make(chan struct{}),
		stopOptimize: make(chan struct{}), optimizeDone: make(chan struct{}),
		stopRollups: make(chan struct{}), rollupsDone: make(chan struct{})}
	if leaseDB != nil {
		s.lease = &lease{db: leaseDB}
		opened = append(opened, func() { leaseDB.Close() })
	}
	s.rollups, err = eng.tableExists(ctx, wdb, "event_rollups_minute")
	if err == nil {
		opts.rollups = s.rollups
		opts.batchInserts = s.d.postgres
		opts.room = eng.partitions()
		s.writer, err = newWriter(ctx, wdb, ix, maxID, s.sightings.observe, opts)
	}
	if err != nil {
		return fail(err)
	}
	ix.start()
	go s.flushWhenFull(s.stopFlush, s.flushDone)
	go s.optimizeEvery(optimizeInterval)
	go func() {
		defer close(s.rollupsDone)
		if err := s.buildRollups(s.stopRollups); err != nil {
			s.log.Error("counting stored events for the dashboard; it counts from the events until the next start", "err", err)
		}
	}()
	if err := s.acknowledgeLegacyRetention(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if r := opts.Registerer; r != nil {
		if err := r.Register(newCollector(s)); err != nil {
			s.Close()
			return nil, fmt.Errorf("store: register metrics: %w", err)
		}
	}
	return s, nil
}

// Close drains the write queue, stops the writer, writes the sightings it
// collected and closes the database.
func (s *Store) Close() error {
	close(s.stopOptimize)
	<-s.optimizeDone
	close(s.stopRollups)
	<-s.rollupsDone
	s.writer.close()
	close(s.stopFlush)
	<-s.flushDone
	if err := s.flushSightings(context.Background()); err != nil {
		s.log.Error("flushing agent and certificate sightings", "err", err)
	}
	if s.lease != nil {
		s.lease.close()
	}
	ierr := s.ix.close()
	s.optimize(context.Background())
	rerr := errors.Join(ierr, s.rdb.Close())
	s.eng.closing(s.wdb)
	return errors.Join(rerr, s.wdb.Close())
}

// optimize refreshes the planner's statistics (see engine.optimize).
func (s *Store) optimize(ctx context.Context) {
	if err := s.eng.optimize(ctx, s.wdb); err != nil {
		s.log.Warn("optimizing the database", "err", err)
	}
}

// optimizeInterval is how often a running store refreshes its statistics,
// as SQLite recommends for long-lived connections.
const optimizeInterval = time.Hour

// optimizeEvery runs optimize every interval until stopOptimize is closed.
func (s *Store) optimizeEvery(interval time.Duration) {
	defer close(s.optimizeDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopOptimize:
			return
		case <-t.C:
			s.optimize(context.Background())
		}
	}
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Now returns the current time of the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// migrate applies schema.sql to an empty database, then every migration in
// migrations/ not yet recorded, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB, schema fs.FS, now time.Time) error {
	// In a write transaction: it excludes another process creating the
	// same table at the same moment.
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL)`)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
	}
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	type step struct {
		version int
		name    string
	}
	steps := []step{{0, "schema.sql"}}
	names, err := fs.Glob(schema, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return fmt.Errorf("store: migrate: %s is not named NNNN_name.sql", n)
		}
		steps = append(steps, step{v, n})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].version < steps[j].version })
	for i := 1; i < len(steps); i++ {
		if steps[i].version == steps[i-1].version {
			return fmt.Errorf("store: migrate: two migrations numbered %d", steps[i].version)
		}
	}
	for _, st := range steps {
		body, err := fs.ReadFile(schema, st.name)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		// Whether the step is done is read inside its write transaction:
		// two processes starting on one new database apply it once.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, st.version).Scan(&done); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate: %w", err)
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s: %w", st.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			st.version, st.name, now.UTC().Format(time.RFC3339)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s: %w", st.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate %s: %w", st.name, err)
		}
	}
	return nil
}

// isConstraint reports whether err is a constraint violation: a unique
// key, a check, or a trigger refusing the change.
func isConstraint(err error) bool {
	return sqliteConstraint(err) || postgresConstraint(err)
}

// isStorageFailure reports whether err is the storage failing (disk full,
// I/O error, the database locked, read-only or out of reach) rather than
// a refusal of what was written.
func isStorageFailure(err error) bool {
	return sqliteStorageFailure(err) || postgresStorageFailure(err)
}

// writeFailed is the error of a write made outside the event writer: a
// storage failure is EUNAVAILABLE (answered with 503 and Retry-After),
// anything else is internal.
func writeFailed(op string, err error) error {
	if isStorageFailure(err) {
		return model.Errorf(model.EUNAVAILABLE, "%s: storage is failing: %v", op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// flag is b as the integer (1 or 0) the flag columns hold.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nullStr stores "" as NULL.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// timeText formats t for the non-event tables.
func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseTimeText parses what timeText wrote; "" is the zero time.
func parseTimeText(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
