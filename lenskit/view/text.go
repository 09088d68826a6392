package view

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Width is the number of terminal columns s occupies: East Asian wide and
// fullwidth runes count two, combining marks, zero-width spaces/joiners and
// variation selectors count zero, everything else one. Polish letters are
// one column whether they arrive precomposed ("ł") or decomposed
// ("a"+U+0328), which is what byte or rune counting gets wrong.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch {
	case r == utf8.RuneError:
		return 1
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0 // combining marks, ZWJ/ZWNJ, soft hyphen, BOM
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
		return 0 // variation selectors
	case r < 0x20 || r == 0x7f:
		return 0 // control characters never reach a table: see escapeRune
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	if r >= 0x1F300 && r <= 0x1FAFF {
		return 2 // emoji presentation; x/text classifies some as neutral
	}
	return 1
}

// Visible is the text form of a token with its whitespace made visible, the
// form pair tables use: ' ' → '·', '\t' → '⇥', '\n' → '↵', '\r' → '␍';
// other control characters, invalid UTF-8 bytes, other Unicode spaces
// (no-break, ideographic), invisible format characters (zero-width joiner,
// bidi overrides) and a literal '·' become Go escapes (\x15, \xff, \u00a0,
// \u200d, \u00b7), so the mapping can be read back without ambiguity. The
// empty string is shown as "∅".
func Visible(s string) string {
	return mapVisible(s, true)
}

// terminalSafe escapes what would break an aligned terminal table (control
// characters, invalid bytes) but keeps spaces as spaces; it is applied to
// display forms, which have no leading space by construction.
func terminalSafe(s string) string {
	return mapVisible(s, false)
}

func mapVisible(s string, spaces bool) string {
	if s == "" {
		return "∅"
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == ' ' && spaces:
			b.WriteRune('·')
		case r == '\t':
			b.WriteRune('⇥')
		case r == '\n':
			b.WriteRune('↵')
		case r == '\r':
			b.WriteRune('␍')
		case r == '·' && spaces:
			b.WriteString(`\u00b7`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r != ' ' && ((r >= 0x80 && r < 0xa0) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r)):
			// C1 controls, other spaces (no-break, ideographic, line
			// separator) and invisible format characters (zero-width
			// joiners, bidi overrides) would pass for something else.
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// truncate shortens s to at most w columns, marking the cut with '…'.
func truncate(s string, w int) string {
	if Width(s) <= w {
		return s
	}
	if w <= 1 {
		return "…"
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		rw := runeWidth(r)
		if n+rw > w-1 {
			break
		}
		b.WriteRune(r)
		n += rw
	}
	b.WriteRune('…')
	return b.String()
}

type align int

const (
	left align = iota
	right
)

// table is a plain-text table in the style of Python tabulate's "simple"
// format (what the seed notebook printed): a header row, a row of dashes as
// wide as each column, then the cells, columns two spaces apart, widths
// counted with Width so that Polish and CJK text stays aligned.
type table struct {
	header []string
	align  []align
	rows   [][]string
	// noDash marks columns (like the "→" between source and target) that
	// get no dashes under the header.
	noDash map[int]bool
}

func (t *table) render(b *strings.Builder) {
	ncol := len(t.header)
	for _, r := range t.rows {
		ncol = max(ncol, len(r))
	}
	widths := make([]int, ncol)
	measure := func(r []string) {
		for i, c := range r {
			widths[i] = max(widths[i], Width(c))
		}
	}
	measure(t.header)
	for _, r := range t.rows {
		measure(r)
	}
	line := func(cells []string, dashes bool) {
		var l strings.Builder
		for i := 0; i < ncol; i++ {
			c := ""
			if dashes {
				if !t.noDash[i] {
					c = strings.Repeat("-", widths[i])
				}
			} else if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", widths[i]-Width(c))
			if i < len(t.align) && t.align[i] == right {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
			if i < ncol-1 {
				l.WriteString("  ")
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	if len(t.header) > 0 {
		line(t.header, false)
		line(nil, true)
	}
	for _, r := range t.rows {
		line(r, false)
	}
}
