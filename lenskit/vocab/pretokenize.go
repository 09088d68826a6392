package vocab

import (
	"unicode"
	"unicode/utf8"
)

// GPT-2 splits text into pre-tokens before BPE with the regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// (OpenAI's encoder.py, and Hugging Face's ByteLevel pre-tokenizer with
// use_regex). Go's regexp has no look-ahead, and a hand-written scanner is
// several times faster than any regexp engine on this pattern, so splitGPT2
// implements the same leftmost-first alternation directly:
//
//   - a contraction ('s 't 're 've 'm 'll 'd, case-sensitive) wins at an
//     apostrophe;
//   - otherwise an optional single ASCII space followed by a run of letters,
//     of numbers, or of "other" runes (neither space, letter nor number);
//   - otherwise a run of whitespace: all of it at the end of the text, all but
//     its last rune when a non-space follows (that rune then starts the next
//     pre-token, usually as the " word" form), or the single rune when the
//     run is one rune long.
//
// \p{L} is unicode.IsLetter, \p{N} is unicode.IsNumber and \s is
// unicode.IsSpace (the Unicode White_Space property, as in Oniguruma, which
// Hugging Face tokenizers uses). A byte that is not valid UTF-8 counts as an
// "other" rune of width one, so any Go string can be tokenized and decoded
// back byte for byte; Python strings can't hold such bytes, so no reference
// disagrees.

const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

// asciiClass is the class of each ASCII byte, so the common case needs no
// Unicode table look-up.
var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = clsLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clsNumber
		case unicode.IsSpace(r):
			asciiClass[c] = clsSpace
		default:
			asciiClass[c] = clsOther
		}
	}
}

// classAt returns the class and width of the rune starting at s[i].
func classAt(s string, i int) (cls uint8, width int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return clsOther, 1
	}
	switch {
	case unicode.IsLetter(r):
		return clsLetter, w
	case unicode.IsNumber(r):
		return clsNumber, w
	case unicode.IsSpace(r):
		return clsSpace, w
	}
	return clsOther, w
}

// contractionLen returns the length of the contraction starting at s[i]
// (which holds an apostrophe), or 0.
func contractionLen(s string, i int) int {
	if i+1 >= len(s) {
		return 0
	}
	switch s[i+1] {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && s[i+2] == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && s[i+2] == 'l' {
			return 3
		}
	}
	return 0
}

// runOf returns the end of the run of runes of class cls starting at i.
func runOf(s string, i int, cls uint8) int {
	for i < len(s) {
		c, w := classAt(s, i)
		if c != cls {
			break
		}
		i += w
	}
	return i
}

// splitGPT2 calls emit with the byte offsets of each pre-token of s, in order.
// The pre-tokens tile s exactly.
func splitGPT2(s string, emit func(start, end int)) {
	i := 0
	for i < len(s) {
		if s[i] == '\'' {
			if n := contractionLen(s, i); n > 0 {
				emit(i, i+n)
				i += n
				continue
			}
		}
		cls, w := classAt(s, i)
		if s[i] == ' ' && i+1 < len(s) {
			if next, _ := classAt(s, i+1); next != clsSpace {
				end := runOf(s, i+1, next)
				emit(i, end)
				i = end
				continue
			}
		}
		if cls != clsSpace {
			end := runOf(s, i+w, cls)
			emit(i, end)
			i = end
			continue
		}
		// A whitespace run [i, end); last is the start of its final rune.
		end, last := i, i
		for end < len(s) {
			c, w := classAt(s, end)
			if c != clsSpace {
				break
			}
			last = end
			end += w
		}
		switch {
		case end == len(s):
			emit(i, end)
			i = end
		case last > i:
			// \s+(?!\S): leave the final space for the next pre-token.
			emit(i, last)
			i = last
		default:
			// \s+: a single whitespace rune before a non-space.
			emit(i, end)
			i = end
		}
	}
}

// A pattern is one of the pre-tokenization regular expressions lenskit
// implements as a scanner.
type pattern uint8

const (
	patNone pattern = iota
	patGPT2
	patLlama3 // also OpenAI's cl100k_base
	patQwen
)

// The patterns as tokenizer.json files spell them.
const (
	regexGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	regexLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	regexQwen   = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var knownPatterns = map[string]pattern{regexGPT2: patGPT2, regexLlama3: patLlama3, regexQwen: patQwen}

// split calls emit with the offsets of each match of the pattern in s. The
// matches of every implemented pattern tile s.
func (p pattern) split(s string, emit func(start, end int)) {
	switch p {
	case patGPT2:
		splitGPT2(s, emit)
	case patLlama3:
		splitLlama3(s, 3, emit)
	case patQwen:
		splitLlama3(s, 1, emit)
	default:
		if s != "" {
			emit(0, len(s))
		}
	}
}

// Llama 3 (and OpenAI's cl100k_base, and Qwen 2/3 with single digits) split
// text with
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// evaluated by Oniguruma, leftmost-first with backtracking. splitLlama3
// implements it directly; at each position the first alternative that
// matches wins:
//
//  1. a contraction, case-insensitive ("'S", "'Ll"; "ſ" folds to "s" as in
//     Oniguruma's case folding);
//  2. a run of letters, optionally preceded by one character that is not
//     \r, \n, a letter or a number (" word", "\tword", ".word", "'hello");
//  3. one to maxDigits numbers;
//  4. an optional ASCII space, a run of characters that are neither space,
//     letter nor number, and any \r and \n right after them ("...\n\n");
//  5. whitespace up to and including the last \r or \n of a whitespace run
//     (\s* gives back characters until [\r\n]+ can match);
//  6. a whitespace run at the end of the text, or all of a run but its last
//     character when a non-space follows (\s+(?!\S));
//  7. the single whitespace character left before a non-space.
//
// Character classes are those of splitGPT2 (Unicode letters, numbers and
// White_Space; an invalid byte is an "other" character).
func splitLlama3(s string, maxDigits int, emit func(start, end int)) {
	i := 0
	for i < len(s) {
		if s[i] == '\'' {
			if n := contractionLenFold(s, i); n > 0 {
				emit(i, i+n)
				i += n
				continue
			}
		}
		cls, w := classAt(s, i)
		// 2. [^\r\n\p{L}\p{N}]?\p{L}+
		if cls == clsLetter {
			end := runOf(s, i+w, clsLetter)
			emit(i, end)
			i = end
			continue
		}
		if cls != clsNumber && s[i] != '\r' && s[i] != '\n' && i+w < len(s) {
			if next, _ := classAt(s, i+w); next == clsLetter {
				end := runOf(s, i+w, clsLetter)
				emit(i, end)
				i = end
				continue
			}
		}
		// 3. \p{N}{1,maxDigits}
		if cls == clsNumber {
			end := i + w
			for n := 1; n < maxDigits && end < len(s); n++ {
				c, w := classAt(s, end)
				if c != clsNumber {
					break
				}
				end += w
			}
			emit(i, end)
			i = end
			continue
		}
		// 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
		j := i
		if s[i] == ' ' {
			j++
		}
		if j < len(s) {
			if c, _ := classAt(s, j); c == clsOther {
				end := runOf(s, j, clsOther)
				for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
					end++
				}
				emit(i, end)
				i = end
				continue
			}
		}
		// Only whitespace is left: a run [i, end) whose final character
		// starts at last, and whose last \r or \n is at nl.
		end, last, nl := i, i, -1
		for end < len(s) {
			c, w := classAt(s, end)
			if c != clsSpace {
				break
			}
			if s[end] == '\r' || s[end] == '\n' {
				nl = end
			}
			last = end
			end += w
		}
		switch {
		case nl >= 0: // 5. \s*[\r\n]+
			emit(i, nl+1)
			i = nl + 1
		case end == len(s): // 6. \s+(?!\S) at the end
			emit(i, end)
			i = end
		case last > i: // 6. \s+(?!\S) before a non-space
			emit(i, last)
			i = last
		default: // 7. \s+
			emit(i, end)
			i = end
		}
	}
}

// contractionLenFold is contractionLen for (?i:'s|'t|'re|'ve|'m|'ll|'d).
func contractionLenFold(s string, i int) int {
	if i+1 >= len(s) {
		return 0
	}
	lower := func(k int) byte {
		if k >= len(s) {
			return 0
		}
		c := s[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch lower(i + 1) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if lower(i+2) == 'e' {
			return 3
		}
	case 'l':
		if lower(i+2) == 'l' {
			return 3
		}
	case 0xC5: // U+017F LATIN SMALL LETTER LONG S is C5 BF and folds to "s"
		if i+2 < len(s) && s[i+2] == 0xBF {
			return 3
		}
	}
	return 0
}
