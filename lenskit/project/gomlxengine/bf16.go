package gomlxengine

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// matMulBF16 computes x·w into out for x held as bfloat16 bits (E or W_U
// of a BF16 checkpoint), never converting x as a whole on the host.
//
// x goes to the backend as BFloat16, in tiles of rows like ChunkMax's a:
// each tile's float32 equivalent within tileBytes (64 MiB on the Go
// backend, whose buffers are host memory; 1 GiB on a device, so E of a
// Llama-3-8B-sized model is two tiles, each kept on the device from its
// second use like any large operand). When every value of w is itself a
// bfloat16 (raw weights), w goes as BFloat16 too and the graph is one
// BF16 × BF16 dot with float32 accumulation and output: the products are
// exact and XLA on a GPU can use its BF16 matrix units. Otherwise (w
// scaled, for example by folded norm gains) the graph converts the tile to
// float32 on the device and multiplies in float32. Either way each output
// is a float32 sum of exact products, within γ_d·Σ|x_k·w_k| of the exact
// value whatever order the backend sums in.
func (e *Engine) matMulBF16(x, w, out weights.Matrix) error {
	n, d, m := x.Rows, x.Cols, w.Cols
	exact := true
	for _, v := range w.Data {
		if !kernel.IsBF16(v) {
			exact = false
			break
		}
	}
	op := opMatMulBF16F32
	var wbits []uint16
	if exact {
		op = opMatMulBF16
		wbits = make([]uint16, len(w.Data))
		for i, v := range w.Data {
			wbits[i] = uint16(math.Float32bits(v) >> 16)
		}
	}
	tile := max(1, e.tileBytes/(4*d))
	if tile > rowRound {
		tile -= tile % rowRound
	}
	tile = min(tile, roundUp(n, rowRound))
	return e.locked(func() error {
		var wb compute.Buffer
		var releaseW func()
		var err error
		if exact {
			wb, releaseW, err = upload(e, wbits, 0, d, m, false, nil)
		} else {
			wb, releaseW, err = upload(e, w.Data, 0, d, m, false, nil)
		}
		if err != nil {
			return fmt.Errorf("w: %w", err)
		}
		defer releaseW()
		var pad []uint16
		for r0 := 0; r0 < n; r0 += tile {
			r1 := min(r0+tile, n)
			rows := tile
			if r1-r0 < tile {
				// A partial tile is padded with zero rows to a multiple of
				// rowRound, so that few shapes are compiled.
				rows = min(tile, roundUp(r1-r0, rowRound))
			}
			g, err := e.graph(graphKey{op: op, r: rows, h: d, n: m}, buildMatMulBF16)
			if err != nil {
				return err
			}
			data := x.BF16[r0*d : r1*d]
			if rows != r1-r0 {
				pad = append(pad[:0], data...)
				pad = append(pad, make([]uint16, (rows-(r1-r0))*d)...)
				data = pad
			}
			xb, releaseX, err := upload(e, data, 0, rows, d, len(data) >= minCachedElems && rows == r1-r0, nil)
			if err != nil {
				return fmt.Errorf("x rows %d–%d: %w", r0, r1, err)
			}
			dst := out.Data[r0*m : r1*m]
			var tmp []float32
			if rows != r1-r0 {
				tmp = make([]float32, rows*m)
				dst = tmp
			}
			err = e.run(g, []compute.Buffer{xb, wb}, dst)
			releaseX()
			if err != nil {
				return err
			}
			if tmp != nil {
				copy(out.Data[r0*m:r1*m], tmp)
			}
		}
		return nil
	})
}

// buildMatMulBF16: x (r×h, BFloat16) · w (h×n, BFloat16 for opMatMulBF16,
// else Float32), float32 result.
func buildMatMulBF16(g *graph.Graph, k graphKey) *graph.Node {
	x := graph.Parameter(g, "x", shapes.Make(dtypes.BFloat16, k.r, k.h))
	if k.op == opMatMulBF16 {
		w := graph.Parameter(g, "w", shapes.Make(dtypes.BFloat16, k.h, k.n))
		return graph.Dot(x, w).WithAccumulatorDType(dtypes.Float32).WithOutputDType(dtypes.Float32).Product()
	}
	w := graph.Parameter(g, "w", f32(k.h, k.n))
	return graph.Dot(graph.ConvertDType(x, dtypes.Float32), w).Product()
}
