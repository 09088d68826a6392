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
	key, err := s.Model.FFKey(layer, 0, i)
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
	cols, err := s.Project([][]float32{x, y}, k, tokens)
	if err != nil {
		return out, err
	}
	out[Key], out[NegKey] = cols[0][0], cols[0][1]
	out[Value], out[NegValue] = cols[1][0], cols[1][1]
	return out, nil
}

// Neurons projects every MLP neuron of a layer, as Neuron does one: one
// GEMM of E against a block of keys and values replaces a pass over E per
// neuron, so a layer of GPT-2 medium (4,096 neurons) takes seconds.
func (s *Space) Neurons(layer int, opt NeuronOptions) ([]*NeuronTop, error) {
	keys, err := s.Model.FFKeys(layer, 0)
	if err != nil {
		return nil, err
	}
	vals, err := s.Model.FFValues(layer)
	if err != nil {
		return nil, err
	}
	sr, err := s.scoringRows(opt.Tokens) // once per layer, not per block
	if err != nil {
		return nil, err
	}
	n := keys.Rows
	out := make([]*NeuronTop, 0, n)
	const block = 128
	for i0 := 0; i0 < n; i0 += block {
		i1 := min(i0+block, n)
		var dirs [][]float32
		for i := i0; i < i1; i++ {
			dirs = append(dirs, keys.Row(i), vals.Row(i))
		}
		cols, err := s.project(sr, dirs, opt.K)
		if err != nil {
			return nil, fmt.Errorf("layer %d neurons %d…%d: %w", layer, i0, i1-1, err)
		}
		for i := i0; i < i1; i++ {
			kc, vc := cols[2*(i-i0)], cols[2*(i-i0)+1]
			var c [4][]Token
			c[Key], c[NegKey], c[Value], c[NegValue] = kc[0], kc[1], vc[0], vc[1]
			out = append(out, &NeuronTop{Neuron: NeuronID{layer, i}, K: opt.K, Columns: c, Filter: opt.Filter})
		}
	}
	return out, nil
}

// Project projects residual-space directions onto the vocabulary: for each
// direction x, the k highest tokens of E·x and of −E·x, restricted to
// tokens (nil = all). The engine computes float32 scores for every
// direction in one product; the candidates near each cut-off are then
// rescored exactly (float64 sums, ties to the lower id), so the result is
// the one a full sort of exact scores gives.
func (s *Space) Project(dirs [][]float32, k int, tokens []int) ([][2][]Token, error) {
	sr, err := s.scoringRows(tokens)
	if err != nil {
		return nil, err
	}
	return s.project(sr, dirs, k)
}

// scoringRows are the rows of E a projection scores: all of E when most
// tokens take part (scoring a few extra rows is cheaper than copying most
// of E), else the chosen tokens gathered. row maps the r-th taking-part
// token (ids[r]) to its row of rows.
type scoringRows struct {
	rows weights.Matrix
	ids  []int
	row  func(r int) int
}

func (s *Space) scoringRows(tokens []int) (scoringRows, error) {
	for _, t := range tokens {
		if t < 0 || t >= s.E.Rows {
			return scoringRows{}, fmt.Errorf("project: token id %d out of range [0,%d)", t, s.E.Rows)
		}
	}
	sr := scoringRows{rows: s.E, ids: tokens, row: func(r int) int { return r }}
	switch {
	case tokens == nil:
		sr.ids = seq(s.E.Rows)
	case len(tokens) > s.E.Rows/2:
		sr.row = func(r int) int { return tokens[r] }
	default:
		sr.rows = weights.NewMatrix(len(tokens), s.E.Cols)
		for r, t := range tokens {
			copy(sr.rows.Row(r), s.E.Row(t))
		}
	}
	return sr, nil
}

func (s *Space) project(sr scoringRows, dirs [][]float32, k int) ([][2][]Token, error) {
	d := s.E.Cols
	for i, x := range dirs {
		if len(x) != d {
			return nil, fmt.Errorf("project: direction %d has length %d, want d_model %d", i, len(x), d)
		}
	}
	if k < 0 {
		return nil, fmt.Errorf("project: negative k %d", k)
	}
	w := weights.NewMatrix(d, len(dirs))
	for j, x := range dirs {
		for kk, v := range x {
			w.Data[kk*len(dirs)+j] = v
		}
	}
	sc, err := s.Engine.MatMul(sr.rows, w)
	if err != nil {
		return nil, err
	}
	// |float32 dot − exact| ≤ γ_d·|e|·|x| for any summation order.
	gamma := float64(d+2) * 0x1p-24 * 1.01
	maxE := s.maxRowNorm()
	out := make([][2][]Token, len(dirs))
	parallelRows(len(dirs), 1, func(lo, hi int) {
		f32 := make([]float64, len(sr.ids))
		for j := lo; j < hi; j++ {
			errMax := gamma * maxE * norm64(dirs[j])
			for b, sign := range [2]float64{1, -1} {
				for r := range f32 {
					f32[r] = sign * float64(sc.Data[sr.row(r)*len(dirs)+j])
				}
				out[j][b] = s.topExact(f32, sr.ids, dirs[j], sign, k, errMax)
			}
		}
	})
	return out, nil
}

// topExact returns the k best tokens by exact score sign·(E_t·x), given
// float32 scores f32 (row r is token ids[r]) off by at most errMax.
func (s *Space) topExact(f32 []float64, ids []int, x []float32, sign float64, k int, errMax float64) []Token {
	if k == 0 || len(f32) == 0 {
		return []Token{}
	}
	// θ' = k-th best float32 score; the true top k all have float32 scores
	// ≥ θ' − 2·errMax, so only those are rescored.
	thr := kthLargest(slices.Clone(f32), min(k, len(f32))) - 2*errMax
	var cands []cand
	for r, v := range f32 {
		if v >= thr {
			cands = append(cands, cand{score: sign * dot64(s.E.Row(ids[r]), x), src: int32(ids[r])})
		}
	}
	return bestTokens(cands, k)
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
