package untrusted

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"kot", `"kot"`},
		{"a\x1b[2Jb", `"a\x1b[2Jb"`},
		{strings.Repeat("x", MaxQuoted), strconv.Quote(strings.Repeat("x", MaxQuoted))},
		{strings.Repeat("x", 30_000_134), `"` + strings.Repeat("x", MaxQuoted) + `"… (30000134 bytes)`},
		// 39 bytes of ASCII then a 2-byte "ż": the cut backs up before it.
		{strings.Repeat("a", 39) + "żółw", `"` + strings.Repeat("a", 39) + `"… (46 bytes)`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.50q…) = %s, want %s", c.in, got, c.want)
		}
		if got := QuoteBytes([]byte(c.in)); got != c.want {
			t.Errorf("QuoteBytes(%.50q…) = %s, want %s", c.in, got, c.want)
		}
	}
	// Whatever the input, the result is short, valid UTF-8 and one line.
	for _, in := range []string{strings.Repeat("\xff", 1000), strings.Repeat("ż", 1000), strings.Repeat("\n", 1000)} {
		q := Quote(in)
		if len(q) > 4*MaxQuoted+40 || !utf8.ValidString(q) || strings.ContainsAny(q, "\n\r") {
			t.Errorf("Quote of %d bytes: %q", len(in), q)
		}
		if u, err := strconv.Unquote(q[:strings.LastIndexByte(q, '"')+1]); err != nil || !strings.HasPrefix(in, u) {
			t.Errorf("Quote(%.20q…) = %s does not show a prefix of it", in, q)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"archive/data.pkl":         "archive/data.pkl",
		"model-00001-of-00002.bin": "model-00001-of-00002.bin",
		"":                         `""`,
		"a b":                      `"a b"`,
		"x\x1b[31m":                `"x\x1b[31m"`,
		strings.Repeat("d", 41):    `"` + strings.Repeat("d", 40) + `"… (41 bytes)`,
		"ł":                        `"ł"`,
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %s, want %s", in, got, want)
		}
	}
}
