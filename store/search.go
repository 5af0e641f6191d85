package store

import (
	"context"
	"strings"
	"unicode"

	"vigil/model"
)

// maxSearchTerms bounds the words of one full-text query.
const maxSearchTerms = 32

// ftsQuery turns what a user typed into an FTS5 MATCH expression. Every
// word is quoted, so no user input is ever read as FTS5 syntax.
//
// The index is built with the unicode61 tokenizer (diacritics folded, case
// folded) and detail=none, which gives this query language:
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
//
// expand, if not nil, turns a prefix into the indexed words that start
// with it (nil when there are too many or none): a few words OR'ed are
// walked newest first, where FTS5 would first merge every posting list of
// the prefix.
func ftsQuery(input string, expand func(prefix string) []string) (string, error) {
	type term struct {
		words  []string
		prefix bool
		neg    bool
		or     bool // joined to the previous positive term with OR
	}
	var terms []term
	nextOr, nextNeg := false, false
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
		t := term{neg: nextNeg, or: nextOr}
		nextOr, nextNeg = false, false
		if quoted {
			field = strings.Trim(field, `"`)
		} else {
			if strings.HasPrefix(field, "-") {
				t.neg = true
				field = field[1:]
			}
			if strings.HasSuffix(field, "*") {
				t.prefix = true
				field = strings.TrimRight(field, "*")
			}
		}
		t.words = searchWords(field)
		if len(t.words) == 0 {
			continue
		}
		terms = append(terms, t)
	}
	var pos, neg []string
	n := 0
	for _, t := range terms {
		n += len(t.words)
		if n > maxSearchTerms {
			return "", model.Errorf(model.EINVALID, "q: at most %d words", maxSearchTerms)
		}
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
		expr := strings.Join(parts, " AND ")
		if len(parts) > 1 {
			expr = "(" + expr + ")"
		}
		if t.neg {
			neg = append(neg, expr)
			continue
		}
		if len(pos) > 0 {
			if t.or {
				expr = "OR " + expr
			} else {
				expr = "AND " + expr
			}
		}
		pos = append(pos, expr)
	}
	if len(pos) == 0 {
		return "", model.Errorf(model.EINVALID, "q: name at least one word that must appear")
	}
	q := strings.Join(pos, " ")
	if len(neg) > 0 {
		q = "(" + q + ") NOT (" + strings.Join(neg, " OR ") + ")"
	}
	return q, nil
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
	if !s.ix.fts.words {
		return nil
	}
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
