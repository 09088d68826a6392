package view

import (
	"fmt"
	"strings"
)

// Contribution is one component's direct contribution to a logit, for
// AttributionTable.
type Contribution struct {
	Component string  // "head 2.4", "L1/N345", "embedding", "L0 MLP output bias"
	Value     float64 // logit units
	Static    string  // the expression that shows its static view, e.g. "lens.OV(2, 4).Top(50)"; "" for none
	Note      string  // the label of its note, when one exists
}

// AttributionTable is "who wrote this token": the components that wrote
// most directly towards (and against) one token's logit at one position,
// ranked, with the checks that the terms add up.
type AttributionTable struct {
	Title    string
	Target   string  // the token, visible form
	Logit    float64 // the pre-cap logit the terms add up to
	Sum      float64 // their sum
	Capped   float64 // the model's logit after its final softcap (= Logit without one)
	Softcap  bool
	Top      []Contribution // largest first
	Bottom   []Contribution // most negative first
	Rest     float64        // the sum of the terms not listed
	NumTerms int
}

// String prints both lists as aligned tables.
func (a *AttributionTable) String() string {
	var b strings.Builder
	if a.Title != "" {
		b.WriteString(terminalSafe(a.Title))
		b.WriteByte('\n')
	}
	b.WriteString(a.summary())
	b.WriteString("\n\n")
	for _, part := range []struct {
		name string
		list []Contribution
	}{{"wrote towards it", a.Top}, {"wrote against it", a.Bottom}} {
		if len(part.list) == 0 {
			continue
		}
		b.WriteString(part.name + "\n")
		t := &table{header: []string{"#", "component", "logit", "static view", "note"}, align: []align{right, left, right, left, left}}
		for i, c := range part.list {
			t.rows = append(t.rows, []string{fmt.Sprint(i + 1), c.Component, fmt.Sprintf("%+.3f", c.Value), c.Static, safeOrEmpty(c.Note)})
		}
		t.render(&b)
		b.WriteByte('\n')
	}
	return b.String()
}

func (a *AttributionTable) summary() string {
	s := fmt.Sprintf("direct contributions to the logit of %s: %d terms sum to %.4f; the logit is %.4f", a.Target, a.NumTerms, a.Sum, a.Logit)
	if a.Softcap {
		s += fmt.Sprintf(" before the final softcap (%.4f after; the decomposition is of the pre-cap logit)", a.Capped)
	}
	return s + fmt.Sprintf("; terms not listed sum to %.4f", a.Rest)
}

// HTML draws both lists, shaded by contribution.
func (a *AttributionTable) HTML() string {
	cls := uniqueID("lk-attr")
	var b strings.Builder
	b.WriteString(tableCSS(cls, 520))
	fmt.Fprintf(&b, `<div class="%s">`, cls)
	if a.Title != "" {
		fmt.Fprintf(&b, `<div class="lk-title">%s</div>`, esc(a.Title))
	}
	fmt.Fprintf(&b, `<div class="lk-foot">%s</div>`, esc(a.summary()))
	var all []float64
	for _, c := range a.Top {
		all = append(all, c.Value)
	}
	for _, c := range a.Bottom {
		all = append(all, c.Value)
	}
	mr := newMagnitudeRange(all)
	b.WriteString(`<div style="display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap">`)
	for _, part := range []struct {
		name string
		list []Contribution
	}{{"wrote towards it", a.Top}, {"wrote against it", a.Bottom}} {
		if len(part.list) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<div><div class="lk-title lk-dim">%s</div><div class="lk-scroll"><table><tr><th class="lk-num">#</th><th>component</th><th class="lk-num">logit</th><th>static view</th><th>note</th></tr>`, esc(part.name))
		for i, c := range part.list {
			bg, fg := mr.shade(c.Value)
			fmt.Fprintf(&b, `<tr><td class="lk-num">%d</td><td>%s</td><td class="lk-num" style="background:%s;color:%s">%+.3f</td><td><code>%s</code></td><td>%s</td></tr>`,
				i+1, esc(c.Component), bg, fg, c.Value, esc(c.Static), esc(c.Note))
		}
		b.WriteString(`</table></div></div>`)
	}
	b.WriteString(`</div></div>`)
	return b.String()
}
