package project

import (
	"fmt"
	"math"
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
// tokens of W_E·k, W_U·v, −W_E·k and −W_U·v for its key k (row i of the
// layer's FFKeys) and value v (row i of FFValues) — the seed's
// display_top_tokens, made exact: scores are float64 sums of float32
// products, ties go to the lower token id. A gated neuron has two keys, the
// gate g and the up projection u, and six columns: W_E·g, W_E·u, W_U·v and
// their negatives.
func (s *Space) Neuron(layer, i int, opt NeuronOptions) (*NeuronTop, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	id := NeuronID{layer, i}
	a := s.Model.Arch()
	var reads [][]float32
	for r := range a.Reads() {
		k, err := s.Model.FFKey(layer, r, i)
		if err != nil {
			return nil, err
		}
		reads = append(reads, k)
	}
	val, err := s.Model.FFValue(layer, i)
	if err != nil {
		return nil, err
	}
	gain, err := s.mlpGain(layer)
	if err != nil {
		return nil, err
	}
	top := &NeuronTop{Neuron: id, K: opt.K, Gated: a.MLP == weights.MLPGated, Filter: opt.Filter, Processing: s.Proc.String()}
	if err := s.neuronColumns(top, [][][]float32{reads}, [][]float32{val}, gain, opt); err != nil {
		return nil, err
	}
	return top, nil
}

// mlpGain returns the MLP norm's gain when FoldNorms folds it into the
// keys, else nil.
func (s *Space) mlpGain(layer int) ([]float32, error) {
	if !s.Proc.FoldNorms {
		return nil, nil
	}
	n, ok, err := s.Model.Norm(weights.MLPNorm, layer)
	if err != nil || !ok {
		return nil, err
	}
	return n.Gain, nil
}

// neuronColumns fills the columns of one or more neurons (tops[j] made from
// reads[j] and vals[j]): the reads projected on W_E in one product, the
// values on W_U in another.
func (s *Space) neuronColumns(top *NeuronTop, reads [][][]float32, vals [][]float32, gain []float32, opt NeuronOptions) error {
	tops := []*NeuronTop{top}
	return s.neuronColumnsMany(tops, reads, vals, gain, opt, nil)
}

// neuronColumnsMany fills tops; when stats is not nil (one per top), it
// also fills each neuron's statistics, the value moments from the same
// product that ranks the value's tokens.
func (s *Space) neuronColumnsMany(tops []*NeuronTop, reads [][][]float32, vals [][]float32, gain []float32, opt NeuronOptions, stats []NeuronStats) error {
	var rdirs [][]float32
	for j, rs := range reads {
		for r, x := range rs {
			if bad := FirstNonFinite(x); bad >= 0 {
				return fmt.Errorf("project: neuron %v: %w: its %s direction holds NaN or ±Inf at coordinate %d", tops[j].Neuron, ErrNonFinite, s.Model.Arch().Reads()[r], bad)
			}
			if gain != nil {
				x = mulVec(x, gain)
			}
			rdirs = append(rdirs, x)
			reads[j][r] = x
		}
	}
	for j, v := range vals {
		if bad := FirstNonFinite(v); bad >= 0 {
			return fmt.Errorf("project: neuron %v: %w: its value holds NaN or ±Inf at coordinate %d", tops[j].Neuron, ErrNonFinite, bad)
		}
	}
	var mom []scoreMoments
	if stats != nil {
		mom = make([]scoreMoments, len(vals))
	}
	var rc, vc [][2][]Token
	var err error
	if sameMatrix(s.WE, s.WU) {
		// Tied embeddings: reads and values in one pass over the matrix.
		var all [][2][]Token
		all, err = s.projectOn(s.WE, s.maxNormE, append(slices.Clip(rdirs), vals...), opt.K, opt.Tokens, len(rdirs), mom)
		if err == nil {
			rc, vc = all[:len(rdirs)], all[len(rdirs):]
		}
	} else if rc, err = s.projectOn(s.WE, s.maxNormE, rdirs, opt.K, opt.Tokens, len(rdirs), nil); err == nil {
		vc, err = s.projectOn(s.WU, s.maxNormU, vals, opt.K, opt.Tokens, 0, mom)
	}
	if err != nil {
		return fmt.Errorf("neuron %v: %w", tops[0].Neuron, err)
	}
	n := 0
	for j, top := range tops {
		if top.Gated {
			top.Columns[Gate], top.Columns[NegGate] = rc[n][0], rc[n][1]
			top.Columns[Up], top.Columns[NegUp] = rc[n+1][0], rc[n+1][1]
		} else {
			top.Columns[Key], top.Columns[NegKey] = rc[n][0], rc[n][1]
		}
		n += len(reads[j])
		top.Columns[Value], top.Columns[NegValue] = vc[j][0], vc[j][1]
		if stats != nil {
			st := &stats[j]
			st.Neuron = top.Neuron
			directionStats(st, reads[j], vals[j])
			m := mom[j]
			st.ValueMean, st.ValueStd, st.ValueSkew, st.ValueKurtosis = m.mean, m.std, m.skew, m.kurt
		}
	}
	return nil
}

func sumAbs(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += math.Abs(float64(v))
	}
	return s
}

func mulVec(x, g []float32) []float32 {
	out := make([]float32, len(x))
	for i := range x {
		out[i] = x[i] * g[i]
	}
	return out
}

// ProjectPair projects two residual-space directions x and y onto the
// output vocabulary W_U in one pass and returns the top-k tokens of W_U·x,
// W_U·y, −W_U·x and −W_U·y, restricted to tokens (nil = all), indexed as a
// plain neuron's columns (Key, Value, NegKey, NegValue for x, y).
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
// GEMM of W_E against a block of keys (and of W_U against the block's
// values) replaces a pass per neuron, so a layer of GPT-2 medium (4,096
// neurons) takes seconds.
func (s *Space) Neurons(layer int, opt NeuronOptions) ([]*NeuronTop, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	a := s.Model.Arch()
	var keys []weights.Matrix
	for r := range a.Reads() {
		k, err := s.Model.FFKeys(layer, r)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	vals, err := s.Model.FFValues(layer)
	if err != nil {
		return nil, err
	}
	gain, err := s.mlpGain(layer)
	if err != nil {
		return nil, err
	}
	n := vals.Rows
	out := make([]*NeuronTop, 0, n)
	const block = 128
	for i0 := 0; i0 < n; i0 += block {
		i1 := min(i0+block, n)
		var tops []*NeuronTop
		var reads [][][]float32
		var vs [][]float32
		for i := i0; i < i1; i++ {
			var rs [][]float32
			for _, k := range keys {
				rs = append(rs, k.RowInto(make([]float32, k.Cols), i))
			}
			reads = append(reads, rs)
			vs = append(vs, vals.RowInto(make([]float32, vals.Cols), i))
			tops = append(tops, &NeuronTop{Neuron: NeuronID{layer, i}, K: opt.K, Gated: a.MLP == weights.MLPGated, Filter: opt.Filter, Processing: s.Proc.String()})
		}
		if err := s.neuronColumnsMany(tops, reads, vs, gain, opt, nil); err != nil {
			return nil, fmt.Errorf("layer %d neurons %d…%d: %w", layer, i0, i1-1, err)
		}
		out = append(out, tops...)
	}
	return out, nil
}

// Project projects residual-space directions onto the output vocabulary
// W_U (with the space's processing): for each direction x, the k highest
// tokens of W_U·x and of −W_U·x, restricted to tokens (nil = all). The
// engine computes float32 scores for every direction in one product; the
// candidates near each cut-off are then rescored exactly (float64 sums,
// ties to the lower id), so the result is the one a full sort of exact
// scores gives.
func (s *Space) Project(dirs [][]float32, k int, tokens []int) ([][2][]Token, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return s.projectOn(s.WU, s.maxNormU, dirs, k, tokens, 0, nil)
}

// ProjectInput is Project onto the input embedding W_E: what token's
// embedding a direction reads most (neuron keys, query and key directions).
func (s *Space) ProjectInput(dirs [][]float32, k int, tokens []int) ([][2][]Token, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return s.projectOn(s.WE, s.maxNormE, dirs, k, tokens, len(dirs), nil)
}

// scoringRows are the rows of a vocabulary matrix a projection scores: all
// of it when most tokens take part (scoring a few extra rows is cheaper
// than copying most of it), else the chosen tokens gathered. row maps the
// r-th taking-part token (ids[r]) to its row of rows.
type scoringRows struct {
	rows weights.Matrix
	ids  []int
	row  func(r int) int
}

func scoringRowsOf(m weights.Matrix, tokens []int) (scoringRows, error) {
	for _, t := range tokens {
		if t < 0 || t >= m.Rows {
			return scoringRows{}, fmt.Errorf("project: token id %d out of range [0,%d)", t, m.Rows)
		}
	}
	sr := scoringRows{rows: m, ids: tokens, row: func(r int) int { return r }}
	switch {
	case tokens == nil:
		sr.ids = seq(m.Rows)
	case len(tokens) > m.Rows/2:
		sr.row = func(r int) int { return tokens[r] }
	default:
		sr.rows = weights.NewMatrix(len(tokens), m.Cols)
		for r, t := range tokens {
			m.RowInto(sr.rows.Row(r), t)
		}
	}
	return sr, nil
}

// projectOn scores dirs against the rows of m and returns each
// direction's top and bottom k. Directions from index uFrom on are read on
// the output side, W_U, whose processing then applies to them (m is W_U,
// or W_E when the embeddings are tied); those before uFrom on W_E as is.
// When mom is not nil (one per output-side direction), it also receives
// the moments of each such direction's scores over all the tokens taking
// part.
func (s *Space) projectOn(m weights.Matrix, maxNorm float64, dirs [][]float32, k int, tokens []int, uFrom int, mom []scoreMoments) ([][2][]Token, error) {
	d := m.Cols
	for i, x := range dirs {
		if len(x) != d {
			return nil, fmt.Errorf("project: direction %d has length %d, want d_model %d", i, len(x), d)
		}
		if bad := FirstNonFinite(x); bad >= 0 {
			return nil, fmt.Errorf("project: direction %d: %w: coordinate %d holds NaN or ±Inf", i, ErrNonFinite, bad)
		}
	}
	if k < 0 {
		return nil, fmt.Errorf("project: negative k %d", k)
	}
	if len(dirs) == 0 {
		return nil, nil
	}
	shifts := make([]float64, len(dirs))
	if uFrom < len(dirs) {
		adj := slices.Clone(dirs)
		for j := uFrom; j < len(dirs); j++ {
			adj[j] = s.uDirection(dirs[j])
			shifts[j] = s.uShift(adj[j])
		}
		dirs = adj
	}
	sr, err := scoringRowsOf(m, tokens)
	if err != nil {
		return nil, err
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
	if r := nonFiniteRow(sc); r >= 0 {
		return nil, fmt.Errorf("project: %w: a projection overflows float32 at token %d", ErrNonFinite, sr.ids[r])
	}
	// |float32 dot − exact| ≤ γ_d·|e|·|x| for any summation order.
	gamma := float64(d+2) * 0x1p-24 * 1.01
	out := make([][2][]Token, len(dirs))
	parallelRows(len(dirs), 1, func(lo, hi int) {
		f32 := make([]float64, len(sr.ids))
		buf := make([]float32, d)
		for j := lo; j < hi; j++ {
			// The BF16 tile flushes subnormal products and sums (see
			// kernel.SgemmBF16): at most 2⁻¹²⁶·(Σ|x| + d + 1) more.
			errMax := gamma*maxNorm*norm64(dirs[j]) + 0x1p-126*(sumAbs(dirs[j])+float64(d)+1)
			for b, sign := range [2]float64{1, -1} {
				for r := range f32 {
					f32[r] = sign * float64(sc.Data[sr.row(r)*len(dirs)+j])
				}
				out[j][b] = topExact(m, buf, f32, sr.ids, dirs[j], shifts[j], sign, k, errMax)
				if mom != nil && b == 0 && j >= uFrom {
					for r := range f32 {
						f32[r] -= shifts[j]
					}
					mom[j-uFrom].mean, mom[j-uFrom].std, mom[j-uFrom].skew, mom[j-uFrom].kurt = moments(f32)
				}
			}
		}
	})
	return out, nil
}

// topExact returns the k best tokens by exact score sign·(m_t·x − shift),
// given float32 scores f32 of m_t·x (row r is token ids[r]) off by at most
// errMax. buf is scratch of length m.Cols.
func topExact(m weights.Matrix, buf []float32, f32 []float64, ids []int, x []float32, shift, sign float64, k int, errMax float64) []Token {
	if k == 0 || len(f32) == 0 {
		return []Token{}
	}
	// θ' = k-th best float32 score; the true top k all have float32 scores
	// ≥ θ' − 2·errMax, so only those are rescored. The shift is the same
	// for every token, so it does not move the cut.
	thr := kthLargest(slices.Clone(f32), min(k, len(f32))) - 2*errMax
	var cands []cand
	for r, v := range f32 {
		if v >= thr {
			cands = append(cands, cand{score: sign * (dot64(m.RowInto(buf, ids[r]), x) - shift), src: int32(ids[r])})
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
