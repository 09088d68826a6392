package view

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Glyphs of the terminal grid: four levels for positive (or sequential)
// values, four for negative values of a diverging map, '·' for values near
// zero on a diverging map, blank for empty (NaN) cells.
var (
	posGlyphs = []string{"░", "▒", "▓", "█"}
	negGlyphs = []string{"-", "=", "≡", "#"}
)

// divergingBounds are the |v|/m fractions separating the levels of a
// diverging grid: below the first is '·'.
var divergingBounds = []float64{0.1, 0.325, 0.55, 0.775}

func (h *Heatmap) glyph(v, lo, hi float64) string {
	if !finite(v) {
		return " "
	}
	if h.Diverging {
		a := math.Abs(v) / hi
		if a < divergingBounds[0] {
			return "·"
		}
		lvl := 0
		for i, b := range divergingBounds[1:] {
			if a >= b {
				lvl = i + 1
			}
		}
		if v < 0 {
			return negGlyphs[lvl]
		}
		return posGlyphs[lvl]
	}
	t := (v - lo) / (hi - lo)
	lvl := min(max(int(t*4), 0), 3)
	return posGlyphs[lvl]
}

// String draws the heatmap as a character grid: one row per YLabel, one
// cell per column shaded with ░▒▓█ (and - = ≡ # for negative values of a
// diverging map), blank for empty cells; short column labels head their
// columns, long ones are numbered and listed below; a legend gives each
// glyph's range.
func (h *Heatmap) String() string {
	if err := h.Validate(); err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	if h.Title != "" {
		b.WriteString(terminalSafe(h.Title))
		b.WriteByte('\n')
	}
	rows, cols := len(h.YLabels), len(h.XLabels)
	if rows == 0 || cols == 0 {
		b.WriteString("(empty heatmap)\n")
		return b.String()
	}
	lo, hi := h.scale()

	xl := make([]string, cols)
	xw := 0
	for i, l := range h.XLabels {
		xl[i] = truncate(terminalSafe(l), 20)
		xw = max(xw, Width(xl[i]))
	}
	indexed := xw > 3
	cw := max(2, xw)
	if indexed {
		cw = max(2, len(strconv.Itoa(cols-1)))
	}
	yl := make([]string, rows)
	yw := Width(terminalSafe(h.YName))
	for i, l := range h.YLabels {
		yl[i] = truncate(terminalSafe(l), 20)
		yw = max(yw, Width(yl[i]))
	}
	pad := func(s string, w int, rightAlign bool) string {
		p := strings.Repeat(" ", max(0, w-Width(s)))
		if rightAlign {
			return p + s
		}
		return s + p
	}

	// Header: the y axis name over the row labels, then column keys.
	var hdr strings.Builder
	hdr.WriteString(pad(terminalSafe(h.YName), yw, false))
	hdr.WriteString(" │")
	for i := range cols {
		key := xl[i]
		if indexed {
			key = strconv.Itoa(i)
		}
		hdr.WriteString(pad(key, cw, true))
		hdr.WriteByte(' ')
	}
	b.WriteString(strings.TrimRight(hdr.String(), " "))
	b.WriteByte('\n')
	b.WriteString(strings.Repeat("─", yw+1) + "┼" + strings.Repeat("─", cols*(cw+1)) + "\n")
	for y := range rows {
		var l strings.Builder
		l.WriteString(pad(yl[y], yw, false))
		l.WriteString(" │")
		for x := range cols {
			l.WriteString(strings.Repeat(h.glyph(h.Values[y][x], lo, hi), cw))
			l.WriteByte(' ')
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	if h.XName != "" || indexed {
		name := terminalSafe(h.XName)
		if name == "" {
			name = "columns"
		}
		if !indexed {
			fmt.Fprintf(&b, "columns: %s\n", name)
		} else {
			line := name + ":"
			for i, l := range xl {
				item := fmt.Sprintf(" %d %s", i, l)
				if Width(line)+Width(item) > 100 {
					b.WriteString(line + "\n")
					line = " "
				}
				line += item
			}
			b.WriteString(line + "\n")
		}
	}
	b.WriteString(h.legend(lo, hi))
	return b.String()
}

func (h *Heatmap) legend(lo, hi float64) string {
	var parts []string
	if h.Diverging {
		bnd := append(append([]float64(nil), divergingBounds...), 1)
		parts = append(parts, fmt.Sprintf("· |v|<%s", formatScore(bnd[0]*hi)))
		for i := range posGlyphs {
			parts = append(parts, fmt.Sprintf("%s/%s %s–%s", posGlyphs[i], negGlyphs[i],
				formatScore(bnd[i]*hi), formatScore(bnd[i+1]*hi)))
		}
		return "scale |v| (positive/negative): " + strings.Join(parts, "  ") + "\n"
	}
	step := (hi - lo) / 4
	for i, g := range posGlyphs {
		parts = append(parts, fmt.Sprintf("%s %s–%s", g, formatScore(lo+float64(i)*step), formatScore(lo+float64(i+1)*step)))
	}
	return "scale: " + strings.Join(parts, "  ") + "\n"
}
