package lenskit

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"lenskit.dev/lenskit/forward"
	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
	"lenskit.dev/lenskit/vocab"
)

// A neuron's top contexts: where in a corpus it activates most. The model
// runs over a seeded sample of the corpus's lines, cut into windows, in
// batches; for every neuron of the layer the k largest activations are
// kept. The scan of a layer is cached on disk (under the user cache
// directory, keyed by the weights hash, the corpus files' paths, sizes and
// modification times, the sample and the layer), so any neuron or set of
// the same layer is then read without running the model.

// Sample says which part of a corpus a scan reads: lines in a random order
// fixed by Seed, each encoded and cut into windows of Window tokens (a
// window sees no text before its start), until Tokens tokens are taken.
//
// The first token of a window is read but not ranked unless KeepFirst: it
// has no context, and in a model trained without a BOS token it acts as an
// attention sink whose residual is unlike any other position's, so its
// activations crowd out every real context (in tiny-pl-gpt2, L0/N562's top
// contexts would all be a line-initial "The").
type Sample struct {
	Seed      uint64
	Tokens    int
	Window    int
	KeepFirst bool
}

// DefaultSample is what TopContexts reads unless told otherwise: 100,000
// tokens of the corpus in windows of 64.
var DefaultSample = Sample{Seed: 1, Tokens: 100_000, Window: 64}

func (s Sample) String() string {
	first := "first token of each window not ranked"
	if s.KeepFirst {
		first = "every token ranked"
	}
	return fmt.Sprintf("seed %d, %d tokens, windows of %d tokens, %s", s.Seed, s.Tokens, s.Window, first)
}

// ContextsQuery asks for the top contexts of neurons of one layer.
type ContextsQuery struct {
	m       *Model
	layer   int
	neurons []int
	corpus  []string
	sample  Sample
	notes   *Notes
	batch   int
}

// TopContexts starts a query for the contexts where neurons of layer
// activate most: the given neurons, or every neuron of the layer when none
// is given. The corpus is the shared pl.txt unless Corpus names others.
func (m *Model) TopContexts(layer int, neurons ...int) *ContextsQuery {
	return &ContextsQuery{m: m, layer: layer, neurons: neurons, sample: DefaultSample, batch: 16}
}

// Corpus reads these text files (one record per line) instead.
func (q *ContextsQuery) Corpus(paths ...string) *ContextsQuery {
	c := *q
	c.corpus = paths
	return &c
}

// Sample reads another sample of the corpus (zero fields keep the
// default's).
func (q *ContextsQuery) Sample(s Sample) *ContextsQuery {
	c := *q
	c.sample = Sample{Seed: s.Seed, Tokens: cmp.Or(s.Tokens, DefaultSample.Tokens), Window: cmp.Or(s.Window, DefaultSample.Window), KeepFirst: s.KeepFirst}
	return &c
}

// WithNotes shows each neuron's note labels with its contexts.
func (q *ContextsQuery) WithNotes(n *Notes) *ContextsQuery { c := *q; c.notes = n; return &c }

// NeuronContext is one context of a neuron.
type NeuronContext struct {
	File       string // corpus file name
	Line       int    // 1-based
	Token      int    // the activating token's index in the line's encoding
	Activation float32
	Before     string // decoded text of the window before the token (at most 12 tokens)
	Text       string // the token
	After      string // up to 6 tokens after it, within the window
}

// Marked is the context with the token in ⟦…⟧, as notes store it.
func (c NeuronContext) Marked() string { return c.Before + "⟦" + c.Text + "⟧" + c.After }

// ContextsResult is the top contexts of neurons of one layer.
type ContextsResult struct {
	Layer    int
	Neurons  []int             // in the order asked (every neuron for a whole layer)
	Contexts [][]NeuronContext // per entry of Neurons, most activating first
	Corpus   string            // file names
	Sample   Sample
	Tokens   int  // tokens the scan read
	Cached   bool // read from the on-disk cache
	K        int
	labels   map[int]string
	m        *Model
	err      error
}

// Err reports why the scan failed, or nil.
func (r *ContextsResult) Err() error { return r.err }

// ErrCorpus reports a corpus file that cannot be read as text.
var ErrCorpus = errors.New("not a text corpus")

// Top runs (or reads from the cache) the scan and keeps the k most
// activating contexts of each neuron asked.
func (q *ContextsQuery) Top(k int) *ContextsResult {
	m := q.m
	res := &ContextsResult{Layer: q.layer, Sample: q.sample, K: k, m: m}
	fail := func(err error) *ContextsResult { res.err = err; return res }
	if m.err != nil {
		return fail(m.err)
	}
	a := m.Arch()
	if q.layer < 0 || q.layer >= a.Layers {
		return fail(fmt.Errorf("lenskit: top contexts: layer %d out of range [0,%d)", q.layer, a.Layers))
	}
	for _, n := range q.neurons {
		if n < 0 || n >= a.DFF {
			return fail(fmt.Errorf("lenskit: top contexts: neuron %d out of range [0,%d)", n, a.DFF))
		}
	}
	if k <= 0 || k > 1000 {
		return fail(fmt.Errorf("lenskit: top contexts: k = %d, want 1 … 1000", k))
	}
	if q.sample.Tokens <= 0 || q.sample.Window <= 0 || q.sample.Window > a.Positions {
		return fail(fmt.Errorf("lenskit: top contexts: sample %v: want a positive budget and windows of 1 … %d tokens", q.sample, a.Positions))
	}
	paths := q.corpus
	if len(paths) == 0 {
		p, err := Shared("corpus/pl.txt")
		if err != nil {
			return fail(err)
		}
		paths = []string{p}
	}
	res.Corpus = strings.Join(baseNames(paths), ",")
	corpus, err := readCorpus(paths)
	if err != nil {
		return fail(err)
	}
	scan, err := m.layerScan(q, paths, corpus, k)
	if err != nil {
		return fail(err)
	}
	res.Tokens, res.Cached = scan.Tokens, scan.cached
	res.Neurons = q.neurons
	if len(res.Neurons) == 0 {
		res.Neurons = make([]int, a.DFF)
		for i := range res.Neurons {
			res.Neurons[i] = i
		}
	}
	for _, n := range res.Neurons {
		var list []NeuronContext
		for _, e := range scan.Neurons[n][:min(k, len(scan.Neurons[n]))] {
			list = append(list, corpus.context(m, e, q.sample.Window))
		}
		res.Contexts = append(res.Contexts, list)
	}
	if q.notes != nil {
		res.labels = neuronLabels(q.notes, q.layer)
	}
	return res
}

// neuronLabels maps neuron indices of layer to their notes' labels.
func neuronLabels(n *Notes, layer int) map[int]string {
	all, err := n.List(notes.Query{Kind: notes.NeuronKind})
	if err != nil {
		return nil
	}
	out := map[int]string{}
	for _, note := range all {
		if note.Component.Layer == layer {
			out[note.Component.Index] = strings.TrimPrefix(out[note.Component.Index]+"; "+note.Component.Part.String()+": "+note.Label, "; ")
		}
	}
	return out
}

// Neuron narrows a result to one of its neurons (for a note's evidence).
func (r *ContextsResult) Neuron(index int) *ContextsResult {
	if r.err != nil {
		return r
	}
	i := slices.Index(r.Neurons, index)
	if i < 0 {
		c := *r
		c.err = fmt.Errorf("lenskit: top contexts: neuron %d of layer %d was not scanned in this result", index, r.Layer)
		return &c
	}
	c := *r
	c.Neurons, c.Contexts = []int{index}, r.Contexts[i:i+1]
	return &c
}

// Finding makes a one-neuron result the evidence of a note about what the
// neuron reads (its key side): the contexts with the corpus, the sample
// and each context's line and token.
func (r *ContextsResult) Finding() (notes.Component, notes.Evidence, error) {
	if r.err != nil {
		return notes.Component{}, notes.Evidence{}, r.err
	}
	if len(r.Neurons) != 1 {
		return notes.Component{}, notes.Evidence{}, fmt.Errorf("lenskit: top contexts of %d neurons: a note is about one (use Neuron(i))", len(r.Neurons))
	}
	ev := notes.Evidence{K: r.K, Lenskit: notes.Version(), Corpus: r.Corpus, Sample: r.Sample.String()}
	for _, c := range r.Contexts[0] {
		ev.Contexts = append(ev.Contexts, notes.Context{Line: c.Line, Token: c.Token, Text: c.Marked(), Activation: c.Activation})
	}
	return notes.Neuron(project.NeuronID{Layer: r.Layer, Index: r.Neurons[0]}, notes.KeyPart), ev, nil
}

// maxShown is how many neurons a whole-layer result displays: those whose
// top activation is largest.
const maxShown = 16

// Table renders the contexts, the activating token marked.
func (r *ContextsResult) Table() Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	order := make([]int, len(r.Neurons))
	for i := range order {
		order[i] = i
	}
	title := fmt.Sprintf("top contexts of layer %d neurons in %s (%s)", r.Layer, r.Corpus, r.m.Weights.Name())
	if len(order) > maxShown {
		top := func(i int) float32 {
			if len(r.Contexts[i]) == 0 {
				return 0
			}
			return r.Contexts[i][0].Activation
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(top(b), top(a)) })
		order = order[:maxShown]
		title = fmt.Sprintf("the %d most strongly activated of layer %d's %d neurons in %s (%s); Neuron(i) shows any other",
			maxShown, r.Layer, len(r.Neurons), r.Corpus, r.m.Weights.Name())
	}
	t := &view.ContextsTable{Title: title}
	for _, i := range order {
		nc := view.NeuronContexts{Neuron: fmt.Sprintf("L%d/N%d", r.Layer, r.Neurons[i]), Note: r.labels[r.Neurons[i]]}
		for _, c := range r.Contexts[i] {
			nc.Contexts = append(nc.Contexts, view.Context{Before: c.Before, Token: c.Text, After: c.After,
				Activation: float64(c.Activation), Where: fmt.Sprintf("%s:%d, token %d", c.File, c.Line, c.Token)})
		}
		t.Neurons = append(t.Neurons, nc)
	}
	src := "computed now"
	if r.Cached {
		src = "read from the cache"
	}
	t.Footer = fmt.Sprintf("%d tokens of %s (%s), %s", r.Tokens, r.Corpus, r.Sample, src)
	return Display{t}
}

func (r *ContextsResult) String() string { return r.Table().String() }
func (r *ContextsResult) HTML() string   { return r.Table().HTML() }

// Show displays the contexts, or the error.
func (r *ContextsResult) Show() { r.Table().Show() }

// corpusLines is a corpus read into memory, one record per line.
type corpusLines struct {
	paths []string   // the files, as vocab.CorpusFiles expands the corpus
	files []string   // their base names
	lines [][]string // per file
}

// maxCorpusBytes bounds a corpus file read for contexts.
const maxCorpusBytes = 1 << 30

// readCorpus reads a corpus as vocab reads one for token lists — regular
// files, or directories of them; devices, FIFOs and binary files refused —
// keeping every line for random access.
func readCorpus(paths []string) (*corpusLines, error) {
	files, err := vocab.CorpusFiles(paths)
	if err != nil {
		return nil, fmt.Errorf("lenskit: %w: %w", ErrCorpus, err)
	}
	c := &corpusLines{}
	for _, f := range files {
		data, err := vocab.ReadCorpusFile(f.Path, maxCorpusBytes)
		if err != nil {
			return nil, fmt.Errorf("lenskit: %w: %w", ErrCorpus, err)
		}
		lines := strings.Split(string(data), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimSuffix(l, "\r")
		}
		c.paths = append(c.paths, f.Path)
		c.files = append(c.files, filepath.Base(f.Path))
		c.lines = append(c.lines, lines)
	}
	return c, nil
}

// scanEntry is one kept activation: the corpus position and the value.
type scanEntry struct {
	File  int     `json:"f"`
	Line  int     `json:"l"` // 0-based
	Token int     `json:"t"` // index in the line's encoding
	Act   float32 `json:"a"`
}

// layerScanData is a layer's scan, as cached: every neuron's top K.
type layerScanData struct {
	Version int           `json:"version"`
	Model   string        `json:"model"`
	Layer   int           `json:"layer"`
	K       int           `json:"k"`
	Tokens  int           `json:"tokens"`
	Neurons [][]scanEntry `json:"neurons"`
	cached  bool
}

// scanK is the number of contexts a scan keeps per neuron, at least: a
// later query for up to this many reads the cache.
const scanK = 20

// layerScan returns the scan of q's layer, from the cache or computed.
func (m *Model) layerScan(q *ContextsQuery, paths []string, corpus *corpusLines, k int) (*layerScanData, error) {
	hash, err := m.Weights.Hash()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "contexts v2\nmodel %s\nlayer %d\nsample %d %d %d %v\n", hash, q.layer, q.sample.Seed, q.sample.Tokens, q.sample.Window, q.sample.KeepFirst)
	for _, p := range corpus.paths {
		abs, _ := filepath.Abs(p)
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("lenskit: corpus: %w", err)
		}
		fmt.Fprintf(h, "%q %d %d\n", abs, st.Size(), st.ModTime().UnixNano())
	}
	key := fmt.Sprintf("%x", h.Sum(nil))[:32]
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "lenskit", "contexts", key+".json")
		if data, err := os.ReadFile(cache); err == nil {
			var s layerScanData
			if json.Unmarshal(data, &s) == nil && s.Version == 2 && s.Model == hash && s.Layer == q.layer && s.K >= k && len(s.Neurons) == m.Arch().DFF {
				s.cached = true
				return &s, nil
			}
		}
	}
	s, err := m.scanLayer(q, corpus, max(k, scanK))
	if err != nil {
		return nil, err
	}
	s.Model = hash
	if cache != "" {
		// A cache that cannot be written only costs time next run.
		if data, err := json.Marshal(s); err == nil {
			_ = writeFileAtomic(cache, data)
		}
	}
	return s, nil
}

// writeFileAtomic writes data to path through a temporary file.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// window is one sequence of a scan: a line's tokens from Start.
type window struct {
	file, line, start int
	ids               []int
}

// sampleWindows draws the windows of a sample: lines in a seeded random
// order, each encoded and cut into windows, until the token budget.
func (m *Model) sampleWindows(corpus *corpusLines, s Sample) ([]window, int, error) {
	type ref struct{ file, line int }
	var refs []ref
	for f, lines := range corpus.lines {
		for l, text := range lines {
			if strings.TrimSpace(text) != "" {
				refs = append(refs, ref{f, l})
			}
		}
	}
	if len(refs) == 0 {
		return nil, 0, fmt.Errorf("lenskit: corpus %s: %w: no non-empty lines", strings.Join(corpus.files, ","), ErrCorpus)
	}
	r := rand.New(rand.NewPCG(s.Seed, 0x6c656e736b6974))
	r.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
	var out []window
	total := 0
	for _, rf := range refs {
		if total >= s.Tokens {
			break
		}
		ids, err := m.Vocab.Encode(corpus.lines[rf.file][rf.line])
		if err != nil {
			return nil, 0, fmt.Errorf("lenskit: corpus %s, line %d: %w", corpus.files[rf.file], rf.line+1, err)
		}
		for st := 0; st < len(ids) && total < s.Tokens; st += s.Window {
			w := ids[st:min(st+s.Window, len(ids), st+s.Tokens-total)]
			out = append(out, window{rf.file, rf.line, st, w})
			total += len(w)
		}
	}
	return out, total, nil
}

// scanLayer runs the sample through the first layer+1 blocks in batches
// and keeps every neuron's k largest activations.
func (m *Model) scanLayer(q *ContextsQuery, corpus *corpusLines, k int) (*layerScanData, error) {
	f, err := m.Forward()
	if err != nil {
		return nil, err
	}
	wins, total, err := m.sampleWindows(corpus, q.sample)
	if err != nil {
		return nil, err
	}
	dff := m.Arch().DFF
	tops := make([]topActs, dff)
	for i := range tops {
		tops[i] = topActs{k: k}
	}
	p := view.NewProgress(fmt.Sprintf("layer %d over %d tokens of %s", q.layer, total, strings.Join(corpus.files, ",")), int64(total))
	defer p.Done()
	for _, batch := range lengthBatches(wins, q.batch) {
		prompts := make([][]int, len(batch))
		n := 0
		for i, w := range batch {
			prompts[i] = w.ids
			n += len(w.ids)
		}
		trs, err := f.Run(prompts, forward.Want{MLP: true, Layers: q.layer + 1, MLPFrom: q.layer})
		if err != nil {
			return nil, err
		}
		for i, tr := range trs {
			acts := tr.MLP[q.layer]
			w := batch[i]
			for pos := range tr.T {
				if pos == 0 && !q.sample.KeepFirst {
					continue
				}
				row := acts[pos*dff : (pos+1)*dff]
				for nn, v := range row {
					if tops[nn].full() && v < tops[nn].min() {
						continue
					}
					tops[nn].offer(scanEntry{File: w.file, Line: w.line, Token: w.start + pos, Act: v})
				}
			}
		}
		p.Add(int64(n))
	}
	s := &layerScanData{Version: 2, Layer: q.layer, K: k, Tokens: total, Neurons: make([][]scanEntry, dff)}
	for i := range tops {
		s.Neurons[i] = tops[i].sorted()
	}
	return s, nil
}

// lengthBatches cuts the windows into batches of windows of similar
// length: a batch is padded to its longest window, so batching short
// corpus lines with long ones would compute mostly padding. Windows are
// taken in order of length (stably), up to perBatch windows of the
// longest length and about perBatch × 64 positions in all.
func lengthBatches(wins []window, perBatch int) [][]window {
	byLen := slices.Clone(wins)
	slices.SortStableFunc(byLen, func(a, b window) int { return cmp.Compare(len(a.ids), len(b.ids)) })
	budget := max(perBatch, 1) * 64
	var out [][]window
	for start := 0; start < len(byLen); {
		end := start + 1
		for end < len(byLen) {
			padded := (len(byLen[end].ids) + 15) / 16 * 16
			if (end-start+1)*padded > budget {
				break
			}
			end++
		}
		out = append(out, byLen[start:end])
		start = end
	}
	return out
}

// topActs keeps the k largest activations: a min-heap under before's
// total order, so that which k entries are kept does not depend on the
// order they are offered in (ties go to the earlier corpus position).
type topActs struct {
	k int
	h []scanEntry
}

func (t *topActs) full() bool           { return len(t.h) >= t.k }
func (t *topActs) min() float32         { return t.h[0].Act }
func (t *topActs) swap(i, j int)        { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topActs) lessAt(i, j int) bool { return less(t.h[i], t.h[j]) }

// less orders entries by activation, and equal activations by corpus
// position, later first: a is "smaller" than b when it would be ranked
// after b.
func less(a, b scanEntry) bool {
	if a.Act != b.Act {
		return a.Act < b.Act
	}
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Token, b.Token)) > 0
}

// offer keeps e if it ranks among the k largest offered so far.
func (t *topActs) offer(e scanEntry) {
	if t.full() && !less(t.h[0], e) {
		return
	}
	t.push(e)
}

func (t *topActs) push(e scanEntry) {
	if len(t.h) < t.k {
		t.h = append(t.h, e)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.lessAt(i, p) {
				break
			}
			t.swap(i, p)
			i = p
		}
		return
	}
	t.h[0] = e
	for i := 0; ; {
		l, r, s := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.lessAt(l, s) {
			s = l
		}
		if r < len(t.h) && t.lessAt(r, s) {
			s = r
		}
		if s == i {
			return
		}
		t.swap(i, s)
		i = s
	}
}

// sorted returns the entries, largest activation first (ties: corpus
// order).
func (t *topActs) sorted() []scanEntry {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b scanEntry) int {
		if c := cmp.Compare(b.Act, a.Act); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Token, b.Token))
	})
	return out
}

// context re-encodes an entry's line and cuts the text around the token,
// within its window.
func (c *corpusLines) context(m *Model, e scanEntry, window int) NeuronContext {
	nc := NeuronContext{File: c.files[e.File], Line: e.Line + 1, Token: e.Token, Activation: e.Act}
	ids, err := m.Vocab.Encode(c.lines[e.File][e.Line])
	if err != nil || e.Token >= len(ids) {
		nc.Text = "⟨the corpus changed since the scan⟩"
		return nc
	}
	start := e.Token / window * window
	end := min(start+window, len(ids))
	nc.Before = m.Vocab.Decode(ids[max(start, e.Token-12):e.Token])
	nc.Text = m.Vocab.Decode(ids[e.Token : e.Token+1])
	nc.After = m.Vocab.Decode(ids[e.Token+1 : min(end, e.Token+7)])
	return nc
}
