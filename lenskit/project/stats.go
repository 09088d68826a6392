package project

import (
	"fmt"
	"math"
	"math/cmplx"
	"sync"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// Statistics of heads and neurons, as a catalogue of the whole model
// records them. Every statistic of a head view is computed over the same
// tokens its pairs are searched among (all of them, or a lens's filtered
// set: rows and columns alike), from the full factors — never from the
// sampled Gram matrices the search's rotation is made from.

// ViewStats summarises one head view A·Bᵀ.
type ViewStats struct {
	// Singular are the view's singular values, descending (d_head of
	// them; the view's rank is at most d_head).
	Singular []float64
	// Sigma1 is the largest singular value: the view's operator norm.
	Sigma1 float64
	// EffectiveRank is exp(H(p)) for p_i = σ_i / Σσ_j, the entropy
	// effective rank of Roy and Vetterli (2007): 1 for a rank-one view,
	// d_head when all singular values are equal.
	EffectiveRank float64
	// Eigen are the eigenvalues of the view as a square V × V matrix that
	// can be non-zero: those of the d_head × d_head product Bᵀ·A. Only
	// for OV views (a token-to-token map); nil for QK.
	Eigen []complex128
	// CopyingScore is Σ Re(λ) / Σ |λ| over Eigen, as TransformerLens's
	// demo computes it: near 1 when the head writes back the token it
	// attends to (a copying head), near −1 when it writes against it. NaN
	// for QK views and for a zero view.
	CopyingScore float64
}

// Stats computes the view's statistics over tokens (nil: all of them),
// taken on both sides.
func (v *HeadView) Stats(tokens []int) (ViewStats, error) {
	for _, t := range tokens {
		if t < 0 || t >= v.A.Rows || t >= v.B.Rows {
			return ViewStats{}, fmt.Errorf("project: head %v: token id %d out of range [0,%d)", v.Head, t, min(v.A.Rows, v.B.Rows))
		}
	}
	var ga, gb, c dmat
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ga = crossGram(v.A, v.A, tokens) }()
	go func() { defer wg.Done(); gb = crossGram(v.B, v.B, tokens) }()
	if v.Kind == OV {
		c = crossGram(v.B, v.A, tokens) // Bᵀ·A
	}
	wg.Wait()
	st := ViewStats{Singular: singularFromGrams(ga, gb), CopyingScore: math.NaN()}
	if len(st.Singular) > 0 {
		st.Sigma1 = st.Singular[0]
	}
	st.EffectiveRank = effectiveRank(st.Singular)
	if v.Kind == OV {
		ev, err := eigenvalues(c)
		if err != nil {
			return st, fmt.Errorf("project: head %v OV: %w", v.Head, err)
		}
		st.Eigen = ev
		st.CopyingScore = copyingScore(ev)
	}
	return st, nil
}

// copyingScore is Σ Re(λ) / Σ |λ| (NaN when every λ is 0).
func copyingScore(ev []complex128) float64 {
	var re, abs float64
	for _, l := range ev {
		re += real(l)
		abs += cmplx.Abs(l)
	}
	if abs == 0 {
		return math.NaN()
	}
	return re / abs
}

// effectiveRank is exp of the entropy of the normalised singular values
// (0 for a zero view).
func effectiveRank(s []float64) float64 {
	var sum float64
	for _, x := range s {
		sum += x
	}
	if !(sum > 0) {
		return 0
	}
	var h float64
	for _, x := range s {
		if p := x / sum; p > 0 {
			h -= p * math.Log(p)
		}
	}
	return math.Exp(h)
}

// singularFromGrams returns the singular values of A·Bᵀ from G_A = AᵀA and
// G_B = BᵀB: with G = U·Λ·Uᵀ and S = U·Λ^½, A = P_A·S_Aᵀ for a P_A with
// orthonormal columns (likewise B), so A·Bᵀ = P_A·(S_Aᵀ·S_B)·P_Bᵀ has the
// singular values of the d_head × d_head matrix S_Aᵀ·S_B. Rank-deficient
// factors need no special case (their Λ has zeros).
func singularFromGrams(ga, gb dmat) []float64 {
	sa := gramRoot(ga)
	sb := gramRoot(gb)
	_, s, _ := svdJacobi(sa.t().mul(sb))
	return s
}

// gramRoot returns S = U·Λ^½ for the symmetric positive semi-definite
// g = U·Λ·Uᵀ, so that g = S·Sᵀ. Tiny negative eigenvalues from rounding
// count as zero.
func gramRoot(g dmat) dmat {
	_, s, v := svdJacobi(g) // for a symmetric PSD matrix, singular = eigen
	root := make([]float64, len(s))
	for i, x := range s {
		root[i] = math.Sqrt(math.Max(x, 0))
	}
	return scaleCols(v, root)
}

// crossGram returns Xᵀ·Y (x.Cols × y.Cols) summed over the rows ids of x
// and y (nil: all rows; x and y must have as many rows). Products are
// float32 multiply-adds summed in blocks of gramBlock rows by the f32 GEMM
// tile, then accumulated in float64, over every row: the relative error of
// an entry is below gramBlock·2⁻²⁴ of the sum of absolute products.
func crossGram(x, y weights.Matrix, ids []int) dmat {
	n := x.Rows
	if ids != nil {
		n = len(ids)
	}
	hx, hy := x.Cols, y.Cols
	out := newDmat(hx, hy)
	if n == 0 || hx == 0 || hy == 0 {
		return out
	}
	// Blocks are summed in groups of gramGroup on all cores; the groups'
	// sums are added in order, so the result does not depend on the
	// number of cores or on scheduling.
	blocks := (n + gramBlock - 1) / gramBlock
	groups := (blocks + gramGroup - 1) / gramGroup
	parts := make([][]float64, groups)
	parallelRows(groups, 1, func(glo, ghi int) {
		hxp := (hx + kernel.F32Rows - 1) / kernel.F32Rows * kernel.F32Rows
		panels := (hy + kernel.F32Cols - 1) / kernel.F32Cols
		xt := make([]float32, hxp*gramBlock)                   // Xᵀ of the block, padded rows
		yp := make([]float32, panels*gramBlock*kernel.F32Cols) // Y of the block, packed by panel
		tile := make([]float32, kernel.F32Rows*kernel.F32Cols)
		xrow := make([]float32, hx)
		yrow := make([]float32, hy)
		for g := glo; g < ghi; g++ {
			acc := make([]float64, hx*hy)
			for b := g * gramGroup; b < min((g+1)*gramGroup, blocks); b++ {
				r0, r1 := b*gramBlock, min((b+1)*gramBlock, n)
				clear(xt)
				clear(yp)
				for i := r0; i < r1; i++ {
					row := i
					if ids != nil {
						row = ids[i]
					}
					x.RowInto(xrow, row)
					y.RowInto(yrow, row)
					for k, v := range xrow {
						xt[k*gramBlock+i-r0] = v
					}
					for k, v := range yrow {
						p, c := k/kernel.F32Cols, k%kernel.F32Cols
						yp[p*gramBlock*kernel.F32Cols+(i-r0)*kernel.F32Cols+c] = v
					}
				}
				for p := range panels {
					for r := 0; r < hxp; r += kernel.F32Rows {
						kernel.Sgemm(xt[r*gramBlock:], gramBlock, yp[p*gramBlock*kernel.F32Cols:], gramBlock, tile, kernel.F32Cols)
						for rr := 0; rr < kernel.F32Rows && r+rr < hx; rr++ {
							for c := 0; c < kernel.F32Cols && p*kernel.F32Cols+c < hy; c++ {
								acc[(r+rr)*hy+p*kernel.F32Cols+c] += float64(tile[rr*kernel.F32Cols+c])
							}
						}
					}
				}
			}
			parts[g] = acc
		}
	})
	for _, acc := range parts {
		for i, v := range acc {
			out.v[i] += v
		}
	}
	return out
}

// gramGroup is the number of blocks one core sums before its partial sum
// joins the others, in order.
const gramGroup = 16

// gramBlock is the number of rows whose float32 products one GEMM tile sums
// before they are added in float64.
const gramBlock = 64

// PrevToken is the positional previous-token score of a QK head in a model
// with learned absolute positions (GPT-2): how much, from positions alone,
// the query at position p prefers the key at p − 1. With the positional
// QK matrix S = W_pos·W_Q·W_Kᵀ·W_posᵀ (P × P, P the learned positions, the
// attention norm's gain folded into W_Q and W_K when the space folds
// norms, biases and token content left out) and the attention's logit
// scale c (1/√d_head for GPT-2), the margin of query position p ∈ [1, P) is
//
//	m_p = c · (S[p, p−1] − max{ S[p, j] : 0 ≤ j ≤ p, j ≠ p−1 })
//
// — the attention logit of the previous position minus the best other
// causal position's, before any softmax. Margin is the mean of m_p over p,
// Fraction the share of positions where m_p > 0 (the previous position
// wins outright).
type PrevToken struct {
	Margin   float64
	Fraction float64
}

// PrevToken computes head layer.head's positional previous-token score;
// ok is false for models without learned positions (rotary models, whose
// QK view at offset δ = 1 answers the question instead).
func (s *Space) PrevToken(layer, head int) (pt PrevToken, ok bool, err error) {
	pos, has, err := s.Model.Positions()
	if err != nil || !has {
		return pt, false, err
	}
	if pos.Rows < 2 {
		return pt, false, nil
	}
	m := s.Model
	a := m.Arch()
	wq, err := m.WQ(layer, head)
	if err != nil {
		return pt, false, err
	}
	wk, err := m.WK(layer, a.KVGroup(head))
	if err != nil {
		return pt, false, err
	}
	if s.Proc.FoldNorms {
		n, has, err := m.Norm(weights.AttnNorm, layer)
		if err != nil {
			return pt, false, err
		}
		if has {
			wq, wk = scaleRows(wq, n.Gain), scaleRows(wk, n.Gain)
		}
	}
	if r := nonFiniteRow(pos); r >= 0 {
		return pt, false, nonFinite("W_pos (the position embedding)", r, "position")
	}
	q, err := s.Engine.MatMul(pos, wq)
	if err != nil {
		return pt, false, err
	}
	k, err := s.Engine.MatMul(pos, wk)
	if err != nil {
		return pt, false, err
	}
	sc, err := s.Engine.MatMul(q, k.T())
	if err != nil {
		return pt, false, err
	}
	if r := nonFiniteRow(sc); r >= 0 {
		return pt, false, fmt.Errorf("project: head %d.%d: positional QK: %w at query position %d", layer, head, ErrNonFinite, r)
	}
	c := a.AttnScale
	if c == 0 {
		c = 1 / math.Sqrt(float64(a.DHead))
	}
	var sum float64
	var wins int
	for p := 1; p < sc.Rows; p++ {
		row := sc.Row(p)
		best := math.Inf(-1)
		for j := 0; j <= p; j++ {
			if j != p-1 {
				best = math.Max(best, float64(row[j]))
			}
		}
		mp := c * (float64(row[p-1]) - best)
		sum += mp
		if mp > 0 {
			wins++
		}
	}
	n := float64(sc.Rows - 1)
	return PrevToken{Margin: sum / n, Fraction: float64(wins) / n}, true, nil
}

// NeuronStats summarises one MLP neuron. Its read directions are taken as
// the space reads them (the MLP norm's gain folded in when the space folds
// norms), its value as written to the residual stream.
type NeuronStats struct {
	Neuron NeuronID
	// KeyNorm is |k| (for a gated neuron the gate's), UpNorm the up
	// projection's (NaN for a plain MLP), ValueNorm |v|.
	KeyNorm, UpNorm, ValueNorm float64
	// CosKeyValue is cos(k, v) (gate for a gated neuron), CosUpValue
	// cos(u, v) (NaN for a plain MLP): a neuron that reads and writes the
	// same residual direction has a cosine near ±1.
	CosKeyValue, CosUpValue float64
	// Moments of the value's vocabulary projection W_U·v over the space's
	// tokens (with its processing): mean, standard deviation, skewness
	// m₃/m₂^{3/2} and excess kurtosis m₄/m₂² − 3 (0 for a normal
	// distribution). High kurtosis with positive skew marks a prediction
	// neuron (it raises a few tokens), with negative skew a suppression
	// neuron (Gurnee et al. 2024, universal neurons). NeuronScan computes
	// them from the exact float32 product on small vocabularies; where it
	// screens with int8 (see screenDirections) they are the moments of the
	// int8 estimates — projections on the quantised value, 0.8% away from
	// it — the mean exact, the standard deviation within about 1%, the
	// skewness within 0.04 and the kurtosis within about 4% (measured).
	ValueMean, ValueStd, ValueSkew, ValueKurtosis float64
}

// moments returns the mean, standard deviation, skewness and excess
// kurtosis of xs (two passes: mean, then central moments, in float64).
func moments(xs []float64) (mean, std, skew, kurt float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	var m2, m3, m4 float64
	for _, x := range xs {
		d := x - mean
		d2 := d * d
		m2 += d2
		m3 += d2 * d
		m4 += d2 * d2
	}
	m2, m3, m4 = m2/n, m3/n, m4/n
	std = math.Sqrt(m2)
	if m2 == 0 {
		return mean, 0, math.NaN(), math.NaN()
	}
	return mean, std, m3 / (m2 * std), m4/(m2*m2) - 3
}

// directionStats fills the norms and cosines of st from a neuron's read
// directions (one for a plain MLP, gate and up for a gated one) and value.
func directionStats(st *NeuronStats, reads [][]float32, val []float32) {
	st.ValueNorm = norm64(val)
	st.UpNorm, st.CosUpValue = math.NaN(), math.NaN()
	cos := func(a []float32, na float64) float64 {
		if na == 0 || st.ValueNorm == 0 {
			return math.NaN()
		}
		return dot64(a, val) / (na * st.ValueNorm)
	}
	if len(reads) > 0 {
		st.KeyNorm = norm64(reads[0])
		st.CosKeyValue = cos(reads[0], st.KeyNorm)
	}
	if len(reads) > 1 {
		st.UpNorm = norm64(reads[1])
		st.CosUpValue = cos(reads[1], st.UpNorm)
	}
}
