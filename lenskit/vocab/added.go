package vocab

import (
	"unicode"
	"unicode/utf8"
)

// Added tokens (GPT-2's "<|endoftext|>", Qwen's "<|im_start|>", Llama 2's
// "<s>", Gemma's "\n\n" and "<start_of_turn>") are matched in the text before
// pre-tokenization and are never split or merged, as Hugging Face's
// AddedVocabulary does:
//
//   - matches are leftmost-longest and do not overlap: the scan takes the
//     longest token at the first position where any matches, then goes on
//     after it (an Aho-Corasick automaton with LeftmostLongest in
//     tokenizers);
//   - a single_word token that has a word character (\w: letter, mark,
//     decimal digit, connector punctuation, join control) right before or
//     after it is no match, and its text stays plain — the scan still goes
//     on after it, as tokenizers' find_iter does;
//   - lstrip absorbs the whitespace before the token, back to the previous
//     match; rstrip the whitespace after it;
//   - tokens with normalized false are matched in the raw text; the rest
//     (normalized true) in each normalized stretch between them, spelled as
//     the normalizer spells their content.

type addedToken struct {
	content    string
	id         int32
	lstrip     bool // absorb whitespace on the left
	rstrip     bool // absorb whitespace on the right
	singleWord bool // match only at word boundaries
}

// addedMatcher finds added tokens with a byte trie.
type addedMatcher struct {
	toks    []addedToken
	root    [256]int32 // child of the root for each byte, or -1
	nodes   []trieNode
	newline bool // some token contains "\n"
	lstrip  bool // some token has lstrip
}

type trieNode struct {
	tok   int32 // index into toks of the token ending here, or -1
	bytes []byte
	next  []int32 // children, in the order of bytes
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	a := &addedMatcher{}
	for i := range a.root {
		a.root[i] = -1
	}
	for _, t := range toks {
		if t.content == "" {
			continue
		}
		a.add(t)
	}
	return a
}

func (a *addedMatcher) add(t addedToken) {
	for i := 0; i < len(t.content); i++ {
		if t.content[i] == '\n' {
			a.newline = true
		}
	}
	a.lstrip = a.lstrip || t.lstrip
	c := t.content[0]
	n := a.root[c]
	if n < 0 {
		n = a.newNode()
		a.root[c] = n
	}
	for i := 1; i < len(t.content); i++ {
		n = a.child(n, t.content[i])
	}
	if a.nodes[n].tok >= 0 {
		return // the same content twice: the first wins
	}
	a.nodes[n].tok = int32(len(a.toks))
	a.toks = append(a.toks, t)
}

func (a *addedMatcher) newNode() int32 {
	a.nodes = append(a.nodes, trieNode{tok: -1})
	return int32(len(a.nodes) - 1)
}

func (a *addedMatcher) child(n int32, c byte) int32 {
	nd := &a.nodes[n]
	for i, b := range nd.bytes {
		if b == c {
			return nd.next[i]
		}
	}
	m := a.newNode()
	nd = &a.nodes[n] // newNode may have moved it
	nd.bytes = append(nd.bytes, c)
	nd.next = append(nd.next, m)
	return m
}

func (a *addedMatcher) empty() bool { return a == nil || len(a.toks) == 0 }

// longestAt returns the longest token that s[i:] starts with.
func (a *addedMatcher) longestAt(s string, i int) (addedToken, bool) {
	n := a.root[s[i]]
	best := int32(-1)
	for j := i + 1; n >= 0; j++ {
		nd := &a.nodes[n]
		if nd.tok >= 0 {
			best = nd.tok
		}
		if j >= len(s) {
			break
		}
		next := int32(-1)
		for k, b := range nd.bytes {
			if b == s[j] {
				next = nd.next[k]
				break
			}
		}
		n = next
	}
	if best < 0 {
		return addedToken{}, false
	}
	return a.toks[best], true
}

// lstripAt reports whether the token matched at s[i] (if any) absorbs the
// whitespace before it.
func (a *addedMatcher) lstripAt(s string, i int) bool {
	if a.empty() || !a.lstrip || i >= len(s) || a.root[s[i]] < 0 {
		return false
	}
	t, ok := a.longestAt(s, i)
	return ok && t.lstrip
}

// isWordRune is the \w of Rust's regex crate, which Hugging Face uses for
// single_word: Alphabetic, marks, decimal digits, connector punctuation and
// the join controls.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Other_Alphabetic, r) || r == 0x200C || r == 0x200D
}

// split calls emit for each segment of s in order: plain text with id -1, or
// an added token with its id. Whitespace absorbed by lstrip/rstrip tokens is
// in no segment. Plain segments are never empty.
func (a *addedMatcher) split(s string, emit func(start, end int, id int32)) {
	if a.empty() {
		if s != "" {
			emit(0, len(s), -1)
		}
		return
	}
	plain := 0
	i := 0
	for i < len(s) {
		if a.root[s[i]] < 0 {
			i++
			continue
		}
		t, ok := a.longestAt(s, i)
		if !ok {
			i++
			continue
		}
		end := i + len(t.content)
		if t.singleWord {
			before := i > 0 && endsWithWord(s[:i])
			after := end < len(s) && startsWithWord(s[end:])
			if before || after {
				i = end // no match, but the scan resumes after it
				continue
			}
		}
		start := i
		if t.lstrip {
			for start > plain {
				r, w := utf8.DecodeLastRuneInString(s[plain:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= w
			}
		}
		if t.rstrip {
			for end < len(s) {
				r, w := utf8.DecodeRuneInString(s[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += w
			}
		}
		if start > plain {
			emit(plain, start, -1)
		}
		emit(start, end, t.id)
		// tokenizers resumes the scan at the end of the match itself, not
		// of the stripped whitespace; a token that starts inside that
		// whitespace is rare enough to ignore, so resume after both.
		i, plain = end, end
	}
	if plain < len(s) {
		emit(plain, len(s), -1)
	}
}

func endsWithWord(s string) bool {
	r, w := utf8.DecodeLastRuneInString(s)
	return !(r == utf8.RuneError && w <= 1) && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, w := utf8.DecodeRuneInString(s)
	return !(r == utf8.RuneError && w <= 1) && isWordRune(r)
}
