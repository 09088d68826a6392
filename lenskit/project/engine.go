package project

import (
	"fmt"
	"runtime"
	"sync"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// An Engine runs the dense products behind a projection: the factors of a
// head view (E·W_V, E·W_Oᵀ, …), the two projections of a neuron, and, for
// engines that keep their own memory (GPUs), the screening of a head view in
// column chunks. Engines only propose: every score that decides a result is
// recomputed exactly on the host (float64 sums of float32 factors), so the
// choice of engine changes speed, never results beyond the rounding of the
// factors themselves.
type Engine interface {
	// Name identifies the engine in Stats and benchmark tables.
	Name() string
	// MatMul returns x·w for x of n × d and w of d × m.
	MatMul(x, w weights.Matrix) (weights.Matrix, error)
	// ChunkMax returns, for every row i of a and every chunk c of
	// chunk consecutive rows of b, max_j a_i·b_j over the chunk, as an
	// a.Rows × ceil(b.Rows/chunk) row-major array. Values may carry float32
	// rounding error; callers allow for it.
	ChunkMax(a, b weights.Matrix, chunk int) ([]float32, error)
}

// CPU returns the engine built on lenskit's own AVX-512 tiles (pure Go on
// CPUs without AVX-512). Head views on this engine use the int8 screening
// search, which is faster than any engine's ChunkMax on a CPU.
func CPU() Engine { return cpuEngine{} }

type cpuEngine struct{}

func (cpuEngine) Name() string { return cpuEngineName() }

// parallelRows runs f over [0, n) in chunks of step on all cores.
func parallelRows(n, step int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	chunks := (n + step - 1) / step
	if workers > chunks {
		workers = chunks
	}
	if workers <= 1 {
		f(0, n)
		return
	}
	var next sync.Mutex
	cur := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				lo := cur
				cur += step
				next.Unlock()
				if lo >= n {
					return
				}
				f(lo, min(lo+step, n))
			}
		}()
	}
	wg.Wait()
}

func (e cpuEngine) MatMul(x, w weights.Matrix) (weights.Matrix, error) {
	out := weights.NewMatrix(x.Rows, w.Cols)
	return out, e.MatMulInto(x, w, out)
}

// MatMulInto computes x·w into out (x.Rows × w.Cols), so that benchmarks of
// a plain GEMM measure arithmetic rather than page faults of a fresh
// output. x may hold bfloat16 (see matMulBF16); w is used as float32.
func (cpuEngine) MatMulInto(x, w, out weights.Matrix) error {
	if x.Cols != w.Rows || out.Rows != x.Rows || out.Cols != w.Cols {
		return fmt.Errorf("project: MatMul of %v by %v into %v", x, w, out)
	}
	if x.IsBF16() {
		return matMulBF16(x, w, out)
	}
	w = w.F32()
	n, d, m := x.Rows, x.Cols, w.Cols
	if m <= 2 {
		// One or two directions (a neuron's columns on one side): a
		// memory-bound GEMV, where a 64-wide GEMM panel would compute 32
		// or 64 times the product. One direction is paired with zeros.
		wx, wy := w.Col(0), make([]float32, d)
		if m == 2 {
			wy = w.Col(1)
		}
		parallelRows(n, 1024, func(lo, hi int) {
			var o [8]float32
			var buf []float32
			for r := lo; r < hi; r += 4 {
				rows := x.Data[r*d:]
				if r+4 > hi || r+4 > n {
					// Tail: copy into a zero-padded block of 4 rows.
					buf = make([]float32, 4*d)
					copy(buf, x.Data[r*d:min(hi, n)*d])
					rows = buf
				}
				kernel.Gemv2(rows, d, wx, wy, &o)
				for k := 0; k < 4 && r+k < hi; k++ {
					copy(out.Data[(r+k)*m:(r+k+1)*m], o[2*k:2*k+m])
				}
			}
		})
		return nil
	}
	packed := packF32Panels(w)
	panels := len(packed)
	parallelRows(n, 96, func(lo, hi int) {
		tile := make([]float32, kernel.F32Rows*kernel.F32Cols)
		pad := make([]float32, kernel.F32Rows*d)
		for r := lo; r < hi; r += kernel.F32Rows {
			rows, lda := x.Data[r*d:], d
			if r+kernel.F32Rows > n {
				clear(pad)
				copy(pad, x.Data[r*d:n*d])
				rows = pad
			}
			for p := range panels {
				c0 := p * kernel.F32Cols
				if c0+kernel.F32Cols <= m && r+kernel.F32Rows <= n {
					// Whole tiles go straight to the output (no copy).
					kernel.Sgemm(rows, lda, packed[p], d, out.Data[r*m+c0:], m)
					continue
				}
				kernel.Sgemm(rows, lda, packed[p], d, tile, kernel.F32Cols)
				for k := 0; k < kernel.F32Rows && r+k < hi; k++ {
					copy(out.Data[(r+k)*m+c0:(r+k)*m+min(m, c0+kernel.F32Cols)], tile[k*kernel.F32Cols:])
				}
			}
		}
	})
	return nil
}

func (e cpuEngine) ChunkMax(a, b weights.Matrix, chunk int) ([]float32, error) {
	if a.Cols != b.Cols || chunk <= 0 {
		return nil, fmt.Errorf("project: ChunkMax of %v and %v with chunk %d", a, b, chunk)
	}
	s, err := e.MatMul(a, b.T())
	if err != nil {
		return nil, err
	}
	nc := (b.Rows + chunk - 1) / chunk
	out := make([]float32, a.Rows*nc)
	for i := range a.Rows {
		row := s.Row(i)
		for c := range nc {
			mx := row[c*chunk]
			for _, v := range row[c*chunk : min((c+1)*chunk, b.Rows)] {
				mx = max(mx, v)
			}
			out[i*nc+c] = mx
		}
	}
	return out, nil
}

func cpuEngineName() string {
	if kernel.HasVNNI {
		return "cpu/avx512-vnni"
	}
	return "cpu/go"
}
