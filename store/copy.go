package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// copiedTables are the tables CopyTo copies, parents before the rows that
// reference them. The full-text index is not among them: the destination
// builds its own from the events.
var copiedTables = []string{
	"users", "tokens", "sessions",
	"events", "merkle_nodes", "checkpoints", "chain_base", "pruned_events", "event_keys",
	"retention_records", "retention_legacy", "retention_rules", "legal_holds", "retention_usage",
	"certificates", "certificate_usage", "endpoints", "agents", "jobs", "alerts", "verify_runs",
	"event_rollups", "event_rollups_minute", "event_rollups_block", "event_blocks", "event_rollup_state",
}

// copyBatch is how many rows CopyTo sends to the destination at a time.
const copyBatch = 10_000

// CopyProgress reports a table copied and its rows.
type CopyProgress func(table string, rows int64)

// CopyTo copies every row of s into dst, an empty store on PostgreSQL,
// unchanged: the events keep their ids and hashes, the Merkle nodes and
// checkpoints theirs, so the chain, the tree and every checkpoint signed
// before the move verify the same afterwards. s is read in one snapshot;
// dst is written in one transaction, so a failed copy leaves it empty.
// Nothing else may write to s meanwhile (stop vigil serve first).
func (s *Store) CopyTo(ctx context.Context, dst *Store, progress CopyProgress) error {
	if !dst.d.postgres {
		return fmt.Errorf("store: copy: the destination must be a PostgreSQL database")
	}
	var n int64
	if err := dst.wdb.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM users)`).Scan(&n); err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("store: copy: the destination %s already holds events or users; copy into an empty database", dst.eng.describe())
	}
	src, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	defer src.Rollback()
	tx, err := dst.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	defer tx.Rollback()
	// Rows that a fresh schema starts with are replaced by the source's.
	if _, err := tx.ExecContext(ctx, `DELETE FROM event_rollup_state`); err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	// The events' partitions, up to the source's newest id.
	var maxID int64
	if err := src.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&maxID); err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	if _, err := dst.eng.partitions().makeRoom(ctx, tx, maxID); err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	for _, table := range copiedTables {
		exists, err := s.eng.tableExists(ctx, s.wdb, table)
		if err != nil {
			return fmt.Errorf("store: copy %s: %w", table, err)
		}
		if !exists {
			continue
		}
		rows, err := copyTable(ctx, src, tx, table)
		if err != nil {
			return fmt.Errorf("store: copy %s: %w", table, err)
		}
		if progress != nil {
			progress(table, rows)
		}
	}
	if err := dst.eng.(*postgresEngine).afterCopy(ctx, tx); err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: copy: %w", err)
	}
	return nil
}

// copyTable copies table's rows from src to dst in the order of their
// first column (the id, where there is one), copyBatch at a time, and returns how many. A certificate's
// replaced_by names a newer row, so certificates are inserted without it
// and it is set once all are in.
func copyTable(ctx context.Context, src, dst *sql.Tx, table string) (int64, error) {
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table+` ORDER BY 1`)
	if err != nil {
		return 0, err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return 0, err
	}
	replacedBy := -1
	if table == "certificates" {
		replacedBy = indexOf(cols, "replaced_by")
	}
	var batch [][]any
	var total int64
	var links [][2]any // certificate id, replaced_by
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		q := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES `
		var args []any
		row := `(` + placeholders(len(cols)) + `)`
		for i, r := range batch {
			if i > 0 {
				q += `, `
			}
			q += row
			args = append(args, r...)
		}
		if _, err := dst.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		total += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	// PostgreSQL takes at most 65,535 parameters in one statement.
	perStatement := min(copyBatch, 65535/len(cols))
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return 0, err
		}
		if replacedBy >= 0 && vals[replacedBy] != nil {
			links = append(links, [2]any{vals[indexOf(cols, "id")], vals[replacedBy]})
			vals[replacedBy] = nil
		}
		batch = append(batch, vals)
		if len(batch) >= perStatement {
			if err := flush(); err != nil {
				rows.Close()
				return 0, err
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	for _, l := range links {
		if _, err := dst.ExecContext(ctx, `UPDATE certificates SET replaced_by = ? WHERE id = ?`, l[1], l[0]); err != nil {
			return 0, err
		}
	}
	return total, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
