package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// defaultPartitionIDs is how many ids a partition of events holds on
// PostgreSQL: 2^22, some 240 partitions for a billion events. A listing
// newest first reads the newest partition; retention drops the oldest whole.
const defaultPartitionIDs = 1 << 22

// partitions keeps the events table of a PostgreSQL store in partitions of
// consecutive ids (schema.sql: events_pK holds ids K*size+1 to (K+1)*size).
// The writer makes room before it assigns ids: a partition is attached
// while the one before it is half full, in a transaction of its own that
// gives up rather than wait behind a reader's long query, and in the
// batch's own transaction only if that failed until the ids are reached.
type partitions struct {
	size int64
	// covered is the last id with a partition, as last seen (another node
	// may have attached more since).
	covered atomic.Int64
	log     *slog.Logger
}

// load records want as the partition size of a new store, keeps the size
// the store has, and returns it.
func (p *partitions) load(ctx context.Context, wdb *sql.DB, want int64) error {
	if want <= 0 {
		want = defaultPartitionIDs
	}
	if want%(1<<storedLevel) != 0 {
		return fmt.Errorf("store: event partitions of %d ids: want a multiple of %d", want, 1<<storedLevel)
	}
	if _, err := wdb.ExecContext(ctx, `INSERT INTO events_partitioning (one, ids) VALUES (1, ?) ON CONFLICT (one) DO NOTHING`, want); err != nil {
		return fmt.Errorf("store: event partitions: %w", err)
	}
	if err := wdb.QueryRowContext(ctx, `SELECT ids FROM events_partitioning`).Scan(&p.size); err != nil {
		return fmt.Errorf("store: event partitions: %w", err)
	}
	return nil
}

// partitionName is the name of partition k.
func partitionName(k int64) string { return "events_p" + strconv.FormatInt(k, 10) }

// bounds returns the first and last id of partition k.
func (p *partitions) bounds(k int64) (lo, hi int64) { return k*p.size + 1, (k + 1) * p.size }

// list returns the numbers of the attached partitions, ascending.
func (p *partitions) list(ctx context.Context, q querier) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("list event partitions: %w", err)
	}
	defer rows.Close()
	var ks []int64
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		k, err := strconv.ParseInt(strings.TrimPrefix(name, "events_p"), 10, 64)
		if err != nil || !strings.HasPrefix(name, "events_p") {
			return nil, fmt.Errorf("events has a partition %q not made by Vigil", name)
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks, rows.Err()
}

// makeRoom attaches, in tx, the partitions above the newest one up to the
// one holding id upto, and returns the last id the newest partition holds.
// A partition is made empty and attached, which locks the events table
// only against another attach or an ANALYZE, not against reads and
// inserts. The writer's transactions are one at a time across nodes, so
// two cannot attach the same partition.
func (p *partitions) makeRoom(ctx context.Context, tx *sql.Tx, upto int64) (int64, error) {
	ks, err := p.list(ctx, tx)
	if err != nil {
		return 0, err
	}
	top := int64(-1)
	if len(ks) > 0 {
		top = ks[len(ks)-1]
	}
	for k := top + 1; k <= (upto-1)/p.size; k++ {
		lo, hi := p.bounds(k)
		name := partitionName(k)
		for _, q := range []string{
			`CREATE TABLE ` + name + ` (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
			fmt.Sprintf(`ALTER TABLE events ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, name, lo, hi+1),
			// TRUNCATE of a partition is refused as of events (the row
			// triggers come with the attach).
			`CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ` + name + ` FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return 0, fmt.Errorf("attach event partition %s: %w", name, err)
			}
		}
		top = k
	}
	_, hi := p.bounds(top)
	return hi, nil
}

// ahead makes room for ids up to upto and half a partition more, unless
// there is room already, in a transaction of its own that gives up after a
// second's wait for its lock; ahead of time, that is no harm: the next
// batch tries again.
func (p *partitions) ahead(ctx context.Context, wdb *sql.DB, upto int64) {
	upto += p.size / 2
	if p.covered.Load() >= upto {
		return
	}
	covered, err := func() (int64, error) {
		tx, err := wdb.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '1s'`); err != nil {
			return 0, err
		}
		covered, err := p.makeRoom(ctx, tx, upto)
		if err != nil {
			return 0, err
		}
		return covered, tx.Commit()
	}()
	if err != nil {
		p.log.Warn("attaching the next event partition ahead of time; the writer tries again", "err", err)
		return
	}
	p.covered.Store(covered)
}

// need makes room for ids up to upto in tx, the batch's transaction,
// waiting as long as that takes. What it attaches is not remembered: the
// batch may yet roll back.
func (p *partitions) need(ctx context.Context, tx *sql.Tx, upto int64) error {
	if p.covered.Load() >= upto {
		return nil
	}
	_, err := p.makeRoom(ctx, tx, upto)
	return err
}
