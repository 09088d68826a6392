package untrusted

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxQuoted is how many bytes of a value Quote shows.
const MaxQuoted = 40

// Quote returns s as a Go-quoted string (escapes for control characters,
// invalid UTF-8 and quotes) when it is at most MaxQuoted bytes long, and
// otherwise the quoted first MaxQuoted bytes or fewer (cut at a character
// boundary) followed by "… (N bytes)". The work and the result are bounded
// whatever the length of s.
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cut(s)]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// QuoteBytes is Quote for a byte slice; it copies at most MaxQuoted bytes.
func QuoteBytes(b []byte) string {
	if len(b) <= MaxQuoted {
		return strconv.Quote(string(b))
	}
	head := string(b[:MaxQuoted+1])
	return strconv.Quote(head[:cut(head)]) + "… (" + strconv.Itoa(len(b)) + " bytes)"
}

// cut returns where to end the shown prefix of s (len(s) > MaxQuoted): at
// MaxQuoted, backed up to the start of a character so that a valid
// multi-byte character is not shown as escaped bytes.
func cut(s string) int {
	for c := MaxQuoted; c > MaxQuoted-utf8.UTFMax && c > 0; c-- {
		if utf8.RuneStart(s[c]) {
			return c
		}
	}
	return MaxQuoted // not UTF-8 there anyway: cut anywhere
}

// Name returns s unchanged when it is a short, plain name — at most
// MaxQuoted bytes of letters, digits and . _ - / : @ + — so that ordinary
// file and entry names read as themselves in messages, and Quote(s)
// otherwise.
func Name(s string) string {
	if len(s) == 0 || len(s) > MaxQuoted {
		return Quote(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/:@+", c) >= 0) {
			return Quote(s)
		}
	}
	return s
}
