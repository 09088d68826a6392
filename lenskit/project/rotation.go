package project

import (
	"math"
	"sync"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// rotationFor returns T_A, T_B (h × h) with T_A·T_Bᵀ = I such that the
// columns of A·T_A and B·T_B are the singular directions of A·Bᵀ, scaled by
// the square roots of its singular values and ordered by them. ok is false
// when either factor is numerically rank-deficient; the search then works
// in the original coordinates (still exact, pruning only weaker).
//
// With Cholesky factors of the Gram matrices, AᵀA = R_AᵀR_A (so A = Q_A·R_A)
// and likewise for B, A·Bᵀ = Q_A·(R_A·R_Bᵀ)·Q_Bᵀ; the SVD R_A·R_Bᵀ = U·Σ·Wᵀ
// gives T_A = R_A⁻¹·U·Σ^½ and T_B = R_B⁻¹·W·Σ^½, and T_A·T_Bᵀ =
// R_A⁻¹·(R_A·R_Bᵀ)·R_B⁻ᵀ = I for any R_A, R_B. The Gram matrices therefore
// only affect how well energy is ordered, never correctness, which is why
// they are computed in float32 from a sample of at most gramRows rows.
func rotationFor(A, B weights.Matrix) (ta, tb dmat, sigma []float64, ok bool) {
	var ra, rb dmat
	var okA, okB bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ra, okA = cholesky(gram(A))
	}()
	rb, okB = cholesky(gram(B))
	wg.Wait()
	if !okA || !okB {
		return dmat{}, dmat{}, nil, false
	}
	u, s, w := svdJacobi(ra.mul(rb.t()))
	sqs := make([]float64, len(s))
	for i, x := range s {
		sqs[i] = math.Sqrt(x)
	}
	ta = scaleCols(upperInverse(ra).mul(u), sqs)
	tb = scaleCols(upperInverse(rb).mul(w), sqs)
	return ta, tb, s, true
}

// gramRows bounds the rows a Gram matrix is computed from.
const gramRows = 8192

func scaleCols(a dmat, s []float64) dmat {
	b := newDmat(a.n, a.m)
	for i := range a.n {
		for j := range a.m {
			b.set(i, j, a.at(i, j)*s[j])
		}
	}
	return b
}

// gram returns XᵀX (h × h) over a sample of at most gramRows rows of x
// (every stride-th), computed with the f32 GEMM tile.
func gram(full weights.Matrix) dmat {
	x := full
	if stride := (full.Rows + gramRows - 1) / gramRows; stride > 1 {
		x = weights.NewMatrix(full.Rows/stride, full.Cols)
		for i := range x.Rows {
			copy(x.Row(i), full.Row(i*stride))
		}
	}
	n, h := x.Rows, x.Cols
	hp := (h + kernel.F32Rows - 1) / kernel.F32Rows * kernel.F32Rows
	xt := make([]float32, hp*n) // Xᵀ, padded to a multiple of the tile rows
	for i := range n {
		row := x.Row(i)
		for k, v := range row {
			xt[k*n+i] = v
		}
	}
	g := newDmat(h, h)
	packed := make([]float32, n*kernel.F32Cols)
	out := make([]float32, hp*kernel.F32Cols)
	for c0 := 0; c0 < h; c0 += kernel.F32Cols {
		clear(packed)
		w := min(kernel.F32Cols, h-c0)
		for i := range n {
			copy(packed[i*kernel.F32Cols:i*kernel.F32Cols+w], x.Data[i*h+c0:i*h+c0+w])
		}
		for r := 0; r < hp; r += kernel.F32Rows {
			kernel.Sgemm(xt[r*n:], n, packed, n, out[r*kernel.F32Cols:], kernel.F32Cols)
		}
		for r := range h {
			for c := range w {
				g.set(r, c0+c, float64(out[r*kernel.F32Cols+c]))
			}
		}
	}
	// Symmetrise: the two triangles were summed in different orders.
	for i := range h {
		for j := i + 1; j < h; j++ {
			m := (g.at(i, j) + g.at(j, i)) / 2
			g.set(i, j, m)
			g.set(j, i, m)
		}
	}
	return g
}
