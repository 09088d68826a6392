package lenskit

import (
	"fmt"
	"strings"

	"lenskit.dev/lenskit/view"
	"lenskit.dev/lenskit/vocab"
)

// A Filter decides which tokens, and which token pairs, take part in a
// projection. Token filters apply before any computation; pair filters
// (ExcludeSame, ExcludeFuzzy) drop pairs of a head view as they are found.
// Filters given to one Lens compose: a token must pass every token filter.
type Filter struct {
	name  string
	token func(m *Model) (vocab.Filter, error) // nil for pair filters
	pair  vocab.PairFilter
}

// String is the filter's description, as recorded with findings.
func (f Filter) String() string { return f.name }

func tokenFilter(f vocab.Filter) Filter {
	return Filter{name: f.String(), token: func(*Model) (vocab.Filter, error) { return f, nil }}
}

// ASCII keeps tokens whose text is ASCII (the seed notebook's only_ascii;
// it drops every Polish letter — use Alnum for Polish).
func ASCII() Filter { return tokenFilter(vocab.ASCII()) }

// SeedASCII is the seed's exact only_ascii test on the raw vocabulary entry,
// for parity with its published tables (see vocab.SeedRawASCII).
func SeedASCII() Filter { return tokenFilter(vocab.SeedRawASCII()) }

// Alnum keeps tokens made of letters and digits in any script (Polish,
// Cyrillic and accented Latin count as letters), after the leading space.
func Alnum() Filter { return tokenFilter(vocab.Alnum()) }

// NoBrackets drops tokens containing a bracket.
func NoBrackets() Filter { return tokenFilter(vocab.NoBrackets()) }

// Where applies any vocab.Filter, including ones written in a notebook
// with vocab.FilterFunc.
func Where(f vocab.Filter) Filter { return tokenFilter(f) }

// InList keeps tokens whose lowercased, space-trimmed text is in the list.
func InList(l *vocab.TokenList) Filter { return tokenFilter(vocab.InList(l)) }

// CorpusTokens keeps tokens seen in text files (one record per line), or
// only the topN most frequent of them (by the number of lines they occur in,
// as the seed counts) when topN > 0. The list is built once per model and
// path set, with a progress bar.
func CorpusTokens(topN int, paths ...string) Filter {
	name := fmt.Sprintf("corpus(%s", strings.Join(paths, ","))
	if topN > 0 {
		name += fmt.Sprintf(",top=%d", topN)
	}
	name += ")"
	return Filter{name: name, token: func(m *Model) (vocab.Filter, error) {
		l, err := m.CorpusTokens(topN, paths...)
		if err != nil {
			return nil, err
		}
		return vocab.InList(l), nil
	}}
}

// ExcludeSame drops pairs of the same token (equal after lowercasing and
// trimming spaces), the seed's exclude_same.
func ExcludeSame() Filter {
	return Filter{name: vocab.SameToken().String(), pair: vocab.SameToken()}
}

// ExcludeFuzzy drops pairs of near-identical tokens (see vocab.FuzzyEqual
// for the exact rule: same form, a prefix of ≥ 3 letters, or one edit
// between forms of ≥ 4 letters).
func ExcludeFuzzy() Filter {
	return Filter{name: vocab.FuzzyEqual().String(), pair: vocab.FuzzyEqual()}
}

// CorpusTokens builds (once, then caches) the token list of the given text
// files for this model's vocabulary: every token seen, or the topN most
// frequent by line count.
func (m *Model) CorpusTokens(topN int, paths ...string) (*vocab.TokenList, error) {
	if m.err != nil {
		return nil, m.err
	}
	key := fmt.Sprint(topN, paths)
	m.listsMu.Lock()
	l, ok := m.lists[key]
	m.listsMu.Unlock()
	if ok {
		return l, nil
	}
	p := view.NewProgress("tokenizing "+strings.Join(paths, ", "), 0)
	l, err := vocab.CorpusTokens(m.Vocab, paths, topN, p.Func())
	p.Done()
	if err != nil {
		return nil, err
	}
	m.listsMu.Lock()
	m.lists[key] = l
	m.listsMu.Unlock()
	return l, nil
}

// resolved is a Lens's filters applied to its model.
type resolved struct {
	ids     []int // token ids taking part, ascending; nil = all
	exclude func(a, b int) bool
	desc    string
}

func (m *Model) resolve(filters []Filter) (resolved, error) {
	var r resolved
	var toks []vocab.Filter
	var pairs []vocab.PairFilter
	var names []string
	for _, f := range filters {
		if f.name == "" {
			return r, fmt.Errorf("lenskit: zero Filter value (use lenskit.Alnum(), lenskit.ASCII(), …)")
		}
		names = append(names, f.name)
		if f.pair != nil {
			pairs = append(pairs, f.pair)
			continue
		}
		vf, err := f.token(m)
		if err != nil {
			return r, err
		}
		toks = append(toks, vf)
	}
	if len(toks) > 0 {
		r.ids = m.Vocab.Select(vocab.And(toks...))
		if r.ids == nil {
			r.ids = []int{}
		}
	}
	if len(pairs) > 0 {
		pf := vocab.AnyPair(pairs...)
		v := m.Vocab
		r.exclude = func(a, b int) bool { return pf.Exclude(v, a, b) }
	}
	r.desc = strings.Join(names, "+")
	if r.desc == "" {
		r.desc = "all"
	}
	return r, nil
}
