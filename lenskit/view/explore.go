package view

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Pieces for pages that redraw parts of themselves in place, like lenskit's
// explorer (lenskit.Explore): every selection replaces a table and a chart
// of an output that stays on the page. Inlining ECharts (≈ 494 KB) into
// each replacement would send the library again on every click, so such a
// page carries ChartLoader once and draws its charts with
// HTMLWithoutLibrary. A page that is saved for later (a notebook's final
// output) uses HTML, which stays self-contained.

// ChartLoader is a <script> that makes the ECharts library available to
// the charts of the page (at most once per page, like the loader every
// HTML chart carries). Charts rendered with HTMLWithoutLibrary wait for it.
func ChartLoader() string {
	return "<script>" + loaderJS() + "</script>"
}

// HTMLWithoutLibrary is HTML without the inlined ECharts library: the chart
// draws once a ChartLoader (or any chart's HTML) earlier on the page has
// defined it, and says so in place of the chart when none has. Until then,
// or where scripts do not run, the element shows String's grid.
func (h *Heatmap) HTMLWithoutLibrary() string { return h.html(false) }

// CellMap is a map of coloured cells drawn as an HTML table: a layer × head
// map, or per-layer strips of neurons. Unlike Heatmap it needs no script to
// draw, so a page script can make its cells clickable (every cell carries
// the attributes CellAttrs returns) and a saved notebook shows it as is.
//
// Values are coloured on one scale for the whole map (warm for positive
// values, cool for negative ones, stronger for larger magnitudes), or by
// Categories when those are given; NaN cells are light grey. Marked cells get a
// dot, the Selected cell an outline.
type CellMap struct {
	Title            string
	RowName, ColName string      // axis names, e.g. "layer", "head"
	Rows, Cols       []string    // labels; Cols are shown when there are at most MaxCellMapLabels
	Values           [][]float64 // [row][col]; NaN = no value
	Tips             [][]string  // optional hover text, shaped like Values
	Marked           [][]bool    // optional: cells drawn with a dot
	Categories       []Category  // optional: colour by category instead of a scale
	Legend           string      // a line under the map; "" for none
	CellPx           int         // cell width in pixels (0: 22)

	// Selected is the outlined cell, when SelectedOK.
	Selected   [2]int // row, column
	SelectedOK bool

	// CellAttrs returns extra attributes for a cell, written into its <td>
	// as they are: the caller escapes them (EscapeAttr).
	CellAttrs func(row, col int) string
}

// emptyCell is the colour of a cell without a value: light grey, so the
// grid stays visible on a white page.
const emptyCell = "#eeeeee"

// MaxCellMapLabels is the most column labels a CellMap writes; wider maps
// (neuron strips) leave the labels to the tooltips.
const MaxCellMapLabels = 40

// MaxCellMapCells bounds the cells a CellMap draws; beyond it the HTML
// would be too large to replace on every click, and HTML shows an error.
const MaxCellMapCells = 20_000

// EscapeAttr escapes s for a double-quoted HTML attribute value.
func EscapeAttr(s string) string { return esc(s) }

// Validate reports a map whose shape is inconsistent or too large.
func (c *CellMap) Validate() error {
	if c == nil {
		return fmt.Errorf("view: nil cell map")
	}
	rows, cols := len(c.Rows), len(c.Cols)
	if cols > 0 && rows > MaxCellMapCells/cols {
		return fmt.Errorf("view: cell map %q has %d × %d cells, more than the %d it draws", c.Title, rows, cols, MaxCellMapCells)
	}
	if len(c.Values) != rows {
		return fmt.Errorf("view: cell map %q has %d rows of values for %d row labels", c.Title, len(c.Values), rows)
	}
	for i, r := range c.Values {
		if len(r) != cols {
			return fmt.Errorf("view: cell map %q row %d has %d values for %d columns", c.Title, i, len(r), cols)
		}
	}
	for _, g := range []struct {
		name string
		rows int
		cols func(int) int
	}{
		{"tooltips", len(c.Tips), func(i int) int { return len(c.Tips[i]) }},
		{"marks", len(c.Marked), func(i int) int { return len(c.Marked[i]) }},
	} {
		if g.rows == 0 {
			continue
		}
		if g.rows != rows {
			return fmt.Errorf("view: cell map %q has %d rows of %s for %d rows", c.Title, g.rows, g.name, rows)
		}
		for i := range g.rows {
			if n := g.cols(i); n != 0 && n != cols {
				return fmt.Errorf("view: cell map %q %s row %d has %d entries for %d columns", c.Title, g.name, i, n, cols)
			}
		}
	}
	return nil
}

func (c *CellMap) at(t [][]string, r, col int) string {
	if r < len(t) && col < len(t[r]) {
		return t[r][col]
	}
	return ""
}

func (c *CellMap) marked(r, col int) bool {
	return r < len(c.Marked) && col < len(c.Marked[r]) && c.Marked[r][col]
}

// color is a cell's background and text colours.
func (c *CellMap) color(v float64, mr magnitudeRange) (bg, fg string) {
	if math.IsNaN(v) {
		return emptyCell, "#777777"
	}
	if len(c.Categories) > 0 {
		for _, k := range c.Categories {
			if k.Value == v {
				return k.Color, "#111111"
			}
		}
		return emptyCell, "#777777"
	}
	return mr.shade(v)
}

// HTML renders the map. Its root element has class lk-cellmap; cells are
// <td> elements with class lk-cell (and lk-sel for the selected one).
func (c *CellMap) HTML() string {
	if err := c.Validate(); err != nil {
		return ErrorHTML(err)
	}
	px := c.CellPx
	if px <= 0 {
		px = 22
	}
	var all []float64
	for _, r := range c.Values {
		all = append(all, r...)
	}
	mr := newMagnitudeRange(all)
	cls := uniqueID("lk")
	labels := len(c.Cols) <= MaxCellMapLabels
	var b strings.Builder
	fmt.Fprintf(&b, `<style>.%[1]s{font-family:sans-serif;font-size:11px;margin:4px 0}
.%[1]s table{border-collapse:collapse}
.%[1]s th{font-weight:400;color:#555;padding:0 3px;text-align:right}
.%[1]s thead th{text-align:center}
.%[1]s td.lk-cell{width:%[2]dpx;min-width:%[2]dpx;height:18px;padding:0;border:1px solid #fff;text-align:center;cursor:pointer;line-height:16px}
.%[1]s td.lk-cell:hover{outline:1px solid #333}
.%[1]s td.lk-sel{outline:2px solid #111;outline-offset:-2px}
.%[1]s .lk-title{font-weight:600;font-size:12px;margin:2px 0}
.%[1]s .lk-legend{color:#555;margin-top:2px}
</style>`, cls, px)
	fmt.Fprintf(&b, `<div class="lk-cellmap %s"><div class="lk-title">%s</div><table>`, cls, esc(c.Title))
	fmt.Fprintf(&b, `<thead><tr><th>%s \ %s</th>`, esc(c.RowName), esc(c.ColName))
	if labels {
		for _, l := range c.Cols {
			fmt.Fprintf(&b, `<th>%s</th>`, esc(l))
		}
	} else if len(c.Cols) > 0 {
		fmt.Fprintf(&b, `<th colspan="%d" style="text-align:left">%s … %s</th>`, len(c.Cols), esc(c.Cols[0]), esc(c.Cols[len(c.Cols)-1]))
	}
	b.WriteString(`</tr></thead><tbody>`)
	for r, row := range c.Values {
		fmt.Fprintf(&b, `<tr><th>%s</th>`, esc(c.Rows[r]))
		for col, v := range row {
			bg, fg := c.color(v, mr)
			class := "lk-cell"
			if c.SelectedOK && c.Selected == [2]int{r, col} {
				class += " lk-sel"
			}
			attrs := ""
			if c.CellAttrs != nil {
				attrs = " " + c.CellAttrs(r, col)
			}
			mark := ""
			if c.marked(r, col) {
				mark = "●"
			}
			fmt.Fprintf(&b, `<td class="%s" style="background:%s;color:%s" title="%s"%s>%s</td>`,
				class, bg, fg, esc(c.at(c.Tips, r, col)), attrs, mark)
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table>`)
	if len(c.Categories) > 0 {
		b.WriteString(`<div class="lk-legend">`)
		for _, k := range c.Categories {
			fmt.Fprintf(&b, `<span style="display:inline-block;width:10px;height:10px;background:%s;border:1px solid #ccc;margin:0 3px 0 10px;vertical-align:middle"></span>%s`, esc(k.Color), esc(k.Label))
		}
		b.WriteString(`</div>`)
	}
	if c.Legend != "" {
		fmt.Fprintf(&b, `<div class="lk-legend">%s</div>`, esc(c.Legend))
	}
	b.WriteString(`</div>`)
	return b.String()
}

// String draws the map as text: one character per cell (the category's
// first letter, or a shade of the value's magnitude), '●' for marked cells,
// '[ ]' around the selected one.
func (c *CellMap) String() string {
	if err := c.Validate(); err != nil {
		return "error: " + err.Error() + "\n"
	}
	var all []float64
	for _, r := range c.Values {
		all = append(all, r...)
	}
	mr := newMagnitudeRange(all)
	const shades = " ░▒▓█"
	ramp := []rune(shades)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", terminalSafe(c.Title))
	w := 0
	for _, r := range c.Rows {
		w = max(w, Width(terminalSafe(r)))
	}
	for r, row := range c.Values {
		fmt.Fprintf(&b, "%*s ", w, terminalSafe(c.Rows[r]))
		for col, v := range row {
			ch := '·'
			switch {
			case c.marked(r, col):
				ch = '●'
			case math.IsNaN(v):
			case len(c.Categories) > 0:
				for _, k := range c.Categories {
					if k.Value == v && k.Label != "" {
						ch = []rune(k.Label)[0]
					}
				}
			default:
				t := (mr.intensity(v) - 0.12) / 0.73
				ch = ramp[min(len(ramp)-1, max(1, int(t*float64(len(ramp)-1)+0.5)))]
			}
			if c.SelectedOK && c.Selected == [2]int{r, col} {
				fmt.Fprintf(&b, "[%c]", ch)
			} else {
				b.WriteRune(ch)
			}
		}
		b.WriteByte('\n')
	}
	if c.Legend != "" {
		b.WriteString(terminalSafe(c.Legend) + "\n")
	}
	return b.String()
}

// Buckets splits n items into at most max contiguous ranges of equal size
// (the last may be shorter) and returns their starts; the neuron strips of
// an explorer map use it to draw a layer's neurons in a fixed width.
func Buckets(n, max int) []int {
	if n <= 0 || max <= 0 {
		return nil
	}
	size := (n + max - 1) / max
	var starts []int
	for s := 0; s < n; s += size {
		starts = append(starts, s)
	}
	return starts
}

// RangeLabel names a bucket of items [lo, hi): "17" or "16–23".
func RangeLabel(lo, hi int) string {
	if hi-lo <= 1 {
		return strconv.Itoa(lo)
	}
	return strconv.Itoa(lo) + "–" + strconv.Itoa(hi-1)
}
