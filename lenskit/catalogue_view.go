package lenskit

import (
	"fmt"
	"html"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"lenskit.dev/lenskit/view"
)

// table is a small rendered table for catalogue and reverse-lookup results:
// aligned text for terminals, and HTML whose columns sort when their header
// is clicked (numbers numerically), with per-cell tooltips.
type table struct {
	title  string
	header []string
	right  []bool     // right-aligned (numeric) columns; they sort as numbers
	rows   [][]string // cells as shown
	tips   [][]string // optional tooltip per cell (nil or "" for none)
	footer string
}

func (t *table) String() string {
	var b strings.Builder
	if t.title != "" {
		b.WriteString(t.title + "\n")
	}
	if len(t.rows) == 0 {
		b.WriteString("(nothing)\n")
		if t.footer != "" {
			b.WriteString(t.footer + "\n")
		}
		return b.String()
	}
	w := make([]int, len(t.header))
	for i, h := range t.header {
		w[i] = view.Width(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			if i < len(w) {
				w[i] = max(w[i], view.Width(c))
			}
		}
	}
	line := func(cells []string, dash bool) {
		var l strings.Builder
		for i := range w {
			c := ""
			if dash {
				c = strings.Repeat("-", w[i])
			} else if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", w[i]-view.Width(c))
			if i < len(t.right) && t.right[i] {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
			if i < len(w)-1 {
				l.WriteString("  ")
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(t.header, false)
	line(nil, true)
	for _, r := range t.rows {
		line(r, false)
	}
	if t.footer != "" {
		b.WriteString(t.footer + "\n")
	}
	return b.String()
}

// tableSeq and tableNonce make element ids unique within a notebook page:
// every GoNB cell runs as a new process, so a counter alone would repeat.
var (
	tableSeq   atomic.Int64
	tableNonce = rand.Uint32()
)

func (t *table) HTML() string {
	id := fmt.Sprintf("lk-cat-%08x-%d", tableNonce, tableSeq.Add(1))
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="lk-cat" id="%s"><style>#%s table{border-collapse:collapse;font:13px/1.35 system-ui,sans-serif}`+
		`#%s th,#%s td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}`+
		`#%s td.n{text-align:right;font-variant-numeric:tabular-nums}#%s th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}`+
		`#%s .lk-scroll{max-height:480px;overflow:auto}</style>`, id, id, id, id, id, id, id)
	if t.title != "" {
		fmt.Fprintf(&b, "<div><b>%s</b></div>", html.EscapeString(t.title))
	}
	if len(t.rows) == 0 {
		b.WriteString("<div>(nothing)</div>")
	} else {
		b.WriteString(`<div class="lk-scroll"><table><thead><tr>`)
		for i, h := range t.header {
			num := i < len(t.right) && t.right[i]
			fmt.Fprintf(&b, `<th data-col="%d" data-num="%v" title="click to sort">%s</th>`, i, num, html.EscapeString(h))
		}
		b.WriteString("</tr></thead><tbody>")
		for r, row := range t.rows {
			b.WriteString("<tr>")
			for i, c := range row {
				cls := ""
				if i < len(t.right) && t.right[i] {
					cls = ` class="n"`
				}
				tip := ""
				if r < len(t.tips) && i < len(t.tips[r]) && t.tips[r][i] != "" {
					tip = ` title="` + html.EscapeString(t.tips[r][i]) + `"`
				}
				fmt.Fprintf(&b, "<td%s%s>%s</td>", cls, tip, html.EscapeString(c))
			}
			b.WriteString("</tr>")
		}
		b.WriteString("</tbody></table></div>")
	}
	if t.footer != "" {
		fmt.Fprintf(&b, "<div><small>%s</small></div>", html.EscapeString(t.footer))
	}
	// Sorting: a click on a header sorts by that column, a second click
	// reverses; numeric columns compare as numbers (empty cells last).
	fmt.Fprintf(&b, `<script>(function(){var d=document.getElementById(%q);if(!d)return;var tb=d.querySelector("tbody");if(!tb)return;`+
		`d.querySelectorAll("th").forEach(function(th){var asc=false;th.onclick=function(){asc=!asc;var c=+th.dataset.col,num=th.dataset.num==="true";`+
		`var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=a.cells[c].textContent,y=b.cells[c].textContent;`+
		`if(num){var p=parseFloat(x),q=parseFloat(y);if(isNaN(p))return 1;if(isNaN(q))return -1;return asc?p-q:q-p;}`+
		`return asc?x.localeCompare(y):y.localeCompare(x);});rows.forEach(function(r){tb.appendChild(r);});};});})();</script></div>`, id)
	return b.String()
}
