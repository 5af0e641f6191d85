package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/model"
	"vigil/store"
)

// stateCollector reports, at each scrape, the open alerts by severity and
// the jobs by status, read from the database.
type stateCollector struct {
	st     *store.Store
	alerts *prometheus.Desc
	jobs   *prometheus.Desc
}

func newStateCollector(st *store.Store) *stateCollector {
	return &stateCollector{
		st:     st,
		alerts: prometheus.NewDesc("vigil_alerts_open", "Open alerts, by severity.", []string{"severity"}, nil),
		jobs:   prometheus.NewDesc("vigil_jobs", "Jobs, by status.", []string{"status"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.alerts
	ch <- c.jobs
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if counts, err := c.st.CountOpenAlertsBySeverity(ctx); err == nil {
		for _, sev := range model.AlertSeverities {
			ch <- prometheus.MustNewConstMetric(c.alerts, prometheus.GaugeValue, float64(counts[sev]), sev)
		}
	}
	if counts, err := c.st.CountJobsByStatus(ctx); err == nil {
		for _, st := range model.JobStatuses {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(counts[st]), st)
		}
	}
}
