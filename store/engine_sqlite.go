package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// sqliteEngine keeps the store in embedded SQLite: the events and the rest
// in the file at path (vigil.db), the full-text index in its own file
// beside it (vigil-fts.db), both in WAL mode.
type sqliteEngine struct {
	path     string
	schemaFS fs.FS
}

func (e *sqliteEngine) schema() fs.FS           { return e.schemaFS }
func (e *sqliteEngine) dialect() dialect        { return dialect{} }
func (e *sqliteEngine) partitions() *partitions { return nil }
func (e *sqliteEngine) describe() string        { return e.path }

// sqliteCommon are the connection parameters of every pool on vigil.db.
func sqliteCommon() url.Values {
	return url.Values{
		"_busy_timeout": {"10000"},
		"_foreign_keys": {"on"},
		"_journal_mode": {"WAL"},
	}
}

// openWriter opens the writer's pool: one connection whose transactions
// begin IMMEDIATE, which excludes every other writer of the file, in this
// process or another.
func (e *sqliteEngine) openWriter(ctx context.Context) (*sql.DB, error) {
	// synchronous=FULL: in WAL mode each commit is fsynced before it
	// returns, so an acknowledged batch survives a power loss. Group commit
	// pays that fsync once per batch, not per event.
	wq := sqliteCommon()
	wq.Set("_synchronous", "FULL")
	wq.Set("_txlock", "immediate")
	// Page caches are sized for the 300 MiB memory budget: 32 MiB for the
	// writer, 4 MiB for each of the 8 readers (BenchmarkPeakRSS).
	wq.Set("_cache_size", "-32768")
	wdb, err := sql.Open("sqlite3", fileURI(e.path, wq))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", e.path, err)
	}
	return wdb, nil
}

func (e *sqliteEngine) afterMigrate(ctx context.Context, wdb *sql.DB) error {
	return pinEventStatistics(ctx, wdb)
}

// openReaders opens 8 read-only connections that see the full-text
// database attached as "fts".
func (e *sqliteEngine) openReaders(ctx context.Context) (*sql.DB, error) {
	rq := sqliteCommon()
	rq.Set("_query_only", "1")
	rq.Set("_cache_size", "-4096")
	rdb, err := sql.Open(readerDriver(ftsPath(e.path)), fileURI(e.path, rq))
	if err != nil {
		return nil, fmt.Errorf("store: open readers: %w", err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	return rdb, nil
}

// openLease: an SQLite store is one box's; its scheduler always runs.
func (e *sqliteEngine) openLease(context.Context) (*sql.DB, error) { return nil, nil }

func (e *sqliteEngine) tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
	return n > 0, err
}

// optimize lets SQLite refresh the statistics of the other tables (PRAGMA
// optimize, reading at most analysisLimit rows of an index), then pins
// those of events again.
func (e *sqliteEngine) optimize(ctx context.Context, wdb *sql.DB) error {
	_, err := wdb.ExecContext(ctx, fmt.Sprintf(`PRAGMA analysis_limit = %d; PRAGMA optimize`, analysisLimit))
	return errors.Join(err, pinEventStatistics(ctx, wdb))
}

// analysisLimit bounds the rows PRAGMA optimize reads per index, as SQLite
// recommends for it.
const analysisLimit = 1000

// closing folds the WAL into the database so a cleanly stopped one is one
// file.
func (e *sqliteEngine) closing(wdb *sql.DB) {
	_, _ = wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
}

// backup copies the database with VACUUM INTO, which reads one snapshot
// and never blocks the writer. out is created here, exclusively and 0600,
// and VACUUM INTO fills the empty file.
func (e *sqliteEngine) backup(ctx context.Context, out string) (err error) {
	if err := createPrivate(out); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(out)
		}
	}()
	db, err := sql.Open("sqlite3", fileURI(e.path, url.Values{"_busy_timeout": {"10000"}}))
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return fmt.Errorf("store: backup to %s: %w", out, err)
	}
	return nil
}

// storageBytes returns the sizes of the two databases and their WALs.
func (e *sqliteEngine) storageBytes(context.Context, *sql.DB) map[string]int64 {
	fts := ftsPath(e.path)
	sizes := map[string]int64{}
	for part, p := range map[string]string{"db": e.path, "wal": e.path + "-wal", "fts": fts, "fts-wal": fts + "-wal"} {
		var size int64
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
		}
		sizes[part] = size
	}
	return sizes
}

// eventStatistics is what sqlite_stat1 says of events: a million rows,
// about one per event time. SQLite picks between walking ids from a cursor
// and scanning the whole table by the table's size in these statistics, and
// no clause of a query overrides that: with "2 1", taken by PRAGMA optimize
// when a command closed a store holding two events, a deep cursor, a start
// index and a window in the past each scanned every event. The real
// numbers only ever make the walk look better, so they are never measured.
const eventStatistics = "1000000 1"

// pinEventStatistics replaces whatever sqlite_stat1 holds for events (on a
// store of an older version, the numbers of a nearly empty table) with
// eventStatistics and makes db's connection read them; connections opened
// later read them when they open.
func pinEventStatistics(ctx context.Context, db *sql.DB) error {
	// ANALYZE sqlite_schema reads no table: it creates sqlite_stat1 when
	// missing and reloads the statistics.
	_, err := db.ExecContext(ctx, `ANALYZE sqlite_schema;
		DELETE FROM sqlite_stat1 WHERE tbl = 'events';
		INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', 'events_time', ?);
		ANALYZE sqlite_schema`, eventStatistics)
	if err != nil {
		return fmt.Errorf("store: pin event statistics: %w", err)
	}
	return nil
}

// fileURI returns the SQLite URI of path with the connection parameters q;
// '%', '?' and '#' in the path are escaped so any directory name works.
func fileURI(path string, q url.Values) string {
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + path + "?" + q.Encode()
}

// ftsPath returns the full-text database's path for the events database
// at dbPath.
func ftsPath(dbPath string) string {
	return strings.TrimSuffix(dbPath, ".db") + "-fts.db"
}

// driverSeq numbers the drivers registered for reader pools.
var driverSeq atomic.Int64

// readerDriver registers a go-sqlite3 driver whose connections attach the
// full-text database as "fts", and returns its name.
func readerDriver(ftsFile string) string {
	name := fmt.Sprintf("sqlite3_vigil_%d", driverSeq.Add(1))
	sql.Register(name, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(`ATTACH DATABASE ? AS fts`, []driver.Value{ftsFile})
			return err
		},
	})
	return name
}

// sqliteConstraint reports whether err is a SQLite constraint violation.
func sqliteConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// sqliteStorageFailure reports whether err is SQLite's storage failing
// (disk full, I/O error, the database locked or read-only).
func sqliteStorageFailure(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrReadonly,
		sqlite3.ErrCantOpen, sqlite3.ErrNomem, sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		return true
	}
	return false
}

// fullText keeps the index in FTS5 tables of vigil-fts.db (ftsSchema). An
// unreadable file is removed and the index rebuilt from the events.
func (e *sqliteEngine) fullText() fullTextStore {
	path := ftsPath(e.path)
	q := url.Values{"_busy_timeout": {"10000"}, "_journal_mode": {"WAL"}, "_txlock": {"immediate"},
		// Derived data: a power loss may lose the newest transactions (they
		// are indexed again), never corrupt the file.
		"_synchronous": {"NORMAL"}, "_cache_size": {"-8192"}}
	openFile := func(ctx context.Context) (*sql.DB, error) {
		db, err := sql.Open("sqlite3", fileURI(path, q))
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		if _, err := db.ExecContext(ctx, ftsSchema); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
	return fullTextStore{
		open: func(ctx context.Context, log *slog.Logger) (*sql.DB, error) {
			db, err := openFile(ctx)
			if err == nil {
				return db, nil
			}
			log.Warn("full-text index unreadable; rebuilding it", "path", path, "err", err)
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			if db, err = openFile(ctx); err != nil {
				return nil, fmt.Errorf("store: full-text index: %w", err)
			}
			return db, nil
		},
		// Merge less often, from larger first segments: FTS5's defaults
		// merge every 4 segments of a level and flush every 1 MiB of
		// pending terms. With 8 and 8 MiB a fill of 3 million events ran at
		// 85,000 events/s instead of 75,000 (the writer waited 11 s instead
		// of 16.5 s for the index) and TCP intake with 3 million stored at
		// 100,000 msgs/s instead of 96,000, for 0.2–0.5 ms more on a
		// full-text listing's p95.
		settings: []string{
			`INSERT INTO events_fts (events_fts, rank) VALUES ('automerge', 8)`,
			fmt.Sprintf(`INSERT INTO events_fts (events_fts, rank) VALUES ('hashsize', %d)`, 8<<20),
		},
		// words_fts is made again: its documents' keys changed in format 6.
		reset: `DELETE FROM events_fts; DELETE FROM fts_state;
			DROP TABLE words_vocab; DROP TABLE words_fts;` + wordsSchema,
		insert: `INSERT INTO events_fts (rowid, doc) VALUES (?, ?)`,
		words:  true,
		close: func(db *sql.DB) error {
			_, _ = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			return db.Close()
		},
	}
}
