package vocab

import (
	"slices"
	"strings"
)

// A Filter decides which vocabulary entries take part in a projection.
// Filters are applied before any computation: a projection over the alnum
// tokens never computes a score for a bracket. String is a stable,
// human-readable description recorded with findings, such as
// "alnum+list(pl.txt,top=5000)".
type Filter interface {
	Keep(v *Vocab, id int) bool
	String() string
}

// keyer is implemented by the package's filters whose String identifies
// their behaviour completely, so that Select may cache their result.
type keyer interface {
	cacheKey() (key string, ok bool)
}

// flagFilter keeps tokens whose precomputed flag is set (or, with unset,
// clear).
type flagFilter struct {
	name  string
	flag  uint8
	unset bool
}

func (f flagFilter) Keep(v *Vocab, id int) bool {
	return v.real(id) && (v.flags[id]&f.flag != 0) != f.unset
}
func (f flagFilter) String() string           { return f.name }
func (f flagFilter) cacheKey() (string, bool) { return f.name, true }

type allFilter struct{}

func (allFilter) Keep(v *Vocab, id int) bool { return v.real(id) }
func (allFilter) String() string             { return "all" }
func (allFilter) cacheKey() (string, bool)   { return "all", true }

// All keeps every token (every id but placeholders).
func All() Filter { return allFilter{} }

// ASCII keeps tokens that are printable ASCII: with the spaces at both ends
// removed, every byte of Bytes is in 0x21–0x7E. This is the seed's
// only_ascii (its default for neuron tables), raw.strip('Ġ▁').isascii(),
// stated on decoded bytes: for a byte-level vocabulary it keeps exactly the
// entries the seed keeps (the byte-level spelling of a control byte, DEL, a
// space inside a token or a byte ≥ 0x80 is a character above U+007F, so
// "\n", "\t", "<0x18>"-like control tokens and fragments of Polish letters
// are dropped, while " " and "  " pass, being empty after stripping), and
// for a SentencePiece vocabulary it means the same, where the raw test would
// keep byte tokens such as "<0x0A>" because their spelling is ASCII.
func ASCII() Filter { return flagFilter{name: "ascii", flag: flagASCII} }

// SeedRawASCII is the seed notebook's test, raw.strip('Ġ▁').isascii(), on the
// raw vocabulary entry, kept for parity with its published tables. For the
// entries of a byte-level vocabulary it keeps exactly what ASCII keeps: the
// images of non-printable bytes (Ġ for space, Ċ for newline, ĉ for tab, ġ
// for DEL, ...) are not ASCII characters, so "\n", "\t" or "x\ny" are
// dropped, while spaces at either end of a token are stripped before its
// test ("ĠĠ" passes, being empty after stripping). It differs on spellings
// that are ASCII but stand for other bytes — a SentencePiece byte token
// "<0x0A>" passes it — and on special tokens, whose content it tests as is.
func SeedRawASCII() Filter { return flagFilter{name: "seed-raw-ascii", flag: flagSeedRawASCII} }

// SeedDecodedASCII is the seed notebook's other ASCII test, the one its head
// tables use (get_top_entries): tokenizer.decode([id]).strip('Ġ▁').isascii()
// on the decoded text, where "\n".isascii() is true. It keeps tokens whose
// Bytes are all below 0x80 — control tokens included, fragments of UTF-8
// characters not (they decode to U+FFFD) — for parity with the seed's
// published OV and QK tables; ASCII, the neuron tables' test, drops control
// tokens.
func SeedDecodedASCII() Filter {
	return flagFilter{name: "seed-decoded-ascii", flag: flagDecodedASCII}
}

// Alnum keeps word-like tokens: after removing leading spaces the decoded
// text is non-empty, valid UTF-8, and every rune is a letter, a mark or a
// decimal digit (unicode.IsLetter, IsMark, IsDigit). Polish, Cyrillic and
// accented Latin count: " zażółć", "ów", " Привет", "café" are kept; " C++",
// "-", " 3.14", a fragment of "ł", "<|endoftext|>" are not. The seed's
// ALNUM_CHARSET is ASCII letters plus a hand-written Polish list, and its
// only_ascii default drops every Polish letter anyway; that is its bug, not
// this package's spec.
func Alnum() Filter { return flagFilter{name: "alnum", flag: flagAlnum} }

// NoBrackets excludes tokens whose decoded bytes contain any of ()[]{}<>
// (which also excludes "<|endoftext|>").
func NoBrackets() Filter { return flagFilter{name: "no-brackets", flag: flagBracket, unset: true} }

type notFilter struct{ f Filter }

func (n notFilter) Keep(v *Vocab, id int) bool { return v.real(id) && !n.f.Keep(v, id) }
func (n notFilter) String() string             { return "not(" + n.f.String() + ")" }
func (n notFilter) cacheKey() (string, bool) {
	k, ok := keyOf(n.f)
	return "not(" + k + ")", ok
}

// Not keeps the tokens f drops.
func Not(f Filter) Filter {
	if f == nil {
		f = All()
	}
	return notFilter{f: f}
}

type listFilter struct{ l *TokenList }

func (f listFilter) Keep(v *Vocab, id int) bool {
	return v.real(id) && f.l != nil && f.l.containsNormalized(v.form[id])
}
func (f listFilter) String() string {
	if f.l == nil {
		return "list(nil)"
	}
	return f.l.String()
}
func (f listFilter) cacheKey() (string, bool) {
	if f.l == nil {
		return "list(nil)", true
	}
	return f.l.String() + "#" + f.l.fingerprint, true
}

// InList keeps tokens whose Form is in the list (compared case-folded
// without the space marker, as the seed does with its token list). A nil
// list keeps nothing.
func InList(l *TokenList) Filter { return listFilter{l} }

// andFilter and the other composite filters are pointers, so that filters
// stay comparable (usable as map keys) whatever they hold.
type andFilter struct{ fs []Filter }

func (a *andFilter) Keep(v *Vocab, id int) bool {
	if !v.real(id) {
		return false
	}
	for _, f := range a.fs {
		if !f.Keep(v, id) {
			return false
		}
	}
	return true
}
func (a *andFilter) String() string {
	if len(a.fs) == 0 {
		return "all"
	}
	return joinFilters(a.fs, "+", false)
}
func (a *andFilter) cacheKey() (string, bool) { return joinKeys(a.fs, "and") }

type orFilter struct{ fs []Filter }

func (o *orFilter) Keep(v *Vocab, id int) bool {
	if !v.real(id) {
		return false
	}
	for _, f := range o.fs {
		if f.Keep(v, id) {
			return true
		}
	}
	return false
}
func (o *orFilter) String() string {
	if len(o.fs) == 0 {
		return "none"
	}
	return joinFilters(o.fs, "|", true)
}
func (o *orFilter) cacheKey() (string, bool) { return joinKeys(o.fs, "or") }

func joinFilters(fs []Filter, sep string, paren bool) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	s := strings.Join(parts, sep)
	if paren && len(fs) > 1 {
		s = "(" + s + ")"
	}
	return s
}

func joinKeys(fs []Filter, op string) (string, bool) {
	parts := make([]string, len(fs))
	for i, f := range fs {
		k, ok := keyOf(f)
		if !ok {
			return "", false
		}
		parts[i] = k
	}
	return op + "(" + strings.Join(parts, ",") + ")", true
}

func nonNil(fs []Filter) []Filter {
	out := make([]Filter, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// And keeps the tokens every filter keeps; nil filters are ignored and And()
// keeps everything. Its String joins the parts with "+": "alnum+no-brackets".
func And(fs ...Filter) Filter { return &andFilter{nonNil(fs)} }

// Or keeps the tokens any filter keeps; nil filters are ignored and Or()
// keeps nothing. Its String is "(a|b)".
func Or(fs ...Filter) Filter { return &orFilter{nonNil(fs)} }

type funcFilter struct {
	name string
	keep func(v *Vocab, id int) bool
}

func (f *funcFilter) Keep(v *Vocab, id int) bool { return v.real(id) && f.keep != nil && f.keep(v, id) }
func (f *funcFilter) String() string             { return f.name }

// FilterFunc makes a researcher-defined filter: name is what findings record,
// keep decides. Its results are not cached by Select (two cells may define
// different functions under one name), and neither are those of any
// composition containing it or of Filter implementations from other
// packages.
func FilterFunc(name string, keep func(v *Vocab, id int) bool) Filter {
	return &funcFilter{name: name, keep: keep}
}

func keyOf(f Filter) (string, bool) {
	if k, ok := f.(keyer); ok {
		return k.cacheKey()
	}
	return "", false
}

// maxSelectCache bounds the number of cached Select results per Vocab.
const maxSelectCache = 64

// Select returns the ids f keeps, ascending; a nil f keeps all. Placeholders
// are never selected, whatever f says. Results of
// this package's filters are cached per Vocab and filter, so projections
// that reuse a filter pay for it once; the returned slice is the caller's
// own.
func (v *Vocab) Select(f Filter) []int {
	if f == nil {
		f = All()
	}
	key, cacheable := keyOf(f)
	if cacheable {
		v.selMu.Lock()
		ids, ok := v.sel[key]
		v.selMu.Unlock()
		if ok {
			return widen(ids)
		}
	}
	var ids []int32
	for id := range v.raw {
		if !v.gap[id] && f.Keep(v, id) {
			ids = append(ids, int32(id))
		}
	}
	if cacheable {
		v.selMu.Lock()
		if v.sel == nil {
			v.sel = make(map[string][]int32)
		}
		if _, ok := v.sel[key]; !ok {
			if len(v.selOrder) >= maxSelectCache {
				delete(v.sel, v.selOrder[0])
				v.selOrder = slices.Delete(v.selOrder, 0, 1)
			}
			v.sel[key] = ids
			v.selOrder = append(v.selOrder, key)
		}
		v.selMu.Unlock()
	}
	return widen(ids)
}

func widen(ids []int32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}
