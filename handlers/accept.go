package handlers

import (
	"strconv"
	"strings"
)

// acceptance is how much an Accept header wants one media type: the
// q-value of the most specific media range that matches it, and how
// specific that range is (3 type/subtype, 2 type/*, 1 */*, 0 none).
type acceptance struct {
	q           float64
	specificity int
}

// accepts returns how much the Accept header accept (RFC 9110 §12.5.1)
// wants mediaType (lower case, "type/subtype"). An empty header accepts
// anything at q=1.
func accepts(accept, mediaType string) acceptance {
	if strings.TrimSpace(accept) == "" {
		return acceptance{q: 1, specificity: 1}
	}
	typ, sub, _ := strings.Cut(mediaType, "/")
	best := acceptance{}
	for _, r := range strings.Split(accept, ",") {
		params := strings.Split(r, ";")
		rng := strings.ToLower(strings.TrimSpace(params[0]))
		rt, rs, ok := strings.Cut(rng, "/")
		if !ok {
			continue
		}
		spec := 0
		switch {
		case rt == typ && rs == sub:
			spec = 3
		case rt == typ && rs == "*":
			spec = 2
		case rt == "*" && rs == "*":
			spec = 1
		}
		if spec <= best.specificity {
			continue
		}
		q := 1.0
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
		}
		best = acceptance{q: q, specificity: spec}
	}
	return best
}

// prefers reports whether the Accept header wants offered more than
// fallback: a higher q-value, or the same one through a more specific
// media range. A tie goes to fallback.
func prefers(accept, offered, fallback string) bool {
	o, f := accepts(accept, offered), accepts(accept, fallback)
	if o.q == 0 {
		return false
	}
	return o.q > f.q || (o.q == f.q && o.specificity > f.specificity)
}
