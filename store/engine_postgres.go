package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// postgresSchemaFS is the PostgreSQL schema: the same tables as SQLite's
// with PostgreSQL's types, and the full-text index as tsvector documents in
// schema fts.
//
//go:embed postgres/schema.sql
var postgresSchemaFS embed.FS

// Advisory lock keys: the store's writers (every transaction on the
// writer's pool, on every node) and the full-text indexers.
const (
	writeLockKey = 0x5669_6769_6c00_0001 // "Vigil" 1
	indexLockKey = 0x5669_6769_6c00_0002
)

// postgresEngine keeps the store in a PostgreSQL database, shared by every
// node that names it. The writer's transactions take one advisory lock, so
// that across nodes they run one at a time as SQLite's do on one file: the
// chain tip, the event ids and the Merkle tree are read and extended by
// one batch at a time, in commit order.
type postgresEngine struct {
	url    string
	config *pgx.ConnConfig
	parts  *partitions
	// partitionIDs is the partition size a new store takes.
	partitionIDs int64
}

func newPostgresEngine(target string, opts Options) (*postgresEngine, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		return nil, fmt.Errorf("store: database %s: %w", RedactURL(target), err)
	}
	// Every statement is planned when it runs, never from a plan cached
	// on the connection: a plan made while a table was nearly empty
	// stays a sequential scan as it grows (the chain tip, read by each
	// batch, took 250 ms at 400,000 events instead of 0.5 ms). Statement
	// descriptions are still cached, so this costs no round trip.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	return &postgresEngine{url: target, config: cfg, parts: &partitions{log: opts.Logger}, partitionIDs: opts.partitionIDs}, nil
}

func (e *postgresEngine) schema() fs.FS {
	sub, err := fs.Sub(postgresSchemaFS, "postgres")
	if err != nil {
		panic(err) // the embedded directory is there
	}
	return sub
}

func (e *postgresEngine) dialect() dialect { return dialect{postgres: true} }
func (e *postgresEngine) describe() string { return RedactURL(e.url) }

// pool opens a pool of conns connections; lockKey, when not 0, is the
// advisory lock every read-write transaction takes first; searchPath
// names the schemas unqualified names are looked up in; params are more
// session settings.
func (e *postgresEngine) pool(ctx context.Context, conns int, lockKey int64, searchPath string, params ...map[string]string) (*sql.DB, error) {
	cfg := e.config.Copy()
	if searchPath != "" {
		cfg.RuntimeParams["search_path"] = searchPath
	}
	for _, p := range params {
		for k, v := range p {
			cfg.RuntimeParams[k] = v
		}
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	db := sql.OpenDB(&pgConnector{inner: stdlib.GetConnector(*cfg), lockKey: lockKey})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", e.describe(), err)
	}
	return db, nil
}

// openWriter opens one connection, as SQLite's writer has: the group
// commit makes one transaction at a time, and the advisory lock orders it
// with the other nodes'.
func (e *postgresEngine) openWriter(ctx context.Context) (*sql.DB, error) {
	return e.pool(ctx, 1, writeLockKey, "")
}

func (e *postgresEngine) afterMigrate(ctx context.Context, wdb *sql.DB) error {
	return e.parts.load(ctx, wdb, e.partitionIDs)
}

func (e *postgresEngine) partitions() *partitions { return e.parts }

func (e *postgresEngine) openReaders(ctx context.Context) (*sql.DB, error) {
	return e.pool(ctx, 8, 0, "", readerParams)
}

// readerParams are the readers' session settings. A listing reads a
// hundred rows: starting parallel workers for it costs more than the work
// (a rare word took 34 ms, 22 of them in Gather Merge, at 1M events).
var readerParams = map[string]string{"max_parallel_workers_per_gather": "0"}

// openLease opens one connection for the scheduler's advisory lock.
func (e *postgresEngine) openLease(ctx context.Context) (*sql.DB, error) {
	return e.pool(ctx, 1, 0, "")
}

func (e *postgresEngine) tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`, name).Scan(&n)
	return n > 0, err
}

// optimize refreshes the planner's statistics (ANALYZE samples each
// table; autovacuum does the same as tables change).
func (e *postgresEngine) optimize(ctx context.Context, wdb *sql.DB) error {
	_, err := wdb.ExecContext(ctx, `ANALYZE`)
	if err == nil {
		// New documents wait in the GIN index's pending list, which every
		// search reads whole, until (auto)vacuum merges them: merge now.
		_, err = wdb.ExecContext(ctx, `SELECT gin_clean_pending_list('fts.events_fts_doc'::regclass)`)
	}
	return err
}

func (e *postgresEngine) closing(*sql.DB) {}

// backup refuses: a PostgreSQL database is copied with PostgreSQL's own
// tools, which also keep its roles and settings.
func (e *postgresEngine) backup(context.Context, string) error {
	return fmt.Errorf("store: backup: the store is the PostgreSQL database %s: copy it with pg_dump (a logical copy) or pg_basebackup (with its WAL, for point-in-time recovery); docs/operations.md describes both", e.describe())
}

func (e *postgresEngine) storageBytes(ctx context.Context, rdb *sql.DB) map[string]int64 {
	var db, fts sql.NullInt64
	_ = rdb.QueryRowContext(ctx, `SELECT pg_database_size(current_database()),
		(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = 'fts' AND c.relkind = 'r')`).Scan(&db, &fts)
	return map[string]int64{"db": db.Int64, "fts": fts.Int64}
}

// fullText keeps the index in fts.events_fts: one tsvector per event,
// under a GIN index. Its lexemes are the words the SQLite tokenizer makes
// (runs of letters and digits, case and diacritics folded), computed here
// so that both engines find the same events; prefixes are tsquery's :*.
func (e *postgresEngine) fullText() fullTextStore {
	return fullTextStore{
		open: func(ctx context.Context, _ *slog.Logger) (*sql.DB, error) {
			return e.pool(ctx, 1, indexLockKey, "fts, public")
		},
		reset: `DELETE FROM events_fts; DELETE FROM fts_state`,
		// A document travels as its lexemes joined by spaces (they hold
		// none), one array for the whole indexing transaction.
		insertMany: `INSERT INTO events_fts (rowid, doc)
			SELECT d.id, array_to_tsvector(string_to_array(d.words, ' ')) FROM unnest(?::bigint[], ?::text[]) AS d(id, words)`,
		manyDoc: lexemeText,
		close:   func(db *sql.DB) error { return db.Close() },
	}
}

// foldDiacritics removes combining marks after decomposition: é is e.
var foldDiacritics = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// fold lowercases w and removes its diacritics, as the SQLite index's
// tokenizer (unicode61, remove_diacritics 2) does.
func fold(w string) string {
	w = strings.ToLower(w)
	if isASCII(w) {
		return w
	}
	t := foldDiacritics.Get().(transform.Transformer)
	defer foldDiacritics.Put(t)
	if out, _, err := transform.String(t, w); err == nil {
		return out
	}
	return w
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lexemeText is the words of a document, as the SQLite tokenizer makes
// them (runs of letters and digits, folded), joined by single spaces, in
// one pass; repeats are left for array_to_tsvector to remove.
func lexemeText(text []byte) string {
	out := make([]byte, 0, len(text))
	wordStart, ascii := -1, true
	end := func() {
		if wordStart < 0 {
			return
		}
		if !ascii {
			folded := fold(string(out[wordStart:]))
			out = append(out[:wordStart], folded...)
		}
		wordStart, ascii = -1, true
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				end()
				continue
			}
			if wordStart < 0 {
				if len(out) > 0 {
					out = append(out, ' ')
				}
				wordStart = len(out)
			}
			out = append(out, c)
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			end()
			i += size
			continue
		}
		if wordStart < 0 {
			if len(out) > 0 {
				out = append(out, ' ')
			}
			wordStart = len(out)
		}
		ascii = false
		out = append(out, text[i:i+size]...)
		i += size
	}
	end()
	return string(out)
}

// pgConnector opens pgx connections that read the store's SQL as it is
// written for both engines: ? placeholders. With a lockKey, every
// read-write transaction first takes that advisory lock; a read-only one
// reads one snapshot (REPEATABLE READ), as an SQLite read transaction does.
type pgConnector struct {
	inner   driver.Connector
	lockKey int64
}

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{Conn: conn.(*stdlib.Conn), lockKey: c.lockKey}, nil
}

func (c *pgConnector) Driver() driver.Driver { return c.inner.Driver() }

type pgConn struct {
	*stdlib.Conn
	lockKey int64
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext prepares nothing on the server: a statement prepared
// there keeps the plan made on its first runs (see newPostgresEngine).
// The statement runs its text through the connection, which caches its
// description.
func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return &pgStmt{conn: c, query: query}, nil
}

// pgStmt is a statement "prepared" by pgConn.PrepareContext.
type pgStmt struct {
	conn  *pgConn
	query string
}

func (s *pgStmt) Close() error  { return nil }
func (s *pgStmt) NumInput() int { return -1 }

func (s *pgStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("store: pgStmt.Exec: use ExecContext")
}

func (s *pgStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("store: pgStmt.Query: use QueryContext")
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.ExecContext(ctx, s.query, args)
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.QueryContext(ctx, s.query, args)
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly && sql.IsolationLevel(opts.Isolation) == sql.LevelDefault {
		opts.Isolation = driver.IsolationLevel(sql.LevelRepeatableRead)
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil || opts.ReadOnly || c.lockKey == 0 {
		return tx, err
	}
	if _, err := c.Conn.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, []driver.NamedValue{{Ordinal: 1, Value: c.lockKey}}); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// rebound caches rebind's answers: the store's statements are a few
// hundred fixed strings and those built from them.
var rebound sync.Map

// rebind turns the ? placeholders of query into PostgreSQL's $1, $2, …,
// leaving quoted text, quoted names and comments as they are.
func rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case ch == '\'' || ch == '"':
			j := i + 1
			for j < len(query) && query[j] != ch {
				j++
			}
			b.WriteString(query[i:min(j+1, len(query))])
			i = j
		case ch == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case ch == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(ch)
		}
	}
	out := b.String()
	rebound.Store(query, out)
	return out
}

// RedactURL is target without its password, for messages and logs.
func RedactURL(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	return u.Redacted()
}

// postgresConstraint reports whether err is PostgreSQL refusing a change:
// integrity constraint violation (class 23).
func postgresConstraint(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23")
}

// postgresStorageFailure reports whether err is PostgreSQL failing or out
// of reach: the connection (class 08, or a network error), insufficient
// resources such as a full disk (53), the server shutting down (57), a
// system error (58), or a read-only server (25006, a standby).
func postgresStorageFailure(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57", "58":
			return true
		}
		return pe.Code == "25006"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// tsquery turns a full-text expression as ftsQuery writes it — quoted
// words, a * after a word for a prefix, AND, OR, binary NOT (FTS5: "a NOT
// b" is a and not b) and parentheses — into PostgreSQL's tsquery text.
// Its words are folded as the documents' are. Both languages bind NOT tighter
// than AND, and AND tighter than OR.
func tsquery(expr string) string {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		switch ch := expr[i]; {
		case ch == '"':
			j := strings.IndexByte(expr[i+1:], '"')
			if j < 0 {
				j = len(expr) - i - 1
			}
			w := fold(expr[i+1 : i+1+j])
			b.WriteString("'" + strings.ReplaceAll(strings.ReplaceAll(w, `\`, `\\`), "'", "''") + "'")
			i += j + 1
		case ch == '*':
			b.WriteString(":*")
		case ch == '(' || ch == ')':
			b.WriteByte(ch)
		case strings.HasPrefix(expr[i:], "AND"):
			b.WriteString(" & ")
			i += 2
		case strings.HasPrefix(expr[i:], "OR"):
			b.WriteString(" | ")
			i += 1
		case strings.HasPrefix(expr[i:], "NOT"):
			b.WriteString(" & !")
			i += 2
		}
	}
	return b.String()
}

// identityTables are the tables whose ids the database assigns.
var identityTables = []string{"users", "tokens", "certificates", "endpoints", "jobs", "checkpoints",
	"alerts", "retention_rules", "legal_holds", "verify_runs"}

// afterCopy sets each identity column to go on after the ids copied in.
func (e *postgresEngine) afterCopy(ctx context.Context, tx *sql.Tx) error {
	for _, t := range identityTables {
		if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), coalesce(max(id), 0) + 1, false) FROM `+t); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// isLockTimeout reports whether err is PostgreSQL giving up on a lock
// after lock_timeout (55P03, lock_not_available).
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}
