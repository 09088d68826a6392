package view

import (
	"fmt"
	"strings"
)

// Context is one place in a corpus where a neuron fired: the text around
// the token, the token itself, and the activation.
type Context struct {
	Before, Token, After string  // decoded text
	Activation           float64 // the neuron's activation at Token
	Where                string  // "line 123, token 7" (the corpus position)
}

// NeuronContexts are one neuron's top contexts.
type NeuronContexts struct {
	Neuron   string // "L2/N345"
	Note     string // the neuron's note label, when it has one
	Contexts []Context
}

// ContextsTable shows the contexts where neurons activate most, the
// activating token highlighted (HTML: a <mark>; text: ⟦token⟧).
type ContextsTable struct {
	Title   string
	Footer  string // corpus, sample and cache provenance
	Neurons []NeuronContexts
}

// String prints one block per neuron.
func (c *ContextsTable) String() string {
	var b strings.Builder
	if c.Title != "" {
		b.WriteString(terminalSafe(c.Title))
		b.WriteByte('\n')
	}
	for _, n := range c.Neurons {
		head := n.Neuron
		if n.Note != "" {
			head += " — " + terminalSafe(n.Note)
		}
		b.WriteString("\n" + head + "\n")
		t := &table{header: []string{"activation", "context", "where"}, align: []align{right, left, left}}
		for _, x := range n.Contexts {
			ctx := safeOrEmpty(x.Before) + "⟦" + terminalSafe(x.Token) + "⟧" + safeOrEmpty(x.After)
			t.rows = append(t.rows, []string{fmt.Sprintf("%.3f", x.Activation), ctx, x.Where})
		}
		t.render(&b)
	}
	if c.Footer != "" {
		b.WriteString("\n" + terminalSafe(c.Footer) + "\n")
	}
	return b.String()
}

// HTML draws one table per neuron, the activating token marked and the
// activation shaded.
func (c *ContextsTable) HTML() string {
	cls := uniqueID("lk-ctx")
	var b strings.Builder
	b.WriteString(tableCSS(cls, 480))
	fmt.Fprintf(&b, `<style>.%s mark{background:#fcbba1;padding:0 1px;border-radius:2px}.%s td.lk-ctx{white-space:pre-wrap;max-width:760px}</style>`, cls, cls)
	fmt.Fprintf(&b, `<div class="%s">`, cls)
	if c.Title != "" {
		fmt.Fprintf(&b, `<div class="lk-title">%s</div>`, esc(c.Title))
	}
	for _, n := range c.Neurons {
		var acts []float64
		for _, x := range n.Contexts {
			acts = append(acts, x.Activation)
		}
		mr := newMagnitudeRange(acts)
		fmt.Fprintf(&b, `<div class="lk-title">%s`, esc(n.Neuron))
		if n.Note != "" {
			fmt.Fprintf(&b, ` <span class="lk-dim">— %s</span>`, esc(n.Note))
		}
		b.WriteString(`</div><div class="lk-scroll"><table><tr><th class="lk-num">activation</th><th>context</th><th>where</th></tr>`)
		for _, x := range n.Contexts {
			bg, fg := mr.shade(x.Activation)
			fmt.Fprintf(&b, `<tr><td class="lk-num" style="background:%s;color:%s">%.3f</td><td class="lk-ctx">%s<mark>%s</mark>%s</td><td class="lk-s">%s</td></tr>`,
				bg, fg, x.Activation, esc(x.Before), esc(Visible(x.Token)), esc(x.After), esc(x.Where))
		}
		b.WriteString(`</table></div>`)
	}
	if c.Footer != "" {
		fmt.Fprintf(&b, `<div class="lk-foot">%s</div>`, esc(c.Footer))
	}
	b.WriteString(`</div>`)
	return b.String()
}

// safeOrEmpty is terminalSafe, but leaves an empty string empty (no "∅").
func safeOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return terminalSafe(s)
}
