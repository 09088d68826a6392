package project

import (
	"math"
	"unsafe"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// rotationFor returns T_A, T_B (h × h) with T_A·T_Bᵀ = I such that the
// columns of A·T_A and B·T_B are the singular directions of A·Bᵀ, scaled by
// the square roots of its singular values and ordered by them. ok is false
// when either factor is numerically rank-deficient; the search then works
// in the original coordinates (still exact, pruning only weaker).
//
// With Gram matrices A = Q_A·R_A, R_A = Λ_A^½·V_Aᵀ (from AᵀA = V_A·Λ_A·V_Aᵀ)
// and likewise for B, A·Bᵀ = Q_A·(R_A·R_Bᵀ)·Q_Bᵀ; the SVD R_A·R_Bᵀ = U·Σ·Wᵀ
// gives T_A = V_A·Λ_A^-½·U·Σ^½ and T_B = V_B·Λ_B^-½·W·Σ^½. The identity
// T_A·T_Bᵀ = I holds for any symmetric positive definite Λ, V, so the float32
// Gram matrices only affect how well energy is ordered, never correctness.
func rotationFor(A, B weights.Matrix) (ta, tb dmat, sigma []float64, ok bool) {
	h := A.Cols
	ga, gb := gram(A), gram(B)
	la, va := symEig(ga)
	lb, vb := symEig(gb)
	if !wellConditioned(la) || !wellConditioned(lb) {
		return dmat{}, dmat{}, nil, false
	}
	sqa, isqa := diagPow(la)
	sqb, isqb := diagPow(lb)
	ra := scaleRows(va.t(), sqa) // Λ_A^½·V_Aᵀ
	rb := scaleRows(vb.t(), sqb)
	core := ra.mul(rb.t())
	u, s, w := svdJacobi(core)
	sqs := make([]float64, h)
	for i, x := range s {
		sqs[i] = math.Sqrt(x)
	}
	ta = scaleCols(scaleCols(va, isqa).mul(u), sqs)
	tb = scaleCols(scaleCols(vb, isqb).mul(w), sqs)
	return ta, tb, s, true
}

func wellConditioned(l []float64) bool {
	return len(l) > 0 && l[0] > 0 && l[len(l)-1] > 1e-13*l[0]
}

func diagPow(l []float64) (sq, isq []float64) {
	sq, isq = make([]float64, len(l)), make([]float64, len(l))
	for i, x := range l {
		sq[i] = math.Sqrt(x)
		isq[i] = 1 / sq[i]
	}
	return sq, isq
}

func scaleRows(a dmat, s []float64) dmat {
	b := newDmat(a.n, a.m)
	for i := range a.n {
		for j := range a.m {
			b.set(i, j, a.at(i, j)*s[i])
		}
	}
	return b
}

func scaleCols(a dmat, s []float64) dmat {
	b := newDmat(a.n, a.m)
	for i := range a.n {
		for j := range a.m {
			b.set(i, j, a.at(i, j)*s[j])
		}
	}
	return b
}

// gram returns XᵀX (h × h) computed with the f32 GEMM tile.
func gram(x weights.Matrix) dmat {
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

func unsafeInt8(b []byte) []int8 {
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

func cpuEngineName() string {
	if kernel.HasVNNI {
		return "cpu/avx512-vnni"
	}
	return "cpu/go"
}
