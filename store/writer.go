package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"

	"vigil/model"
)

// AppendResult says what became of an appended batch.
type AppendResult struct {
	Accepted   int     // events stored
	Duplicates int     // events repeating their sender's event_id with the same content
	IDs        []int64 // sequence id of each input event (a duplicate's stored id)
}

// ErrQueueFull is returned by TryAppendEvents when the writer is saturated.
var ErrQueueFull = model.Errorf(model.EUNAVAILABLE, "event queue is full")

// ErrClosed is returned once the store is closing.
var ErrClosed = model.Errorf(model.EUNAVAILABLE, "store is shutting down")

// AppendEvents queues normalized events for the writer and returns once
// they are durable, as one unit: all of them are stored or none. An event
// with a Sender and an EventID that repeats an earlier one of that sender
// is a duplicate (not stored again, its stored id returned) when its
// content is the same; with other content the whole request is refused
// with an ECONFLICT error naming each such item. When the queue is full it
// waits (back-pressure) until ctx is done.
func (s *Store) AppendEvents(ctx context.Context, events []model.Event) (AppendResult, error) {
	return s.writer.append(ctx, events, true)
}

// TryAppendEvents is AppendEvents that fails with ErrQueueFull instead of
// waiting when the queue is full, for senders that cannot be slowed down.
func (s *Store) TryAppendEvents(ctx context.Context, events []model.Event) (AppendResult, error) {
	return s.writer.append(ctx, events, false)
}

// Outage describes a time when events could not be written.
type Outage struct {
	Since, Until  time.Time
	Err           string // the first failure
	FailedBatches int
}

// Unavailable reports whether event writes are failing now, and since when.
func (s *Store) Unavailable() (Outage, bool) {
	o := s.writer.outage.Load()
	if o == nil {
		return Outage{}, false
	}
	return *o, true
}

type appendReq struct {
	events []model.Event
	// apply, if set, runs first inside the writer's transaction and returns
	// the events to append with it: a change and its audit record are
	// committed together or not at all.
	apply func(tx *sql.Tx) ([]model.Event, error)
	done  chan appendAnswer
}

// applyError is an error returned by a request's apply function: the
// caller's own refusal (a conflict, a missing row), not a storage failure.
type applyError struct{ err error }

func (e applyError) Error() string { return e.err.Error() }
func (e applyError) Unwrap() error { return e.err }

// applyAndAppend runs apply inside the writer's next transaction and
// appends, in that same transaction, the events it returns. An error from
// apply rolls everything back and is returned as is.
func (s *Store) applyAndAppend(ctx context.Context, apply func(tx *sql.Tx) ([]model.Event, error)) (AppendResult, error) {
	return s.writer.send(ctx, &appendReq{apply: apply, done: make(chan appendAnswer, 1)}, true)
}

type appendAnswer struct {
	res AppendResult
	err error
}

// writer is the single goroutine that owns event writes. It takes every
// request waiting in its queue, up to maxBatch events, commits them in one
// transaction and then answers each producer.
type writer struct {
	db       *sql.DB
	queue    chan *appendReq
	maxBatch int
	onCommit func([]*model.Event)

	ix        *indexer     // told of each commit
	committed atomic.Int64 // the newest committed event id
	// indexWait is how long the writer has waited for the indexer (the
	// lag bound), in nanoseconds.
	indexWait atomic.Int64

	outage      atomic.Pointer[Outage] // nil while writes succeed
	onRecovered func(Outage)
	log         *slog.Logger

	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	stopped chan struct{}

	inserts   *inserts
	batch     *batchInsert // set: events are inserted a transaction at a time (PostgreSQL)
	room      *partitions  // set: ids need their partition first (PostgreSQL)
	findKey   *sql.Stmt
	insertKey *sql.Stmt
	tip       *sql.Stmt

	buf []byte // scratch for hashing
	// docSize is the mean size of the last batch's full-text documents:
	// the next batch's document buffer is allocated once at its size.
	docSize int
	args    []any // scratch for a row's values

	// tree is the compact range [0, last id) of the Merkle tree; nil when it
	// must be reloaded (after a failed commit).
	tree       *compact.Range
	newNodes   []compact.NodeID
	newHashes  [][]byte
	insertNode *sql.Stmt

	// rollups are the batch's counts per event_rollups key, added in one
	// upsert per key at the end of its transaction.
	rollups      rollupDelta
	upsertRollup rollupStmts
	// blockTimes are the batch's event times per block of ids, widening
	// event_blocks before the batch's COMMIT.
	blockTimes       blockTimes
	upsertBlockTimes *sql.Stmt

	stored    *prometheus.CounterVec
	dupes     prometheus.Counter
	batchSize prometheus.Histogram
	commitDur prometheus.Histogram
	failures  prometheus.Counter
}

func newWriter(ctx context.Context, db *sql.DB, ix *indexer, lastID int64, onCommit func([]*model.Event), opts Options) (*writer, error) {
	w := &writer{
		ix:       ix,
		db:       db,
		queue:    make(chan *appendReq, opts.QueueSize),
		maxBatch: opts.MaxBatch,
		onCommit: onCommit,
		stopped:  make(chan struct{}),

		onRecovered: opts.OnRecovered,
		log:         opts.Logger,
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_stored_total", Help: "Events committed to the database, by source.",
		}, []string{"source"}),
		dupes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_events_duplicate_total", Help: "Events not stored again because their sender already stored their event_id with the same content.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_writer_batch_events", Help: "Events per writer commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_writer_commit_seconds", Help: "Time to write and durably commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_writer_commit_failures_total", Help: "Batches whose commit failed.",
		}),
	}
	if r := opts.Registerer; r != nil {
		depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_writer_queue_depth", Help: "Append requests waiting for the writer.",
		}, func() float64 { return float64(len(w.queue)) })
		healthy := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_storage_writable", Help: "1 while event writes succeed, 0 while they fail (disk full, I/O error).",
		}, func() float64 {
			if w.outage.Load() != nil {
				return 0
			}
			return 1
		})
		lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_fts_lag_events", Help: "Committed events not yet in the full-text index.",
		}, func() float64 { return float64(max(0, w.committed.Load()-ix.upto.Load())) })
		indexWait := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vigil_writer_index_wait_seconds_total",
			Help: "Time the event writer waited for full-text indexing to come within its lag bound.",
		}, func() float64 { return time.Duration(w.indexWait.Load()).Seconds() })
		for _, c := range []prometheus.Collector{w.stored, w.dupes, w.batchSize, w.commitDur, w.failures, depth, healthy,
			lag, indexWait, ix.indexed, ix.batches} {
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("store: register metrics: %w", err)
			}
		}
	}
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		return st
	}
	w.findKey = prep(`SELECT id, content_hash FROM event_keys WHERE sender = ? AND event_id = ?`)
	w.insertKey = prep(`INSERT INTO event_keys (sender, event_id, id, content_hash) VALUES (?, ?, ?, ?)`)
	w.tip = prep(`SELECT id, hash FROM events ORDER BY id DESC LIMIT 1`)
	w.insertNode = prep(`INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)`)
	w.rollups = rollupDelta{}
	w.blockTimes = blockTimes{}
	if opts.rollups {
		w.upsertRollup = prepareRollups(prep)
		w.upsertBlockTimes = prep(upsertBlockTimesSQL)
	}
	if err == nil {
		w.inserts, err = newInserts(ctx, db)
	}
	if err != nil {
		return nil, fmt.Errorf("store: prepare writer: %w", err)
	}
	if opts.batchInserts {
		w.batch = &batchInsert{}
	}
	w.room = opts.room
	w.committed.Store(lastID)
	go w.run()
	return w, nil
}

func (w *writer) append(ctx context.Context, events []model.Event, wait bool) (AppendResult, error) {
	if len(events) == 0 {
		return AppendResult{}, nil
	}
	return w.send(ctx, &appendReq{events: events, done: make(chan appendAnswer, 1)}, wait)
}

func (w *writer) send(ctx context.Context, req *appendReq, wait bool) (AppendResult, error) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return AppendResult{}, ErrClosed
	}
	if wait {
		select {
		case w.queue <- req:
		case <-ctx.Done():
			w.mu.RUnlock()
			return AppendResult{}, ctx.Err()
		}
	} else {
		select {
		case w.queue <- req:
		default:
			w.mu.RUnlock()
			return AppendResult{}, ErrQueueFull
		}
	}
	w.mu.RUnlock()
	// Once queued the request is always answered, even during shutdown.
	a := <-req.done
	return a.res, a.err
}

// close refuses new requests, lets the writer drain the queue and waits.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *writer) run() {
	defer close(w.stopped)
	for req := range w.queue {
		batch := []*appendReq{req}
		n := len(req.events)
	drain:
		for n < w.maxBatch {
			select {
			case r, ok := <-w.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += len(r.events)
			default:
				break drain
			}
		}
		w.waitForIndex()
		w.commitBatch(batch)
	}
}

// waitForIndex holds the writer while full-text indexing is more than
// maxIndexLag events behind, or the documents offered to it fill
// offerBudget, so the lag stays bounded (at most a few seconds, then
// writes go on and the lag shows in vigil_fts_lag_events).
func (w *writer) waitForIndex() {
	start := time.Now()
	defer func() { w.indexWait.Add(int64(time.Since(start))) }()
	for deadline := start.Add(5 * time.Second); time.Now().Before(deadline); {
		if w.committed.Load()-w.ix.upto.Load() <= maxIndexLag && w.ix.takesOffers() {
			return
		}
		w.ix.hurry()
		time.Sleep(2 * time.Millisecond)
	}
}

// commitBatch commits batch in one transaction; if that fails and the batch
// holds several requests, each is retried alone so that one request's
// failure is not another's.
func (w *writer) commitBatch(batch []*appendReq) {
	answers, stored, err := w.commit(batch)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			w.commitBatch([]*appendReq{r})
		}
		return
	}
	// A refusal by a request's apply function is the caller's answer, not
	// a storage failure.
	var ae applyError
	switch {
	case errors.As(err, &ae):
		answers = []appendAnswer{{err: ae.err}}
	case err != nil:
		w.log.Error("event commit failed", "events", len(batch[0].events), "err", err)
		answers = []appendAnswer{{err: model.Errorf(model.EUNAVAILABLE, "events could not be stored: %v", err)}}
		w.noteFailure(err)
	default:
		w.noteSuccess()
	}
	// The hook sees a batch before its producers are answered, so that
	// whatever it records is visible once an append has returned, and while
	// the events it points to are still the producers' (they may reuse them).
	if err == nil && len(stored) > 0 {
		w.onCommit(stored)
	}
	for i, r := range batch {
		r.done <- answers[i]
	}
}

// noteFailure records that writes are failing.
func (w *writer) noteFailure(err error) {
	o := Outage{Since: time.Now(), Err: err.Error()}
	if prev := w.outage.Load(); prev != nil {
		o = *prev
	}
	o.FailedBatches++
	w.outage.Store(&o)
}

// noteSuccess ends an outage, if there was one, and reports it.
func (w *writer) noteSuccess() {
	prev := w.outage.Swap(nil)
	if prev == nil {
		return
	}
	o := *prev
	o.Until = time.Now()
	w.log.Warn("event writes succeed again", "outage_since", o.Since, "failed_batches", o.FailedBatches, "first_error", o.Err)
	if w.onRecovered != nil {
		go w.onRecovered(o)
	}
}

// appendLeaf adds an event hash to the Merkle tree and stores the new
// nodes of level storedLevel and above.
func (w *writer) appendLeaf(insNode *sql.Stmt, eventHash []byte) error {
	w.newNodes, w.newHashes = w.newNodes[:0], w.newHashes[:0]
	err := w.tree.Append(leafHash(eventHash), func(id compact.NodeID, h []byte) {
		if id.Level >= storedLevel {
			w.newNodes = append(w.newNodes, id)
			w.newHashes = append(w.newHashes, h)
		}
	})
	if err != nil {
		return fmt.Errorf("merkle append: %w", err)
	}
	for i, id := range w.newNodes {
		if _, err := insNode.Exec(id.Level, id.Index, w.newHashes[i]); err != nil {
			return fmt.Errorf("store merkle node: %w", err)
		}
	}
	return nil
}

// flushBatch inserts the events gathered for a batched insert
// (PostgreSQL), if any.
func (w *writer) flushBatch(tx *sql.Tx) error {
	if w.batch == nil {
		return nil
	}
	if n := len(w.batch.ids); n > 0 && w.room != nil {
		if err := w.room.need(context.Background(), tx, w.batch.ids[n-1]); err != nil {
			return err
		}
	}
	if err := w.batch.flush(tx); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

func (w *writer) commit(batch []*appendReq) (answers []appendAnswer, stored []*model.Event, err error) {
	start := time.Now()
	var total int
	for _, req := range batch {
		total += len(req.events)
	}
	if w.room != nil {
		w.room.ahead(context.Background(), w.db, w.committed.Load()+int64(total))
	}
	tx, err := w.db.Begin()
	if err != nil {
		w.failures.Inc()
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	defer w.inserts.endTx()
	if w.batch != nil {
		defer w.batch.reset()
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if !errors.As(err, new(applyError)) {
				w.failures.Inc()
			}
			w.tree = nil // the in-memory tree may hold what was rolled back
		}
	}()
	// The chain continues from the newest stored row, read inside the write
	// transaction, so that another process appending (vigil user add while
	// serve runs) cannot fork it.
	var lastID int64
	prev := make([]byte, HashSize)
	if err := tx.Stmt(w.tip).QueryRow().Scan(&lastID, &prev); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("read chain tip: %w", err)
	}
	if w.tree == nil || w.tree.End() != uint64(lastID) {
		// First batch, or another process appended since.
		if w.tree, err = loadRange(context.Background(), tx, uint64(lastID)); err != nil {
			return nil, nil, err
		}
	}
	keys := txKeys{find: tx.Stmt(w.findKey), seen: map[eventKey]storedKey{}}
	if w.batch != nil {
		// One round trip for the keys of the whole batch, not one each.
		if err := keys.prefetch(tx, batch); err != nil {
			return nil, nil, err
		}
	}
	var insKey *sql.Stmt // prepared on the transaction once needed
	var docs ftsDocs
	// The documents are built only when the indexer will take them: one
	// that is behind reads the events back, and would drop them.
	buildDocs := w.ix.takesOffers()
	if buildDocs {
		docs.text = make([]byte, 0, total*(w.docSize+w.docSize/8+16))
		docs.ends = make([]int, 0, total)
		docs.wordEnds = make([]int, 0, total)
	}
	insNode := tx.Stmt(w.insertNode)
	answers = make([]appendAnswer, len(batch))
	clear(w.rollups) // what a failed commit left
	clear(w.blockTimes)
	var counts = map[string]int{}
	for bi, req := range batch {
		a := &answers[bi]
		if req.apply != nil {
			// What the apply function reads includes the events before it.
			if err := w.flushBatch(tx); err != nil {
				return nil, nil, err
			}
			evs, aerr := req.apply(tx)
			if isStorageFailure(aerr) {
				return nil, nil, fmt.Errorf("apply: %w", aerr)
			}
			if aerr != nil {
				return nil, nil, applyError{aerr}
			}
			req.events = evs
		}
		// Every key of the request is checked before any of its events is
		// stored: a request with a conflict is skipped whole, the other
		// requests of the transaction go on.
		plan, conflict, buf, err := keys.planKeys(req.events, w.buf)
		w.buf = buf
		if err != nil {
			return nil, nil, err
		}
		if conflict != nil {
			a.err = conflict
			continue
		}
		a.res.IDs = make([]int64, len(req.events))
		for i := range req.events {
			e := &req.events[i]
			var p *keyPlan
			if plan != nil {
				p = &plan[i]
			}
			if p != nil && p.dup {
				a.res.IDs[i] = p.dupID
				if p.dupID == 0 {
					a.res.IDs[i] = a.res.IDs[p.dupOf]
				}
				a.res.Duplicates++
				continue
			}
			lastID++
			r := toRow(lastID, e)
			var sum [HashSize]byte
			sum, w.buf = chainHash(prev, &r, w.buf)
			prev = sum[:]
			e.ID, e.Hash = lastID, append([]byte(nil), sum[:]...)
			if w.batch != nil {
				w.batch.add(&r, e.Hash)
			} else {
				var set columnSet
				w.args, set = r.values(e.Hash, w.args[:0])
				if err := w.inserts.insert(tx, set, w.args); err != nil {
					return nil, nil, fmt.Errorf("insert event: %w", err)
				}
			}
			if err := w.appendLeaf(insNode, e.Hash); err != nil {
				return nil, nil, err
			}
			if w.upsertRollup[byHour] != nil {
				w.rollups.add(&r, 1)
				w.blockTimes.observe(&r)
			}
			// The full-text document, handed to the indexer after commit.
			if buildDocs {
				if docs.first == 0 {
					docs.first = lastID
				}
				docs.add(&r)
			}
			if p != nil && p.keyed {
				if w.batch != nil {
					w.batch.addKey(e.Sender, e.EventID, lastID, p.hash[:])
				} else {
					if insKey == nil {
						insKey = tx.Stmt(w.insertKey)
					}
					if _, err := insKey.Exec(e.Sender, e.EventID, lastID, p.hash[:]); err != nil {
						return nil, nil, fmt.Errorf("store event key: %w", err)
					}
				}
				keys.seen[eventKey{e.Sender, e.EventID}] = storedKey{lastID, p.hash}
			}
			a.res.IDs[i] = lastID
			a.res.Accepted++
			counts[e.Source]++
			if w.onCommit != nil {
				stored = append(stored, e)
			}
		}
	}
	if err := w.flushBatch(tx); err != nil {
		return nil, nil, err
	}
	if w.upsertRollup[byHour] != nil {
		var ups rollupStmts
		for u, st := range w.upsertRollup {
			ups[u] = tx.Stmt(st)
		}
		err = w.rollups.apply(context.Background(), tx, ups)
		if err == nil {
			err = w.blockTimes.apply(context.Background(), tx.Stmt(w.upsertBlockTimes))
		}
		clear(w.rollups)
		clear(w.blockTimes)
		if err != nil {
			return nil, nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("commit: %w", err)
	}
	w.committed.Store(lastID)
	if len(docs.ends) > 0 {
		w.docSize = len(docs.text) / len(docs.ends)
	}
	w.ix.offer(docs)
	for src, n := range counts {
		w.stored.WithLabelValues(src).Add(float64(n))
	}
	var dupes int
	for _, a := range answers {
		dupes += a.res.Duplicates
	}
	w.dupes.Add(float64(dupes))
	var n int
	for _, a := range answers {
		n += a.res.Accepted
	}
	w.batchSize.Observe(float64(n))
	w.commitDur.Observe(time.Since(start).Seconds())
	return answers, stored, nil
}
