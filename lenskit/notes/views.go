package notes

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// A Table shows notes as a list: aligned text in a terminal (String), an
// HTML table in a notebook (HTML). Every string from a note is escaped.
type Table struct {
	Title string
	Notes []Note
}

// Table returns the notes of f as a table titled after the model.
func (f *File) Table() *Table {
	return &Table{Title: "Notes on " + f.Model.name(), Notes: f.Notes}
}

var tableHeader = []string{"Component", "Label", "Tags", "Author", "Updated", "Evidence", "ID"}

func (t *Table) rows() [][]string {
	rows := make([][]string, len(t.Notes))
	for i, n := range t.Notes {
		rows[i] = []string{n.Component.String(), n.Label, strings.Join(n.Tags, ", "), n.Author,
			n.Updated.Format(time.DateOnly), evidenceSummary(n, 3), n.ID}
	}
	return rows
}

// String renders the table as aligned text.
func (t *Table) String() string {
	rows := t.rows()
	width := make([]int, len(tableHeader))
	for _, r := range append([][]string{tableHeader}, rows...) {
		for j, c := range r {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	if t.Title != "" {
		b.WriteString(t.Title + "\n")
	}
	line := func(r []string) {
		for j, c := range r {
			if j > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if j < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[j]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
	}
	line(tableHeader)
	sep := make([]string, len(width))
	for j, w := range width {
		sep[j] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	if len(rows) == 0 {
		b.WriteString("(no notes)\n")
	}
	return b.String()
}

// HTML renders the table for a notebook; the note's free text is shown
// under its label.
func (t *Table) HTML() string {
	var b strings.Builder
	b.WriteString(`<table class="lenskit-notes" style="border-collapse:collapse;font-family:sans-serif;font-size:13px">`)
	if t.Title != "" {
		fmt.Fprintf(&b, `<caption style="text-align:left;font-weight:bold">%s</caption>`, html.EscapeString(t.Title))
	}
	b.WriteString("<thead><tr>")
	for _, h := range tableHeader {
		fmt.Fprintf(&b, `<th style="text-align:left;border-bottom:1px solid #999;padding:2px 8px">%s</th>`, h)
	}
	b.WriteString("</tr></thead><tbody>")
	for i, r := range t.rows() {
		b.WriteString("<tr>")
		for j, c := range r {
			cell := html.EscapeString(c)
			if j == 1 && t.Notes[i].Text != "" {
				cell = "<b>" + cell + `</b><div style="color:#555;white-space:pre-wrap">` + html.EscapeString(t.Notes[i].Text) + "</div>"
			}
			fmt.Fprintf(&b, `<td style="vertical-align:top;border-bottom:1px solid #ddd;padding:2px 8px">%s</td>`, cell)
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	return b.String()
}

// evidenceSummary is a one-line digest: "top-30 OV: ubra→mund, …".
func evidenceSummary(n Note, show int) string {
	e := n.Evidence
	if e == nil {
		if len(n.Members) > 0 {
			texts := make([]string, 0, show)
			for _, m := range n.Members[:min(show, len(n.Members))] {
				texts = append(texts, m.Text)
			}
			return fmt.Sprintf("%d tokens: %s", len(n.Members), ellipsis(texts, len(n.Members)))
		}
		return ""
	}
	which := "top"
	if e.Bottom {
		which = "bottom"
	}
	head := fmt.Sprintf("%s-%d", which, e.K)
	if len(e.Pairs) > 0 {
		arrow := "→"
		if n.Component.Kind == HeadKind && n.Component.View == project.QK {
			arrow = "↔"
		}
		texts := make([]string, 0, show)
		for _, p := range e.Pairs[:min(show, len(e.Pairs))] {
			texts = append(texts, p.SourceText+arrow+p.TargetText)
		}
		return head + ": " + ellipsis(texts, len(e.Pairs))
	}
	if len(e.Contexts) > 0 {
		texts := make([]string, 0, show)
		for _, x := range e.Contexts[:min(show, len(e.Contexts))] {
			texts = append(texts, x.Text)
		}
		return fmt.Sprintf("top-%d contexts: %s", len(e.Contexts), ellipsis(texts, len(e.Contexts)))
	}
	var parts []string
	for _, s := range e.Sides() {
		col := e.Columns[s]
		texts := make([]string, 0, show)
		for _, t := range col[:min(show, len(col))] {
			texts = append(texts, t.Text)
		}
		parts = append(parts, s.String()+": "+ellipsis(texts, len(col)))
	}
	if len(parts) == 0 {
		return head
	}
	return head + " " + strings.Join(parts, "; ")
}

func ellipsis(texts []string, total int) string {
	s := strings.Join(texts, ", ")
	if total > len(texts) {
		s += ", …"
	}
	return s
}

// A Grid is a map of the model, layer by column, for display. Its fields
// mirror the view package's Heatmap, so a notebook can hand it to the
// echarts renderer; String and HTML render it on their own.
type Grid struct {
	Title, XName, YName string
	XLabels, YLabels    []string
	Values              [][]float64 // [layer][column]; NaN = empty
	Tooltips            [][]string
	// Legend names the categories of a categorical grid (value i means
	// Legend[i]) and Marks gives each a character for the text form; both
	// are nil for a grid of counts.
	Legend []string
	Marks  []string
}

// Head map categories.
const (
	Unlabelled   = iota // no note on the head
	OVLabelled          // notes on W_OV only
	QKLabelled          // notes on W_QK only
	BothLabelled        // notes on both views
)

// HeadMap is the layer × head map of f's model: each cell says whether the
// head carries notes on its OV view, its QK view, both or neither, and its
// tooltip gives the labels.
func (f *File) HeadMap() *Grid {
	m := f.Model
	g := &Grid{
		Title: "Labelled heads of " + m.name(), XName: "head", YName: "layer",
		XLabels: numbers(m.Heads, ""), YLabels: numbers(m.Layers, ""),
		Legend: []string{"no note", "OV only", "QK only", "OV and QK"},
		Marks:  []string{"·", "O", "Q", "B"},
	}
	g.Values, g.Tooltips = grid(m.Layers, m.Heads, 0)
	labels := make([][][]string, m.Layers)
	for l := range labels {
		labels[l] = make([][]string, m.Heads)
	}
	for _, n := range f.Notes {
		c := n.Component
		if c.Kind != HeadKind || c.Layer >= m.Layers || c.Index >= m.Heads {
			continue
		}
		bit := OVLabelled
		if c.View == project.QK {
			bit = QKLabelled
		}
		v := &g.Values[c.Layer][c.Index]
		*v = float64(int(*v) | bit)
		labels[c.Layer][c.Index] = append(labels[c.Layer][c.Index], c.View.String()+": "+n.Label+byAuthor(n))
	}
	for l, row := range labels {
		for h, ls := range row {
			if len(ls) > 0 {
				g.Tooltips[l][h] = fmt.Sprintf("head %d.%d (%s)\n%s", l, h, g.Legend[int(g.Values[l][h])], strings.Join(ls, "\n"))
			}
		}
	}
	return g
}

// NeuronMap is the layer × count map of f's model: per layer, how many
// neurons carry notes on the key side only, the value side only, both
// sides, and in all; the tooltip lists their labels.
func (f *File) NeuronMap() *Grid {
	m := f.Model
	g := &Grid{
		Title: "Labelled neurons of " + m.name(), XName: "labelled neurons", YName: "layer",
		XLabels: []string{"K only", "V only", "K and V", "all"}, YLabels: numbers(m.Layers, ""),
	}
	g.Values, g.Tooltips = grid(m.Layers, 4, 0)
	parts := make([]map[int]Part, m.Layers)
	labels := make([][]string, m.Layers)
	for _, n := range f.Notes {
		c := n.Component
		if c.Kind != NeuronKind || c.Layer >= m.Layers || c.Index >= m.Neurons {
			continue
		}
		if parts[c.Layer] == nil {
			parts[c.Layer] = map[int]Part{}
		}
		parts[c.Layer][c.Index] |= c.Part
		labels[c.Layer] = append(labels[c.Layer], c.String()+": "+n.Label+byAuthor(n))
	}
	const maxTip = 20
	for l := range m.Layers {
		for _, p := range parts[l] {
			switch p {
			case KeyPart:
				g.Values[l][0]++
			case ValuePart:
				g.Values[l][1]++
			case BothParts:
				g.Values[l][2]++
			}
			g.Values[l][3]++
		}
		if len(labels[l]) == 0 {
			continue
		}
		tip := fmt.Sprintf("layer %d: %d of %d neurons labelled", l, len(parts[l]), m.Neurons)
		for i, s := range labels[l] {
			if i == maxTip {
				tip += fmt.Sprintf("\n… and %d more", len(labels[l])-maxTip)
				break
			}
			tip += "\n" + s
		}
		for x := range 4 {
			g.Tooltips[l][x] = tip
		}
	}
	return g
}

func byAuthor(n Note) string {
	if n.Author == "" {
		return ""
	}
	return " (" + n.Author + ")"
}

func numbers(n int, prefix string) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = prefix + strconv.Itoa(i)
	}
	return s
}

func grid(rows, cols int, fill float64) ([][]float64, [][]string) {
	v := make([][]float64, rows)
	t := make([][]string, rows)
	for i := range v {
		v[i] = make([]float64, cols)
		t[i] = make([]string, cols)
		for j := range v[i] {
			v[i][j] = fill
		}
	}
	return v, t
}

// String renders the grid as text: one row per layer, a mark per
// category or a count per cell.
func (g *Grid) String() string {
	var b strings.Builder
	b.WriteString(g.Title + "\n")
	cells := make([][]string, len(g.Values))
	w := 1
	for _, x := range g.XLabels {
		w = max(w, utf8.RuneCountInString(x))
	}
	for i, row := range g.Values {
		cells[i] = make([]string, len(row))
		for j, v := range row {
			cells[i][j] = g.cell(v)
			w = max(w, utf8.RuneCountInString(cells[i][j]))
		}
	}
	yw := utf8.RuneCountInString(g.YName)
	for _, y := range g.YLabels {
		yw = max(yw, utf8.RuneCountInString(y))
	}
	pad := func(s string, n int) string { return strings.Repeat(" ", max(n-utf8.RuneCountInString(s), 0)) + s }
	b.WriteString(pad(g.YName, yw))
	for _, x := range g.XLabels {
		b.WriteString(" " + pad(x, w))
	}
	b.WriteString("  ← " + g.XName + "\n")
	for i, row := range cells {
		b.WriteString(pad(g.YLabels[i], yw))
		for _, c := range row {
			b.WriteString(" " + pad(c, w))
		}
		b.WriteByte('\n')
	}
	if g.Legend != nil {
		for i, l := range g.Legend {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.Marks[i] + " " + l)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (g *Grid) cell(v float64) string {
	switch {
	case math.IsNaN(v):
		return ""
	case g.Legend != nil && v >= 0 && int(v) < len(g.Marks):
		return g.Marks[int(v)]
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Heatmap converts the grid to the view package's heatmap, drawn with
// ECharts in a notebook. In a categorical grid the cells without notes
// are left empty, so the labelled components stand out; the tooltips name
// each cell's category.
func (g *Grid) Heatmap() *view.Heatmap {
	h := &view.Heatmap{Title: g.Title, XName: g.XName, YName: g.YName, XLabels: g.XLabels, YLabels: g.YLabels, Tooltips: g.Tooltips}
	h.Values = make([][]float64, len(g.Values))
	for i, row := range g.Values {
		h.Values[i] = make([]float64, len(row))
		for j, v := range row {
			if g.Legend != nil && v == Unlabelled {
				v = math.NaN()
			}
			h.Values[i][j] = v
		}
	}
	if g.Legend != nil {
		// Categories, not a continuous scale: with one only "OV labelled"
		// head the smallest present value would be drawn white.
		for i, name := range g.Legend[1:] {
			h.Categories = append(h.Categories, view.Category{Value: float64(i + 1), Label: name, Color: categoryColors[(i+1)%len(categoryColors)]})
		}
	}
	return h
}

var categoryColors = []string{"#f4f4f4", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#e377c2"}

// HTML renders the grid as a coloured table; hovering a cell shows its
// tooltip.
func (g *Grid) HTML() string {
	var b strings.Builder
	maxV := 0.0
	for _, row := range g.Values {
		for _, v := range row {
			if !math.IsNaN(v) {
				maxV = max(maxV, v)
			}
		}
	}
	const td = `padding:2px 6px;text-align:center;border:1px solid #fff;min-width:1.5em`
	fmt.Fprintf(&b, `<table class="lenskit-map" style="border-collapse:collapse;font-family:sans-serif;font-size:12px"><caption style="text-align:left;font-weight:bold">%s</caption>`, html.EscapeString(g.Title))
	fmt.Fprintf(&b, `<thead><tr><th style="%s">%s \ %s</th>`, td, html.EscapeString(g.YName), html.EscapeString(g.XName))
	for _, x := range g.XLabels {
		fmt.Fprintf(&b, `<th style="%s">%s</th>`, td, html.EscapeString(x))
	}
	b.WriteString("</tr></thead><tbody>")
	for i, row := range g.Values {
		fmt.Fprintf(&b, `<tr><th style="%s">%s</th>`, td, html.EscapeString(g.YLabels[i]))
		for j, v := range row {
			bg := "#f4f4f4"
			switch {
			case math.IsNaN(v):
				bg = "#fff"
			case g.Legend != nil && v >= 0 && int(v) < len(categoryColors):
				bg = categoryColors[int(v)]
			case g.Legend == nil && maxV > 0 && v > 0:
				a := 0.15 + 0.85*v/maxV
				bg = fmt.Sprintf("rgba(49,130,189,%.2f)", a)
			}
			text := g.cell(v)
			if g.Legend != nil {
				text = ""
			}
			tip := ""
			if i < len(g.Tooltips) && j < len(g.Tooltips[i]) {
				tip = g.Tooltips[i][j]
			}
			fmt.Fprintf(&b, `<td style="%s;background:%s" title="%s">%s</td>`, td, bg, html.EscapeString(tip), html.EscapeString(text))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	if g.Legend != nil {
		b.WriteString(`<div style="font-family:sans-serif;font-size:12px">`)
		for i, l := range g.Legend {
			fmt.Fprintf(&b, `<span style="display:inline-block;width:1em;height:1em;background:%s;border:1px solid #ccc;margin:0 4px 0 12px;vertical-align:middle"></span>%s`, categoryColors[i%len(categoryColors)], html.EscapeString(l))
		}
		b.WriteString("</div>")
	}
	return b.String()
}

// Markdown renders f as a Markdown document: a summary table, then each
// note with its text and evidence. Token texts and labels are escaped; the
// note's free text is Markdown already and is included as written.
func (f *File) Markdown() string {
	var b strings.Builder
	m := f.Model
	fmt.Fprintf(&b, "# Notes on %s\n\n", mdEscape(m.name()))
	fmt.Fprintf(&b, "Model `%s`", codeSafe(m.ID))
	if m.Revision != "" {
		fmt.Fprintf(&b, ", revision `%s`", codeSafe(m.Revision))
	}
	if m.Hash != "" {
		fmt.Fprintf(&b, ", weights `%s`", codeSafe(m.Hash))
	}
	fmt.Fprintf(&b, "; %d layers × %d heads, %d neurons per layer. %d notes.\n\n", m.Layers, m.Heads, m.Neurons, len(f.Notes))
	if len(f.Notes) == 0 {
		return b.String()
	}
	b.WriteString("| Component | Label | Tags | Author | Updated | ID |\n|---|---|---|---|---|---|\n")
	for _, n := range f.Notes {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | `%s` |\n", mdEscape(n.Component.String()), mdEscape(n.Label),
			mdEscape(strings.Join(n.Tags, ", ")), mdEscape(n.Author), n.Updated.Format(time.DateOnly), n.ID)
	}
	for _, n := range f.Notes {
		fmt.Fprintf(&b, "\n## %s — %s\n\n", mdEscape(n.Component.String()), mdEscape(n.Label))
		fmt.Fprintf(&b, "*%s, created %s, updated %s; id `%s`", mdEscape(orNone(n.Author)),
			n.Created.Format(time.RFC3339), n.Updated.Format(time.RFC3339), n.ID)
		if n.Weights != "" {
			fmt.Fprintf(&b, "; weights `%s`", codeSafe(n.Weights))
		}
		b.WriteString("*\n\n")
		if len(n.Tags) > 0 {
			fmt.Fprintf(&b, "Tags: %s\n\n", mdEscape(strings.Join(n.Tags, ", ")))
		}
		if n.Text != "" {
			b.WriteString(strings.TrimSpace(n.Text) + "\n\n")
		}
		if len(n.Members) > 0 {
			texts := make([]string, len(n.Members))
			for i, t := range n.Members {
				texts[i] = fmt.Sprintf("%s (%d)", mdEscape(t.Text), t.ID)
			}
			fmt.Fprintf(&b, "Tokens (%d): %s\n\n", len(n.Members), strings.Join(texts, ", "))
		}
		if e := n.Evidence; e != nil {
			writeEvidenceMarkdown(&b, n, e)
		}
	}
	return b.String()
}

func writeEvidenceMarkdown(b *strings.Builder, n Note, e *Evidence) {
	which := "top"
	if e.Bottom {
		which = "bottom"
	}
	fmt.Fprintf(b, "Evidence: %s %d", which, e.K)
	if e.Offset != 0 {
		fmt.Fprintf(b, ", offset δ = %d", e.Offset)
	}
	if e.Filter != "" {
		fmt.Fprintf(b, ", filter `%s`", codeSafe(e.Filter))
	}
	if e.Processing != "" {
		fmt.Fprintf(b, ", weights `%s`", codeSafe(e.Processing))
	}
	if e.Lenskit != "" {
		fmt.Fprintf(b, ", lenskit %s", mdEscape(e.Lenskit))
	}
	if e.Corpus != "" {
		fmt.Fprintf(b, ", corpus %s (%s)", mdEscape(e.Corpus), mdEscape(e.Sample))
	}
	b.WriteString("\n\n")
	if len(e.Contexts) > 0 {
		b.WriteString("| # | activation | line | token | context |\n|---:|---:|---:|---:|---|\n")
		for i, x := range e.Contexts {
			fmt.Fprintf(b, "| %d | %s | %d | %d | %s |\n", i+1, score(x.Activation), x.Line, x.Token, mdEscape(x.Text))
		}
		b.WriteString("\n")
	}
	if len(e.Pairs) > 0 {
		src, dst := "source", "target"
		if n.Component.Kind == HeadKind && n.Component.View == project.QK {
			src, dst = "query", "key"
		}
		fmt.Fprintf(b, "| # | %s | %s | score |\n|---:|---|---|---:|\n", src, dst)
		for i, p := range e.Pairs {
			fmt.Fprintf(b, "| %d | %s | %s | %s |\n", i+1, mdEscape(p.SourceText), mdEscape(p.TargetText), score(p.Score))
		}
		b.WriteString("\n")
	}
	sides := e.Sides()
	rows := 0
	for _, s := range sides {
		rows = max(rows, len(e.Columns[s]))
	}
	if len(sides) > 0 {
		b.WriteString("| # |")
		for _, s := range sides {
			fmt.Fprintf(b, " %s |", s)
		}
		b.WriteString("\n|---:|" + strings.Repeat("---|", len(sides)) + "\n")
		for i := range rows {
			fmt.Fprintf(b, "| %d |", i+1)
			for _, s := range sides {
				cell := ""
				if i < len(e.Columns[s]) {
					t := e.Columns[s][i]
					cell = mdEscape(t.Text) + " (" + score(t.Score) + ")"
				}
				fmt.Fprintf(b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
}

func score(f float32) string { return strconv.FormatFloat(float64(f), 'g', 4, 32) }

var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
	"|", `\|`, "#", `\#`, "~", `\~`, "&", "&amp;", "\n", " ", "\r", " ",
)

// mdEscape makes s literal text in Markdown, fit for a table cell.
func mdEscape(s string) string { return mdReplacer.Replace(s) }

// codeSafe keeps s inside a one-backtick code span.
func codeSafe(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "|", `\|`).Replace(s)
}
