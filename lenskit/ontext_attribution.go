package lenskit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"lenskit.dev/lenskit/forward"
	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/view"
)

// WhoWroteQuery asks which heads and neurons wrote a token's logit at a
// position of a prompt.
type WhoWroteQuery struct {
	m      *Model
	text   string
	opts   []TextOption
	pos    int // -1: the last position
	target int // -1: the model's prediction
	tgtStr *string
	notes  *Notes
}

// WhoWrote starts a direct logit attribution on text: by default of the
// model's prediction at the last position. Narrow it with At, Token or
// TokenText and WithNotes, then call Top.
func (m *Model) WhoWrote(text string, opts ...TextOption) *WhoWroteQuery {
	return &WhoWroteQuery{m: m, text: text, opts: opts, pos: -1, target: -1}
}

// At selects the position (0-based; negative counts from the end, -1 the
// last).
func (q *WhoWroteQuery) At(pos int) *WhoWroteQuery { c := *q; c.pos = pos; return &c }

// Token selects the target token by id.
func (q *WhoWroteQuery) Token(id int) *WhoWroteQuery {
	c := *q
	c.target = id
	c.tgtStr = nil
	return &c
}

// TokenText selects the target token by its text: the first token s
// encodes to (" Warszawa" with its leading space for GPT-2).
func (q *WhoWroteQuery) TokenText(s string) *WhoWroteQuery { c := *q; c.tgtStr = &s; return &c }

// WithNotes names each component's note, when it has one.
func (q *WhoWroteQuery) WithNotes(n *Notes) *WhoWroteQuery { c := *q; c.notes = n; return &c }

// Component is one head or neuron (or the embedding, or a bias) with its
// direct contribution.
type Component struct {
	Kind   string // "head", "neuron", "embedding", "position", "bias"
	Layer  int
	Index  int // head or neuron index
	Name   string
	Value  float64
	Static string // the static view's expression
	Note   string
}

// WhoWroteResult is the ranked direct contributions to one logit.
type WhoWroteResult struct {
	Prompt      *Prompt
	Pos         int
	Target      int
	Attribution *forward.Attribution
	Components  []Component // every term, largest contribution first
	k           int
	m           *Model
	err         error
}

// Top computes the attribution and keeps the k largest contributions each
// way for display (every term stays in Components).
func (q *WhoWroteQuery) Top(k int) *WhoWroteResult {
	m := q.m
	res := &WhoWroteResult{m: m, k: k}
	if k <= 0 {
		res.err = fmt.Errorf("lenskit: who wrote: k = %d, want > 0", k)
		return res
	}
	p, tr, err := m.run(q.text, forward.Want{Resid: true, Heads: true, MLP: true, Logits: true}, q.opts)
	res.Prompt = p
	if err != nil {
		res.err = err
		return res
	}
	pos := q.pos
	if pos < 0 {
		pos += tr.T
	}
	if pos < 0 || pos >= tr.T {
		res.err = fmt.Errorf("lenskit: who wrote: position %d out of range for a prompt of %d tokens", q.pos, tr.T)
		return res
	}
	V := m.Arch().Vocab
	target := q.target
	switch {
	case q.tgtStr != nil:
		ids, err := m.Vocab.Encode(*q.tgtStr)
		if err != nil || len(ids) == 0 {
			res.err = fmt.Errorf("lenskit: who wrote: token text %s does not encode to a token (%v)", quoteShort(*q.tgtStr), err)
			return res
		}
		target = ids[0]
	case target < 0:
		row := tr.Logits[pos*V : (pos+1)*V]
		target = 0
		for id, v := range row {
			if v > row[target] {
				target = id
			}
		}
	}
	f, _ := m.Forward()
	at, err := f.Attribute(tr, pos, target)
	if err != nil {
		res.err = err
		return res
	}
	res.Pos, res.Target, res.Attribution = pos, target, at
	res.Components = components(at)
	if q.notes != nil {
		res.attachNotes(q.notes)
	}
	return res
}

// components lists every term of an attribution, largest first.
func components(at *forward.Attribution) []Component {
	var out []Component
	for l, hs := range at.Heads {
		for h, v := range hs {
			out = append(out, Component{Kind: "head", Layer: l, Index: h, Name: fmt.Sprintf("head %d.%d", l, h), Value: v,
				Static: fmt.Sprintf("lens.OV(%d, %d)", l, h)})
		}
	}
	for l, ns := range at.Neurons {
		for n, v := range ns {
			out = append(out, Component{Kind: "neuron", Layer: l, Index: n, Name: fmt.Sprintf("L%d/N%d", l, n), Value: v,
				Static: fmt.Sprintf("lens.Neuron(%d, %d)", l, n)})
		}
	}
	out = append(out, Component{Kind: "embedding", Layer: -1, Name: "token embedding", Value: at.Embed})
	if at.Position != 0 {
		out = append(out, Component{Kind: "position", Layer: -1, Name: "position embedding", Value: at.Position})
	}
	for _, b := range at.Biases {
		out = append(out, Component{Kind: "bias", Layer: -1, Name: b.Name, Value: b.Value})
	}
	slices.SortStableFunc(out, func(a, b Component) int { return cmp.Compare(b.Value, a.Value) })
	return out
}

// attachNotes fills each head's and neuron's note labels.
func (r *WhoWroteResult) attachNotes(n *Notes) {
	all, err := n.List(notes.Query{})
	if err != nil {
		return
	}
	labels := map[string][]string{}
	for _, note := range all {
		c := note.Component
		var key string
		switch c.Kind {
		case notes.HeadKind:
			key = fmt.Sprintf("head %d.%d", c.Layer, c.Index)
		case notes.NeuronKind:
			key = fmt.Sprintf("L%d/N%d", c.Layer, c.Index)
		default:
			continue
		}
		lab := c.Part.String() + ": " + note.Label // "V: menu and dialog labels"
		if c.Kind == notes.HeadKind {
			lab = c.View.String() + ": " + note.Label // "OV: relative pronouns"
		}
		labels[key] = append(labels[key], lab)
	}
	for i := range r.Components {
		if l, ok := labels[r.Components[i].Name]; ok {
			r.Components[i].Note = strings.Join(l, "; ")
		}
	}
}

// Err reports why the attribution failed, or nil.
func (r *WhoWroteResult) Err() error { return r.err }

// Table renders the k largest contributions each way.
func (r *WhoWroteResult) Table() Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	at := r.Attribution
	t := &view.AttributionTable{
		Title: fmt.Sprintf("who wrote %s at position %d of %s (%s)", view.Visible(r.m.Vocab.Text(r.Target)), r.Pos,
			quoteShort(r.Prompt.Text), r.m.Weights.Name()),
		Target: view.Visible(r.m.Vocab.Text(r.Target)), Logit: at.Logit, Sum: at.Sum(), Capped: at.Capped,
		Softcap: r.m.Arch().FinalSoftcap > 0, NumTerms: len(r.Components),
	}
	conv := func(c Component) view.Contribution {
		return view.Contribution{Component: c.Name, Value: c.Value, Static: c.Static, Note: c.Note}
	}
	n := len(r.Components)
	k := min(r.k, n)
	for _, c := range r.Components[:k] {
		if c.Value > 0 {
			t.Top = append(t.Top, conv(c))
		}
	}
	for i := n - 1; i >= max(n-k, 0); i-- {
		if c := r.Components[i]; c.Value < 0 {
			t.Bottom = append(t.Bottom, conv(c))
		}
	}
	t.Rest = t.Sum
	for _, c := range append(append([]view.Contribution{}, t.Top...), t.Bottom...) {
		t.Rest -= c.Value
	}
	return withWarnings(r.Prompt, t)
}

// Static returns the static view of component i of Components through
// lens: the head's OV pairs or the neuron's four columns (top 20).
func (r *WhoWroteResult) Static(i int, lens *Lens) Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	if i < 0 || i >= len(r.Components) {
		return Display{errorView{fmt.Errorf("lenskit: component %d of %d", i, len(r.Components))}}
	}
	c := r.Components[i]
	switch c.Kind {
	case "head":
		return lens.OV(c.Layer, c.Index).Top(20).Table()
	case "neuron":
		return lens.Neuron(c.Layer, c.Index).Top(20).Table()
	}
	return Display{errorView{fmt.Errorf("lenskit: %s has no static view", c.Name)}}
}

func (r *WhoWroteResult) String() string { return r.Table().String() }
func (r *WhoWroteResult) HTML() string   { return r.Table().HTML() }

// Show displays the ranked contributions, or the error.
func (r *WhoWroteResult) Show() { r.Table().Show() }
