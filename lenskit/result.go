package lenskit

import (
	"encoding/json"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// Display is anything lenskit renders — a table, a heatmap, a map of the
// model — with Show to put it in a notebook (or print it in a terminal).
type Display struct{ view.Renderable }

// Show displays d: HTML under GoNB, text elsewhere.
func (d Display) Show() { view.Show(d.Renderable) }

// NeuronResult is a neuron's four-column projection, or the error that
// prevented it. It renders itself: Show in a notebook draws a table, String
// is the aligned text a terminal shows.
type NeuronResult struct {
	*project.NeuronTop
	m   *Model
	err error
}

// Err reports why the projection failed, or nil.
func (r *NeuronResult) Err() error { return r.err }

// Table returns the result's table, with view options (scores, token
// form, height).
func (r *NeuronResult) Table(opts ...view.Option) Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	return Display{view.Neuron(r.m.Vocab, r.NeuronTop, opts...)}
}

func (r *NeuronResult) String() string { return r.Table().String() }
func (r *NeuronResult) HTML() string   { return r.Table().HTML() }

// Show displays the result (HTML in GoNB, text elsewhere), or its error.
func (r *NeuronResult) Show() { r.Table().Show() }

// Words returns the display forms of one column ("K", "V", "-K", "-V";
// "gate", "up", "-gate", "-up" for a gated neuron).
func (r *NeuronResult) Words(side project.Side) []string {
	if r.err != nil {
		return nil
	}
	var out []string
	for _, t := range r.Columns[side] {
		out = append(out, r.m.Vocab.Display(t.ID))
	}
	return out
}

// TokenJSON is one token of a JSON result: "token" is the raw vocabulary
// entry ("Ġdom"), "text" its decoded UTF-8 text (" dom").
type TokenJSON struct {
	ID    int     `json:"id"`
	Token string  `json:"token"`
	Text  string  `json:"text"`
	Score float32 `json:"score"`
}

// MarshalJSON is the shape the lenskit command prints with --json:
// {"K":[…],"V":[…],"-K":[…],"-V":[…]}, or for a gated neuron
// {"gate":[…],"up":[…],"V":[…],"-gate":[…],"-up":[…],"-V":[…]}.
func (r *NeuronResult) MarshalJSON() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	out := map[string][]TokenJSON{}
	for _, side := range r.Sides() {
		col := []TokenJSON{}
		for _, t := range r.Columns[side] {
			col = append(col, TokenJSON{ID: t.ID, Token: r.m.Vocab.Raw(t.ID), Text: r.m.Vocab.Text(t.ID), Score: t.Score})
		}
		out[side.String()] = col
	}
	return json.Marshal(out)
}

// PairResult is the top (or bottom) pairs of a head view, or the error
// that prevented them.
type PairResult struct {
	*project.PairTop
	m   *Model
	err error
	// No reference to the head view: it holds two V × d_head factors
	// (26 MB for GPT-2 medium), and a scan keeps hundreds of results.
}

// Err reports why the search failed, or nil.
func (r *PairResult) Err() error { return r.err }

// Table returns the table of pairs, with view options.
func (r *PairResult) Table(opts ...view.Option) Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	return Display{view.Pairs(r.m.Vocab, r.PairTop, opts...)}
}

func (r *PairResult) String() string { return r.Table().String() }
func (r *PairResult) HTML() string   { return r.Table().HTML() }

// Show displays the pairs (HTML in GoNB, text elsewhere), or the error.
func (r *PairResult) Show() { r.Table().Show() }

// Heatmap returns a source × target heatmap of the pairs' tokens, every
// cell filled with the view's exact score for that combination.
func (r *PairResult) Heatmap() Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	// The Space caches recent views and recomputes an evicted one.
	proc, err := project.ParseProcessing(r.Processing)
	if err != nil {
		return Display{errorView{err}}
	}
	sp, err := r.m.space(proc)
	if err != nil {
		return Display{errorView{err}}
	}
	v, err := sp.ViewAt(r.Kind, r.Head.Layer, r.Head.Head, r.Offset)
	if err != nil {
		return Display{errorView{err}}
	}
	return Display{view.PairHeatmap(r.m.Vocab, r.PairTop, func(src, tgt int) float32 {
		s, _ := v.Score(src, tgt) // src, tgt come from the view's own pairs
		return s
	})}
}

// PairJSON is one pair of a JSON result; for QK, source is the query token
// and target the key token.
type PairJSON struct {
	SourceID int     `json:"source_id"`
	Source   string  `json:"source"`
	TargetID int     `json:"target_id"`
	Target   string  `json:"target"`
	Score    float32 `json:"score"`
}

// MarshalJSON is the shape the lenskit command prints with --json:
// {"pairs":[{"source_id":…,"source":…,"target_id":…,"target":…,"score":…}]},
// with tokens as raw vocabulary entries.
func (r *PairResult) MarshalJSON() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	pairs := []PairJSON{}
	for _, p := range r.Pairs {
		pairs = append(pairs, PairJSON{SourceID: p.Source, Source: r.m.Vocab.Raw(p.Source), TargetID: p.Target, Target: r.m.Vocab.Raw(p.Target), Score: p.Score})
	}
	return json.Marshal(struct {
		Pairs []PairJSON `json:"pairs"`
	}{pairs})
}

// errorView renders an error where a result would be.
type errorView struct{ err error }

func (e errorView) String() string { return "error: " + e.err.Error() + "\n" }
func (e errorView) HTML() string   { return view.ErrorHTML(e.err) }
