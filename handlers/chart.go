package handlers

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"vigil/model"
)

// A chart is a stacked bar chart drawn on the server as inline SVG: one
// bar per time bucket, one segment per series, each segment a link to
// the filtered page that lists exactly the events it counts. The template
// (ui/views/partials/chart.html) gets only numbers and escaped text.

// chartSeries is one stacked series of a chart.
type chartSeries struct {
	Key   string // the trend key it counts (a category or a type)
	Label string
	Class string // CSS class of its colour (s-1 … s-6)
	// Link returns the page listing the series' events in [from, to].
	Link func(from, to time.Time) string
}

// chartSpec describes a chart: the trend it draws and how.
type chartSpec struct {
	ID, Title string
	Span      string // "the last 24 hours", for the description
	// Query places the buckets (From, Step, Buckets) and, unless Counts
	// is set, is the event trend the chart counts.
	Query  model.TrendQuery
	Counts func(context.Context) ([]model.TrendCount, error)
	Series []chartSeries
	// Label names a bucket by its start; the x axis labels the buckets
	// for which Labeled is true.
	Label   func(start time.Time) string
	Labeled func(start time.Time) bool
	Empty   string // shown instead of the chart when it counts nothing
	// Window, when set, is what the caption and the legend count: the
	// events of exactly [Now-Window, Now), while the bars are whole
	// buckets (the last of which may run past now).
	Window time.Duration
	Now    time.Time
}

// windowQuery is spec's event trend over its Window, in one bucket.
func (spec chartSpec) windowQuery() model.TrendQuery {
	q := spec.Query
	q.From, q.Step, q.Buckets = spec.Now.Add(-spec.Window), spec.Window, 1
	return q
}

// chartView is what the chart template draws.
type chartView struct {
	ID, Title, Desc, Span string
	Width, Height         int
	Total                 int
	Empty                 string
	Bars                  []chartBar
	Ticks                 []chartTick
	Labels                []chartLabel
	Legend                []legendItem
}

type chartBar struct {
	X, Y, W, H   string
	Class, Title string
	Href         string
	Count        int
}

type chartTick struct {
	Y, X1, X2, TX string
	Text          string
}

type chartLabel struct{ X, Y, Text string }

type legendItem struct {
	Label, Class, Href string
	Total              int
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH     = 720, 196
	plotL, plotR       = 50, 712
	plotT, plotB       = 16, 170
	chartLabelBaseline = 190
)

// buildChart lays out spec's trend as stacked bars; totals, when spec has a
// Window, is its trend over the window.
func buildChart(spec chartSpec, trend, totals model.Trend) chartView {
	q := spec.Query
	v := chartView{ID: spec.ID, Title: spec.Title, Span: spec.Span, Width: chartW, Height: chartH}
	highest := 0
	for i := range q.Buckets {
		sum := 0
		for _, s := range spec.Series {
			sum += trend[i][s.Key]
		}
		highest = max(highest, sum)
	}
	top := niceCeil(highest)
	slot := float64(plotR-plotL) / float64(q.Buckets)
	barW := math.Max(slot*0.8, 1)
	scale := float64(plotB-plotT) / float64(top)
	for i := range q.Buckets {
		from, to := q.BucketStart(i), q.BucketStart(i+1).Add(-time.Nanosecond)
		x := float64(plotL) + float64(i)*slot + (slot-barW)/2
		y := float64(plotB)
		for _, s := range spec.Series {
			n := trend[i][s.Key]
			if n == 0 {
				continue
			}
			h := float64(n) * scale
			y -= h
			v.Bars = append(v.Bars, chartBar{
				X: num(x), Y: num(y), W: num(barW), H: num(h), Class: s.Class,
				Title: fmt.Sprintf("%s: %d %s, %s", spec.Label(from), n, s.Label, bucketSpan(from, q.Step)),
				Href:  s.Link(from, to), Count: n,
			})
		}
		// A label needs up to 60 units (at a phone's larger type); none is
		// cut off at the right edge.
		if spec.Labeled(from) && x < plotR-60 {
			v.Labels = append(v.Labels, chartLabel{X: num(float64(plotL) + float64(i)*slot), Y: num(chartLabelBaseline), Text: spec.Label(from)})
		}
	}
	for _, t := range []int{0, top / 2, top} {
		y := num(float64(plotB) - float64(t)*scale)
		v.Ticks = append(v.Ticks, chartTick{Y: y, X1: num(plotL), X2: num(plotR), TX: num(plotL - 6), Text: strconv.Itoa(t)})
	}
	from, end, counted := q.From, q.To().Add(-time.Nanosecond), trend
	if spec.Window > 0 {
		from, end, counted = spec.Now.Add(-spec.Window), spec.Now.Add(-time.Nanosecond), totals
	}
	desc := ""
	for _, s := range spec.Series {
		n := counted.Total(s.Key)
		v.Total += n
		v.Legend = append(v.Legend, legendItem{Label: s.Label, Class: s.Class, Total: n, Href: s.Link(from, end)})
		if desc != "" {
			desc += ", "
		}
		desc += fmt.Sprintf("%s %d", s.Label, n)
	}
	v.Desc = fmt.Sprintf("%s in %s: %s.", spec.Title, spec.Span, desc)
	if v.Total == 0 {
		v.Empty = spec.Empty
	}
	return v
}

// bucketSpan describes a bucket's extent for a bar's tooltip.
func bucketSpan(from time.Time, step time.Duration) string {
	if step >= 24*time.Hour {
		return from.Format("Mon 2 Jan") + " (UTC)"
	}
	return from.Format("15:04") + "–" + from.Add(step).Format("15:04") + " UTC"
}

// niceCeil returns the top of an axis for counts up to n: the smallest of
// 2, 4, 6, 8, 10, 20, 40 … that is at least n (even, so the middle tick is
// a whole number).
func niceCeil(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{2, 4, 6, 8, 10} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
