package store

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports the database's state at scrape time: its size on disk,
// the newest sequence id and how far the full-text index trails the events.
type collector struct {
	s                    *Store
	dbBytes, lastID, lag *prometheus.Desc
}

func newCollector(s *Store) *collector {
	return &collector{
		s:       s,
		dbBytes: prometheus.NewDesc("vigil_database_bytes", "Size of the database on disk, by file (db, wal).", []string{"file"}, nil),
		lastID:  prometheus.NewDesc("vigil_events_last_id", "Sequence id of the newest stored event.", nil, nil),
		lag: prometheus.NewDesc("vigil_fts_lag_events",
			"Events not yet in the full-text index (the writer indexes in the same transaction, so anything but 0 is a fault).", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.dbBytes
	ch <- c.lastID
	ch <- c.lag
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for file, p := range map[string]string{"db": c.s.path, "wal": c.s.path + "-wal"} {
		var size int64
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
		}
		ch <- prometheus.MustNewConstMetric(c.dbBytes, prometheus.GaugeValue, float64(size), file)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, indexed, err := c.s.indexPosition(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lag, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.lastID, prometheus.GaugeValue, float64(last))
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(last-indexed))
}

// indexPosition returns the newest event's id and the newest id in the
// full-text index. Both are read from one snapshot.
func (s *Store) indexPosition(ctx context.Context) (last, indexed int64, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT
		coalesce((SELECT id FROM events ORDER BY id DESC LIMIT 1), 0),
		coalesce((SELECT rowid FROM events_fts ORDER BY rowid DESC LIMIT 1), 0)`).Scan(&last, &indexed)
	return last, indexed, err
}
