package view_test

import "strings"

// vocab is a small GPT-2-style byte-level vocabulary for the tests: it is
// built from decoded texts and derives the three forms the way a real
// byte-level BPE vocabulary does (raw = byte-to-unicode encoding of the
// text, display = the seed's "word" / "#piece" form). It stands in for
// *vocab.Vocab at the Tokens interface boundary.
type vocab struct{ text []string }

func newVocab(texts ...string) *vocab { return &vocab{text: texts} }

// id returns the id of text, adding it if new.
func (v *vocab) id(text string) int {
	for i, t := range v.text {
		if t == text {
			return i
		}
	}
	v.text = append(v.text, text)
	return len(v.text) - 1
}

func (v *vocab) Len() int           { return len(v.text) }
func (v *vocab) Text(id int) string { return v.text[id] }
func (v *vocab) Raw(id int) string  { return byteLevel(v.text[id]) }
func (v *vocab) Display(id int) string {
	t := v.text[id]
	if rest, ok := strings.CutPrefix(t, " "); ok {
		return rest
	}
	return "#" + t
}

// byteLevel is GPT-2's bytes_to_unicode applied to every byte of s:
// printable Latin-1 bytes stand for themselves, the others (space, control
// bytes, 0x7f–0xa0, 0xad) map to U+0100 onwards, so " dom" is "Ġdom".
func byteLevel(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteRune(byteRune[c])
	}
	return b.String()
}

var byteRune = func() (m [256]rune) {
	n := 0
	for c := 0; c < 256; c++ {
		if (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff) {
			m[c] = rune(c)
		} else {
			m[c] = rune(256 + n)
			n++
		}
	}
	return m
}()
