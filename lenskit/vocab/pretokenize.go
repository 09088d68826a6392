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
