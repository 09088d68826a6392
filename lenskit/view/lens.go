package view

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/forward"
)

// Lens measures, in the order the chart's buttons list them.
const (
	LensProbability = "probability of the top token"
	LensEntropy     = "entropy (nats)"
	LensRank        = "rank of the next token (log₁₀)"
	LensKL          = "KL to the final layer (nats)"
)

// LensView is the logit lens of one prompt: a layer × position map whose
// cells are labelled with the row's top token at that position, coloured
// by one of LensProbability, LensEntropy, LensRank, LensKL (switchable in
// the chart), with the top tokens and every measure on hover. String is a
// table of top tokens and their probabilities.
type LensView struct {
	Title string
	tok   Tokens
	lens  *forward.Lens
	top   int // tokens in the hover text
}

// LogitLens returns the view of a lens read with forward.ReadLens; the
// hover text lists up to top tokens per cell (10 when top ≤ 0).
func LogitLens(tok Tokens, l *forward.Lens, title string, top int) *LensView {
	if top <= 0 {
		top = 10
	}
	return &LensView{Title: title, tok: tok, lens: l, top: top}
}

// tokenLabel is a position's input token as an axis label: its visible text.
func tokenLabel(f forms, id int) string {
	if !f.valid(id) {
		return badID(id)
	}
	return Visible(f.tok.Text(id))
}

// Chart returns the switchable heatmap the HTML draws.
func (v *LensView) Chart() *Switchable {
	l := v.lens
	f := newForms(v.tok)
	s := &Switchable{}
	s.Title = v.Title
	s.XName, s.YName = "position · input token", "residual read"
	if l == nil {
		s.err = fmt.Errorf("view: nil logit lens")
		return s
	}
	rows, T := len(l.Rows), len(l.IDs)
	for t, id := range l.IDs {
		s.XLabels = append(s.XLabels, strconv.Itoa(t)+" "+tokenLabel(f, id))
	}
	s.YLabels = append(s.YLabels, l.Rows...)
	prob, ent, rank, kl := nanGrid(rows, T), nanGrid(rows, T), nanGrid(rows, T), nanGrid(rows, T)
	s.CellText = make([][]string, rows)
	s.Tooltips = make([][]string, rows)
	for r := range rows {
		s.CellText[r] = make([]string, T)
		s.Tooltips[r] = make([]string, T)
		for t := range T {
			c := l.Cells[r][t]
			if len(c.Top) > 0 {
				prob[r][t] = c.Top[0].P
				s.CellText[r][t] = tokenLabel(f, c.Top[0].ID)
			}
			ent[r][t] = c.Entropy
			kl[r][t] = c.KL
			if c.NextRank > 0 {
				rank[r][t] = math.Log10(float64(c.NextRank))
			}
			var tip strings.Builder
			fmt.Fprintf(&tip, "%s at %d (input %s)", l.Rows[r], t, tokenLabel(f, l.IDs[t]))
			for i, tp := range c.Top {
				if i >= v.top {
					break
				}
				fmt.Fprintf(&tip, "\n%2d. %s  %.4f", i+1, tokenLabel(f, tp.ID), tp.P)
			}
			fmt.Fprintf(&tip, "\nentropy %.3f nats · KL to final %.3f", c.Entropy, c.KL)
			if c.NextRank > 0 && t+1 < T {
				fmt.Fprintf(&tip, "\nnext token %s: rank %d, p %.4f", tokenLabel(f, l.IDs[t+1]), c.NextRank, c.NextP)
			}
			s.Tooltips[r][t] = tip.String()
		}
	}
	s.Metrics = []Metric{
		{Name: LensProbability, Values: prob},
		{Name: LensEntropy, Values: ent},
		{Name: LensRank, Values: rank, Reverse: true},
		{Name: LensKL, Values: kl},
	}
	// Cells wide enough for an 8-character label.
	s.Width = min(160+T*62+90, 4000)
	s.Height = min(90+rows*26+120, 3000)
	return s
}

// HTML draws the chart.
func (v *LensView) HTML() string { return v.Chart().HTML() }

// String is the terminal form: for every row and position the top token
// and its probability in percent, then the rank of the actual next token
// per row.
func (v *LensView) String() string {
	l := v.lens
	if l == nil {
		return "error: view: nil logit lens\n"
	}
	f := newForms(v.tok)
	var b strings.Builder
	if v.Title != "" {
		b.WriteString(terminalSafe(v.Title))
		b.WriteByte('\n')
	}
	b.WriteString("top token and its probability (%) per residual row and position\n\n")
	t := &table{header: []string{""}, align: []align{left}}
	for p, id := range l.IDs {
		t.header = append(t.header, fmt.Sprintf("%d %s", p, truncate(tokenLabel(f, id), 10)))
		t.align = append(t.align, left)
	}
	for r, name := range l.Rows {
		row := []string{name}
		for p := range l.IDs {
			c := l.Cells[r][p]
			cell := ""
			if len(c.Top) > 0 {
				cell = fmt.Sprintf("%s %2.0f", truncate(tokenLabel(f, c.Top[0].ID), 10), 100*c.Top[0].P)
			}
			row = append(row, cell)
		}
		t.rows = append(t.rows, row)
	}
	t.render(&b)
	b.WriteString("\nrank of the actual next token\n\n")
	t = &table{header: []string{""}, align: []align{left}}
	for p := range len(l.IDs) - 1 {
		t.header = append(t.header, fmt.Sprintf("→%s", truncate(tokenLabel(f, l.IDs[p+1]), 10)))
		t.align = append(t.align, right)
	}
	for r, name := range l.Rows {
		row := []string{name}
		for p := range len(l.IDs) - 1 {
			row = append(row, strconv.Itoa(l.Cells[r][p].NextRank))
		}
		t.rows = append(t.rows, row)
	}
	t.render(&b)
	return b.String()
}
