package project

import (
	"fmt"
	"math"
	"sync"
)

// Singular directions of a head view, read as token lists. The view
// A·Bᵀ = Σ_i σ_i·l_i·r_iᵀ is a sum of rank-one maps: the i-th sends the
// sources along l_i (a V-vector over source tokens) to the targets along
// r_i. The tokens with the largest and most negative entries of l_i and
// r_i say what the direction reads and writes. TransformerLens's
// SVDInterpreter does this for OV; here it is exact and works for QK too
// (left: queries, right: keys).

// Direction is one singular direction of a view.
type Direction struct {
	Index int     // 0 for the largest singular value
	Sigma float64 // its singular value
	// Sources are the top tokens of l_i (Sources[0]: largest entries,
	// Sources[1]: most negative, scores as signed entries of the unit
	// vector), Targets those of r_i.
	Sources, Targets [2][]Token
}

// Directions returns the view's n largest singular directions with the k
// top tokens of each end, over tokens (nil: all; both sides alike).
//
// From the full Gram matrices, A = P_A·S_Aᵀ and B = P_B·S_Bᵀ with
// orthonormal P (see singularFromGrams); the SVD S_Aᵀ·S_B = X·Σ·Yᵀ gives
// l_i = A·S_B·y_i/σ_i and r_i = B·S_A·x_i/σ_i, since Bᵀ·r_i = S_B·y_i for
// the right singular vector r_i = P_B·y_i. Token scores are float64 sums
// of the float32 factors with those directions. A singular pair is defined
// up to a joint change of sign; the sign is chosen so that the entry of
// l_i with the largest magnitude is positive.
func (v *HeadView) Directions(n, k int, tokens []int) ([]Direction, error) {
	if n < 0 || k < 0 {
		return nil, fmt.Errorf("project: head %v: negative count %d or k %d", v.Head, n, k)
	}
	for _, t := range tokens {
		if t < 0 || t >= v.A.Rows || t >= v.B.Rows {
			return nil, fmt.Errorf("project: head %v: token id %d out of range [0,%d)", v.Head, t, min(v.A.Rows, v.B.Rows))
		}
	}
	ids := tokens
	if ids == nil {
		ids = seq(min(v.A.Rows, v.B.Rows))
	}
	var ga, gb dmat
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ga = crossGram(v.A, v.A, tokens) }()
	gb = crossGram(v.B, v.B, tokens)
	wg.Wait()
	sa, sb := gramRoot(ga), gramRoot(gb)
	x, sig, y := svdJacobi(sa.t().mul(sb))
	h := v.A.Cols
	var out []Direction
	for i := 0; i < min(n, h); i++ {
		if !(sig[i] > 0) {
			break
		}
		cl := make([]float64, h) // l_i = A·cl
		cr := make([]float64, h) // r_i = B·cr
		for a := range h {
			for b := range h {
				cl[a] += sb.at(a, b) * y.at(b, i)
				cr[a] += sa.at(a, b) * x.at(b, i)
			}
			cl[a] /= sig[i]
			cr[a] /= sig[i]
		}
		ls := make([]float64, len(ids))
		rs := make([]float64, len(ids))
		parallelRows(len(ids), 4096, func(lo, hi int) {
			buf := make([]float32, h)
			for j := lo; j < hi; j++ {
				ls[j] = ovEntry(v.A.RowInto(buf, ids[j]), cl)
				rs[j] = ovEntry(v.B.RowInto(buf, ids[j]), cr)
			}
		})
		// The sign: the largest |l| entry positive (the lowest id among
		// equal magnitudes).
		big := 0
		for j, s := range ls {
			if math.Abs(s) > math.Abs(ls[big]) {
				big = j
			}
		}
		if ls[big] < 0 {
			for j := range ls {
				ls[j], rs[j] = -ls[j], -rs[j]
			}
		}
		d := Direction{Index: i, Sigma: sig[i]}
		d.Sources = [2][]Token{topOf(ls, ids, k, 1), topOf(ls, ids, k, -1)}
		d.Targets = [2][]Token{topOf(rs, ids, k, 1), topOf(rs, ids, k, -1)}
		out = append(out, d)
	}
	return out, nil
}

// topOf returns the k tokens with the largest sign·x, best first (ties to
// the lower id), scored with their signed entries.
func topOf(x []float64, ids []int, k int, sign float64) []Token {
	cs := make([]cand, len(x))
	for j, s := range x {
		cs[j] = cand{score: sign * s, src: int32(ids[j])}
	}
	toks := bestTokens(cs, k)
	for j := range toks {
		toks[j].Score *= float32(sign)
	}
	return toks
}
