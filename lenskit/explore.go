package lenskit

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// Explore opens an interactive explorer of m in the notebook cell that calls
// it: a map of the model (layers × heads, coloured by a statistic, with the
// neurons of each layer as a second map), selectors for the view (OV, QK or
// neuron), layer, head or neuron, k, top or bottom, the filters and — for
// models with rotary embeddings — the QK offset δ; the selected view's
// table and heatmap, redrawn in place on every selection; a form that
// records a finding about the selected component in the notes file, with the
// result shown as evidence exactly as Notes.Label records it; and a search
// from a token or word to the heads and neurons whose top k contain it.
//
// The explorer is built on GoNB's widgets and comms. A GoNB cell is one
// program, and the kernel runs one cell at a time, routing the page's
// messages only to the running cell's program: so the explorer serves the
// page until its Done button is pressed (or the kernel is interrupted), and
// cells run meanwhile wait their turn. When it ends it leaves its last state
// in the cell's output as static HTML, which a saved or exported notebook
// keeps.
//
// Where no browser can answer — nbconvert --execute, CI, a plain Go
// program — Explore shows that static state for the starting selection and
// returns at once. In a terminal it prints it as text.
//
// Explore never panics on bad input: a failed model, an option out of
// range or a bad entry in the form is reported in the explorer (or by the
// returned Explorer's Err) and the explorer keeps going.
func Explore(m *Model, opts ...ExploreOption) *Explorer {
	return explore(m, nil, opts)
}

// Explore opens the explorer (see the package function Explore) on the
// lens's model, starting from the lens's filters and weight processing: the
// lens's filters are one switch of the explorer ("lens: alnum+…"), on at
// the start, and the explorer's own switches narrow it further.
func (l *Lens) Explore(opts ...ExploreOption) *Explorer {
	if l.err != nil {
		e := &Explorer{err: l.err}
		e.Show()
		return e
	}
	return explore(l.m, l, opts)
}

// ExploreOption configures Explore.
type ExploreOption func(*exploreConfig)

type exploreConfig struct {
	filters []Filter
	notes   *Notes
	start   exploreState
	startOK map[string]bool // which parts of start were set
	stat    string
	wait    time.Duration
	errs    []error
}

// ExploreFilters sets the filters the explorer starts with. ASCII, Alnum,
// ExcludeSame, ExcludeFuzzy and CorpusTokens become switches of the
// explorer (on at the start; a CorpusTokens filter is the "corpus list"
// switch, which exists only when one is given). Other filters (Where,
// InList, NoBrackets, SeedASCII) and weight processing (FoldNorms, …)
// apply throughout, shown as fixed.
func ExploreFilters(filters ...Filter) ExploreOption {
	return func(c *exploreConfig) { c.filters = append(c.filters, filters...) }
}

// ExploreNotes records labels in n (default: the model's Notes("")).
func ExploreNotes(n *Notes) ExploreOption {
	return func(c *exploreConfig) { c.notes = n }
}

// ExploreHead starts at head layer.head's OV or QK view.
func ExploreHead(kind project.Kind, layer, head int) ExploreOption {
	return func(c *exploreConfig) {
		c.start.View = kind.String()
		c.start.Layer, c.start.Head = layer, head
		c.startOK["view"], c.startOK["head"] = true, true
	}
}

// ExploreNeuron starts at MLP neuron L<layer>/N<index>.
func ExploreNeuron(layer, index int) ExploreOption {
	return func(c *exploreConfig) {
		c.start.View = viewNeuron
		c.start.Layer, c.start.Neuron = layer, index
		c.startOK["view"], c.startOK["neuron"] = true, true
	}
}

// ExploreK sets k, the pairs or tokens per column shown (1..MaxExploreK;
// default 20).
func ExploreK(k int) ExploreOption {
	return func(c *exploreConfig) { c.start.K = k; c.startOK["k"] = true }
}

// ExploreMap sets the statistic the model map is coloured by: "notes"
// (which views carry a note; the default), "ov" or "qk" (the largest entry
// of each head's view under the current filters), "sigma-ov" or "sigma-qk"
// (the largest singular value of each head's view). Numeric statistics are
// computed in the background, with progress, and colour the neuron map by
// each neuron's largest score.
func ExploreMap(statistic string) ExploreOption {
	return func(c *exploreConfig) { c.stat = statistic }
}

// ExploreWait sets how long the explorer waits for the page to answer
// before it decides that no browser is watching and shows its static state
// (default 60 s: a page that has just opened may still be loading GoNB's
// widget scripts, and a busy machine is slower). It only applies where a
// notebook server runs the kernel; under nbconvert there is no page to
// wait for.
func ExploreWait(d time.Duration) ExploreOption {
	return func(c *exploreConfig) { c.wait = d }
}

// MaxExploreK is the largest k the explorer's slider offers.
const MaxExploreK = 100

// Explorer is an explorer that has ended: its last state, which it left in
// the notebook, and the first error that stopped it from starting.
type Explorer struct {
	x   *explorer
	err error
}

// Err reports why the explorer could not start (a failed model, a bad
// option), or nil.
func (e *Explorer) Err() error { return e.err }

// HTML is the explorer's last state as static HTML: the selection, the
// model map, the table and heatmap, the notes on the component.
func (e *Explorer) HTML() string {
	if e.err != nil {
		return view.ErrorHTML(e.err)
	}
	return e.x.staticHTML()
}

// String is the last state as text.
func (e *Explorer) String() string {
	if e.err != nil {
		return "error: " + e.err.Error() + "\n"
	}
	return e.x.staticText()
}

// Show displays the last state (HTML in a notebook, text elsewhere).
func (e *Explorer) Show() {
	if e.err != nil {
		view.ShowError(e.err)
		return
	}
	view.Show(e)
}

// Selection describes what the explorer showed last, e.g. "2.4 OV top 20 ·
// alnum".
func (e *Explorer) Selection() string {
	if e.err != nil {
		return ""
	}
	e.x.mu.Lock()
	defer e.x.mu.Unlock()
	return e.x.describe(e.x.st)
}

func explore(m *Model, base *Lens, opts []ExploreOption) *Explorer {
	if m.err != nil {
		e := &Explorer{err: m.err}
		e.Show()
		return e
	}
	x, err := newExplorer(m, base, opts)
	if err != nil {
		e := &Explorer{err: err}
		e.Show()
		return e
	}
	runExplorer(x, os.Stdout)
	return &Explorer{x: x}
}

// runTerminal prints the static state: where no notebook runs the program.
func runTerminal(x *explorer, w io.Writer) {
	x.handle()
	x.waitJob()
	s := x.staticText()
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	fmt.Fprint(w, s)
}
