package checks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/model"
	"vigil/store"
)

// stateCollector reports, at each scrape, the open alerts by severity,
// the jobs by status and the watched certificates by expiry, read from the
// database.
type stateCollector struct {
	st     *store.Store
	clock  model.Clock
	alerts *prometheus.Desc
	jobs   *prometheus.Desc
	certs  *prometheus.Desc
}

func newStateCollector(st *store.Store, clock model.Clock) *stateCollector {
	return &stateCollector{
		st:     st,
		clock:  clock,
		alerts: prometheus.NewDesc("vigil_alerts_open", "Open alerts, by severity.", []string{"severity"}, nil),
		jobs:   prometheus.NewDesc("vigil_jobs", "Jobs, by status.", []string{"status"}, nil),
		certs: prometheus.NewDesc("vigil_certificates_expiring",
			"Watched certificates (neither replaced nor revoked) expired or expiring within 7 or 30 days; each count includes the expired.",
			[]string{"within"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.alerts
	ch <- c.jobs
	ch <- c.certs
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
	if exp, err := c.st.CountCertificateExpiry(ctx, c.clock.Now()); err == nil {
		for within, n := range map[string]int{"expired": exp.Expired, "7d": exp.Within7d, "30d": exp.Within30d} {
			ch <- prometheus.MustNewConstMetric(c.certs, prometheus.GaugeValue, float64(n), within)
		}
	}
}
