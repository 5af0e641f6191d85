package ingest

import (
	"sort"
	"testing"
	"time"
)

// ftsSample is one look at the store during a run, t after sampling began:
// events with ids up to committed were durably stored, and those up to
// indexed were in the full-text index (searchable).
type ftsSample struct {
	t                  time.Duration
	committed, indexed int64
}

// sampleFTS calls read now and then every interval, until the returned
// stop takes a last sample and returns them all, in time order.
func sampleFTS(interval time.Duration, read func() (committed, indexed int64)) (stop func() []ftsSample) {
	start := time.Now()
	var samples []ftsSample
	take := func() {
		c, i := read()
		samples = append(samples, ftsSample{t: time.Since(start), committed: c, indexed: i})
	}
	take()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				take()
				return
			case <-tick.C:
				take()
			}
		}
	}()
	return func() []ftsSample {
		close(quit)
		<-done
		return samples
	}
}

// maxFTSLag estimates from samples the full-text lag of a run: the longest
// time any event waited between its durable commit and the moment a search
// could find it. Event k was committed after the last sample whose
// committed < k, and was searchable at the first sample whose indexed >= k;
// the estimate is the time between those two samples, so it errs long, by
// less than two sampling intervals, never short. Among the events the index
// took between two samples the oldest waited longest, so only it is
// checked. Events committed before the first sample count from it.
func maxFTSLag(samples []ftsSample) time.Duration {
	var worst time.Duration
	var indexed int64 // the most the index was seen to hold so far
	for j, s := range samples {
		if j == 0 || s.indexed <= indexed {
			indexed = max(indexed, s.indexed)
			continue
		}
		k := indexed + 1 // the oldest event searchable since the last sample
		// The last sample that did not have k committed yet.
		i := max(0, sort.Search(j, func(i int) bool { return samples[i].committed >= k })-1)
		worst = max(worst, s.t-samples[i].t)
		indexed = s.indexed
	}
	return worst
}

func TestMaxFTSLag(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name    string
		samples []ftsSample
		want    time.Duration
	}{
		{"NoSamples", nil, 0},
		{"NothingCommitted", []ftsSample{{ms(0), 0, 0}, {ms(10), 0, 0}, {ms(20), 0, 0}}, 0},
		// Indexed as soon as committed: one sampling interval at most.
		{"IndexKeepsUp", []ftsSample{{ms(0), 0, 0}, {ms(10), 100, 100}, {ms(20), 300, 300}, {ms(30), 300, 300}}, ms(10)},
		// Event 101, committed between 10 and 20 ms, became searchable only
		// between 50 and 60 ms: at most 50 ms.
		{"IndexFallsBehind", []ftsSample{
			{ms(0), 0, 0}, {ms(10), 100, 100}, {ms(20), 200, 100}, {ms(30), 300, 100},
			{ms(40), 400, 100}, {ms(50), 400, 100}, {ms(60), 400, 400},
		}, ms(50)},
		// The index catches up in steps: event 201 (committed by 30 ms,
		// searchable at 70) waited longest, at most 50 ms.
		{"CatchesUpInSteps", []ftsSample{
			{ms(0), 0, 0}, {ms(10), 100, 0}, {ms(20), 200, 0}, {ms(30), 300, 200},
			{ms(40), 400, 200}, {ms(50), 400, 200}, {ms(60), 400, 200}, {ms(70), 400, 400},
		}, ms(50)},
		// A prefilled store: ids start at 1,000,000, all indexed at the start.
		{"Prefilled", []ftsSample{
			{ms(0), 1_000_000, 1_000_000}, {ms(10), 1_000_500, 1_000_000}, {ms(20), 1_001_000, 1_000_500},
			{ms(30), 1_001_000, 1_001_000},
		}, ms(20)},
		// An estimate of indexed that dips does not count events twice.
		{"IndexedDips", []ftsSample{
			{ms(0), 0, 0}, {ms(10), 100, 100}, {ms(20), 200, 90}, {ms(30), 200, 200},
		}, ms(20)},
		// Events committed before sampling began count from the first sample.
		{"CommittedBeforeFirstSample", []ftsSample{{ms(0), 50, 0}, {ms(10), 50, 0}, {ms(20), 50, 50}}, ms(20)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := maxFTSLag(c.samples); got != c.want {
				t.Errorf("maxFTSLag = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSampleFTS(t *testing.T) {
	var n int64
	stop := sampleFTS(time.Millisecond, func() (int64, int64) { n++; return n, n - 1 })
	time.Sleep(20 * time.Millisecond)
	samples := stop()
	// The first, taken at once, and the last, taken by stop, at least.
	if len(samples) < 2 {
		t.Fatalf("%d samples", len(samples))
	}
	for i, s := range samples {
		if s.committed != int64(i+1) || s.indexed != int64(i) || (i > 0 && s.t < samples[i-1].t) {
			t.Fatalf("sample %d = %+v after %+v", i, s, samples[max(0, i-1)])
		}
	}
}
