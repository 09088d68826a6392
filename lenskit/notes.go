package lenskit

import (
	"fmt"
	"path/filepath"
	"strings"

	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// Notes is a model's findings file: one human-readable JSON file per model,
// kept next to the notebooks so it goes into git with them. Every write is
// atomic and locked, so kernels writing at once lose nothing.
type Notes struct {
	*notes.Store
	// Warning is set when the file was made against other weights (both
	// hashes named) or lists components outside this model.
	Warning *notes.Warning
	m       *Model
}

// NotesPath is where Notes("") keeps a model's findings: notes/<model>.lenskit-notes.json
// relative to the working directory (a notebook's own directory under GoNB).
func (m *Model) NotesPath() string {
	return filepath.Join("notes", slug(m.Weights.Name())+".lenskit-notes.json")
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// Notes opens the findings file at path ("" for NotesPath), creating it on
// the first write. It records the model's id, revision and weights hash;
// opening a file made against other weights sets Warning (and, in a
// notebook, shows it).
func (m *Model) Notes(path string) (*Notes, error) {
	if m.err != nil {
		return nil, m.err
	}
	if path == "" {
		path = m.NotesPath()
	}
	hash, err := m.Weights.Hash()
	if err != nil {
		return nil, err
	}
	id, rev, _ := strings.Cut(m.Weights.ID(), "@")
	a := m.Arch()
	s, warn, err := notes.Open(path, notes.Model{ID: id, Revision: rev, Hash: hash, Layers: a.Layers, Heads: a.Heads, Neurons: a.DFF, Vocab: a.Vocab})
	if err != nil {
		return nil, err
	}
	if warn != nil {
		view.ShowError(warn)
	}
	return &Notes{Store: s, Warning: warn, m: m}, nil
}

// Finding is a result that can back a note: a head's pairs or a neuron's
// columns.
type Finding interface {
	finding() (notes.Component, notes.Evidence, error)
}

func (r *PairResult) finding() (notes.Component, notes.Evidence, error) {
	if r.err != nil {
		return notes.Component{}, notes.Evidence{}, r.err
	}
	return notes.Head(r.Head, r.Kind), notes.FromPairTop(*r.PairTop, r.m.Vocab.Text), nil
}

func (r *NeuronResult) finding() (notes.Component, notes.Evidence, error) {
	if r.err != nil {
		return notes.Component{}, notes.Evidence{}, r.err
	}
	return notes.Neuron(r.Neuron, notes.BothParts), notes.FromNeuronTop(*r.NeuronTop, r.m.Vocab.Text), nil
}

// Label records what a result shows: a short label ("names, medicine"),
// free text and tags, with the result itself (its tokens or pairs, scores,
// k and exact filters) as evidence. The note is durable when Label returns.
func (n *Notes) Label(r Finding, label, text string, tags ...string) (notes.Note, error) {
	c, ev, err := r.finding()
	if err != nil {
		return notes.Note{}, err
	}
	return n.Add(notes.Note{Component: c, Label: label, Text: text, Tags: tags, Evidence: &ev})
}

// LabelHead records a finding about head layer.head's OV or QK view without
// evidence.
func (n *Notes) LabelHead(layer, head int, kind project.Kind, label, text string, tags ...string) (notes.Note, error) {
	return n.Add(notes.Note{Component: notes.Head(project.HeadID{Layer: layer, Head: head}, kind), Label: label, Text: text, Tags: tags})
}

// Table renders every note (or those matching q) as a table.
func (n *Notes) Table(q ...notes.Query) view.Renderable {
	var query notes.Query
	if len(q) > 0 {
		query = q[0]
	}
	list, err := n.List(query)
	if err != nil {
		return errorView{err}
	}
	return &notes.Table{Title: fmt.Sprintf("notes on %s (%d)", n.Model().ID, len(list)), Notes: list}
}

// HeadMap is the layer × head map of the model coloured by which views of
// each head are labelled, the labels in the tooltips.
func (n *Notes) HeadMap() view.Renderable {
	f, err := n.File()
	if err != nil {
		return errorView{err}
	}
	return f.HeadMap().Heatmap()
}

// NeuronMap shows how many neurons of each layer carry a note.
func (n *Notes) NeuronMap() view.Renderable {
	f, err := n.File()
	if err != nil {
		return errorView{err}
	}
	return f.NeuronMap()
}

// Markdown exports the notes as a Markdown document.
func (n *Notes) Markdown() (string, error) {
	f, err := n.File()
	if err != nil {
		return "", err
	}
	return f.Markdown(), nil
}
