package ingest

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"vigil/model"
)

// corpus is testdata/interop/corpus.json: syslog lines from public
// sources (the RFC examples, other parsers' test tables, senders' and
// vendors' documented formats), each with what Vigil makes of it.
type corpus struct {
	Now     time.Time `json:"now"` // when the lines are read
	Sources []struct {
		Source string `json:"source"`
		Ref    string `json:"ref"` // where the cases come from
		Cases  []struct {
			Name string `json:"name"`
			In   string `json:"in"`
			Want parsed `json:"want"`
			// Known, when set, is why the case is not read as wanted
			// yet: it is reported, not failed.
			Known string `json:"known"`
		} `json:"cases"`
	} `json:"sources"`
}

// minCorpusPass is the share of corpus cases that must be read as wanted.
const minCorpusPass = 0.95

// TestInteropCorpus decodes every line of the interop corpus and reports,
// per source, how many are read as wanted; a case failing without a known
// reason fails the test, and so does a pass rate under 95 %.
//
//	go test -tags sqlite_fts5 -run TestInteropCorpus -v ./ingest
func TestInteropCorpus(t *testing.T) {
	raw, err := os.ReadFile("testdata/interop/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var c corpus
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	passed, total := 0, 0
	for _, src := range c.Sources {
		ok := 0
		for _, tc := range src.Cases {
			e := NewDecoder(nil).Decode([]byte(tc.In), 0, Peer{Source: model.SourceSyslogUDP, Addr: "192.0.2.1"}, c.Now)
			diff := tc.Want.mismatch(t, e)
			switch {
			case diff == "":
				ok++
				if tc.Known != "" {
					t.Logf("corpus: %s/%s passes now: drop its known reason", src.Source, tc.Name)
				}
			case tc.Known != "":
				t.Logf("corpus: known failure %s/%s: %s (%s)", src.Source, tc.Name, tc.Known, diff)
			default:
				t.Errorf("corpus: %s/%s: %s\ndetails %s", src.Source, tc.Name, diff, e.Details)
			}
		}
		t.Logf("corpus: %d/%d %s (%s)", ok, len(src.Cases), src.Source, src.Ref)
		passed, total = passed+ok, total+len(src.Cases)
	}
	rate := float64(passed) / float64(total)
	t.Logf("corpus: %d/%d cases read as wanted (%.1f %%)", passed, total, 100*rate)
	if rate < minCorpusPass {
		t.Errorf("corpus pass rate %.1f %% is under %.0f %%", 100*rate, 100*minCorpusPass)
	}
}
