package lenskit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
)

// The explorer's core: its state, the events that change it, the caches of
// what it computed, the background work (map statistics, the neuron part of
// a search) and the form's write path. It renders into blocks of HTML
// through an exploreFront, which is GoNB in a notebook (explore_gonb.go) and
// a recorder in tests, so that everything here runs without a browser.

const (
	viewNeuron = "neuron"

	statNotes   = "notes"
	statOV      = "ov"
	statQK      = "qk"
	statSigmaOV = "sigma-ov"
	statSigmaQK = "sigma-qk"

	// Blocks of the explorer's output, top to bottom.
	blockControls = "controls"
	blockStatus   = "status"
	blockMap      = "map"
	blockResult   = "result"
	blockForm     = "form"
	blockSearch   = "search"
	blockSync     = "sync" // carries the selection to the page script

	// exploreHeatmapPairs is how many of the selected pairs the heatmap
	// draws: beyond about 30 tokens per axis a chart is unreadable and its
	// HTML (every cell with its exact score and tooltip) too large to
	// replace on every click.
	exploreHeatmapPairs = 30
	// neuronStrip is the most cells a layer's row of the neuron map has.
	neuronStrip = 128
	// maxHits is how many search hits of each kind are listed.
	maxHits = 40
	// maxQuoted is how many characters of a bad entry a message quotes.
	maxQuoted = 40
)

// exploreStats are the statistics the map can show, with their names in
// the selector.
var exploreStats = []struct{ key, label string }{
	{statNotes, "notes"},
	{statOV, "largest OV entry"},
	{statQK, "largest QK entry"},
	{statSigmaOV, "σ₁ of OV"},
	{statSigmaQK, "σ₁ of QK"},
}

var exploreViews = []string{"OV", "QK", viewNeuron}

// exploreState is what the explorer shows.
type exploreState struct {
	View   string // "OV", "QK" or viewNeuron
	Layer  int
	Head   int
	Neuron int
	K      int
	Bottom bool
	Offset int // QK offset δ (rotary models)
	Stat   string
	On     []bool // switches, indexed like explorer.toggles
}

func (s exploreState) clone() exploreState {
	s.On = slices.Clone(s.On)
	return s
}

func (s exploreState) kind() project.Kind {
	if s.View == "QK" {
		return project.QK
	}
	return project.OV
}

// exploreToggle is one filter switch.
type exploreToggle struct {
	key     string   // "lens", "ascii", "alnum", "corpus", "same", "fuzzy"
	label   string   // as shown
	filters []Filter // applied when on (none for the lens switch)
}

// exploreEvent is one thing that happened on the page. Numbers come as
// strings: they are typed by people and parsed here.
type exploreEvent struct {
	Ev      string `json:"ev"`
	Name    string `json:"name,omitempty"`  // widget or switch name
	Value   string `json:"value,omitempty"` // widget value
	On      bool   `json:"on,omitempty"`    // switch state
	View    string `json:"view,omitempty"`
	Layer   string `json:"layer,omitempty"`
	Index   string `json:"index,omitempty"`
	ID      string `json:"id,omitempty"` // note id (edit, save)
	Updated string `json:"updated,omitempty"`
	Label   string `json:"label,omitempty"`
	Text    string `json:"text,omitempty"`
	Tags    string `json:"tags,omitempty"`
	Part    string `json:"part,omitempty"`
	Q       string `json:"q,omitempty"`
	// Seq numbers the page's messages: GoNB may deliver them out of
	// order, and a later value of the same control wins.
	Seq int64 `json:"seq,omitempty"`
}

// exploreFront is where the explorer renders: a notebook page, or a test.
type exploreFront interface {
	// update replaces the content of one block of the explorer's output.
	update(block, html string)
	// sync tells the page the selection, and the widgets' values when the
	// selection changed other than through the widgets.
	sync(sel exploreSync)
}

// exploreSync is the selection as the page needs it: which map cells to
// outline, and the widgets' values (nil when the widgets are right).
type exploreSync struct {
	Head    string         // key of the selected head cell, "" if none
	Neuron  string         // key of the selected neuron bucket, "" if none
	Index   int            // neuron index for the number field
	Widgets map[string]int // widget name → value
}

type pairKey struct {
	lens        string
	kind        project.Kind
	layer, head int
	offset, k   int
	bottom      bool
}

type statKey struct {
	lens        string
	kind        project.Kind
	layer, head int
	offset      int
}

type layerKey struct {
	lens     string
	layer, k int
}

type neuronKey struct {
	lens            string
	layer, index, k int
}

// explorer is one running explorer.
type explorer struct {
	m      *Model
	id     string
	base   *Lens    // Lens.Explore's lens, or nil
	fixed  []Filter // filters that always apply
	wait   time.Duration
	rotary bool

	toggles []exploreToggle
	book    *Notes
	bookErr error
	front   exploreFront

	mu                          sync.Mutex // guards everything below
	st                          exploreState
	lenses                      map[string]*Lens
	pairs                       map[pairKey]*PairResult
	top1                        map[statKey]float64
	sigma                       map[statKey]float64
	neurons                     map[neuronKey]*NeuronResult
	layers                      map[layerKey][]*NeuronResult
	nstat                       map[layerKey][]float64 // per layer: each neuron's largest score (k = 0)
	msg                         string                 // message in the form
	msgErr                      bool
	editing                     *notes.Note  // note loaded into the form
	query                       string       // search
	nhits                       []exploreHit // neuron hits of the query, for the state searched
	searched                    string       // the state the neuron hits were computed for
	progress                    string       // background work in progress
	progressDone, progressTotal int
	lastSeq                     map[string]int64 // per control, the newest message applied
	took                        time.Duration    // computing the last selection
	handled                     time.Duration    // handling the last events, drawing included
	seq                         int
	done                        bool

	job     context.CancelFunc
	jobDone chan struct{}
	ticks   chan struct{}
}

func newExplorer(m *Model, base *Lens, opts []ExploreOption) (*explorer, error) {
	a := m.Arch()
	c := exploreConfig{startOK: map[string]bool{}, stat: statNotes, wait: 60 * time.Second}
	c.start.K = 20
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	x := &explorer{
		m: m, base: base, wait: c.wait, rotary: a.Rotary != nil,
		lenses: map[string]*Lens{}, pairs: map[pairKey]*PairResult{}, top1: map[statKey]float64{},
		sigma: map[statKey]float64{}, neurons: map[neuronKey]*NeuronResult{}, layers: map[layerKey][]*NeuronResult{},
		nstat: map[layerKey][]float64{}, ticks: make(chan struct{}, 1), lastSeq: map[string]int64{},
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	x.id = "lkx" + hex.EncodeToString(b[:])

	// Switches: the lens, then the filters every explorer offers, then the
	// corpus list when one was given.
	if base != nil {
		x.toggles = append(x.toggles, exploreToggle{key: "lens", label: "lens: " + base.Filter()})
	}
	x.toggles = append(x.toggles,
		exploreToggle{key: "ascii", label: "ASCII", filters: []Filter{ASCII()}},
		exploreToggle{key: "alnum", label: "Alnum", filters: []Filter{Alnum()}},
	)
	corpusAt := -1
	on := map[string]bool{"lens": base != nil}
	for _, f := range c.filters {
		switch {
		case f.name == "":
			return nil, fmt.Errorf("lenskit: Explore: zero Filter value (use lenskit.Alnum(), lenskit.ASCII(), …)")
		case f.proc != nil:
			x.fixed = append(x.fixed, f)
		case f.name == ASCII().name:
			on["ascii"] = true
		case f.name == Alnum().name:
			on["alnum"] = true
		case f.name == ExcludeSame().name:
			on["same"] = true
		case f.name == ExcludeFuzzy().name:
			on["fuzzy"] = true
		case strings.HasPrefix(f.name, "corpus(") && f.token != nil && corpusAt < 0:
			corpusAt = len(x.toggles)
			x.toggles = append(x.toggles, exploreToggle{key: "corpus", label: "corpus list " + strings.TrimSuffix(strings.TrimPrefix(f.name, "corpus("), ")"), filters: []Filter{f}})
			on["corpus"] = true
		default:
			x.fixed = append(x.fixed, f)
		}
	}
	x.toggles = append(x.toggles,
		exploreToggle{key: "same", label: "exclude same", filters: []Filter{ExcludeSame()}},
		exploreToggle{key: "fuzzy", label: "exclude fuzzy", filters: []Filter{ExcludeFuzzy()}},
	)

	st := exploreState{View: "OV", K: c.start.K, Stat: c.stat}
	if c.startOK["view"] {
		st.View = c.start.View
		st.Layer, st.Head, st.Neuron = c.start.Layer, c.start.Head, c.start.Neuron
	}
	for _, t := range x.toggles {
		st.On = append(st.On, on[t.key])
	}
	var problems []string
	if st.Layer < 0 || st.Layer >= a.Layers {
		problems = append(problems, fmt.Sprintf("layer %d out of range 0..%d", st.Layer, a.Layers-1))
		st.Layer = 0
	}
	if st.Head < 0 || st.Head >= a.Heads {
		problems = append(problems, fmt.Sprintf("head %d out of range 0..%d", st.Head, a.Heads-1))
		st.Head = 0
	}
	if st.Neuron < 0 || st.Neuron >= a.DFF {
		problems = append(problems, fmt.Sprintf("neuron %d out of range 0..%d", st.Neuron, a.DFF-1))
		st.Neuron = 0
	}
	if st.K < 1 || st.K > MaxExploreK {
		problems = append(problems, fmt.Sprintf("k = %d, want 1..%d", st.K, MaxExploreK))
		st.K = min(max(st.K, 1), MaxExploreK)
	}
	if !slices.ContainsFunc(exploreStats, func(s struct{ key, label string }) bool { return s.key == st.Stat }) {
		problems = append(problems, fmt.Sprintf("unknown map statistic %s (want notes, ov, qk, sigma-ov or sigma-qk)", quote(st.Stat)))
		st.Stat = statNotes
	}
	x.st = st
	if len(problems) > 0 {
		x.msg, x.msgErr = "explorer options: "+strings.Join(problems, "; "), true
	}
	if c.notes != nil {
		x.book = c.notes
	} else {
		x.book, x.bookErr = m.Notes("")
	}
	return x, nil
}

// quote shortens and escapes a value from the page for a message: at most
// maxQuoted characters, invalid UTF-8 and control characters escaped.
func quote(s string) string {
	n, cut := 0, false
	for i := range s {
		if n == maxQuoted {
			s, cut = s[:i], true
			break
		}
		n++
	}
	q := strconv.Quote(s)
	if cut {
		q += "…"
	}
	return q
}

// lensFor returns the lens the switches select, made once per combination.
func (x *explorer) lensFor(on []bool) (*Lens, error) {
	key := fmt.Sprint(on)
	x.mu.Lock()
	l, ok := x.lenses[key]
	x.mu.Unlock()
	if ok {
		return l, l.err
	}
	fs := slices.Clone(x.fixed)
	useBase := false
	for i, t := range x.toggles {
		if i < len(on) && on[i] {
			if t.key == "lens" {
				useBase = true
			}
			fs = append(fs, t.filters...)
		}
	}
	r, err := x.m.resolve(fs)
	if err == nil && x.base != nil {
		b := x.base.f
		r.proc = Processed(b.proc).apply(r.proc)
		if useBase {
			r.ids = intersectIDs(b.ids, r.ids)
			r.exclude = anyExclude(b.exclude, r.exclude)
			r.desc = joinDesc(b.desc, r.desc)
		}
	}
	l = &Lens{m: x.m, f: r, err: err}
	if err == nil {
		l.sp, l.err = x.m.space(r.proc)
	}
	x.mu.Lock()
	x.lenses[key] = l
	x.mu.Unlock()
	return l, l.err
}

// apply merges the processing of a Processed filter into p.
func (f Filter) apply(p project.Processing) project.Processing {
	if f.proc != nil {
		f.proc(&p)
	}
	return p
}

// intersectIDs intersects two ascending id lists; nil means every token.
func intersectIDs(a, b []int) []int {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []int{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

func anyExclude(a, b func(x, y int) bool) func(x, y int) bool {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(x, y int) bool { return a(x, y) || b(x, y) }
}

func joinDesc(a, b string) string {
	switch {
	case a == "all" || a == "":
		return b
	case b == "all" || b == "":
		return a
	}
	return a + "+" + b
}

// lensKey identifies what a lens computes: its filters and processing.
func lensKey(l *Lens) string { return l.f.desc + "|" + l.f.proc.String() }

// offsetFor is the offset a view is computed at: δ for QK on rotary models.
func (x *explorer) offsetFor(kind project.Kind, st exploreState) int {
	if kind == project.QK && x.rotary {
		return st.Offset
	}
	return 0
}

// pairResult returns (computing once) a head view's top or bottom k pairs.
func (x *explorer) pairResult(l *Lens, kind project.Kind, layer, head, offset, k int, bottom bool) *PairResult {
	key := pairKey{lensKey(l), kind, layer, head, offset, k, bottom}
	x.mu.Lock()
	r, ok := x.pairs[key]
	x.mu.Unlock()
	if ok {
		return r
	}
	q := &HeadQuery{l: l, kind: kind, layer: layer, head: head, offset: offset}
	if bottom {
		r = q.Bottom(k)
	} else {
		r = q.Top(k)
	}
	x.mu.Lock()
	x.pairs[key] = r
	if r.err == nil && !bottom && len(r.Pairs) > 0 {
		x.top1[statKey{key.lens, kind, layer, head, offset}] = float64(r.Pairs[0].Score)
	}
	x.mu.Unlock()
	return r
}

// neuronResult returns (computing once) a neuron's columns.
func (x *explorer) neuronResult(l *Lens, layer, index, k int) *NeuronResult {
	key := neuronKey{lensKey(l), layer, index, k}
	x.mu.Lock()
	r, ok := x.neurons[key]
	if !ok {
		if rs, ok := x.layers[layerKey{key.lens, layer, k}]; ok && index >= 0 && index < len(rs) {
			r = rs[index]
		}
	}
	x.mu.Unlock()
	if r != nil {
		return r
	}
	r = l.Neuron(layer, index).Top(k)
	x.mu.Lock()
	x.neurons[key] = r
	x.mu.Unlock()
	return r
}

// neuronMax is a neuron's largest score over its columns (NaN if none).
func neuronMax(r *NeuronResult) float64 {
	best := math.NaN()
	if r == nil || r.err != nil {
		return best
	}
	for _, s := range r.Sides() {
		if c := r.Columns[s]; len(c) > 0 && (math.IsNaN(best) || float64(c[0].Score) > best) {
			best = float64(c[0].Score)
		}
	}
	return best
}

// layerNeurons returns (computing once) every neuron of a layer at k, in
// one pass (Lens.Neurons), and records each neuron's largest score.
func (x *explorer) layerNeurons(l *Lens, layer, k int) ([]*NeuronResult, error) {
	key := layerKey{lensKey(l), layer, k}
	x.mu.Lock()
	rs, ok := x.layers[key]
	x.mu.Unlock()
	if ok {
		return rs, nil
	}
	rs, err := l.Neurons(layer, k)
	if err != nil {
		return nil, err
	}
	best := make([]float64, len(rs))
	for i, r := range rs {
		best[i] = neuronMax(r)
	}
	x.mu.Lock()
	x.layers[key] = rs
	x.nstat[layerKey{key.lens, layer, 0}] = best
	x.mu.Unlock()
	return rs, nil
}

// selection is the current component's result: a *PairResult or a
// *NeuronResult, or the error that prevented it.
func (x *explorer) selection(st exploreState) (Finding, error) {
	l, err := x.lensFor(st.On)
	if err != nil {
		return nil, err
	}
	if st.View == viewNeuron {
		r := x.neuronResult(l, st.Layer, st.Neuron, st.K)
		return r, r.err
	}
	kind := st.kind()
	r := x.pairResult(l, kind, st.Layer, st.Head, x.offsetFor(kind, st), st.K, st.Bottom)
	return r, r.err
}

// describe names the selection: "2.4 OV top 20 · alnum".
func (x *explorer) describe(st exploreState) string {
	var s string
	if st.View == viewNeuron {
		s = project.NeuronID{Layer: st.Layer, Index: st.Neuron}.String() + fmt.Sprintf(" top %d", st.K)
	} else {
		s = project.HeadID{Layer: st.Layer, Head: st.Head}.String() + " " + st.View
		if off := x.offsetFor(st.kind(), st); off != 0 {
			s += fmt.Sprintf(" δ=%d", off)
		}
		if st.Bottom {
			s += fmt.Sprintf(" bottom %d", st.K)
		} else {
			s += fmt.Sprintf(" top %d", st.K)
		}
	}
	if l, err := x.lensFor(st.On); err == nil {
		s += " · " + l.Filter()
		if p := l.f.proc.String(); p != "" {
			s += " · " + p
		}
	}
	return s
}

// component is the notes component of the selection (a neuron's both
// parts).
func (x *explorer) component(st exploreState) notes.Component {
	if st.View == viewNeuron {
		return notes.Neuron(project.NeuronID{Layer: st.Layer, Index: st.Neuron}, notes.BothParts)
	}
	return notes.Head(project.HeadID{Layer: st.Layer, Head: st.Head}, st.kind())
}

// --- events ---------------------------------------------------------------

// dirty says which blocks an event changed.
type dirty struct {
	result, form, mapb, search, sync, widgets bool
}

func (d *dirty) selection() { d.result, d.form, d.sync = true, true, true }

// parseIndex reads a number typed on the page, within [0, n).
func parseIndex(what, s string, n int) (int, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %s is not a whole number", what, quote(s))
	}
	if v < 0 || v >= n {
		return 0, fmt.Errorf("%s %d out of range: want 0..%d", what, v, n-1)
	}
	return v, nil
}

// setMsg shows a message in the form.
func (x *explorer) setMsg(err bool, format string, args ...any) {
	x.msg, x.msgErr = fmt.Sprintf(format, args...), err
}

// apply changes the state for one event and says what to redraw. It runs
// with x.mu held; it computes nothing expensive.
func (x *explorer) apply(ev exploreEvent, d *dirty) (save *exploreEvent) {
	a := x.m.Arch()
	st := &x.st
	switch ev.Ev {
	case "hello":
	case "done":
		x.done = true
	case "widget":
		v, err := strconv.Atoi(strings.TrimSpace(ev.Value))
		if err != nil {
			x.setMsg(true, "widget %s: value %s is not a number", quote(ev.Name), quote(ev.Value))
			d.form = true
			return nil
		}
		x.applyWidget(ev.Name, v, d)
	case "head", "hit", "neuron":
		view := ev.View
		switch ev.Ev {
		case "head":
			view = st.View
			if view == viewNeuron {
				view = "OV"
				if st.Stat == statQK || st.Stat == statSigmaQK {
					view = "QK"
				}
			}
		case "neuron":
			view = viewNeuron
		}
		if !slices.Contains(exploreViews, view) {
			x.setMsg(true, "unknown view %s (want OV, QK or neuron)", quote(view))
			d.form = true
			return nil
		}
		layer := st.Layer
		if strings.TrimSpace(ev.Layer) != "" {
			l, err := parseIndex("layer", ev.Layer, a.Layers)
			if err != nil {
				x.setMsg(true, "%v", err)
				d.form = true
				return nil
			}
			layer = l
		}
		n, what := a.Heads, "head"
		if view == viewNeuron {
			n, what = a.DFF, fmt.Sprintf("neuron index (layer %d)", layer)
		}
		i, err := parseIndex(what, ev.Index, n)
		if err != nil {
			x.setMsg(true, "%v", err)
			d.form, d.sync = true, true // the number field goes back to the selection
			return nil
		}
		st.View, st.Layer = view, layer
		if view == viewNeuron {
			st.Neuron = i
		} else {
			st.Head = i
		}
		x.editing, x.msg = nil, ""
		d.selection()
		d.widgets = true
	case "toggle":
		i := slices.IndexFunc(x.toggles, func(t exploreToggle) bool { return t.key == ev.Name })
		if i < 0 {
			x.setMsg(true, "unknown filter switch %s", quote(ev.Name))
			d.form = true
			return nil
		}
		st.On[i] = ev.On
		d.selection()
		d.mapb, d.search = true, true
	case "edit":
		n, err := x.bookNote(ev.ID)
		if err != nil {
			x.setMsg(true, "%v", err)
		} else {
			x.editing, x.msg = &n, ""
		}
		d.form = true
	case "new":
		x.editing, x.msg = nil, ""
		d.form = true
	case "save":
		e := ev
		return &e
	case "search":
		x.query = ev.Q
		d.search = true
	default:
		x.setMsg(true, "unknown event %s", quote(ev.Ev))
		d.form = true
	}
	return nil
}

// applyWidget applies a widget's new value.
func (x *explorer) applyWidget(name string, v int, d *dirty) {
	a := x.m.Arch()
	st := &x.st
	bad := func(want string) {
		x.setMsg(true, "%s: value %d out of range (%s)", name, v, want)
		d.form, d.sync, d.widgets = true, true, true
	}
	switch name {
	case "view":
		if v < 0 || v >= len(exploreViews) {
			bad("0..2")
			return
		}
		if st.View == exploreViews[v] {
			return
		}
		st.View = exploreViews[v]
	case "layer":
		if v < 0 || v >= a.Layers {
			bad(fmt.Sprintf("0..%d", a.Layers-1))
			return
		}
		if st.Layer == v {
			return
		}
		st.Layer = v
		if st.View == viewNeuron {
			d.sync = true
		}
	case "head":
		if v < 0 || v >= a.Heads {
			bad(fmt.Sprintf("0..%d", a.Heads-1))
			return
		}
		if st.Head == v && st.View != viewNeuron {
			return
		}
		st.Head = v
		if st.View == viewNeuron {
			st.View = "OV"
			d.widgets = true
		}
	case "k":
		if v < 1 || v > MaxExploreK {
			bad(fmt.Sprintf("1..%d", MaxExploreK))
			return
		}
		if st.K == v {
			return
		}
		st.K = v
		d.result, d.search = true, true
		return
	case "order":
		if st.Bottom == (v == 1) {
			return
		}
		st.Bottom = v == 1
		d.result, d.search = true, true
		return
	case "offset":
		if !x.rotary {
			return
		}
		if st.Offset == v {
			return
		}
		st.Offset = v
		if st.View == "QK" {
			d.selection()
		}
		if st.Stat == statQK || st.Stat == statSigmaQK {
			d.mapb = true
		}
		d.search = true
		return
	case "stat":
		if v < 0 || v >= len(exploreStats) {
			bad(fmt.Sprintf("0..%d", len(exploreStats)-1))
			return
		}
		st.Stat = exploreStats[v].key
		d.mapb = true
		return
	default:
		x.setMsg(true, "unknown widget %s", quote(name))
		d.form = true
		return
	}
	x.editing, x.msg = nil, ""
	d.selection()
}

// widgetValues are the widgets' values for st.
func (x *explorer) widgetValues(st exploreState) map[string]int {
	w := map[string]int{
		"view": slices.Index(exploreViews, st.View), "layer": st.Layer, "head": st.Head, "k": st.K,
		"order": 0, "stat": slices.IndexFunc(exploreStats, func(s struct{ key, label string }) bool { return s.key == st.Stat }),
	}
	if st.Bottom {
		w["order"] = 1
	}
	if x.rotary {
		w["offset"] = st.Offset
	}
	return w
}

// handle applies events and redraws what they changed: the selection's
// result is computed here, synchronously; long work (map statistics, the
// neuron part of a search) restarts in the background afterwards.
func (x *explorer) handle(evs ...exploreEvent) {
	start := time.Now()
	x.stopJob()
	var d dirty
	var saves []exploreEvent
	x.mu.Lock()
	if x.seq == 0 {
		d = dirty{result: true, form: true, mapb: true, search: true, sync: true, widgets: false}
	}
	for _, ev := range evs {
		if x.stale(ev) {
			continue
		}
		if s := x.apply(ev, &d); s != nil {
			saves = append(saves, *s)
		}
	}
	x.seq++
	st := x.st.clone()
	x.mu.Unlock()

	for _, s := range saves {
		if x.save(st, s) {
			d.mapb = true
		}
		d.form = true
	}
	if d.result {
		start := time.Now()
		r, err := x.selection(st)
		took := time.Since(start)
		x.mu.Lock()
		x.took = took
		x.mu.Unlock()
		x.front.update(blockResult, x.resultHTML(st, r, err))
	}
	if d.mapb {
		x.front.update(blockMap, x.mapHTML(st))
	}
	if d.form {
		x.front.update(blockForm, x.formHTML(st))
	}
	if d.search || d.result {
		// Head hits come from what has been computed so far, which the
		// selection may just have extended.
		x.front.update(blockSearch, x.searchHTML(st))
	}
	if d.sync {
		x.front.sync(x.syncOf(st, d.widgets))
	}
	x.mu.Lock()
	x.handled = time.Since(start)
	x.mu.Unlock()
	x.front.update(blockStatus, x.statusHTML(st))
	if !x.isDone() {
		x.startJob(st)
	}
}

// stale reports whether a newer message about the same control has been
// applied already (x.mu held). Saves and edits are never stale.
func (x *explorer) stale(ev exploreEvent) bool {
	if ev.Seq <= 0 {
		return false
	}
	var key string
	switch ev.Ev {
	case "widget", "toggle":
		key = ev.Ev + ":" + ev.Name
	case "head", "neuron", "hit":
		key = "select"
	case "search":
		key = "search"
	default:
		return false
	}
	if ev.Seq <= x.lastSeq[key] {
		return true
	}
	x.lastSeq[key] = ev.Seq
	return false
}

func (x *explorer) isDone() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.done
}

func (x *explorer) syncOf(st exploreState, widgets bool) exploreSync {
	s := exploreSync{Index: st.Neuron}
	if st.View == viewNeuron {
		s.Neuron = neuronCellKey(st.Layer, bucketOf(st.Neuron, x.m.Arch().DFF))
	} else {
		s.Head = headCellKey(st.Layer, st.Head)
	}
	if widgets {
		s.Widgets = x.widgetValues(st)
	}
	return s
}

// --- the form ---------------------------------------------------------------

// bookNote reads note id from the notes file as it is now.
func (x *explorer) bookNote(id string) (notes.Note, error) {
	if x.book == nil {
		return notes.Note{}, x.bookErr
	}
	return x.book.Get(id)
}

// componentNotes lists the notes on the selected component as they are in
// the file now (a neuron's notes of every part).
func (x *explorer) componentNotes(st exploreState) ([]notes.Note, error) {
	if x.book == nil {
		return nil, x.bookErr
	}
	c := x.component(st)
	pattern := c.String()
	if c.Kind == notes.NeuronKind {
		pattern = c.NeuronID().String()
	}
	return x.book.List(notes.Query{Component: pattern})
}

// checkForm checks what was typed into the form, the way the notes file
// will check it, so that a bad entry gets a message naming the field
// instead of a refused write.
func checkForm(ev exploreEvent) (label, text string, tags []string, err error) {
	if !utf8.ValidString(ev.Label) {
		return "", "", nil, fmt.Errorf("the label is not valid UTF-8: %s", quote(ev.Label))
	}
	label = strings.TrimSpace(ev.Label)
	switch n := utf8.RuneCountInString(label); {
	case n == 0:
		return "", "", nil, errors.New("the label is empty: give the finding a short name")
	case n > notesMaxLabel:
		return "", "", nil, fmt.Errorf("the label is %d characters, more than %d: put the details in the text (it starts %s)", n, notesMaxLabel, quote(label))
	case strings.ContainsFunc(label, unicode.IsControl):
		return "", "", nil, fmt.Errorf("the label %s has a line break or another control character: a label is one line", quote(label))
	}
	if !utf8.ValidString(ev.Text) {
		bad := 0
		for i, r := range ev.Text {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(ev.Text[i:]); size == 1 {
					bad = i
					break
				}
			}
		}
		return "", "", nil, fmt.Errorf("the text is not valid UTF-8 (byte %d: %s)", bad, quote(ev.Text[bad:]))
	}
	if len(ev.Text) > notesMaxText {
		return "", "", nil, fmt.Errorf("the text is %d bytes, more than %d", len(ev.Text), notesMaxText)
	}
	text = ev.Text
	if !utf8.ValidString(ev.Tags) {
		return "", "", nil, fmt.Errorf("the tags are not valid UTF-8: %s", quote(ev.Tags))
	}
	for _, t := range strings.Split(ev.Tags, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if n := utf8.RuneCountInString(t); n > notesMaxTag {
			return "", "", nil, fmt.Errorf("the tag %s is %d characters, more than %d", quote(t), n, notesMaxTag)
		}
		tags = append(tags, t)
	}
	if len(tags) > notesMaxTags {
		return "", "", nil, fmt.Errorf("%d tags, more than %d", len(tags), notesMaxTags)
	}
	return label, text, tags, nil
}

// The notes file's limits (package notes checks them again on write).
const (
	notesMaxLabel = 200
	notesMaxText  = 64 << 10
	notesMaxTag   = 64
	notesMaxTags  = 64
)

// save records the form: a new note (or the note with the same label on
// the component) exactly as Notes.Label records it, or an edit of the note
// loaded into the form. Every write goes through the notes store, which
// locks the file and re-reads it, so a note another kernel wrote meanwhile
// is kept; an edit of a note another kernel changed after it was loaded is
// refused with a message. It reports whether the file changed.
func (x *explorer) save(st exploreState, ev exploreEvent) bool {
	fail := func(format string, args ...any) bool {
		x.mu.Lock()
		x.setMsg(true, format, args...)
		x.mu.Unlock()
		return false
	}
	if x.book == nil {
		return fail("cannot save: the notes file did not open: %v", x.bookErr)
	}
	label, text, tags, err := checkForm(ev)
	if err != nil {
		return fail("not saved: %v", err)
	}
	r, err := x.selection(st)
	if err != nil {
		return fail("not saved: %s has no result to record: %v", x.describe(st), err)
	}
	f := r
	if nr, ok := r.(*NeuronResult); ok {
		switch strings.TrimSpace(ev.Part) {
		case "", "K+V":
		case "K":
			f = nr.Key()
		case "V":
			f = nr.Value()
		default:
			return fail("not saved: unknown neuron part %s (want K+V, K or V)", quote(ev.Part))
		}
	}
	var n notes.Note
	if id := strings.TrimSpace(ev.ID); id != "" {
		c, evidence, err := f.Finding()
		if err != nil {
			return fail("not saved: %v", err)
		}
		var changed bool
		n, err = x.book.Update(id, func(old *notes.Note) error {
			if ev.Updated != "" && old.Updated.Format(time.RFC3339) != ev.Updated {
				changed = true
				return fmt.Errorf("note %s was changed elsewhere (at %s) after it was loaded into the form", id, old.Updated.Format(time.RFC3339))
			}
			old.Component, old.Label, old.Text, old.Tags, old.Evidence = c, label, text, tags, &evidence
			return nil
		})
		if err != nil {
			if changed {
				if cur, gerr := x.book.Get(id); gerr == nil {
					x.mu.Lock()
					x.editing = &cur
					x.mu.Unlock()
				}
				return fail("not saved: %v; it is shown as it is now — edit and save again", err)
			}
			return fail("not saved: %v", err)
		}
	} else {
		n, err = x.book.Label(f, label, text, tags...)
		if err != nil {
			return fail("not saved: %v", err)
		}
	}
	x.mu.Lock()
	x.editing = &n
	x.setMsg(false, "saved note %s on %s: %s (evidence: %s)", n.ID, n.Component, quote(n.Label), evidenceLine(n.Evidence))
	x.mu.Unlock()
	return true
}

func evidenceLine(e *notes.Evidence) string {
	if e == nil {
		return "none"
	}
	var what string
	if len(e.Pairs) > 0 {
		what = fmt.Sprintf("%d pairs", len(e.Pairs))
	} else {
		n := 0
		for _, c := range e.Columns {
			n += len(c)
		}
		what = fmt.Sprintf("%d tokens", n)
	}
	s := fmt.Sprintf("%s, k %d, filter %s", what, e.K, e.Filter)
	if e.Offset != 0 {
		s += fmt.Sprintf(", δ=%d", e.Offset)
	}
	if e.Processing != "" {
		s += ", " + e.Processing
	}
	return s
}

// --- search -------------------------------------------------------------------

// exploreHit is one search result: a head view or a neuron column whose
// top k contain the token.
type exploreHit struct {
	View        string // "OV", "QK", or a neuron side ("K", "V", "-K", "gate", …)
	Layer       int
	Index       int // head or neuron
	Offset      int
	Rank        int // 1-based
	Score       float32
	Source, Tgt int // pairs: the pair's tokens; neurons: Source is the token
}

// searchTokens are the ids the query names: tokens whose form (trimmed,
// lowercased text) is the query's, or the raw vocabulary entry.
func (x *explorer) searchTokens(q string) []int {
	v := x.m.Vocab
	form := strings.ToLower(strings.TrimSpace(q))
	var ids []int
	if form == "" {
		return nil
	}
	for id := range v.Len() {
		if v.Form(id) == form {
			ids = append(ids, id)
		}
	}
	if id, ok := v.ID(q); ok && !slices.Contains(ids, id) {
		ids = append(ids, id)
		slices.Sort(ids)
	}
	return ids
}

// headHits searches the head views computed so far under the current
// filters and order: every cached result whose first k pairs contain one
// of the query's tokens. It runs with x.mu held.
func (x *explorer) headHits(st exploreState) []exploreHit {
	ids := x.searchTokens(x.query)
	if len(ids) == 0 {
		return nil
	}
	l := x.lenses[fmt.Sprint(st.On)]
	if l == nil || l.err != nil {
		return nil
	}
	lk := lensKey(l)
	best := map[[4]int]exploreHit{}
	for key, r := range x.pairs {
		if key.lens != lk || key.bottom != st.Bottom || r.err != nil || key.offset != x.offsetFor(key.kind, st) {
			continue
		}
		for i, p := range r.Pairs[:min(len(r.Pairs), st.K)] {
			if slices.Contains(ids, p.Source) || slices.Contains(ids, p.Target) {
				k := [4]int{int(key.kind), key.layer, key.head, 0}
				if h, ok := best[k]; !ok || i+1 < h.Rank {
					best[k] = exploreHit{View: key.kind.String(), Layer: key.layer, Index: key.head, Offset: key.offset,
						Rank: i + 1, Score: p.Score, Source: p.Source, Tgt: p.Target}
				}
				break
			}
		}
	}
	var hits []exploreHit
	for _, h := range best {
		hits = append(hits, h)
	}
	sortHits(hits)
	return hits
}

func sortHits(hits []exploreHit) {
	slices.SortFunc(hits, func(a, b exploreHit) int {
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		if a.Layer != b.Layer {
			return a.Layer - b.Layer
		}
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.View, b.View)
	})
}

// neuronHits finds, exactly, every neuron column of the model whose top k
// contain one of the query's tokens, from each layer's projection at k
// (computed once per layer, filters and k).
func (x *explorer) neuronHits(ctx context.Context, st exploreState, l *Lens, ids []int) ([]exploreHit, bool) {
	a := x.m.Arch()
	var hits []exploreHit
	for layer := range a.Layers {
		if ctx.Err() != nil {
			return nil, false
		}
		x.setProgress(fmt.Sprintf("search %s: neurons of layer %d of %d", quote(x.queryNow()), layer+1, a.Layers), layer, a.Layers)
		rs, err := x.layerNeurons(l, layer, st.K)
		if err != nil {
			x.setProgress("search: "+err.Error(), 0, 0)
			return nil, false
		}
		for i, r := range rs {
			for _, side := range r.Sides() {
				for rank, t := range r.Columns[side] {
					if slices.Contains(ids, t.ID) {
						hits = append(hits, exploreHit{View: side.String(), Layer: layer, Index: i, Rank: rank + 1, Score: t.Score, Source: t.ID})
						break
					}
				}
			}
		}
		x.tick()
	}
	sortHits(hits)
	return hits, true
}

func (x *explorer) queryNow() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.query
}

// --- background work ------------------------------------------------------------

// setProgress describes the background work in progress: done of total
// units (0, 0 for none).
func (x *explorer) setProgress(s string, done, total int) {
	x.mu.Lock()
	x.progress, x.progressDone, x.progressTotal = s, done, total
	x.mu.Unlock()
}

// tick tells the event loop that background work has something new.
func (x *explorer) tick() {
	select {
	case x.ticks <- struct{}{}:
	default:
	}
}

// stopJob cancels the background work; the unit in flight (one head view,
// one layer of neurons) finishes and is cached, then the job ends.
func (x *explorer) stopJob() {
	if x.job != nil {
		x.job()
		x.job = nil
	}
}

// waitJob waits until the background work has ended (tests, the terminal).
func (x *explorer) waitJob() {
	if x.jobDone != nil {
		<-x.jobDone
	}
}

// startJob starts the background work st needs: the neuron part of a
// pending search, then the map statistic. A new job waits for the previous
// one's unit in flight, so no unit is computed twice.
func (x *explorer) startJob(st exploreState) {
	ctx, cancel := context.WithCancel(context.Background())
	prev := x.jobDone
	done := make(chan struct{})
	x.job, x.jobDone = cancel, done
	go func() {
		defer close(done)
		defer x.tick()
		if prev != nil {
			<-prev
		}
		if ctx.Err() != nil {
			return
		}
		l, err := x.lensFor(st.On)
		if err != nil {
			return
		}
		x.searchJob(ctx, st, l)
		x.mapJob(ctx, st, l)
		if ctx.Err() == nil {
			x.setProgress("", 0, 0)
		}
	}()
}

// searchKey identifies what a search's neuron hits were computed for.
func searchKey(q string, st exploreState, l *Lens) string {
	return fmt.Sprintf("%q|%s|%d|%v", q, lensKey(l), st.K, st.Bottom)
}

func (x *explorer) searchJob(ctx context.Context, st exploreState, l *Lens) {
	q := x.queryNow()
	ids := x.searchTokens(q)
	key := searchKey(q, st, l)
	x.mu.Lock()
	current := x.searched == key
	x.mu.Unlock()
	if len(ids) == 0 || current {
		return
	}
	nh, ok := x.neuronHits(ctx, st, l, ids)
	if !ok {
		return
	}
	x.mu.Lock()
	if x.query == q {
		x.nhits, x.searched = nh, key
	}
	x.mu.Unlock()
	x.tick()
}

// mapJob computes the map statistic for every head, then each layer's
// neuron statistic, skipping what is cached.
func (x *explorer) mapJob(ctx context.Context, st exploreState, l *Lens) {
	a := x.m.Arch()
	var kind project.Kind
	switch st.Stat {
	case statOV, statSigmaOV:
		kind = project.OV
	case statQK, statSigmaQK:
		kind = project.QK
	default:
		return
	}
	offset := x.offsetFor(kind, st)
	sigma := st.Stat == statSigmaOV || st.Stat == statSigmaQK
	lk := lensKey(l)
	done := 0
	for layer := range a.Layers {
		for head := range a.Heads {
			if ctx.Err() != nil {
				return
			}
			key := statKey{lk, kind, layer, head, offset}
			if sigma {
				key.lens = l.f.proc.String()
			}
			x.mu.Lock()
			_, have := x.top1[key]
			if sigma {
				_, have = x.sigma[key]
			}
			x.mu.Unlock()
			done++
			if have {
				continue
			}
			x.setProgress(fmt.Sprintf("map: %s — head %d.%d (%d of %d)", statLabel(st.Stat), layer, head, done, a.Layers*a.Heads), done-1, a.Layers*a.Heads)
			if sigma {
				v, err := (&HeadQuery{l: l, kind: kind, layer: layer, head: head, offset: offset}).View()
				s := math.NaN()
				if err == nil {
					if sv := v.Singular(); len(sv) > 0 {
						s = sv[0]
					}
				}
				x.mu.Lock()
				x.sigma[key] = s
				x.mu.Unlock()
			} else {
				r := x.pairResult(l, kind, layer, head, offset, 1, false)
				if r.err != nil || len(r.Pairs) == 0 {
					x.mu.Lock()
					x.top1[key] = math.NaN()
					x.mu.Unlock()
				}
			}
			x.tick()
		}
	}
	for layer := range a.Layers {
		if ctx.Err() != nil {
			return
		}
		x.mu.Lock()
		_, have := x.nstat[layerKey{lk, layer, 0}]
		x.mu.Unlock()
		if have {
			continue
		}
		x.setProgress(fmt.Sprintf("map: neurons of layer %d of %d", layer+1, a.Layers), layer, a.Layers)
		if _, err := x.layerNeurons(l, layer, 1); err != nil {
			x.setProgress("map: "+err.Error(), 0, 0)
			return
		}
		x.tick()
	}
}

func statLabel(key string) string {
	for _, s := range exploreStats {
		if s.key == key {
			return s.label
		}
	}
	return key
}

// refresh redraws what background work changed (the loop calls it on
// ticks, at most a few times a second).
func (x *explorer) refresh() {
	x.mu.Lock()
	st := x.st.clone()
	x.mu.Unlock()
	x.front.update(blockMap, x.mapHTML(st))
	x.front.update(blockSearch, x.searchHTML(st))
	x.front.update(blockStatus, x.statusHTML(st))
}

// headCellKey and neuronCellKey name the map cells the page outlines.
func headCellKey(layer, head int) string { return fmt.Sprintf("h:%d:%d", layer, head) }

func neuronCellKey(layer, bucket int) string { return fmt.Sprintf("n:%d:%d", layer, bucket) }

// bucketOf is the start of the neuron-map cell neuron i falls in.
func bucketOf(i, dff int) int {
	size := (dff + neuronStrip - 1) / neuronStrip
	if size < 1 {
		size = 1
	}
	return i / size * size
}
