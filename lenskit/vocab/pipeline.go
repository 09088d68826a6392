package vocab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Hugging Face's tokenizer pipeline, as far as the model families lenskit
// reads need it: added tokens are split off the raw text; each remaining
// stretch is normalized, split again on added tokens that match normalized
// text, cut into pre-tokens by the pre-tokenizer, and each pre-token is
// encoded by the BPE model. The components below are the ones found in the
// tokenizer.json files of GPT-2, GPT-NeoX, Llama 2/3, Mistral, Qwen 2/3 and
// Gemma 1/2/3; any other is refused with a one-line error naming the field.

// The kinds of tokenizer, as Vocab.Kind reports them: the family a
// vocabulary belongs to decides how its entries are spelled.
const (
	// KindByteLevel is GPT-2's byte-level BPE, also used by GPT-NeoX,
	// Llama 3 and Qwen: every byte is spelled as a printable character
	// ("Ġ" is a space) and entries are merged byte strings.
	KindByteLevel = "byte-level"
	// KindSentencePiece is SentencePiece-style BPE (Llama 2, Mistral,
	// Gemma): entries are Unicode text with "▁" for a space, and characters
	// without an entry fall back to byte tokens "<0x0A>".
	KindSentencePiece = "sentencepiece"
)

// componentJSON holds the fields of any normalizer, pre-tokenizer or
// post-processor that lenskit reads.
type componentJSON struct {
	Type string `json:"type"`

	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`

	Prepend *string `json:"prepend"`
	Pattern *struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content  *string `json:"content"`
	Behavior string  `json:"behavior"`
	Invert   bool    `json:"invert"`

	AddPrefixSpace *bool `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`

	Replacement   *string `json:"replacement"`
	PrependScheme string  `json:"prepend_scheme"`
	Split         *bool   `json:"split"`

	IndividualDigits bool `json:"individual_digits"`

	Single        []map[string]struct{ ID string } `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int64 `json:"ids"`
	} `json:"special_tokens"`
}

// describeJSON summarizes a JSON value for a message in a few words: its
// type, and for an object its "type" field.
func describeJSON(raw []byte) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		var c struct {
			Type any `json:"type"`
		}
		if json.Unmarshal(t, &c) == nil {
			if s, ok := c.Type.(string); ok {
				return "an object of type " + quote(s)
			}
		}
		return "an object without a type"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// component decodes raw as one component object.
func component(file, where string, raw json.RawMessage) (*componentJSON, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, fileErr(file, where, "%s, not an object", describeJSON(raw))
	}
	var c componentJSON
	if err := json.Unmarshal(t, &c); err != nil {
		where2, err := jsonWhere(t, err)
		return nil, &FileError{File: file, Where: joinWhere(where, where2), Err: err}
	}
	return &c, nil
}

// normalizer is a sequence of normalization steps.
type normalizer struct {
	steps []normStep
}

type normOp uint8

const (
	normPrepend normOp = iota
	normReplace
	normUnicode
)

type normStep struct {
	op       normOp
	from, to string
	form     norm.Form
}

// normalizersText names what lenskit implements, for messages.
const normalizersText = "lenskit implements Sequence, Prepend, Replace with a String pattern, NFC, NFD, NFKC and NFKD"

func parseNormalizer(file string, raw json.RawMessage) (*normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	n := &normalizer{}
	if err := n.parse(file, "normalizer", raw, 0); err != nil {
		return nil, err
	}
	if len(n.steps) == 0 {
		return nil, nil
	}
	return n, nil
}

func (n *normalizer) parse(file, where string, raw json.RawMessage, depth int) error {
	if depth > 8 {
		return fileErr(file, where, "nested too deeply")
	}
	c, err := component(file, where, raw)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for i, sub := range c.Normalizers {
			if err := n.parse(file, fmt.Sprintf("%s.normalizers[%d]", where, i), sub, depth+1); err != nil {
				return err
			}
		}
	case "Prepend":
		if c.Prepend == nil {
			return fileErr(file, where+".prepend", "missing")
		}
		n.steps = append(n.steps, normStep{op: normPrepend, to: *c.Prepend})
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil {
			what := "missing"
			if c.Pattern != nil && c.Pattern.Regex != nil {
				what = "a Regex pattern " + quote(*c.Pattern.Regex) + " is not supported"
			}
			return fileErr(file, where+".pattern", "%s (%s)", what, normalizersText)
		}
		if c.Content == nil {
			return fileErr(file, where+".content", "missing")
		}
		if *c.Pattern.String != "" {
			n.steps = append(n.steps, normStep{op: normReplace, from: *c.Pattern.String, to: *c.Content})
		}
	case "NFC":
		n.steps = append(n.steps, normStep{op: normUnicode, form: norm.NFC})
	case "NFD":
		n.steps = append(n.steps, normStep{op: normUnicode, form: norm.NFD})
	case "NFKC":
		n.steps = append(n.steps, normStep{op: normUnicode, form: norm.NFKC})
	case "NFKD":
		n.steps = append(n.steps, normStep{op: normUnicode, form: norm.NFKD})
	default:
		return fileErr(file, where, "%s is not supported (%s)", describeJSON(raw), normalizersText)
	}
	return nil
}

// apply normalizes one stretch of text (never empty).
func (n *normalizer) apply(s string) string {
	for _, st := range n.steps {
		switch st.op {
		case normPrepend:
			if s != "" {
				s = st.to + s
			}
		case normReplace:
			s = strings.ReplaceAll(s, st.from, st.to)
		case normUnicode:
			if !st.form.IsNormalString(s) {
				s = st.form.String(s)
			}
		}
	}
	return s
}

// replacesSpace returns what the normalizer turns " " into, if it does.
func (n *normalizer) replacesSpace() (string, bool) {
	if n == nil {
		return "", false
	}
	for _, st := range n.steps {
		if st.op == normReplace && st.from == " " {
			return st.to, true
		}
	}
	return "", false
}

// Pre-tokenizer steps.
type preKind uint8

const (
	preByteLevel preKind = iota
	preSplit
	preMetaspace
	preDigits
)

// Split behaviours, as in Hugging Face's SplitDelimiterBehavior.
type splitBehavior uint8

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

var behaviors = map[string]splitBehavior{
	"Removed": splitRemoved, "Isolated": splitIsolated, "MergedWithPrevious": splitMergedWithPrevious,
	"MergedWithNext": splitMergedWithNext, "Contiguous": splitContiguous,
}

// Metaspace prepend schemes.
const (
	prependAlways = iota
	prependFirst
	prependNever
)

type preStep struct {
	kind     preKind
	regex    pattern // preByteLevel (patNone without use_regex) and preSplit
	literal  string  // preSplit with a String pattern
	behavior splitBehavior
	invert   bool
	prefix   bool   // ByteLevel add_prefix_space
	repl     string // Metaspace replacement
	scheme   int    // Metaspace prepend scheme
	split    bool   // Metaspace split; Digits individual_digits
}

const preTokenizersText = "lenskit implements Sequence, ByteLevel, Split with a String pattern or GPT-2's, Llama 3's or Qwen 2's Regex, Metaspace and Digits"

func parsePreTokenizer(file string, raw json.RawMessage) ([]preStep, error) {
	if isNull(raw) {
		return nil, nil
	}
	var steps []preStep
	if err := parsePre(file, "pre_tokenizer", raw, 0, &steps); err != nil {
		return nil, err
	}
	return steps, nil
}

func parsePre(file, where string, raw json.RawMessage, depth int, steps *[]preStep) error {
	if depth > 8 {
		return fileErr(file, where, "nested too deeply")
	}
	c, err := component(file, where, raw)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for i, sub := range c.PreTokenizers {
			if err := parsePre(file, fmt.Sprintf("%s.pretokenizers[%d]", where, i), sub, depth+1, steps); err != nil {
				return err
			}
		}
	case "ByteLevel":
		st := preStep{kind: preByteLevel, regex: patGPT2}
		if c.UseRegex != nil && !*c.UseRegex {
			st.regex = patNone
		}
		st.prefix = c.AddPrefixSpace != nil && *c.AddPrefixSpace
		*steps = append(*steps, st)
	case "Split":
		b, ok := behaviors[c.Behavior]
		if !ok {
			return fileErr(file, where+".behavior", "%s is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", quote(c.Behavior))
		}
		st := preStep{kind: preSplit, behavior: b, invert: c.Invert}
		switch {
		case c.Pattern != nil && c.Pattern.String != nil:
			st.literal = *c.Pattern.String
		case c.Pattern != nil && c.Pattern.Regex != nil:
			p, ok := knownPatterns[*c.Pattern.Regex]
			if !ok {
				return fileErr(file, where+".pattern.Regex", "%s is not a pattern lenskit implements (GPT-2's, Llama 3's, Qwen 2's; Go's regexp has no look-ahead, so each is a hand-written scanner)", quote(*c.Pattern.Regex))
			}
			st.regex = p
		default:
			return fileErr(file, where+".pattern", "missing")
		}
		*steps = append(*steps, st)
	case "Metaspace":
		st := preStep{kind: preMetaspace, repl: "▁", scheme: prependAlways, split: true}
		if c.Replacement != nil {
			if *c.Replacement == "" {
				return fileErr(file, where+".replacement", "empty")
			}
			st.repl = *c.Replacement
		}
		switch c.PrependScheme {
		case "", "always":
		case "first":
			st.scheme = prependFirst
		case "never":
			st.scheme = prependNever
		default:
			return fileErr(file, where+".prepend_scheme", "%s is not always, first or never", quote(c.PrependScheme))
		}
		if c.PrependScheme == "" && c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			st.scheme = prependNever
		}
		if c.Split != nil {
			st.split = *c.Split
		}
		*steps = append(*steps, st)
	case "Digits":
		*steps = append(*steps, preStep{kind: preDigits, split: c.IndividualDigits})
	default:
		return fileErr(file, where, "%s is not supported (%s)", describeJSON(raw), preTokenizersText)
	}
	return nil
}

// decideKind works out whether the tokenizer is byte-level or
// SentencePiece-style from its pre-tokenizer, normalizer and model.
func (sp *spec) decideKind(file string) error {
	for _, st := range sp.pre {
		if st.kind == preByteLevel {
			sp.kind = KindByteLevel
			if sp.byteFallback {
				return fileErr(file, "model.byte_fallback", "true with a ByteLevel pre-tokenizer: byte-level BPE needs no byte fallback")
			}
			return nil
		}
	}
	sp.kind = KindSentencePiece
	for _, st := range sp.pre {
		if st.kind == preMetaspace {
			sp.replacement = st.repl
			return nil
		}
	}
	if r, ok := sp.norm.replacesSpace(); ok && r != "" {
		sp.replacement = r
		return nil
	}
	if sp.byteFallback {
		sp.replacement = "▁"
		return nil
	}
	return fileErr(file, "pre_tokenizer", "neither ByteLevel nor Metaspace, and no normalizer replaces spaces: lenskit reads byte-level BPE (GPT-2, Llama 3, Qwen) and SentencePiece-style BPE (Llama 2, Mistral, Gemma)")
}

// parseBOS finds the token a TemplateProcessing post-processor puts before
// a single sequence.
func parseBOS(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", false
	}
	var c componentJSON
	if json.Unmarshal(raw, &c) != nil {
		return "", false
	}
	switch c.Type {
	case "Sequence":
		for _, p := range c.Processors {
			if bos, ok := parseBOS(p); ok {
				return bos, true
			}
		}
	case "TemplateProcessing":
		if len(c.Single) == 0 {
			return "", false
		}
		st, ok := c.Single[0]["SpecialToken"]
		if !ok || st.ID == "" {
			return "", false
		}
		return st.ID, true
	}
	return "", false
}

// cutSafe reports whether text may be cut after a newline between two
// non-space characters without changing the pre-tokens: true for the
// byte-level pipelines whose patterns end every pre-token at such a newline
// and whose normalizer, if any, is Unicode normalization (which never
// composes across a newline).
func cutSafe(sp *spec) bool {
	if sp.kind != KindByteLevel {
		return false
	}
	if sp.norm != nil {
		for _, st := range sp.norm.steps {
			if st.op != normUnicode {
				return false
			}
		}
	}
	for _, st := range sp.pre {
		switch {
		case st.kind == preByteLevel && !st.prefix:
		case st.kind == preSplit && st.regex != patNone && st.behavior == splitIsolated && !st.invert:
		default:
			return false
		}
	}
	return true
}

// sortedKeys returns a map's keys in order (for stable messages).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// A piece is a stretch of text on its way through the pre-tokenizer, with
// its offset in the original text (approximate after a normalizer changed
// lengths; exact enough for Metaspace's "first" scheme, which asks only
// whether it is 0).
type piece struct {
	s   string
	off int
}

// A span is a part of a piece, matched by a Split pattern or not.
type span struct {
	start, end int
	match      bool
}

// apply runs one pre-tokenizer step on p and appends the resulting pieces
// (empty ones are dropped, as Hugging Face's PreTokenizedString does).
func (st *preStep) apply(p piece, out []piece, e *encoder) []piece {
	s := p.s
	switch st.kind {
	case preByteLevel:
		if st.prefix && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		if st.regex == patNone {
			return append(out, piece{s, p.off})
		}
		st.regex.split(s, func(a, b int) { out = append(out, piece{s[a:b], p.off + a}) })
		return out
	case preSplit:
		if st.regex != patNone && st.behavior == splitIsolated && !st.invert {
			// The matches of the implemented patterns tile the text.
			st.regex.split(s, func(a, b int) { out = append(out, piece{s[a:b], p.off + a}) })
			return out
		}
		spans := e.spans[:0]
		if st.regex != patNone {
			spans = matchSpans(s, spans, func(emit func(a, b int)) { st.regex.split(s, emit) })
		} else {
			spans = matchSpans(s, spans, func(emit func(a, b int)) { literalMatches(s, st.literal, emit) })
		}
		e.spans = spans
		return splitSpans(p, spans, st.behavior, st.invert, out)
	case preMetaspace:
		s = strings.ReplaceAll(s, " ", st.repl)
		if !strings.HasPrefix(s, st.repl) && (st.scheme == prependAlways || st.scheme == prependFirst && p.off == 0) {
			s = st.repl + s
		}
		if !st.split {
			return append(out, piece{s, p.off})
		}
		spans := matchSpans(s, e.spans[:0], func(emit func(a, b int)) { literalMatches(s, st.repl, emit) })
		e.spans = spans
		return splitSpans(piece{s, p.off}, spans, splitMergedWithNext, false, out)
	case preDigits:
		spans := matchSpans(s, e.spans[:0], func(emit func(a, b int)) {
			for i, r := range s {
				if unicode.IsNumber(r) {
					emit(i, i+utf8.RuneLen(r))
				}
			}
		})
		e.spans = spans
		b := splitContiguous
		if st.split {
			b = splitIsolated
		}
		return splitSpans(p, spans, b, false, out)
	}
	return append(out, p)
}

// literalMatches emits the non-overlapping occurrences of lit in s, leftmost
// first; an empty lit matches nothing.
func literalMatches(s, lit string, emit func(a, b int)) {
	if lit == "" {
		return
	}
	for i := 0; i <= len(s)-len(lit); {
		k := strings.Index(s[i:], lit)
		if k < 0 {
			return
		}
		emit(i+k, i+k+len(lit))
		i += k + len(lit)
	}
}

// matchSpans covers s with the matches find emits and the gaps between them,
// as tokenizers' Pattern.find_matches does.
func matchSpans(s string, spans []span, find func(emit func(a, b int))) []span {
	prev := 0
	find(func(a, b int) {
		if a == b {
			return
		}
		if prev < a {
			spans = append(spans, span{prev, a, false})
		}
		spans = append(spans, span{a, b, true})
		prev = b
	})
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), false})
	}
	return spans
}

// splitSpans turns spans into pieces by a Split behaviour, as tokenizers'
// NormalizedString.split does (with invert, matches and gaps swap roles).
func splitSpans(p piece, spans []span, b splitBehavior, invert bool, out []piece) []piece {
	if invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	emit := func(a, z int) {
		if a < z {
			out = append(out, piece{p.s[a:z], p.off + a})
		}
	}
	switch b {
	case splitIsolated:
		for _, sp := range spans {
			emit(sp.start, sp.end)
		}
	case splitRemoved:
		for _, sp := range spans {
			if !sp.match {
				emit(sp.start, sp.end)
			}
		}
	case splitContiguous:
		for i := 0; i < len(spans); {
			j := i + 1
			for j < len(spans) && spans[j].match == spans[i].match {
				j++
			}
			emit(spans[i].start, spans[j-1].end)
			i = j
		}
	case splitMergedWithPrevious:
		// A match joins the piece before it, unless it follows a match.
		var acc []span
		prev := false
		for _, sp := range spans {
			if sp.match && !prev && len(acc) > 0 {
				acc[len(acc)-1].end = sp.end
			} else {
				acc = append(acc, sp)
			}
			prev = sp.match
		}
		for _, sp := range acc {
			emit(sp.start, sp.end)
		}
	case splitMergedWithNext:
		// A match joins the piece after it, unless it precedes a match.
		var acc []span
		next := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !next && len(acc) > 0 {
				acc[len(acc)-1].start = sp.start
			} else {
				acc = append(acc, sp)
			}
			next = sp.match
		}
		for i := len(acc) - 1; i >= 0; i-- {
			emit(acc[i].start, acc[i].end)
		}
	}
	return out
}
