package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
)

// engine is what differs between the databases the store keeps its data
// in: embedded SQLite (a file, the default) and PostgreSQL (a URL, for
// several nodes on one database). Everything above it — the writer, the
// chain, the Merkle tree, retention, the watch tables — is the same code
// on both; docs/storage.md describes the two.
type engine interface {
	// schema holds schema.sql and migrations/NNNN_*.sql for this engine.
	schema() fs.FS
	// openWriter opens the pool that writes: every transaction on it
	// excludes every other writing transaction, in this process and in
	// any other on the same database.
	openWriter(ctx context.Context) (*sql.DB, error)
	// afterMigrate runs once the schema is current, on the writer's pool.
	afterMigrate(ctx context.Context, wdb *sql.DB) error
	// openReaders opens the pool of readers, which also see the
	// full-text index (as schema fts). A read-only transaction on it reads
	// one snapshot.
	openReaders(ctx context.Context) (*sql.DB, error)
	// fullText is the full-text index's storage.
	fullText() fullTextStore
	// tableExists reports whether the schema has table name.
	tableExists(ctx context.Context, db *sql.DB, name string) (bool, error)
	// optimize refreshes the planner's statistics where the engine wants
	// that done by its user.
	optimize(ctx context.Context, wdb *sql.DB) error
	// closing runs on the writer's pool just before it is closed.
	closing(wdb *sql.DB)
	// backup writes a consistent copy of the database to out, created
	// 0600.
	backup(ctx context.Context, out string) error
	// storageBytes returns the bytes the database takes, by part.
	storageBytes(ctx context.Context, rdb *sql.DB) map[string]int64
	// openLease opens the pool of the scheduler's lock when several
	// processes may share the database and run checks (nil: one box, no
	// lock; see Store.LeadsScheduler).
	openLease(ctx context.Context) (*sql.DB, error)
	// partitions is how the events table is split by ids (nil: it is
	// not; see partitions.go).
	partitions() *partitions
	// dialect writes the SQL that differs.
	dialect() dialect
	// describe names the database for messages (a path, or a URL without
	// its password).
	describe() string
}

// IsDatabaseURL reports whether target names a PostgreSQL database
// (postgres:// or postgresql://) rather than an SQLite file.
func IsDatabaseURL(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// engineFor returns the engine of target: a PostgreSQL URL or the path of
// an SQLite file.
func engineFor(target string, schema fs.FS, opts Options) (engine, error) {
	if IsDatabaseURL(target) {
		return newPostgresEngine(target, opts)
	}
	if strings.Contains(target, "://") {
		return nil, fmt.Errorf("store: %q: a database is a file path or a postgres:// URL", RedactURL(target))
	}
	return &sqliteEngine{path: target, schemaFS: schema}, nil
}

// dialect writes the few SQL expressions the two engines spell
// differently; the store's other SQL is read by both.
type dialect struct{ postgres bool }

// noIndex is col in a form the planner does not look up through an index
// (SQLite's unary +): for conditions that match most rows, where walking
// ids newest first is what is fast.
func (d dialect) noIndex(col string) string {
	if d.postgres {
		return col
	}
	return "+" + col
}

// indexedBy names the index SQLite is to read table through; PostgreSQL
// plans from its own statistics.
func (d dialect) indexedBy(index string) string {
	if d.postgres {
		return ""
	}
	return " INDEXED BY " + index
}

// joinInOrder joins two tables with the left one driving (SQLite's CROSS
// JOIN fixes the order).
func (d dialect) joinInOrder() string {
	if d.postgres {
		return "JOIN"
	}
	return "CROSS JOIN"
}

// secondOf is the expression of a text time column (RFC 3339) as UTC text
// to the second: 2006-01-02T15:04:05.
func (d dialect) secondOf(col string) string {
	if d.postgres {
		return `to_char((` + col + `)::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')`
	}
	return `strftime('%Y-%m-%dT%H:%M:%S', ` + col + `)`
}

// jsonInt is the integer at key of the JSON object in text column col.
func (d dialect) jsonInt(col, key string) string {
	if d.postgres {
		return `((` + col + `)::jsonb ->> '` + key + `')::bigint`
	}
	return `json_extract(` + col + `, '$.` + key + `')`
}

// containsFold is the condition that text column col contains the
// parameter, ignoring case.
func (d dialect) containsFold(col string) string {
	if d.postgres {
		return `strpos(lower(` + col + `), lower(?)) > 0`
	}
	return `instr(lower(` + col + `), lower(?)) > 0`
}

// ownIndex reports whether the events have a b-tree index on field's
// column by id, which a listing filtered by it walks newest first. On
// PostgreSQL type, actor, agent and tenant do (store/postgres/schema.sql):
// a GIN index finds every match of a filter token and sorts them, which
// grows with the matches. SQLite finds them through their tokens, whose
// postings FTS5 walks newest first.
func (d dialect) ownIndex(field filterField) bool {
	if !d.postgres {
		return false
	}
	switch field {
	case fieldType, fieldActor, fieldAgent, fieldTenant:
		return true
	}
	return false
}

// explain is the prefix that makes a statement show its plan.
func (d dialect) explain() string {
	if d.postgres {
		return "EXPLAIN "
	}
	return "EXPLAIN QUERY PLAN "
}

// match is the condition that the full-text document of f (fts.events_fts)
// matches the parameter, given as matchArg makes it.
func (d dialect) match() string {
	if d.postgres {
		return `f.doc @@ ?::tsquery`
	}
	return `events_fts MATCH ?`
}

// matchArg turns a full-text expression as ftsQuery writes it (FTS5's
// syntax) into the parameter of match.
func (d dialect) matchArg(expr string) any {
	if d.postgres {
		return tsquery(expr)
	}
	return expr
}
