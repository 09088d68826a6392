package vocab

import "strings"

// A PairFilter excludes (source, target) pairs from a head view: for OV the
// source token and the token it writes, for QK the query and the key token.
// Exclude runs inside the hot loop over candidate pairs, so the package's
// pair filters only compare forms precomputed at load.
type PairFilter interface {
	Exclude(v *Vocab, a, b int) bool
	String() string
}

type sameToken struct{}

func (sameToken) Exclude(v *Vocab, a, b int) bool {
	return v.ok(a) && v.ok(b) && v.formID[a] == v.formID[b]
}
func (sameToken) String() string { return "exclude-same" }

// SameToken excludes pairs of tokens with the same Form: equal after
// lowercasing and trimming spaces, so " Dom" → "dom" and "dom" → " dom" are
// excluded, as well as a token paired with itself (the seed's exclude_same).
func SameToken() PairFilter { return sameToken{} }

// fuzzyForm is a token's Form as runes, precomputed for FuzzyEqual.
type fuzzyForm []rune

func newFuzzyForm(form string) fuzzyForm { return fuzzyForm([]rune(form)) }

// Minimum lengths, in runes, for the two fuzzy rules.
const (
	fuzzyMinPrefix = 3
	fuzzyMinEdit   = 4
)

type fuzzyEqual struct{}

func (fuzzyEqual) Exclude(v *Vocab, a, b int) bool {
	if !v.ok(a) || !v.ok(b) {
		return false
	}
	if v.formID[a] == v.formID[b] {
		return true
	}
	return fuzzyForms(v.fuzzyOf(a), v.fuzzyOf(b))
}
func (fuzzyEqual) String() string { return "exclude-fuzzy" }

// FuzzyEqual excludes pairs whose Forms (lowercased, space-trimmed) are
// near-identical, the pairs a researcher skips as "the same word" (the seed
// calls an undefined _fuzzy_eq for this). Two forms x and y are fuzzy-equal
// when
//
//  1. x == y (so SameToken's pairs are excluded too), or
//  2. the shorter has at least 3 runes and is a prefix of the longer:
//     "dom"/"domu", "kot"/"kotami", "ubra"/"ubrania"; or
//  3. both have at least 4 runes and one edit (insert, delete or substitute
//     one rune) turns one into the other: "domu"/"domy",
//     "munduru"/"mundury", "color"/"colour", "kasa"/"kasza".
//
// Not fuzzy-equal: "do"/"dom" (prefix too short), "kot"/"kod" (too short
// for an edit), "domu"/"dymy" (two edits), "" (a whitespace token) and any
// non-empty form. Runes are compared after lowercasing, so "Łódź"/"łodź" is
// one edit apart. The tests are O(length), on forms precomputed at load.
func FuzzyEqual() PairFilter { return fuzzyEqual{} }

func fuzzyForms(x, y fuzzyForm) bool {
	if len(x) > len(y) {
		x, y = y, x
	}
	if len(x) >= fuzzyMinPrefix && hasPrefixRunes(y, x) {
		return true
	}
	return len(x) >= fuzzyMinEdit && withinOneEdit(x, y)
}

func hasPrefixRunes(s, p []rune) bool {
	if len(p) > len(s) {
		return false
	}
	for i := range p {
		if s[i] != p[i] {
			return false
		}
	}
	return true
}

// withinOneEdit reports whether Levenshtein(x, y) <= 1, with len(x) <= len(y).
func withinOneEdit(x, y []rune) bool {
	switch len(y) - len(x) {
	case 0:
		diff := 0
		for i := range x {
			if x[i] != y[i] {
				diff++
				if diff > 1 {
					return false
				}
			}
		}
		return true
	case 1:
		i := 0
		for i < len(x) && x[i] == y[i] {
			i++
		}
		for ; i < len(x); i++ {
			if x[i] != y[i+1] {
				return false
			}
		}
		return true
	}
	return false
}

type anyPair struct{ pfs []PairFilter }

func (p *anyPair) Exclude(v *Vocab, a, b int) bool {
	for _, f := range p.pfs {
		if f.Exclude(v, a, b) {
			return true
		}
	}
	return false
}

func (p *anyPair) String() string {
	if len(p.pfs) == 0 {
		return "exclude-none"
	}
	parts := make([]string, len(p.pfs))
	for i, f := range p.pfs {
		parts[i] = f.String()
	}
	return strings.Join(parts, "+")
}

// AnyPair excludes a pair when any of pfs excludes it; nil entries are
// ignored and AnyPair() excludes nothing.
func AnyPair(pfs ...PairFilter) PairFilter {
	out := &anyPair{make([]PairFilter, 0, len(pfs))}
	for _, f := range pfs {
		if f != nil {
			out.pfs = append(out.pfs, f)
		}
	}
	return out
}
