package view

import (
	"fmt"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/project"
)

// PairTable renders the top (or bottom) pairs of a head's W_OV or W_QK
// view: "source → target" for OV, "query ↔ key" for QK, with scores.
type PairTable struct {
	Result *project.PairTop
	tok    forms
	opt    options
}

// Pairs wraps r for display with the token forms of tok.
func Pairs(tok Tokens, r *project.PairTop, opts ...Option) *PairTable {
	return &PairTable{Result: r, tok: newForms(tok), opt: newOptions(opts)}
}

func (t *PairTable) form() Form {
	if t.opt.form == FormDefault {
		return FormVisible
	}
	return t.opt.form
}

// sides names the two ends of a pair and the arrow between them.
func sides(k project.Kind) (from, arrow, to string) {
	if k == project.QK {
		return "query", "↔", "key"
	}
	return "source", "→", "target"
}

func (t *PairTable) which() string {
	r := t.Result
	if r.Bottom {
		return fmt.Sprintf("bottom %d (lowest first)", r.K)
	}
	return fmt.Sprintf("top %d", r.K)
}

// footer summarises Stats, or is empty for results without them (for
// example evidence loaded from notes).
func footer(s project.Stats) string {
	if s.Engine == "" && s.DenseFLOPs == 0 {
		return ""
	}
	parts := []string{}
	if s.Engine != "" {
		parts = append(parts, "engine "+terminalSafe(s.Engine))
	}
	if s.Rows > 0 || s.Cols > 0 {
		parts = append(parts, fmt.Sprintf("%d × %d tokens", s.Rows, s.Cols))
	}
	if s.DenseFLOPs > 0 {
		parts = append(parts, fmt.Sprintf("computed %s%% of the dense product", strconv.FormatFloat(100*s.Fraction(), 'g', 3, 64)))
	}
	if s.Candidates > 0 {
		parts = append(parts, fmt.Sprintf("%d candidates rescored", s.Candidates))
	}
	if s.RankFallback {
		parts = append(parts, "no rotation (ill-conditioned factors)")
	}
	return strings.Join(parts, " · ")
}

// String is the aligned text table:
//
//	20.4 W_OV  top 3  filter: ascii
//	 #  source    →  target    score
//	--  --------     --------  ------
//	 1  ·chcecie  →  ·waszych  12.345
//
// A bottom-k result says "bottom k (lowest first)" in its title line.
// Tokens are in the Visible form unless WithForm says otherwise.
func (t *PairTable) String() string {
	if t == nil || t.Result == nil {
		return "(no head result)\n"
	}
	r := t.Result
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  filter: %s%s\n", r.Title(), t.which(), filterText(r.Filter), processingText(r.Processing, "  "))
	if len(r.Pairs) == 0 {
		b.WriteString("(no pairs passed the filter)\n")
	} else {
		from, arrow, to := sides(r.Kind)
		tb := table{
			header: []string{"#", from, arrow, to, "score"},
			align:  []align{right, left, left, left, right},
			noDash: map[int]bool{2: true},
		}
		fm := t.form()
		for i, p := range r.Pairs {
			tb.rows = append(tb.rows, []string{
				strconv.Itoa(i + 1), t.tok.show(p.Source, fm), arrow, t.tok.show(p.Target, fm),
				formatScore(float64(p.Score)),
			})
		}
		tb.render(&b)
	}
	if f := footer(r.Stats); f != "" {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return b.String()
}

// HTML is the pairs as an HTML table whose score cells are shaded by value
// within the result: warm for positive scores, cool for negative ones (so a
// bottom-k list of negative scores is blue), stronger for larger
// magnitudes. Token tooltips hold the id, raw entry and text.
func (t *PairTable) HTML() string {
	if t == nil || t.Result == nil {
		return `<div><i>no head result</i></div>`
	}
	r := t.Result
	cls := uniqueID("lk")
	var b strings.Builder
	b.WriteString(tableCSS(cls, t.opt.maxHeight))
	fmt.Fprintf(&b, `<div class="%s"><div class="lk-title">%s <span class="lk-dim">%s · filter: %s%s</span>`,
		cls, esc(r.Title()), esc(t.which()), esc(filterText(r.Filter)), esc(processingText(r.Processing, " · ")))
	if r.Bottom {
		b.WriteString(`<span class="lk-badge">bottom-k</span>`)
	}
	b.WriteString(`</div>`)
	if len(r.Pairs) == 0 {
		b.WriteString(`<div class="lk-dim">no pairs passed the filter</div>`)
	} else {
		scores := make([]float64, len(r.Pairs))
		for i, p := range r.Pairs {
			scores[i] = float64(p.Score)
		}
		mr := newMagnitudeRange(scores)
		from, arrow, to := sides(r.Kind)
		fmt.Fprintf(&b, `<div class="lk-scroll"><table><thead><tr><th class="lk-num">#</th><th>%s</th><th></th><th>%s</th><th class="lk-num">score</th></tr></thead><tbody>`,
			esc(from), esc(to))
		fm := t.form()
		for i, p := range r.Pairs {
			bg, fg := mr.shade(scores[i])
			fmt.Fprintf(&b, `<tr><td class="lk-num">%d</td><td title="%s">%s</td><td class="lk-arrow">%s</td><td title="%s">%s</td><td class="lk-num" style="background:%s;color:%s">%s</td></tr>`,
				i+1,
				esc(t.tok.describe(p.Source)), esc(t.tok.show(p.Source, fm)),
				arrow,
				esc(t.tok.describe(p.Target)), esc(t.tok.show(p.Target, fm)),
				bg, fg, esc(formatScore(scores[i])))
		}
		b.WriteString(`</tbody></table></div>`)
	}
	if f := footer(r.Stats); f != "" {
		fmt.Fprintf(&b, `<div class="lk-foot">%s</div>`, esc(f))
	}
	b.WriteString(`</div>`)
	return b.String()
}
