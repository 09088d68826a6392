package project

import (
	"fmt"
	"slices"

	"lenskit.dev/lenskit/weights"
)

// NeuronOptions selects what Neuron returns.
type NeuronOptions struct {
	K      int    // tokens per column
	Tokens []int  // token ids taking part, ascending; nil = all
	Filter string // description of the filter, recorded in the result
}

// Neuron projects MLP neuron layer/i onto the vocabulary: the K highest
// tokens of E·k, E·v, −E·k and −E·v for its key k (column i of the layer's
// FFKeys) and value v (row i of FFValues) — the seed's display_top_tokens,
// made exact: scores are float64 sums of float32 products, ties go to the
// lower token id.
func (s *Space) Neuron(layer, i int, opt NeuronOptions) (*NeuronTop, error) {
	key, err := s.Model.FFKey(layer, i)
	if err != nil {
		return nil, err
	}
	val, err := s.Model.FFValue(layer, i)
	if err != nil {
		return nil, err
	}
	cols, err := s.ProjectPair(key, val, opt.K, opt.Tokens)
	if err != nil {
		return nil, fmt.Errorf("neuron %v: %w", NeuronID{layer, i}, err)
	}
	return &NeuronTop{Neuron: NeuronID{layer, i}, K: opt.K, Columns: cols, Filter: opt.Filter}, nil
}

// ProjectPair projects two residual-space directions x and y onto the
// vocabulary in one pass over E and returns the top-k tokens of E·x, E·y,
// −E·x and −E·y (the four columns of a neuron), restricted to tokens (nil =
// all).
func (s *Space) ProjectPair(x, y []float32, k int, tokens []int) ([4][]Token, error) {
	var out [4][]Token
	d := s.E.Cols
	if len(x) != d || len(y) != d {
		return out, fmt.Errorf("project: direction length %d/%d, want d_model %d", len(x), len(y), d)
	}
	if k < 0 {
		return out, fmt.Errorf("project: negative k %d", k)
	}
	for _, t := range tokens {
		if t < 0 || t >= s.E.Rows {
			return out, fmt.Errorf("project: token id %d out of range [0,%d)", t, s.E.Rows)
		}
	}
	// Float32 scores for every taking part token, in one engine call.
	var rows weights.Matrix
	ids := tokens
	if ids == nil || len(ids) > s.E.Rows/2 {
		rows = s.E
	} else {
		rows = weights.NewMatrix(len(ids), d)
		for r, t := range ids {
			copy(rows.Row(r), s.E.Row(t))
		}
	}
	w := weights.NewMatrix(d, 2)
	for kk := range d {
		w.Data[2*kk], w.Data[2*kk+1] = x[kk], y[kk]
	}
	sc, err := s.Engine.MatMul(rows, w)
	if err != nil {
		return out, err
	}
	// Map score rows back to token ids.
	var tok []int // nil: row r is token r
	if rows.Rows != s.E.Rows {
		tok = ids
	}
	keep := func(r int) (int, bool) {
		if tok != nil {
			return tok[r], true
		}
		if ids == nil {
			return r, true
		}
		_, found := slices.BinarySearch(ids, r)
		return r, found
	}
	nx, ny := norm64(x), norm64(y)
	// |float32 dot − exact| ≤ γ_d·|e|·|x| for any summation order.
	gamma := float64(d+2) * 0x1p-24 * 1.01
	maxE := s.maxRowNorm()
	for col, spec := range [4]struct {
		which int
		sign  float64
		dir   []float32
		n     float64
	}{{0, 1, x, nx}, {1, 1, y, ny}, {0, -1, x, nx}, {1, -1, y, ny}} {
		errMax := gamma * maxE * spec.n
		// θ' = k-th best float32 score; the true top k all have float32
		// scores ≥ θ' − 2·errMax, so only those are rescored.
		var f32 []float64
		for r := range rows.Rows {
			if _, ok := keep(r); ok {
				f32 = append(f32, spec.sign*float64(sc.Data[2*r+spec.which]))
			}
		}
		if k == 0 || len(f32) == 0 {
			out[col] = []Token{}
			continue
		}
		thr := kthLargest(f32, min(k, len(f32))) - 2*errMax
		var cands []cand
		for r := range rows.Rows {
			t, ok := keep(r)
			if !ok || spec.sign*float64(sc.Data[2*r+spec.which]) < thr {
				continue
			}
			cands = append(cands, cand{score: spec.sign * dot64(s.E.Row(t), spec.dir), src: int32(t)})
		}
		slices.SortFunc(cands, func(a, b cand) int {
			if better(a, b) {
				return -1
			}
			if better(b, a) {
				return 1
			}
			return 0
		})
		cands = cands[:min(k, len(cands))]
		toks := make([]Token, len(cands))
		for j, c := range cands {
			toks[j] = Token{ID: int(c.src), Score: float32(c.score)}
		}
		out[col] = toks
	}
	return out, nil
}

// kthLargest returns the k-th largest value of v (1-based), reordering v.
func kthLargest(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	target := k - 1
	for lo < hi {
		p := v[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for v[i] > p {
				i++
			}
			for v[j] < p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case target <= j:
			hi = j
		case target >= i:
			lo = i
		default:
			return v[target]
		}
	}
	return v[target]
}
