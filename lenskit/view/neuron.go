package view

import (
	"fmt"
	"strings"

	"lenskit.dev/lenskit/project"
)

// NeuronTable renders a neuron's vocabulary projection (top tokens of
// W_E·k, W_U·v, −W_E·k, −W_U·v; gate, up, V and their negatives for a gated
// MLP), as the seed's display_top_tokens printed it.
type NeuronTable struct {
	Result *project.NeuronTop
	tok    forms
	opt    options
}

// Neuron wraps r for display with the token forms of tok.
func Neuron(tok Tokens, r *project.NeuronTop, opts ...Option) *NeuronTable {
	return &NeuronTable{Result: r, tok: newForms(tok), opt: newOptions(opts)}
}

func (t *NeuronTable) form() Form {
	if t.opt.form == FormDefault {
		return FormDisplay
	}
	return t.opt.form
}

// title is "L2/N345  top 30  filter: alnum" (with "  weights: fold-norms"
// when the weights were processed).
func (t *NeuronTable) title() string {
	r := t.Result
	return fmt.Sprintf("%s  top %d  filter: %s%s", r.Neuron, r.K, filterText(r.Filter), processingText(r.Processing, "  "))
}

// processingText describes weight processing after sep, or "" for raw
// weights.
func processingText(p, sep string) string {
	if p == "" {
		return ""
	}
	return sep + "weights: " + terminalSafe(p)
}

func filterText(f string) string {
	if f == "" {
		return "none"
	}
	return terminalSafe(f)
}

func (t *NeuronTable) rows() int {
	n := 0
	for _, c := range t.Result.Columns {
		n = max(n, len(c))
	}
	return n
}

// String is the aligned text table:
//
//	L12/N345  top 30  filter: alnum
//	K        V         -K     -V
//	-------  --------  -----  -----
//	ubraniu  kondu     #./    #berga
//
// With WithScores each column is followed by its scores.
func (t *NeuronTable) String() string {
	if t == nil || t.Result == nil {
		return "(no neuron result)\n"
	}
	var b strings.Builder
	b.WriteString(t.title())
	b.WriteByte('\n')
	tb := table{}
	for _, s := range t.Result.Sides() {
		tb.header = append(tb.header, s.String())
		tb.align = append(tb.align, left)
		if t.opt.scores {
			tb.header = append(tb.header, "score")
			tb.align = append(tb.align, right)
		}
	}
	fm := t.form()
	for i := 0; i < t.rows(); i++ {
		var row []string
		for _, s := range t.Result.Sides() {
			col := t.Result.Columns[s]
			tok, score := "", ""
			if i < len(col) {
				tok = t.tok.show(col[i].ID, fm)
				score = formatScore(float64(col[i].Score))
			}
			row = append(row, tok)
			if t.opt.scores {
				row = append(row, score)
			}
		}
		tb.rows = append(tb.rows, row)
	}
	if t.rows() == 0 {
		b.WriteString("(no tokens passed the filter)\n")
		return b.String()
	}
	tb.render(&b)
	return b.String()
}

// HTML is the four columns as an HTML table. Every cell's tooltip holds the
// score, id, raw entry and text of its token; WithScores also prints the
// score in small grey text.
func (t *NeuronTable) HTML() string {
	if t == nil || t.Result == nil {
		return `<div><i>no neuron result</i></div>`
	}
	cls := uniqueID("lk")
	var b strings.Builder
	b.WriteString(tableCSS(cls, t.opt.maxHeight))
	fmt.Fprintf(&b, `<div class="%s"><div class="lk-title">%s <span class="lk-dim">top %d · filter: %s%s</span></div>`,
		cls, esc(t.Result.Neuron.String()), t.Result.K, esc(filterText(t.Result.Filter)), esc(processingText(t.Result.Processing, " · ")))
	if t.rows() == 0 {
		b.WriteString(`<div class="lk-dim">no tokens passed the filter</div></div>`)
		return b.String()
	}
	b.WriteString(`<div class="lk-scroll"><table><thead><tr>`)
	for _, s := range t.Result.Sides() {
		fmt.Fprintf(&b, `<th>%s</th>`, esc(s.String()))
	}
	b.WriteString(`</tr></thead><tbody>`)
	fm := t.form()
	for i := 0; i < t.rows(); i++ {
		b.WriteString(`<tr>`)
		for _, s := range t.Result.Sides() {
			col := t.Result.Columns[s]
			if i >= len(col) {
				b.WriteString(`<td></td>`)
				continue
			}
			tk := col[i]
			score := formatScore(float64(tk.Score))
			fmt.Fprintf(&b, `<td title="%s">%s`, esc("score "+score+" · "+t.tok.describe(tk.ID)), esc(t.tok.show(tk.ID, fm)))
			if t.opt.scores {
				fmt.Fprintf(&b, `<span class="lk-s">%s</span>`, esc(score))
			}
			b.WriteString(`</td>`)
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table></div></div>`)
	return b.String()
}
