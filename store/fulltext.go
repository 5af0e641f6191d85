package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The full-text index lives in its own database file beside the events
// (vigil-fts.db), written by its own goroutine: the durable commit of the
// events does not wait for indexing, and the two run on separate cores.
// The index is derived data. It records how far it has indexed
// (indexed_upto) in the same transaction as the documents, so after a
// crash, a restore or a format change it is brought up to date, or rebuilt,
// from the events themselves. Searches wait (at most maxSearchWait) for the
// index to reach the newest event committed when they start, so a search
// finds what was just acknowledged.

// ftsFormat is the version of the index's documents; a database built with
// another is rebuilt.
const ftsFormat = 8

const ftsSchema = `
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    doc,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);
DROP TABLE IF EXISTS events_vocab;
-- The words of the index, for expanding prefixes: one document per indexed
-- batch (all its events' text), so a word has one posting per batch it
-- occurs in, not one per event, and listing the words that start with a
-- prefix reads a few postings each (a vocabulary of events_fts would read
-- every posting of every word it lists: 0.3 s for a word in each of 10
-- million events). Same tokenizer, so the same words. A batch's document
-- has the rowid of the batch's first id, so that when retention removes or
-- redacts events the documents of their batches are written again without
-- the removed words (format 6).
` + wordsSchema + `
CREATE TABLE IF NOT EXISTS fts_state (
    one          INTEGER PRIMARY KEY CHECK (one = 1),
    format       INTEGER NOT NULL,
    indexed_upto INTEGER NOT NULL
);`

// wordsSchema is the words table (see ftsSchema).
const wordsSchema = `
CREATE VIRTUAL TABLE IF NOT EXISTS words_fts USING fts5(
    doc,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS words_vocab USING fts5vocab(words_fts, 'row');
`

const (
	// indexChunk is the most events indexed in one transaction.
	indexChunk = 8192
	// maxIndexLag is how far indexing may fall behind before the event
	// writer waits for it: about a second of a sustained fill, so that
	// what is stored is searchable within about two, and the documents
	// the writer offers for it fit in offerBudget.
	maxIndexLag = 50_000
	// indexGather is how long committed events may gather before they are
	// indexed (see gather).
	indexGather = 50 * time.Millisecond
	// maxSearchWait bounds how long a search waits for the index.
	maxSearchWait = 2 * time.Second
)

// ftsDocs are the full-text documents of the consecutive events first,
// first+1, …: document i is text[ends[i-1]:ends[i]], its words end at
// wordEnds[i] and its filter tokens follow.
type ftsDocs struct {
	first    int64
	text     []byte
	ends     []int
	wordEnds []int
}

// add appends the document of r.
func (d *ftsDocs) add(r *row) {
	d.text = r.words(d.text)
	d.wordEnds = append(d.wordEnds, len(d.text))
	d.text = r.filterTokens(d.text)
	d.ends = append(d.ends, len(d.text))
}

// batchWords gathers the words document of a batch of events for
// words_fts: each space-separated chunk of their words once, without their
// filter tokens. The tokenizer splits at spaces, so the chunks kept give
// every word the events' text does, and a batch of syslog lines, which
// repeat their hosts, apps, keys and phrases, hands it a fraction of the
// text to read.
type batchWords struct {
	seen map[string]struct{}
	text []byte
}

// add adds the chunks of text not seen yet in the batch.
func (b *batchWords) add(text []byte) {
	if b.seen == nil {
		b.seen = map[string]struct{}{}
	}
	for len(text) > 0 {
		chunk := text
		if i := bytes.IndexByte(text, ' '); i >= 0 {
			chunk, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if len(chunk) == 0 {
			continue
		}
		if _, ok := b.seen[string(chunk)]; ok {
			continue
		}
		b.seen[string(chunk)] = struct{}{}
		b.text = append(b.text, chunk...)
		b.text = append(b.text, ' ')
	}
}

// reset empties b for the next batch.
func (b *batchWords) reset() {
	clear(b.seen)
	b.text = b.text[:0]
}

// indexer keeps the full-text database up to date with the events.
type indexer struct {
	// offered are documents the writer built while committing; when they
	// are the next to index they are used instead of reading the events
	// back. They are kept up to offerBudget bytes, which holds more than
	// the maxIndexLag events the writer lets the index fall behind: in a
	// sustained fill the indexer never reads events back (which costs
	// about as much as indexing them). Only one far behind (after a
	// restart, a rebuild, a stall) reads.
	offered offerQueue
	words   batchWords // the words document of the batch being indexed

	db     *sql.DB // the full-text database: one connection, for writes
	fts    fullTextStore
	events *sql.DB // readers of the events
	log    *slog.Logger

	upto     atomic.Int64 // every event up to this id is indexed
	mark     lagMark      // whether upto keeps up within a search's wait
	mu       sync.Mutex
	advanced chan struct{} // closed and replaced when upto moves
	wake     chan struct{}
	hurried  chan struct{} // a search or the writer waits
	stop     chan struct{}
	stopped  chan struct{}

	indexed prometheus.Counter
	batches prometheus.Histogram
}

// fullTextStore is where an engine keeps the full-text index: the SQL
// the indexer writes it with, which differs between FTS5 and tsvector.
// Documents are keyed by event id (rowid); fts_state holds the format and
// indexed_upto.
type fullTextStore struct {
	// open opens the index's pool (one connection, for writes; each
	// transaction excludes other indexers of the same index), creating
	// the index as needed.
	open func(ctx context.Context, log *slog.Logger) (*sql.DB, error)
	// settings run once opened.
	settings []string
	// reset empties the index and its state.
	reset string
	// insert stores one document: rowid ?, its text ?. Unset when
	// insertMany is set.
	insert string
	// insertMany stores many documents in one statement: rowids ?
	// (bigint[]), documents ? (text[], as manyDoc gives each).
	insertMany string
	manyDoc    func(text []byte) string
	// words is set when the index keeps the words table prefixes expand
	// through (words_fts, one document per indexed batch).
	words bool
	// close runs when the indexer stops.
	close func(db *sql.DB) error
}

// openIndexer opens (creating or rebuilding as needed) the full-text
// index for the events read through events. It does
// not start indexing: start does.
func openIndexer(ctx context.Context, fts fullTextStore, events *sql.DB, maxID int64, log *slog.Logger) (*indexer, error) {
	db, err := fts.open(ctx, log)
	if err != nil {
		return nil, err
	}
	ix := &indexer{db: db, fts: fts, events: events, log: log, advanced: make(chan struct{}),
		wake: make(chan struct{}, 1), hurried: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_fts_indexed_total", Help: "Events added to the full-text index.",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_fts_batch_seconds", Help: "Time to index and commit one batch of events.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
		}),
	}
	for _, q := range fts.settings {
		if _, err := db.ExecContext(ctx, q); err != nil {
			fts.close(db)
			return nil, fmt.Errorf("store: full-text index settings: %w", err)
		}
	}
	var format, upto int64
	err = db.QueryRowContext(ctx, `SELECT format, indexed_upto FROM fts_state`).Scan(&format, &upto)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		format = -1
	case err != nil:
		fts.close(db)
		return nil, fmt.Errorf("store: full-text index: %w", err)
	}
	// A different format, or an index ahead of the events (an older copy of
	// the events database was put back), is rebuilt from scratch.
	if format != ftsFormat || upto > maxID {
		if format >= 0 {
			log.Warn("rebuilding the full-text index", "format", format, "indexed_upto", upto, "events_up_to", maxID)
		}
		_, err := db.ExecContext(ctx, fts.reset)
		if err == nil {
			_, err = db.ExecContext(ctx, `INSERT INTO fts_state (one, format, indexed_upto) VALUES (1, ?, 0)`, ftsFormat)
		}
		if err != nil {
			fts.close(db)
			return nil, fmt.Errorf("store: full-text index: %w", err)
		}
		upto = 0
	}
	ix.upto.Store(upto)
	// A rebuild, or a catch-up after a crash, counts as behind from the
	// start: what was committed before now is not all searchable.
	ix.mark.set(maxID, time.Now())
	return ix, nil
}

// start runs the indexing goroutine until close.
func (ix *indexer) start() { go ix.run() }

// IndexLag returns how many committed events the full-text index does not
// hold yet (searches do not find them until it does).
func (s *Store) IndexLag() int64 {
	return max(0, s.writer.committed.Load()-s.ix.upto.Load())
}

// IndexStatus is how far the full-text index is behind the events.
type IndexStatus struct {
	Committed int64 // sequence id of the newest committed event
	Indexed   int64 // every event up to this id is in the index
	Lag       int64 // committed events not yet searchable (IndexLag)
	// Behind is set when events committed more than maxSearchWait (2 s)
	// ago are still not indexed: a search, which waits that long for the
	// index, may then miss the newest events. A lag the indexer clears
	// within the wait (the usual state during a flood) only delays a
	// search and does not set it.
	Behind bool
}

// IndexStatus returns how far the full-text index is behind the events.
func (s *Store) IndexStatus() IndexStatus {
	committed, upto := s.writer.committed.Load(), s.ix.upto.Load()
	return IndexStatus{
		Committed: committed, Indexed: upto, Lag: max(0, committed-upto),
		Behind: s.ix.mark.behind(committed, upto, time.Now()),
	}
}

// lagMark tells whether the index keeps up with the events within a
// search's wait. It holds a committed id and when it was seen: once the
// index reaches the id, the mark moves to the newest committed id; while
// the index has not reached it, the index is behind by more than the time
// since the mark was set. Time matters here, not a count of events: the
// same backlog is cleared in a blink on an idle machine and takes seconds
// on a loaded one. The mark moves only when asked, so a caller that asks
// every second or so (a live page) learns of a stall within about
// maxSearchWait plus its own interval.
type lagMark struct {
	mu sync.Mutex
	id int64
	at time.Time
}

// set places the mark at committed id id, seen at now.
func (m *lagMark) set(id int64, now time.Time) {
	m.mu.Lock()
	m.id, m.at = id, now
	m.mu.Unlock()
}

// behind reports, with committed and upto read at now, whether events
// committed more than maxSearchWait ago are not indexed yet.
func (m *lagMark) behind(committed, upto int64, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if upto >= m.id {
		m.id, m.at = committed, now
		return false
	}
	return now.Sub(m.at) > maxSearchWait
}

// offerBudget bounds the bytes of documents offered and not yet indexed:
// about 50,000 events' worth, a little more than maxIndexLag.
const offerBudget = 20 << 20

// offerQueue holds offered documents, oldest first, within offerBudget.
type offerQueue struct {
	mu     sync.Mutex
	docs   []ftsDocs
	bytes  int
	events int
}

func (d *ftsDocs) size() int { return len(d.text) + 16*len(d.ends) }

// drop forgets every document offered. Retention calls it once it has
// removed or redacted events, inside a transaction of the index (which
// has one connection, so the indexer is between two of its own): the
// documents were built from the events before the change, and the
// indexer reads the events not yet indexed back as they are now.
func (q *offerQueue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	clear(q.docs)
	q.docs, q.bytes, q.events = q.docs[:0], 0, 0
}

// first returns the first id of the oldest documents offered, 0 when none.
func (q *offerQueue) first() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.docs) == 0 {
		return 0
	}
	return q.docs[0].first
}

// takesOffers reports whether offer would keep documents offered now;
// when it would not, the indexer is far behind and reads the events
// itself.
func (ix *indexer) takesOffers() bool {
	q := &ix.offered
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes < offerBudget
}

// offer hands the indexer the documents of events just committed.
func (ix *indexer) offer(d ftsDocs) {
	if d.first > 0 {
		q := &ix.offered
		q.mu.Lock()
		if q.bytes+d.size() <= offerBudget {
			q.docs = append(q.docs, d)
			q.bytes += d.size()
			q.events += len(d.ends)
		} // else the indexer is far behind: it reads these events itself
		q.mu.Unlock()
	}
	ix.notify()
}

// hurry tells the indexer that someone waits for it: it indexes what is
// committed now, without gathering more.
func (ix *indexer) hurry() {
	select {
	case ix.hurried <- struct{}{}:
	default:
	}
	ix.notify()
}

// notify tells the indexer that events were committed.
func (ix *indexer) notify() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

func (ix *indexer) run() {
	defer close(ix.stopped)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ix.stop:
			return
		case <-ix.wake:
			ix.gather()
		case <-tick.C: // also catches events appended by another process
		}
		if err := ix.catchUp(context.Background()); err != nil {
			ix.log.Error("full-text indexing failed; retrying", "err", err)
			select {
			case <-ix.stop:
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// gather lets committed events gather for up to indexGather before they
// are indexed, until indexChunk events wait or a search waits for them:
// FTS5 writes a segment per indexing transaction and merges segments
// later, so fewer, larger transactions cost less per event.
func (ix *indexer) gather() {
	deadline := time.Now().Add(indexGather)
	for time.Now().Before(deadline) && ix.waiting() < indexChunk {
		select {
		case <-ix.stop:
			return
		case <-ix.hurried:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waiting returns how many events of the documents offered wait to be
// indexed; 0 unless the first of them is the next to index (the indexer
// is behind and reads events back: no reason to wait).
func (ix *indexer) waiting() int {
	q := &ix.offered
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.docs) == 0 || q.docs[0].first != ix.upto.Load()+1 {
		return indexChunk
	}
	return q.events
}

// catchUp indexes every committed event not yet indexed.
func (ix *indexer) catchUp(ctx context.Context) error {
	for {
		n, err := ix.indexBatch(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// indexBatch indexes up to indexChunk events past indexed_upto in one
// transaction and returns how many. indexed_upto is read inside the write
// transaction, so two processes never index the same events.
func (ix *indexer) indexBatch(ctx context.Context) (n int, err error) {
	start := time.Now()
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var upto int64
	if err := tx.QueryRowContext(ctx, `SELECT indexed_upto FROM fts_state`).Scan(&upto); err != nil {
		return 0, err
	}
	ins, err := newDocWriter(ctx, tx, ix.fts)
	if err != nil {
		return 0, err
	}
	last := upto
	// One words document for all the events of this transaction, keyed by
	// the first of them.
	words := &ix.words
	words.reset()
	if d, ok := ix.nextOffered(upto); ok {
		// Documents built by the writer: no need to read the events back.
		for n < indexChunk*4 {
			prev := 0
			for i, end := range d.ends {
				if err := ins.put(ctx, d.first+int64(i), d.text[prev:end]); err != nil {
					return 0, fmt.Errorf("index event %d: %w", d.first+int64(i), err)
				}
				if ix.fts.words {
					words.add(d.text[prev:d.wordEnds[i]])
				}
				prev = end
			}
			n += len(d.ends)
			last = d.first + int64(len(d.ends)) - 1
			if d, ok = ix.nextOffered(last); !ok {
				break
			}
		}
	} else {
		// Up to the documents offered next, if any: those need no reading.
		limit := int64(indexChunk)
		if next := ix.offered.first(); next > upto+1 {
			limit = min(limit, next-upto-1)
		}
		rows, err := ix.events.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id > ? ORDER BY id LIMIT ?`, upto, limit)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var doc []byte
		for rows.Next() {
			r, _, err := scanRow(rows)
			if err != nil {
				return 0, err
			}
			doc = r.words(doc[:0])
			if ix.fts.words {
				words.add(doc)
			}
			if err := ins.put(ctx, r.id, r.filterTokens(doc)); err != nil {
				return 0, fmt.Errorf("index event %d: %w", r.id, err)
			}
			last = r.id
			n++
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
	}
	if err := ins.flush(ctx, tx); err != nil {
		return 0, fmt.Errorf("index events: %w", err)
	}
	if n > 0 && ix.fts.words {
		if _, err := tx.ExecContext(ctx, `INSERT INTO words_fts (rowid, doc) VALUES (?, ?)`, upto+1, words.text); err != nil {
			return 0, fmt.Errorf("index words: %w", err)
		}
	}
	if n == 0 {
		tx.Rollback()
		ix.advance(upto) // another process may have indexed
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE fts_state SET indexed_upto = ?`, last); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	ix.indexed.Add(float64(n))
	ix.batches.Observe(time.Since(start).Seconds())
	ix.advance(last)
	return n, nil
}

// docWriter stores an indexing transaction's documents: each with its
// own statement, or with insertMany all of them in one at flush.
type docWriter struct {
	fts  fullTextStore
	ins  *sql.Stmt
	ids  []int64
	docs []string
}

func newDocWriter(ctx context.Context, tx *sql.Tx, fts fullTextStore) (*docWriter, error) {
	w := &docWriter{fts: fts}
	if fts.insertMany != "" {
		return w, nil
	}
	var err error
	w.ins, err = tx.PrepareContext(ctx, fts.insert)
	return w, err
}

// put stores, or gathers, the document text of event id.
func (w *docWriter) put(ctx context.Context, id int64, text []byte) error {
	if w.ins == nil {
		w.ids = append(w.ids, id)
		w.docs = append(w.docs, w.fts.manyDoc(text))
		return nil
	}
	_, err := w.ins.ExecContext(ctx, id, text)
	return err
}

// flush stores what put gathered.
func (w *docWriter) flush(ctx context.Context, tx *sql.Tx) error {
	if len(w.ids) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, w.fts.insertMany, w.ids, w.docs)
	w.ids, w.docs = w.ids[:0], w.docs[:0]
	return err
}

// nextOffered returns the offered documents that start right after upto,
// dropping any that are already indexed; false when there are none.
func (ix *indexer) nextOffered(upto int64) (ftsDocs, bool) {
	q := &ix.offered
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.docs) > 0 {
		d := q.docs[0]
		if d.first > upto+1 {
			// A gap (documents were dropped): read the events up to the
			// next offered ones instead.
			return ftsDocs{}, false
		}
		q.docs[0] = ftsDocs{}
		q.docs = q.docs[1:]
		q.bytes -= d.size()
		q.events -= len(d.ends)
		if d.first == upto+1 {
			return d, true
		}
		// d.first <= upto: indexed already (read back earlier)
	}
	return ftsDocs{}, false
}

// advance records that events up to id are indexed and wakes waiters.
func (ix *indexer) advance(id int64) {
	if id <= ix.upto.Load() {
		return
	}
	ix.mu.Lock()
	ix.upto.Store(id)
	close(ix.advanced)
	ix.advanced = make(chan struct{})
	ix.mu.Unlock()
}

// waitFor waits until every event up to id is indexed, ctx is done or
// maxSearchWait has passed; a search then runs on what is indexed.
func (ix *indexer) waitFor(ctx context.Context, id int64) {
	if ix.upto.Load() >= id {
		return
	}
	ix.hurry()
	timeout := time.NewTimer(maxSearchWait)
	defer timeout.Stop()
	for {
		ix.mu.Lock()
		ch := ix.advanced
		ix.mu.Unlock()
		if ix.upto.Load() >= id {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timeout.C:
			ix.log.Debug("search ran on an index behind the events", "indexed_upto", ix.upto.Load(), "wanted", id)
			return
		}
	}
}

// remove deletes removed events from the index.
func (ix *indexer) remove(ctx context.Context, ids []int64) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ix.offered.drop()
	del, err := tx.PrepareContext(ctx, `DELETE FROM events_fts WHERE rowid = ?`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := del.ExecContext(ctx, id); err != nil {
			return err
		}
	}
	if err := ix.rewriteWords(ctx, tx, ids); err != nil {
		return err
	}
	return tx.Commit()
}

// removeRange takes the documents of ids lo to hi out of the index, as
// remove does, for an index without words documents (PostgreSQL's).
func (ix *indexer) removeRange(ctx context.Context, lo, hi int64) error {
	if ix.fts.words {
		return fmt.Errorf("removing a range of documents from an index with words documents")
	}
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ix.offered.drop()
	if _, err := tx.ExecContext(ctx, `DELETE FROM events_fts WHERE rowid BETWEEN ? AND ?`, lo, hi); err != nil {
		return err
	}
	return tx.Commit()
}

// rewriteWords writes the words documents of the batches that hold ids
// again from their events as they are now, so that the words of removed or
// redacted content leave the index. ids are ascending. A batch's document
// has the rowid of its first id and runs to the next document's.
func (ix *indexer) rewriteWords(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if !ix.fts.words {
		return nil
	}
	var upto int64
	if err := tx.QueryRowContext(ctx, `SELECT indexed_upto FROM fts_state`).Scan(&upto); err != nil {
		return err
	}
	for i := 0; i < len(ids) && ids[i] <= upto; {
		start, ok, err := oneRowid(ctx, tx, `SELECT rowid FROM words_fts WHERE rowid <= ? ORDER BY rowid DESC LIMIT 1`, ids[i])
		if err != nil {
			return err
		}
		if !ok {
			i++
			continue
		}
		nextStart, hasNext, err := oneRowid(ctx, tx, `SELECT rowid FROM words_fts WHERE rowid > ? ORDER BY rowid LIMIT 1`, start)
		if err != nil {
			return err
		}
		end := upto
		if hasNext {
			end = nextStart - 1
		}
		var words batchWords
		var doc []byte
		rows, err := ix.events.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id >= ? AND id <= ? ORDER BY id`, start, end)
		if err != nil {
			return err
		}
		for rows.Next() {
			r, _, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return err
			}
			doc = r.words(doc[:0])
			words.add(doc)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM words_fts WHERE rowid = ?`, start); err != nil {
			return err
		}
		if len(words.text) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO words_fts (rowid, doc) VALUES (?, ?)`, start, words.text); err != nil {
				return err
			}
		}
		for i < len(ids) && ids[i] <= end {
			i++
		}
	}
	return nil
}

// oneRowid runs q, which selects at most one rowid.
func oneRowid(ctx context.Context, tx *sql.Tx, q string, arg int64) (int64, bool, error) {
	var id int64
	err := tx.QueryRowContext(ctx, q, arg).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// replace swaps the documents of already indexed events for docs (by id),
// in events_fts and in the words used for prefixes. Events not indexed yet
// are left to the indexer, which reads them as they are now.
func (ix *indexer) replace(ctx context.Context, docs map[int64][]byte) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ix.offered.drop()
	var upto int64
	if err := tx.QueryRowContext(ctx, `SELECT indexed_upto FROM fts_state`).Scan(&upto); err != nil {
		return err
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM events_fts WHERE rowid = ?`)
	if err != nil {
		return err
	}
	ins, err := newDocWriter(ctx, tx, ix.fts)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(docs))
	for id, doc := range docs {
		ids = append(ids, id)
		if id > upto {
			continue
		}
		if _, err := del.ExecContext(ctx, id); err != nil {
			return err
		}
		if err := ins.put(ctx, id, doc); err != nil {
			return fmt.Errorf("index event %d: %w", id, err)
		}
	}
	if err := ins.flush(ctx, tx); err != nil {
		return err
	}
	slices.Sort(ids)
	if err := ix.rewriteWords(ctx, tx, ids); err != nil {
		return err
	}
	return tx.Commit()
}

// close indexes what is left, for at most a few seconds (a clean stop
// normally leaves the index current; a long rebuild goes on at the next
// start), and closes the full-text database.
func (ix *indexer) close() error {
	close(ix.stop)
	<-ix.stopped
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := ix.catchUp(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return errors.Join(err, ix.fts.close(ix.db))
}
