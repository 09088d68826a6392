package vocab

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Added tokens (GPT-2's "<|endoftext|>", a fine-tune's "<|im_start|>") are
// matched in the raw text before pre-tokenization and are never split or
// byte-level encoded, as Hugging Face's AddedVocabulary does: at each
// position the longest added token wins, and the leftmost position wins over
// later ones.

type addedToken struct {
	content    string
	id         int32
	lstrip     bool // absorb whitespace on the left
	rstrip     bool // absorb whitespace on the right
	singleWord bool // match only at word boundaries
}

type addedMatcher struct {
	first   [256]bool             // first bytes of any added token
	byByte  [256][]addedToken     // candidates by first byte, longest first
	all     map[string]addedToken // content → token
	newline bool                  // some added token contains "\n"
}

func newAddedMatcher(toks []addedToken) addedMatcher {
	var a addedMatcher
	a.all = make(map[string]addedToken, len(toks))
	for _, t := range toks {
		if t.content == "" {
			continue
		}
		a.all[t.content] = t
		a.newline = a.newline || strings.Contains(t.content, "\n")
		c := t.content[0]
		a.first[c] = true
		a.byByte[c] = append(a.byByte[c], t)
	}
	for c := range a.byByte {
		l := a.byByte[c]
		sort.SliceStable(l, func(i, j int) bool { return len(l[i].content) > len(l[j].content) })
	}
	return a
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

// matchAt returns the added token that matches s at i, if any.
func (a *addedMatcher) matchAt(s string, i int) (addedToken, bool) {
	for _, t := range a.byByte[s[i]] {
		if !strings.HasPrefix(s[i:], t.content) {
			continue
		}
		if t.singleWord {
			if i > 0 {
				if r, _ := utf8.DecodeLastRuneInString(s[:i]); isWordRune(r) {
					continue
				}
			}
			if j := i + len(t.content); j < len(s) {
				if r, _ := utf8.DecodeRuneInString(s[j:]); isWordRune(r) {
					continue
				}
			}
		}
		return t, true
	}
	return addedToken{}, false
}

// split calls emit for each segment of s in order: plain text with id -1, or
// an added token with its id. Whitespace absorbed by lstrip/rstrip tokens is
// in no segment.
func (a *addedMatcher) split(s string, emit func(start, end int, id int32)) {
	if len(a.all) == 0 {
		if s != "" {
			emit(0, len(s), -1)
		}
		return
	}
	plain := 0
	i := 0
	for i < len(s) {
		if !a.first[s[i]] {
			i++
			continue
		}
		t, ok := a.matchAt(s, i)
		if !ok {
			i++
			continue
		}
		end := i + len(t.content)
		stop := i
		if t.lstrip {
			for stop > plain {
				r, w := utf8.DecodeLastRuneInString(s[plain:stop])
				if !unicode.IsSpace(r) {
					break
				}
				stop -= w
			}
		}
		if stop > plain {
			emit(plain, stop, -1)
		}
		emit(i, end, t.id)
		if t.rstrip {
			for end < len(s) {
				r, w := utf8.DecodeRuneInString(s[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += w
			}
		}
		i, plain = end, end
	}
	if plain < len(s) {
		emit(plain, len(s), -1)
	}
}
