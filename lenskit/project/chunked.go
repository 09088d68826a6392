package project

import (
	"math"
	"slices"
	"sort"

	"lenskit.dev/lenskit/weights"
)

// searchPairsChunked is the exact pair search for engines that keep their
// own memory (GPUs): the engine computes A·Bᵀ a block of rows at a time and
// reduces each row to the maxima of column chunks on the device, so only
// 1/chunk of the scores crosses back to the host; the host rescores exactly
// every chunk whose maximum, widened by the engine's worst-case rounding,
// reaches the running threshold θ.
//
// Rows and columns are sorted by norm (descending) first, so that once
// |a_i|·max|b| cannot reach θ no later row can either.
func searchPairsChunked(q pairQuery, eng Engine) ([]Pair, Stats, error) {
	const chunk = 256
	const rowBlock = 4096
	h := q.A.Cols
	rows, cols, sign, st, err := q.resolve(eng.Name())
	if err != nil || st.Rows == 0 || st.Cols == 0 || q.K <= 0 {
		return nil, st, err
	}
	gather := func(m weights.Matrix, ids []int, sgn float32) (weights.Matrix, []float64) {
		norms := make([]float64, len(ids))
		for i, id := range ids {
			norms[i] = norm64(m.Row(id))
		}
		order := seq(len(ids))
		sort.SliceStable(order, func(x, y int) bool { return norms[order[x]] > norms[order[y]] })
		g := weights.NewMatrix(len(ids), m.Cols)
		sorted := make([]float64, len(ids))
		for pos, i := range order {
			for k, v := range m.Row(ids[i]) {
				g.Data[pos*m.Cols+k] = v * sgn
			}
			sorted[pos] = norms[i]
		}
		ids2 := make([]int, len(ids))
		for pos, i := range order {
			ids2[pos] = ids[i]
		}
		copy(ids, ids2)
		return g, sorted
	}
	rows, cols = slices.Clone(rows), slices.Clone(cols)
	A, nA := gather(q.A, rows, sign)
	B, nB := gather(q.B, cols, 1)
	nc := (len(cols) + chunk - 1) / chunk
	chunkNorm := make([]float64, nc) // max |b| in a chunk = its first (sorted)
	for c := range nc {
		chunkNorm[c] = nB[c*chunk]
	}
	// Worst-case relative error of a float32 dot product on any engine,
	// including TF32 tensor cores (10-bit mantissa inputs).
	rel := 0x1p-10 + float64(h+2)*0x1p-24

	heap := topHeap{k: q.K}
	theta := math.Inf(-1)
	for r0 := 0; r0 < len(rows); r0 += rowBlock {
		if heap.full() && nA[r0]*nB[0]*(1+rel) < theta {
			break
		}
		r1 := min(r0+rowBlock, len(rows))
		blk := weights.Matrix{Rows: r1 - r0, Cols: h, Data: A.Data[r0*h : r1*h]}
		mx, err := eng.ChunkMax(blk, B, chunk)
		if err != nil {
			return nil, st, err
		}
		st.SpentFLOPs += 2 * float64(r1-r0) * float64(len(cols)) * float64(h)
		for i := r0; i < r1; i++ {
			if heap.full() && nA[i]*nB[0]*(1+rel) < theta {
				break
			}
			for c := range nc {
				if heap.full() && float64(mx[(i-r0)*nc+c])+rel*nA[i]*chunkNorm[c] < theta {
					continue
				}
				for j := c * chunk; j < min((c+1)*chunk, len(cols)); j++ {
					cd := cand{score: dot64(A.Row(i), B.Row(j)), src: int32(rows[i]), tgt: int32(cols[j])}
					st.Candidates++
					st.SpentFLOPs += 2 * float64(h)
					if !heap.admits(cd) || (q.Exclude != nil && q.Exclude(rows[i], cols[j])) {
						continue
					}
					heap.offer(cd)
					if heap.full() {
						theta = heap.worst().score
					}
				}
			}
		}
	}
	return bestPairs(heap.h, q.K, sign), st, nil
}
