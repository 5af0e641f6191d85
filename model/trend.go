package model

import "time"

// Trend groupings: the event column a trend counts by.
const (
	TrendByCategory = "category"
	TrendByType     = "type"
)

// TrendQuery asks how many events fell in each of Buckets consecutive
// Step-long intervals starting at From (by event time), split by
// category or type. Category and Types narrow it; Visibility restricts
// it to what the caller's role may see, as for listings.
type TrendQuery struct {
	From       time.Time
	Step       time.Duration
	Buckets    int
	By         string // TrendByCategory or TrendByType
	Category   string
	Types      []string
	Outcome    string
	Visibility Visibility
}

// To returns the end of the query's last bucket (exclusive).
func (q TrendQuery) To() time.Time { return q.From.Add(time.Duration(q.Buckets) * q.Step) }

// BucketStart returns the start of bucket i.
func (q TrendQuery) BucketStart(i int) time.Time { return q.From.Add(time.Duration(i) * q.Step) }

// Validate checks the query's shape.
func (q TrendQuery) Validate() error {
	if q.Step <= 0 || q.Buckets <= 0 || q.Buckets > 1000 {
		return Errorf(EINVALID, "a trend needs a positive step and 1 to 1000 buckets")
	}
	if q.By != TrendByCategory && q.By != TrendByType {
		return Errorf(EINVALID, "a trend counts by %s or %s, not %q", TrendByCategory, TrendByType, q.By)
	}
	return nil
}

// TrendCount is the number of events of one key (a category or a type) in
// one bucket of a trend.
type TrendCount struct {
	Bucket int
	Key    string
	Count  int
}

// Trend is a trend's counts by bucket and key.
type Trend map[int]map[string]int

// NewTrend indexes counts.
func NewTrend(counts []TrendCount) Trend {
	t := Trend{}
	for _, c := range counts {
		if t[c.Bucket] == nil {
			t[c.Bucket] = map[string]int{}
		}
		t[c.Bucket][c.Key] += c.Count
	}
	return t
}

// Total returns the count of key over all buckets ("" for every key).
func (t Trend) Total(key string) int {
	n := 0
	for _, byKey := range t {
		for k, c := range byKey {
			if key == "" || k == key {
				n += c
			}
		}
	}
	return n
}
