package lenskit

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
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
// columns, with the component they are about.
type Finding interface {
	Finding() (notes.Component, notes.Evidence, error)
}

// Finding returns the head view the pairs come from and the pairs as
// evidence.
func (r *PairResult) Finding() (notes.Component, notes.Evidence, error) {
	if r.err != nil {
		return notes.Component{}, notes.Evidence{}, r.err
	}
	return notes.Head(r.Head, r.Kind), notes.FromPairTop(*r.PairTop, r.m.Vocab.Text), nil
}

// Finding returns the neuron (both sides) and its four columns as evidence.
func (r *NeuronResult) Finding() (notes.Component, notes.Evidence, error) {
	if r.err != nil {
		return notes.Component{}, notes.Evidence{}, r.err
	}
	return notes.Neuron(r.Neuron, notes.BothParts), notes.FromNeuronTop(*r.NeuronTop, r.m.Vocab.Text), nil
}

// Key narrows a neuron result to what its key reads (the K and −K
// columns; gate, up and their negatives for a gated MLP), for a note about
// that side only.
func (r *NeuronResult) Key() Finding { return neuronSide{r, notes.KeyPart} }

// Value narrows a neuron result to what its value writes (V and −V).
func (r *NeuronResult) Value() Finding { return neuronSide{r, notes.ValuePart} }

type neuronSide struct {
	r    *NeuronResult
	part notes.Part
}

func (s neuronSide) Finding() (notes.Component, notes.Evidence, error) {
	_, ev, err := s.r.Finding()
	if err != nil {
		return notes.Component{}, notes.Evidence{}, err
	}
	var cols [project.NumSides][]notes.ScoredToken
	for _, side := range s.r.Sides() {
		if side.Reads() == (s.part == notes.KeyPart) {
			cols[side] = ev.Columns[side]
		}
	}
	ev.Columns = cols
	return notes.Neuron(s.r.Neuron, s.part), ev, nil
}

// Label records what a result shows: a short label ("names, medicine"),
// free text and tags, with the result itself (its tokens or pairs, scores,
// k and exact filters) as evidence. The note is durable when Label returns.
//
// Label is idempotent, so a notebook can be re-run: when the component
// already has a note with this label, that note is updated if its text,
// tags or evidence changed and left alone otherwise.
func (n *Notes) Label(r Finding, label, text string, tags ...string) (notes.Note, error) {
	c, ev, err := r.Finding()
	if err != nil {
		return notes.Note{}, err
	}
	return n.upsert(notes.Note{Component: c, Label: label, Text: text, Tags: tags, Evidence: &ev})
}

func (n *Notes) upsert(want notes.Note) (notes.Note, error) {
	existing, err := n.List(notes.Query{Component: want.Component.String()})
	if err != nil {
		return notes.Note{}, err
	}
	for _, old := range existing {
		if old.Component != want.Component || old.Label != want.Label {
			continue
		}
		probe := old
		probe.Text, probe.Tags, probe.Evidence = want.Text, want.Tags, want.Evidence
		if sameNote(old, probe) {
			return old, nil
		}
		return n.Update(old.ID, func(o *notes.Note) error {
			o.Text, o.Tags, o.Evidence = want.Text, want.Tags, want.Evidence
			return nil
		})
	}
	return n.Add(want)
}

// sameNote compares the parts of two notes a re-run could change.
func sameNote(a, b notes.Note) bool {
	if a.Text != b.Text || !slices.Equal(sortedCopy(a.Tags), sortedCopy(b.Tags)) || (a.Evidence == nil) != (b.Evidence == nil) {
		return false
	}
	if a.Evidence == nil {
		return true
	}
	x, y := *a.Evidence, *b.Evidence
	x.Lenskit, y.Lenskit = "", ""
	return reflect.DeepEqual(normEvidence(x), normEvidence(y))
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// normEvidence makes empty and nil lists compare equal, as they do once
// stored.
func normEvidence(e notes.Evidence) notes.Evidence {
	if len(e.Pairs) == 0 {
		e.Pairs = nil
	}
	for i := range e.Columns {
		if len(e.Columns[i]) == 0 {
			e.Columns[i] = nil
		}
	}
	return e
}

// LabelHead records a finding about head layer.head's OV or QK view without
// evidence (idempotent like Label).
func (n *Notes) LabelHead(layer, head int, kind project.Kind, label, text string, tags ...string) (notes.Note, error) {
	return n.upsert(notes.Note{Component: notes.Head(project.HeadID{Layer: layer, Head: head}, kind), Label: label, Text: text, Tags: tags})
}

// Table renders every note (or those matching q) as a table.
func (n *Notes) Table(q ...notes.Query) Display {
	var query notes.Query
	if len(q) > 0 {
		query = q[0]
	}
	list, err := n.List(query)
	if err != nil {
		return Display{errorView{err}}
	}
	return Display{&notes.Table{Title: fmt.Sprintf("notes on %s (%d)", n.Model().ID, len(list)), Notes: list}}
}

// HeadMap is the layer × head map of the model coloured by which views of
// each head are labelled, the labels in the tooltips.
func (n *Notes) HeadMap() Display {
	f, err := n.File()
	if err != nil {
		return Display{errorView{err}}
	}
	return Display{f.HeadMap().Heatmap()}
}

// NeuronMap shows how many neurons of each layer carry a note.
func (n *Notes) NeuronMap() Display {
	f, err := n.File()
	if err != nil {
		return Display{errorView{err}}
	}
	return Display{f.NeuronMap()}
}

// Markdown exports the notes as a Markdown document.
func (n *Notes) Markdown() (string, error) {
	f, err := n.File()
	if err != nil {
		return "", err
	}
	return f.Markdown(), nil
}
