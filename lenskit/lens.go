package lenskit

import (
	"fmt"
	"runtime"
	"sync"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// A Lens is a model seen through a set of filters: every projection made
// through it scores only the tokens the filters keep, and drops the pairs
// they exclude. Lenses are cheap; make one per question.
type Lens struct {
	m   *Model
	f   resolved
	sp  *project.Space
	err error
}

// Lens returns a lens over m with the given filters (none: every token) and
// weight processing (none: raw weights; see FoldNorms).
func (m *Model) Lens(filters ...Filter) *Lens {
	if m.err != nil {
		return &Lens{m: m, err: m.err}
	}
	r, err := m.resolve(filters)
	if err != nil {
		return &Lens{m: m, f: r, err: err}
	}
	sp, err := m.space(r.proc)
	return &Lens{m: m, f: r, sp: sp, err: err}
}

// Space returns the vocabulary space the lens reads (with its weight
// processing).
func (l *Lens) Space() *project.Space { return l.sp }

// Processing returns the lens's weight processing.
func (l *Lens) Processing() project.Processing { return l.f.proc }

// Err reports why the lens cannot be used (a failed model or filter).
func (l *Lens) Err() error { return l.err }

// Model returns the lens's model.
func (l *Lens) Model() *Model { return l.m }

// Tokens returns the ids the lens keeps, ascending (nil: all of them).
func (l *Lens) Tokens() []int { return l.f.ids }

// Filter describes the lens's filters, e.g. "alnum+exclude-same".
func (l *Lens) Filter() string { return l.f.desc }

// NeuronQuery is one MLP neuron seen through a lens.
type NeuronQuery struct {
	l             *Lens
	layer, neuron int
}

// Neuron selects MLP neuron `neuron` of `layer` (written L<layer>/N<neuron>).
func (l *Lens) Neuron(layer, neuron int) *NeuronQuery {
	return &NeuronQuery{l: l, layer: layer, neuron: neuron}
}

// Top returns the k highest-scoring tokens of W_E·k, W_U·v, −W_E·k and
// −W_U·v (for a gated MLP: of the gate, up and value directions).
func (q *NeuronQuery) Top(k int) *NeuronResult {
	l := q.l
	if l.err != nil {
		return failedNeuron(l.m, l.err)
	}
	r, err := l.sp.Neuron(q.layer, q.neuron, project.NeuronOptions{K: k, Tokens: l.f.ids, Filter: l.f.desc})
	if err != nil {
		return failedNeuron(l.m, err)
	}
	return &NeuronResult{m: l.m, NeuronTop: r}
}

// HeadQuery is one attention head's OV or QK view seen through a lens.
type HeadQuery struct {
	l           *Lens
	kind        project.Kind
	layer, head int
	offset      int
}

// OV selects the W_OV view of head layer.head: which token (source) the
// head, attending to it, writes towards which token (target).
func (l *Lens) OV(layer, head int) *HeadQuery {
	return &HeadQuery{l: l, kind: project.OV, layer: layer, head: head}
}

// QK selects the W_QK view of head layer.head: which query token attends to
// which key token.
func (l *Lens) QK(layer, head int) *HeadQuery {
	return &HeadQuery{l: l, kind: project.QK, layer: layer, head: head}
}

// At selects the QK view at query–key offset δ = query position − key
// position, for models with rotary position embeddings: lens.QK(2, 6).At(1)
// is what head 2.6's query reads from the token right before it. δ = 0 is
// the plain QK view; models with learned positions (GPT-2) reject δ ≠ 0.
func (q *HeadQuery) At(delta int) *HeadQuery {
	c := *q
	c.offset = delta
	return &c
}

// View returns the factored head view itself (for singular values, single
// entries and custom analyses).
func (q *HeadQuery) View() (*project.HeadView, error) {
	if q.l.err != nil {
		return nil, q.l.err
	}
	return q.l.sp.ViewAt(q.kind, q.layer, q.head, q.offset)
}

// Top returns the k largest entries of the view among the lens's tokens.
func (q *HeadQuery) Top(k int) *PairResult { return q.search(k, false) }

// Bottom returns the k most negative entries.
func (q *HeadQuery) Bottom(k int) *PairResult { return q.search(k, true) }

func (q *HeadQuery) search(k int, bottom bool) *PairResult {
	l := q.l
	v, err := q.View()
	if err != nil {
		return failedPairs(l.m, err)
	}
	r, err := v.Top(project.PairOptions{
		K: k, Bottom: bottom, Sources: l.f.ids, Targets: l.f.ids,
		Exclude: l.f.exclude, Filter: l.f.desc,
	})
	if err != nil {
		return failedPairs(l.m, err)
	}
	return &PairResult{m: l.m, PairTop: r}
}

// Neurons projects every MLP neuron of a layer at once — the way to scan a
// layer for neurons that read or write a coherent group of tokens: one
// product of E with a block of keys and values replaces a pass over E per
// neuron. Each result equals lens.Neuron(layer, i).Top(k).
func (l *Lens) Neurons(layer, k int) ([]*NeuronResult, error) {
	if l.err != nil {
		return nil, l.err
	}
	tops, err := l.sp.Neurons(layer, project.NeuronOptions{K: k, Tokens: l.f.ids, Filter: l.f.desc})
	if err != nil {
		return nil, err
	}
	out := make([]*NeuronResult, len(tops))
	for i, t := range tops {
		out[i] = &NeuronResult{m: l.m, NeuronTop: t}
	}
	return out, nil
}

// A failed result carries its error and an empty result, so that reading
// its fields (Pairs, Stats, Columns) never dereferences nil.
func failedNeuron(m *Model, err error) *NeuronResult {
	return &NeuronResult{m: m, NeuronTop: &project.NeuronTop{}, err: err}
}

func failedPairs(m *Model, err error) *PairResult {
	return &PairResult{m: m, PairTop: &project.PairTop{}, err: err}
}

// Scan searches every head of the model: the top k pairs of each view
// given (OV and QK when none is), in layer, head, view order. Views are
// searched two at a time, one core each, so that the parts of a search that
// run on one core (the rotation, sorting) overlap with another view's; a
// progress bar counts views. The first failure stops the scan.
func (l *Lens) Scan(k int, kinds ...project.Kind) ([]*PairResult, error) {
	if l.err != nil {
		return nil, l.err
	}
	if len(kinds) == 0 {
		kinds = []project.Kind{project.OV, project.QK}
	}
	a := l.m.Arch()
	type job struct {
		i, layer, head int
		kind           project.Kind
	}
	var jobs []job
	for layer := range a.Layers {
		for head := range a.Heads {
			for _, kind := range kinds {
				jobs = append(jobs, job{len(jobs), layer, head, kind})
			}
		}
	}
	out := make([]*PairResult, len(jobs))
	p := view.NewProgress(fmt.Sprintf("scanning %d views", len(jobs)), int64(len(jobs)))
	defer p.Done()
	workers := min(2, runtime.GOMAXPROCS(0))
	next := make(chan job)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				v, err := l.sp.View(j.kind, j.layer, j.head)
				var r *project.PairTop
				if err == nil {
					r, err = v.Top(project.PairOptions{
						K: k, Sources: l.f.ids, Targets: l.f.ids, Exclude: l.f.exclude,
						Filter: l.f.desc, Workers: max(1, runtime.GOMAXPROCS(0)/workers),
					})
				}
				if err != nil {
					errs <- err
					return
				}
				out[j.i] = &PairResult{m: l.m, PairTop: r}
				p.Add(1)
			}
		}()
	}
	var err error
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
