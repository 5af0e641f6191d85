package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Most events leave half of the optional columns empty, and binding a NULL
// costs as much as binding a value. The writer therefore inserts each event
// with a statement that names only its non-empty columns (the others default
// to NULL), one prepared statement per set of columns. Senders repeat the
// same few shapes, so the set stays small; it is capped all the same, and an
// event of a shape beyond the cap is inserted with every column bound.

// insertColumns are the columns of events in eventColumns order.
var insertColumns = strings.Split(strings.Join(strings.Fields(eventColumns), ""), ",")

// maxInsertShapes caps the prepared INSERT statements kept by the writer.
const maxInsertShapes = 64

// columnSet has bit i set when insertColumns[i] is bound.
type columnSet uint32

// insertSQL returns the INSERT statement binding exactly the columns in set.
func insertSQL(set columnSet) string {
	var cols []string
	for i, c := range insertColumns {
		if set&(1<<i) != 0 {
			cols = append(cols, c)
		}
	}
	return `INSERT INTO events (` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + `)`
}

// values appends to args the values of r's columns (with its hash), leaving
// out the empty optional ones, and returns them with the set of columns
// they belong to. The order is eventColumns'.
func (r *row) values(hash []byte, args []any) ([]any, columnSet) {
	var set columnSet
	col := func(i int, v any) {
		set |= 1 << i
		args = append(args, v)
	}
	opt := func(i int, s string) {
		if s != "" {
			col(i, s)
		}
	}
	col(0, r.id)
	opt(1, r.eventID)
	col(2, r.time)
	col(3, r.timeNS)
	col(4, r.receivedAt)
	col(5, r.source)
	col(6, r.category)
	col(7, r.typ)
	col(8, r.outcome)
	col(9, r.severity)
	for i, s := range [...]string{r.actorType, r.actorID, r.actorDN, r.actorIP, r.entityType, r.entityID,
		r.certSerial, r.certFingerprint, r.certSubject, r.agentID, r.host, r.app, r.process, r.command,
		r.policy, r.tenant} {
		opt(10+i, s)
	}
	col(26, r.message)
	opt(27, r.details)
	col(28, hash)
	return args, set
}

// inserts holds the writer's prepared INSERT statements by column set.
type inserts struct {
	db    *sql.DB
	stmts map[columnSet]*sql.Stmt
	// wanted are sets met inside a transaction, prepared after it (the
	// writer's one connection is busy during a transaction).
	wanted map[columnSet]bool
	// inTx are this transaction's statements.
	inTx map[columnSet]*sql.Stmt
	all  *sql.Stmt // every column bound: for shapes beyond the cap
}

func newInserts(ctx context.Context, db *sql.DB) (*inserts, error) {
	var all columnSet = 1<<len(insertColumns) - 1
	st, err := db.PrepareContext(ctx, insertSQL(all))
	if err != nil {
		return nil, err
	}
	return &inserts{db: db, all: st, stmts: map[columnSet]*sql.Stmt{all: st},
		wanted: map[columnSet]bool{}, inTx: map[columnSet]*sql.Stmt{}}, nil
}

// insert stores one row in tx, binding args, the values of the columns in set.
func (in *inserts) insert(tx *sql.Tx, set columnSet, args []any) error {
	st, ok := in.inTx[set]
	if !ok {
		if prepared, ok := in.stmts[set]; ok {
			st = tx.Stmt(prepared)
		} else {
			if len(in.stmts)+len(in.wanted) < maxInsertShapes {
				in.wanted[set] = true
			}
			// Prepared on the transaction's connection, for this
			// transaction only, until prepareWanted keeps one.
			var err error
			if st, err = tx.Prepare(insertSQL(set)); err != nil {
				return fmt.Errorf("prepare insert: %w", err)
			}
		}
		in.inTx[set] = st
	}
	_, err := st.Exec(args...)
	return err
}

// endTx forgets the transaction's statements and, outside any transaction,
// prepares the column sets it met for the next ones.
func (in *inserts) endTx() {
	clear(in.inTx)
	for set := range in.wanted {
		if st, err := in.db.Prepare(insertSQL(set)); err == nil {
			in.stmts[set] = st
		}
		delete(in.wanted, set)
	}
}
