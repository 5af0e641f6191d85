package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports the database's state at scrape time: its files' sizes
// on disk, the newest sequence id and the password hashes running and
// waiting. (The writer reports the full-text index's lag,
// vigil_fts_lag_events.)
type collector struct {
	s                            *Store
	dbBytes, lastID              *prometheus.Desc
	hashesRunning, hashesWaiting *prometheus.Desc
}

func newCollector(s *Store) *collector {
	return &collector{
		s: s,
		dbBytes: prometheus.NewDesc("vigil_database_bytes",
			"Size on disk of the database files, by file: db and wal (the events), fts and fts-wal (the full-text index).", []string{"file"}, nil),
		lastID: prometheus.NewDesc("vigil_events_last_id", "Sequence id of the newest stored event.", nil, nil),
		hashesRunning: prometheus.NewDesc("vigil_password_hashes_running",
			"Password checks (argon2id) running now; at most one per core.", nil, nil),
		hashesWaiting: prometheus.NewDesc("vigil_password_hashes_waiting", "Password checks waiting for a core.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.dbBytes
	ch <- c.lastID
	ch <- c.hashesRunning
	ch <- c.hashesWaiting
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.PasswordHashes()
	ch <- prometheus.MustNewConstMetric(c.hashesRunning, prometheus.GaugeValue, float64(h.Running))
	ch <- prometheus.MustNewConstMetric(c.hashesWaiting, prometheus.GaugeValue, float64(h.Waiting))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for part, size := range c.s.eng.storageBytes(ctx, c.s.rdb) {
		ch <- prometheus.MustNewConstMetric(c.dbBytes, prometheus.GaugeValue, float64(size), part)
	}
	var last int64
	if err := c.s.rdb.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&last); err != nil {
		ch <- prometheus.NewInvalidMetric(c.lastID, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.lastID, prometheus.GaugeValue, float64(last))
}
