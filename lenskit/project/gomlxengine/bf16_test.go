package gomlxengine

import (
	"math"
	"math/rand/v2"
	"testing"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// randBF16 returns a rows × cols matrix held as bfloat16 bits.
func randBF16(r *rand.Rand, rows, cols int) weights.Matrix {
	m := weights.Matrix{Rows: rows, Cols: cols, BF16: make([]uint16, rows*cols)}
	for i := range m.BF16 {
		m.BF16[i] = uint16(math.Float32bits(float32(r.NormFloat64())) >> 16)
	}
	return m
}

// roundedToBF16 returns w with every value rounded down to a bfloat16 (as
// raw weights of a BF16 checkpoint are).
func roundedToBF16(w weights.Matrix) weights.Matrix {
	out := weights.NewMatrix(w.Rows, w.Cols)
	for i, v := range w.Data {
		out.Data[i] = math.Float32frombits(math.Float32bits(v) &^ 0xffff)
	}
	return out
}

// TestMatMulBF16MatchesCPU: x held as bfloat16 against w that is exactly
// bfloat16 (the BF16 × BF16 graph) and not (x converted on the device),
// on ragged shapes and with tiles small enough that x is split and its
// last tile padded; results within float32 rounding of the exact product,
// as the CPU engine's.
func TestMatMulBF16MatchesCPU(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(51, 52))
	cpu := project.CPU()
	for _, tileBytes := range []int{e.tileBytes, 64 * 4 * 40} {
		e.tileBytes = tileBytes
		for _, tc := range []struct{ n, d, m int }{
			{1, 1, 1}, {7, 5, 2}, {97, 33, 65}, {130, 40, 3}, {300, 64, 128}, {5, 0, 3}, {0, 4, 3},
		} {
			x := randBF16(r, tc.n, tc.d)
			for _, exactW := range []bool{true, false} {
				w := randMatrix(r, tc.d, tc.m, -2, 2)
				if exactW {
					w = roundedToBF16(w)
				}
				got, err := e.MatMul(x, w)
				if err != nil {
					t.Fatalf("%d×%d·%d×%d: %v", tc.n, tc.d, tc.d, tc.m, err)
				}
				want, err := cpu.MatMul(x, w)
				if err != nil {
					t.Fatal(err)
				}
				if got.Rows != tc.n || got.Cols != tc.m || len(got.Data) != tc.n*tc.m {
					t.Fatalf("%d×%d·%d×%d: got %v with %d values", tc.n, tc.d, tc.d, tc.m, got, len(got.Data))
				}
				exact, scale := exactMatMul(x, w)
				for i := range exact {
					if !closeTo(got.Data[i], exact[i], scale[i], tc.d) || !closeTo(want.Data[i], exact[i], scale[i], tc.d) {
						t.Fatalf("%d×%d·%d×%d (w bfloat16: %v, tile %d B): entry %d: gomlx %g, cpu %g, exact %g",
							tc.n, tc.d, tc.d, tc.m, exactW, tileBytes, i, got.Data[i], want.Data[i], exact[i])
					}
				}
			}
		}
	}
}

// TestMatMulBF16NaN: a NaN in a row of x gives NaN in that output row
// only, on both graphs.
func TestMatMulBF16NaN(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(53, 54))
	x := randBF16(r, 70, 24)
	x.BF16[33*24+7] = 0x7fc0
	for _, exactW := range []bool{true, false} {
		w := randMatrix(r, 24, 5, -1, 1)
		if exactW {
			w = roundedToBF16(w)
		}
		got, err := e.MatMul(x, w)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got.Data {
			if (i/5 == 33) != math.IsNaN(float64(v)) {
				t.Fatalf("w bfloat16 %v: NaN in row 33, output (%d, %d) = %g", exactW, i/5, i%5, v)
			}
		}
	}
}

// TestMatMulBF16KeepsOperandOnDevice: a large BF16 x is kept from its
// second use (as BFloat16, half the bytes of float32), reused, and a
// refill of the same slice is noticed.
func TestMatMulBF16KeepsOperandOnDevice(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(55, 56))
	x := randBF16(r, 1024, 256) // 256 Ki values: cached
	for range 3 {
		w := roundedToBF16(randMatrix(r, 256, 8, -1, 1))
		got, err := e.MatMul(x, w)
		if err != nil {
			t.Fatal(err)
		}
		exact, scale := exactMatMul(x, w)
		for i := range exact {
			if !closeTo(got.Data[i], exact[i], scale[i], 256) {
				t.Fatalf("entry %d: got %g, want %g", i, got.Data[i], exact[i])
			}
		}
	}
	if len(e.bufs) != 1 || e.bufs[0].bytes != 2*1024*256 {
		t.Fatalf("after three products with one BF16 E: %d cached buffers; want 1 of %d bytes", len(e.bufs), 2*1024*256)
	}
	for i := range x.BF16 {
		x.BF16[i] ^= 0x8000 // negate
	}
	w := roundedToBF16(randMatrix(r, 256, 8, -1, 1))
	got, err := e.MatMul(x, w)
	if err != nil {
		t.Fatal(err)
	}
	exact, scale := exactMatMul(x, w)
	for i := range exact {
		if !closeTo(got.Data[i], exact[i], scale[i], 256) {
			t.Fatalf("after refilling x: entry %d: got %g, want %g (stale device copy?)", i, got.Data[i], exact[i])
		}
	}
}

func TestMatMulBF16BadInput(t *testing.T) {
	e := goEngine(t)
	x := weights.Matrix{Rows: 3, Cols: 4, BF16: make([]uint16, 11)}
	if _, err := e.MatMul(x, weights.NewMatrix(4, 2)); err == nil {
		t.Error("MatMul accepted a BF16 matrix with too few values")
	}
}
