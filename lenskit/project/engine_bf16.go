package project

import (
	"fmt"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// The CPU engine's products with x held as bfloat16 (weights.Matrix.BF16:
// E or W_U of a BF16 checkpoint, aliasing the mapped file). x is never
// converted as a whole — a float32 copy of a 128,256 × 4,096 embedding
// would be 2 GB more — and is read in place by one of three paths:
//
//   - m ≤ 8 (a neuron's directions): kernel.GemvBF16 streams x once,
//     converting each chunk on load; it runs at memory bandwidth.
//   - m > 8 with every value of w a bfloat16 (raw weights of a BF16
//     checkpoint) and AVX512_BF16: kernel.SgemmBF16, the VDPBF16PS tile,
//     on w packed as bfloat16 pairs, blocked over the inner dimension so
//     that the packed w of a block stays in cache while it serves many rows.
//   - otherwise (w was scaled, for example by folded norm gains, or the CPU
//     lacks AVX512_BF16): rows of x are converted to float32 six at a
//     time into per-worker scratch and multiplied by the float32 tile.
//
// Error bounds, for an output Σ_k x_k·w_k with n = d+1 and u = 2⁻²⁴: the
// float32 paths are within γ_d·Σ|x_k·w_k|; the VDPBF16PS path within
// γ_n·Σ|x_k·w_k| + 2⁻¹²⁶·(Σ|w_k| + n), γ_n = n·u/(1−n·u), because the
// instruction reads subnormal x as zero and flushes subnormal partial sums
// (see kernel.SgemmBF16).

// bf16PanelBytes bounds the packed w of one block of coordinates (all
// panels) in the VDPBF16PS path: about one core's L2 (1 MB here), so that
// it stays there while a chunk's row tiles pass over it. For d = 4,096 a
// head factor's 2 panels (m = 128) need no blocking, a layer scan's 4
// (m = 256) two blocks. Measured on one core of the shared 2-core machine
// (GFLOP per CPU-second, medians of noisy runs): for m = 128, smaller
// blocks were slower — 7 % at 512 KB, 13 % at 256 KB, 30 % at 128 KB
// (short runs along each row of x defeat the prefetchers); for m = 256,
// 1 MB blocks and none (2 MB) were within noise of each other.
var bf16PanelBytes = 1 << 20

// bf16BlockK returns the number of coordinates (even, at least 2) of one
// block for the given number of panels; tests override it.
var bf16BlockK = func(panels int) int {
	return max(2, bf16PanelBytes/(panels*kernel.BF16Cols*2*2)*2)
}

// bf16ChunkRows is the number of rows of x one worker takes at a time (a
// multiple of the tile's 6 rows).
var bf16ChunkRows = 96

// matMulBF16 computes x·w into out for x held as bfloat16 bits. Shapes are
// checked by the caller.
func matMulBF16(x, w, out weights.Matrix) error {
	n, d, m := x.Rows, x.Cols, w.Cols
	if len(x.BF16) != n*d {
		return fmt.Errorf("project: MatMul: %v holds %d values", x, len(x.BF16))
	}
	w = w.F32()
	if len(w.Data) != d*m || len(out.Data) != n*m {
		return fmt.Errorf("project: MatMul of %v by %v into %v: wrong data lengths", x, w, out)
	}
	if n == 0 || m == 0 {
		return nil
	}
	if d == 0 {
		clear(out.Data)
		return nil
	}
	if m <= kernel.GemvMaxDirs {
		g, err := kernel.NewGemvDirs(w.Data, d, m)
		if err != nil {
			return fmt.Errorf("project: MatMul of %v by %v: %w", x, w, err)
		}
		parallelRows(n, 1024, func(lo, hi int) {
			kernel.GemvBF16(x.BF16[lo*d:hi*d], d, hi-lo, g, out.Data[lo*m:hi*m])
		})
		return nil
	}
	panels := (m + kernel.BF16Cols - 1) / kernel.BF16Cols
	if kernel.HasBF16 {
		packed := make([][]uint16, panels)
		ok := true
		for p := range panels {
			packed[p] = make([]uint16, kernel.BF16PanelLen(d))
			if ok = kernel.PackBF16(packed[p], w.Data, d, m, p*kernel.BF16Cols); !ok {
				break
			}
		}
		if ok {
			matMulBF16Tiles(x, packed, out)
			return nil
		}
	}
	matMulBF16ViaF32(x, packF32Panels(w), out)
	return nil
}

// matMulBF16Tiles runs the VDPBF16PS tile over x. Each worker takes chunks
// of bf16ChunkRows rows; for each block of coordinates, each 6-row tile
// of the chunk meets every panel's block of packed w (the tile's rows of x
// stay in L1 across the panels), accumulating into per-worker scratch
// (the same bits as one pass over all coordinates); the chunk's finished
// rows are then copied out.
func matMulBF16Tiles(x weights.Matrix, packed [][]uint16, out weights.Matrix) {
	n, d, m := x.Rows, x.Cols, out.Cols
	const tr, tc = kernel.BF16Rows, kernel.BF16Cols
	chunk := bf16ChunkRows
	panels := len(packed)
	kc := bf16BlockK(panels)
	direct := m%tc == 0 // whole tiles accumulate straight into out
	parallelRows(n, chunk, func(lo, hi int) {
		tiles := (hi - lo + tr - 1) / tr
		var acc []float32
		if !direct {
			acc = make([]float32, tiles*panels*tr*tc)
		}
		var pad []uint16
		var padAcc []float32
		if (hi-lo)%tr != 0 {
			// The last tile of the last chunk: zero rows after x's end.
			pad = make([]uint16, tr*d)
			copy(pad, x.BF16[(lo+(tiles-1)*tr)*d:hi*d])
			padAcc = make([]float32, panels*tr*tc)
		}
		// dst is where tile t's panel p accumulates, with its row stride.
		dst := func(t, p int) ([]float32, int) {
			switch {
			case t == tiles-1 && pad != nil:
				return padAcc[p*tr*tc:], tc
			case direct:
				return out.Data[(lo+t*tr)*m+p*tc:], m
			}
			return acc[(t*panels+p)*tr*tc:], tc
		}
		for k0 := 0; k0 < d; k0 += kc {
			kl := min(kc, d-k0)
			for t := range tiles {
				rows := x.BF16[(lo+t*tr)*d:]
				if t == tiles-1 && pad != nil {
					rows = pad
				}
				for p, b := range packed {
					o, ldo := dst(t, p)
					kernel.SgemmBF16(rows[k0:], d, b[k0*tc:], kl, o, ldo, k0 > 0)
				}
			}
		}
		for t := range tiles {
			if direct && !(t == tiles-1 && pad != nil) {
				continue
			}
			for p := range panels {
				c0 := p * tc
				tile, _ := dst(t, p)
				for r := 0; r < tr && lo+t*tr+r < hi; r++ {
					row := lo + t*tr + r
					copy(out.Data[row*m+c0:row*m+min(m, c0+tc)], tile[r*tc:])
				}
			}
		}
	})
}

// matMulBF16ViaF32 converts six rows of x at a time to float32 and
// multiplies them by w's float32 panels.
func matMulBF16ViaF32(x weights.Matrix, packed [][]float32, out weights.Matrix) {
	n, d, m := x.Rows, x.Cols, out.Cols
	const tr, tc = kernel.F32Rows, kernel.F32Cols
	parallelRows(n, 96, func(lo, hi int) {
		rows := make([]float32, tr*d)
		tile := make([]float32, tr*tc)
		for r := lo; r < hi; r += tr {
			nr := min(tr, hi-r)
			kernel.ConvertBF16(rows, x.BF16[r*d:(r+nr)*d])
			clear(rows[nr*d:])
			for p, b := range packed {
				c0 := p * tc
				kernel.Sgemm(rows, d, b, d, tile, tc)
				for k := range nr {
					copy(out.Data[(r+k)*m+c0:(r+k)*m+min(m, c0+tc)], tile[k*tc:])
				}
			}
		}
	})
}

// packF32Panels lays w (d × m, float32) out as the f32 tile's panels: for
// each 64 columns, d rows of 64 floats, zero past m.
func packF32Panels(w weights.Matrix) [][]float32 {
	d, m := w.Rows, w.Cols
	panels := (m + kernel.F32Cols - 1) / kernel.F32Cols
	packed := make([][]float32, panels)
	for p := range panels {
		packed[p] = make([]float32, d*kernel.F32Cols)
		c0 := p * kernel.F32Cols
		cols := min(kernel.F32Cols, m-c0)
		for k := range d {
			copy(packed[p][k*kernel.F32Cols:k*kernel.F32Cols+cols], w.Data[k*m+c0:k*m+c0+cols])
		}
	}
	return packed
}
