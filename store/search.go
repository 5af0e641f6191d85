package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"unicode"

	"vigil/model"
)

// maxSearchTerms bounds the words of one full-text query.
const maxSearchTerms = 32

// textQuery is what a user typed as a search, parsed. The index is built
// with the unicode61 tokenizer (diacritics folded, case folded) and
// detail=none, which gives this query language:
//
//	word1 word2      both words, anywhere in the event (AND)
//	word1 OR word2   either word
//	-word, NOT word  events without the word
//	cert*            words starting with "cert"
//	"two words"      both words (the index keeps no positions, so a quoted
//	                 phrase matches its words in any order)
//
// A word is a run of letters and digits: E_LOGIN_FAILED searches for the
// words e, login and failed; alice@example.com for alice, example and com.
// AND binds tighter than OR: a b OR c is (a AND b) OR c; the NOT terms
// apply to the whole.
//
// The index holds blocks of events (ftsBlock), so a query runs in two
// steps: blockMatch, an FTS5 expression of its positive terms, finds the
// blocks that may hold a match, and matchText decides each of their events.
type textQuery struct {
	groups [][]textTerm // any group whose terms all match (OR of ANDs)
	neg    []textTerm   // none of these may match
	ascii  bool         // every word is ASCII
}

// textTerm is one word, several that must all appear (a quoted phrase or
// a word the tokenizer splits), the last one possibly a prefix.
type textTerm struct {
	words  []string // lower case
	prefix bool
}

// parseTextQuery parses input (see textQuery). Every word is quoted in the
// FTS5 expressions made of it, so no user input is ever read as FTS5 syntax.
func parseTextQuery(input string) (textQuery, error) {
	q := textQuery{ascii: true}
	nextOr, nextNeg, n := false, false, 0
	for _, field := range splitQuoted(input) {
		quoted := len(field) > 0 && field[0] == '"'
		if !quoted {
			switch field {
			case "OR":
				nextOr = true
				continue
			case "AND":
				continue
			case "NOT":
				nextNeg = true
				continue
			}
		}
		var t textTerm
		neg, or := nextNeg, nextOr
		nextOr, nextNeg = false, false
		if quoted {
			field = strings.Trim(field, `"`)
		} else {
			if strings.HasPrefix(field, "-") {
				neg = true
				field = field[1:]
			}
			if strings.HasSuffix(field, "*") {
				t.prefix = true
				field = strings.TrimRight(field, "*")
			}
		}
		for _, w := range searchWords(field) {
			t.words = append(t.words, strings.ToLower(w))
			if !isASCII(w) {
				q.ascii = false
			}
		}
		if len(t.words) == 0 {
			continue
		}
		if n += len(t.words); n > maxSearchTerms {
			return textQuery{}, model.Errorf(model.EINVALID, "q: at most %d words", maxSearchTerms)
		}
		switch {
		case neg:
			q.neg = append(q.neg, t)
		case or && len(q.groups) > 0:
			q.groups = append(q.groups, []textTerm{t})
		case len(q.groups) == 0:
			q.groups = [][]textTerm{{t}}
		default:
			last := len(q.groups) - 1
			q.groups[last] = append(q.groups[last], t)
		}
	}
	if len(q.groups) == 0 {
		return textQuery{}, model.Errorf(model.EINVALID, "q: name at least one word that must appear")
	}
	return q, nil
}

// blockMatch is the FTS5 expression of the query's positive terms: every
// block holding an event that matches the query matches it. (The NOT terms
// are left to matchText: a block with an event that has the word may also
// hold one that matches.) expand, if not nil, turns a prefix into the
// indexed words that start with it (nil when there are too many or none):
// a few words OR'ed are walked newest first, where FTS5 would first merge
// every posting list of the prefix.
func (q textQuery) blockMatch(expand func(prefix string) []string) string {
	groups := make([]string, len(q.groups))
	for i, g := range q.groups {
		terms := make([]string, len(g))
		for j, t := range g {
			terms[j] = t.fts5(expand)
		}
		groups[i] = "(" + strings.Join(terms, " AND ") + ")"
	}
	return strings.Join(groups, " OR ")
}

// fullMatch is the FTS5 expression of the whole query, for one event's
// document on its own.
func (q textQuery) fullMatch() string {
	expr := q.blockMatch(nil)
	if len(q.neg) == 0 {
		return expr
	}
	neg := make([]string, len(q.neg))
	for i, t := range q.neg {
		neg[i] = t.fts5(nil)
	}
	return "(" + expr + ") NOT (" + strings.Join(neg, " OR ") + ")"
}

// fts5 is the term as an FTS5 expression.
func (t textTerm) fts5(expand func(prefix string) []string) string {
	parts := make([]string, len(t.words))
	for i, w := range t.words {
		parts[i] = `"` + w + `"`
	}
	if t.prefix {
		last := t.words[len(t.words)-1]
		if words := expandPrefix(expand, last); len(words) > 0 {
			parts[len(parts)-1] = `("` + strings.Join(words, `" OR "`) + `")`
		} else {
			parts[len(parts)-1] += ` *`
		}
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}

// matchText reports whether doc (an event's document, or the text of its
// indexed columns) matches the query. For ASCII text and words it
// tokenizes as unicode61 does: runs of ASCII letters and digits, case
// folded. Otherwise exact is false and the caller asks FTS5 (fullMatch).
func (q textQuery) matchText(doc string) (match, exact bool) {
	if !q.ascii || !isASCII(doc) {
		return false, false
	}
	words := asciiWords(doc)
	for _, t := range q.neg {
		if t.in(words) {
			return false, true
		}
	}
	for _, g := range q.groups {
		all := true
		for _, t := range g {
			if !t.in(words) {
				all = false
				break
			}
		}
		if all {
			return true, true
		}
	}
	return false, true
}

// in reports whether every word of t is among words.
func (t textTerm) in(words []string) bool {
	for i, w := range t.words {
		prefix := t.prefix && i == len(t.words)-1
		found := false
		for _, d := range words {
			if d == w || prefix && strings.HasPrefix(d, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// asciiWords splits ASCII text into lower-case runs of letters and digits.
func asciiWords(s string) []string {
	words := make([]string, 0, 32)
	start := -1
	var lower []byte
	for i := 0; i <= len(s); i++ {
		alnum := i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z')
		switch {
		case alnum && start < 0:
			start = i
		case !alnum && start >= 0:
			w := s[start:i]
			if hasUpper(w) {
				lower = append(lower[:0], w...)
				for j, c := range lower {
					if c >= 'A' && c <= 'Z' {
						lower[j] = c + 'a' - 'A'
					}
				}
				w = string(lower)
			}
			words = append(words, w)
			start = -1
		}
	}
	return words
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// maxPrefixWords bounds the words a prefix search is expanded into.
const maxPrefixWords = 64

func expandPrefix(expand func(string) []string, prefix string) []string {
	if expand == nil {
		return nil
	}
	words := expand(strings.ToLower(prefix))
	for _, w := range words {
		// The vocabulary holds tokens, which never contain a quote; be sure.
		if strings.ContainsRune(w, '"') {
			return nil
		}
	}
	return words
}

// prefixWords reads up to maxPrefixWords indexed words starting with
// prefix from the vocabulary; nil when there are more (or none), so that
// the native prefix query is used.
func (s *Store) prefixWords(ctx context.Context, prefix string) []string {
	rows, err := s.rdb.QueryContext(ctx, `SELECT term FROM fts.words_vocab WHERE term >= ? AND term < ? LIMIT ?`,
		prefix, prefix+"\xff", maxPrefixWords+1)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var words []string
	for rows.Next() {
		var w string
		if rows.Scan(&w) != nil {
			return nil
		}
		words = append(words, w)
	}
	if rows.Err() != nil || len(words) > maxPrefixWords {
		return nil
	}
	return words
}

// splitQuoted splits s at white space, keeping "double quoted" runs whole
// (with their quotes).
func splitQuoted(s string) []string {
	var out []string
	var b strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteRune(r)
			if inQuote {
				out = append(out, b.String())
				b.Reset()
			}
			inQuote = !inQuote
		case unicode.IsSpace(r) && !inQuote:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// searchWords splits s into the words the tokenizer indexes: runs of
// letters and digits.
func searchWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
}

// textMatch is the SQL function vigil_text(q, text): whether text, the
// indexed columns of one event (documentSQL), matches the search q. A
// listing through the index calls it on the events of the blocks that
// match.
func textMatch(q, text string) (bool, error) {
	tq, err := textQueries.get(q)
	if err != nil {
		return false, err
	}
	if m, exact := tq.matchText(text); exact {
		return m, nil
	}
	return exactMatch(tq.fullMatch(), text)
}

// textQueries keeps the queries textMatch parsed, so that it parses a
// listing's query once and not once per event.
var textQueries = &queryCache{m: make(map[string]textQuery)}

type queryCache struct {
	mu sync.Mutex
	m  map[string]textQuery
}

func (c *queryCache) get(q string) (textQuery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tq, ok := c.m[q]; ok {
		return tq, nil
	}
	tq, err := parseTextQuery(q)
	if err != nil {
		return tq, err
	}
	if len(c.m) >= 256 {
		clear(c.m)
	}
	c.m[q] = tq
	return tq, nil
}

// oneDoc is an in-memory FTS5 table with the index's tokenizer, for the
// events whose text matchText does not decide (not ASCII): FTS5 itself
// matches the whole query against the event's text alone.
var oneDoc struct {
	once sync.Once
	mu   sync.Mutex
	db   *sql.DB
	err  error
}

func exactMatch(expr, text string) (bool, error) {
	oneDoc.once.Do(func() {
		db, err := sql.Open("sqlite3", "file:vigil-one-doc?mode=memory&cache=private")
		if err == nil {
			db.SetMaxOpenConns(1)
			db.SetConnMaxLifetime(0)
			db.SetConnMaxIdleTime(0)
			_, err = db.Exec(`CREATE VIRTUAL TABLE one_doc USING fts5(doc, detail = none, tokenize = 'unicode61 remove_diacritics 2')`)
		}
		oneDoc.db, oneDoc.err = db, err
	})
	if oneDoc.err != nil {
		return false, oneDoc.err
	}
	oneDoc.mu.Lock()
	defer oneDoc.mu.Unlock()
	db := oneDoc.db
	if _, err := db.Exec(`INSERT INTO one_doc (rowid, doc) VALUES (1, ?)`, text); err != nil {
		return false, err
	}
	var n int
	err := db.QueryRow(`SELECT count(*) FROM one_doc WHERE one_doc MATCH ?`, expr).Scan(&n)
	if _, derr := db.Exec(`DELETE FROM one_doc`); err == nil {
		err = derr
	}
	return n > 0, err
}
