package project

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

func toBF16(v float32) uint16 { return uint16(math.Float32bits(v) >> 16) }

// randBF16Matrix returns an n × d matrix held as bfloat16 bits.
func randBF16Matrix(r *rand.Rand, n, d int) weights.Matrix {
	x := weights.Matrix{Rows: n, Cols: d, BF16: make([]uint16, n*d)}
	for i := range x.BF16 {
		x.BF16[i] = toBF16(float32(r.NormFloat64()))
	}
	return x
}

// randW returns a d × m float32 matrix; with exact its values are
// bfloat16 (as raw weights of a BF16 checkpoint), else arbitrary float32
// (as after folding a norm gain into W_V).
func randW(r *rand.Rand, d, m int, exact bool) weights.Matrix {
	w := weights.NewMatrix(d, m)
	for i := range w.Data {
		v := float32(r.NormFloat64())
		if exact {
			v = weights.BF16ToF32(toBF16(v))
		}
		w.Data[i] = v
	}
	return w
}

// checkProduct compares out with x·w computed in float64, allowing the
// bound of the VDPBF16PS path (the loosest of the three paths):
// γ_{d+1}·Σ|x_k·w_k| + 2⁻¹²⁶·(Σ|w_k| + d + 1).
func checkProduct(t *testing.T, what string, x, w, out weights.Matrix) {
	t.Helper()
	n, d, m := x.Rows, x.Cols, w.Cols
	g := float64(d+1) * 0x1p-24 / (1 - float64(d+1)*0x1p-24)
	xr := make([]float32, d)
	for i := range n {
		x.RowInto(xr, i)
		for j := range m {
			var exact, abs, wsum float64
			for k := range d {
				p := float64(xr[k]) * float64(w.Data[k*m+j])
				exact += p
				abs += math.Abs(p)
				wsum += math.Abs(float64(w.Data[k*m+j]))
			}
			bound := g*abs + 0x1p-126*(wsum+float64(d+1))
			got := float64(out.Data[i*m+j])
			if e := math.Abs(got - exact); !(e <= bound) {
				t.Fatalf("%s: %v·%v: element (%d, %d) = %g, exact %g: error %.3g > bound %.3g", what, x, w, i, j, got, exact, e, bound)
			}
		}
	}
}

// TestMatMulBF16 checks the CPU engine's product with x held as bfloat16
// against float64 on ragged shapes — n not a multiple of the 6-row tile or
// the 96-row chunk, m not a multiple of the 64-column panel, d odd (the
// last pair half-empty) and longer than a block — for w exactly bfloat16
// (the VDPBF16PS tile where the CPU has it) and not (float32 tile), and
// m ≤ 8 (streaming GEMV).
func TestMatMulBF16(t *testing.T) {
	defer func(k func(int) int) { bf16BlockK = k }(bf16BlockK)
	bf16BlockK = func(int) int { return 64 } // several blocks even at small d
	r := rand.New(rand.NewPCG(31, 32))
	e := CPU().(cpuEngine)
	for _, s := range []struct{ n, d, m int }{
		{1, 1, 1}, {7, 3, 2}, {13, 17, 3}, {100, 65, 8}, {6, 64, 9}, {101, 301, 64},
		{200, 130, 65}, {97, 1, 130}, {5, 200, 256}, {0, 4, 70}, {3, 0, 70},
	} {
		x := randBF16Matrix(r, s.n, s.d)
		for _, exact := range []bool{true, false} {
			w := randW(r, s.d, s.m, exact)
			out, err := e.MatMul(x, w)
			if err != nil {
				t.Fatal(err)
			}
			checkProduct(t, "MatMul", x, w, out)
			if s.m > kernel.GemvMaxDirs && s.n > 0 && s.d > 0 {
				// Both GEMM paths, whatever the CPU and w.
				if exact {
					packed := make([][]uint16, (s.m+63)/64)
					for p := range packed {
						packed[p] = make([]uint16, kernel.BF16PanelLen(s.d))
						kernel.PackBF16(packed[p], w.Data, s.d, s.m, 64*p)
					}
					o := weights.NewMatrix(s.n, s.m)
					matMulBF16Tiles(x, packed, o)
					checkProduct(t, "VDPBF16PS tiles", x, w, o)
				}
				o := weights.NewMatrix(s.n, s.m)
				matMulBF16ViaF32(x, packF32Panels(w), o)
				checkProduct(t, "float32 tiles", x, w, o)
			}
		}
	}
}

// TestMatMulBF16Blocks: the blocked VDPBF16PS path gives the same bits
// whatever the block length (the tile continues its sums across blocks).
func TestMatMulBF16Blocks(t *testing.T) {
	defer func(k func(int) int) { bf16BlockK = k }(bf16BlockK)
	r := rand.New(rand.NewPCG(33, 34))
	x := randBF16Matrix(r, 50, 333)
	w := randW(r, 333, 100, true)
	packed := make([][]uint16, 2)
	for p := range packed {
		packed[p] = make([]uint16, kernel.BF16PanelLen(333))
		kernel.PackBF16(packed[p], w.Data, 333, 100, 64*p)
	}
	var first weights.Matrix
	for _, k := range []int{2, 64, 100, 1024} {
		bf16BlockK = func(int) int { return k }
		o := weights.NewMatrix(50, 100)
		matMulBF16Tiles(x, packed, o)
		if first.Data == nil {
			first = o
			continue
		}
		for i := range o.Data {
			if math.Float32bits(o.Data[i]) != math.Float32bits(first.Data[i]) {
				t.Fatalf("block %d: element %d is %g, block 2 gives %g", k, i, o.Data[i], first.Data[i])
			}
		}
	}
}

// TestMatMulBF16NonFinite: a NaN in a row of x makes every output of that
// row NaN on every path, and leaves the other rows finite.
func TestMatMulBF16NonFinite(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	e := CPU().(cpuEngine)
	for _, s := range []struct{ n, d, m int }{{9, 33, 3}, {20, 129, 128}, {13, 8, 70}} {
		for _, exact := range []bool{true, false} {
			x := randBF16Matrix(r, s.n, s.d)
			bad := s.n / 2
			x.BF16[bad*s.d+s.d-1] = 0x7fc0 // NaN in the last coordinate
			w := randW(r, s.d, s.m, exact)
			out, err := e.MatMul(x, w)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range out.Data {
				if (i/s.m == bad) != math.IsNaN(float64(v)) {
					t.Fatalf("%d×%d·%d×%d (exact w %v): NaN in row %d, output (%d, %d) = %g", s.n, s.d, s.d, s.m, exact, bad, i/s.m, i%s.m, v)
				}
			}
		}
	}
}

// TestMatMulBF16MatchesF32: the same numbers held as bfloat16 and as
// float32 give products within twice the bound of each other.
func TestMatMulBF16MatchesF32(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	e := CPU()
	x := randBF16Matrix(r, 61, 257)
	for _, m := range []int{2, 5, 128} {
		w := randW(r, 257, m, true)
		got, err := e.MatMul(x, w)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.MatMul(x.F32(), w)
		if err != nil {
			t.Fatal(err)
		}
		checkProduct(t, "BF16 x", x, w, got)
		checkProduct(t, "float32 x", x.F32(), w, want)
	}
}

func TestMatMulBF16BadInput(t *testing.T) {
	e := CPU()
	x := weights.Matrix{Rows: 3, Cols: 4, BF16: make([]uint16, 11)}
	if _, err := e.MatMul(x, weights.NewMatrix(4, 2)); err == nil {
		t.Error("MatMul accepted a BF16 matrix with too few values")
	}
	x.BF16 = make([]uint16, 12)
	if _, err := e.MatMul(x, weights.NewMatrix(5, 2)); err == nil {
		t.Error("MatMul accepted mismatched inner dimensions")
	}
}

// fillBF16 fills x with bfloat16 values of a normal-like spread cheaply
// (a gigabyte of random normals would take longer than the benchmark).
func fillBF16(x []uint16) {
	var table [4096]uint16
	r := rand.New(rand.NewPCG(39, 40))
	for i := range table {
		table[i] = toBF16(float32(r.NormFloat64()))
	}
	s := uint64(0x9e3779b97f4a7c15)
	for i := 0; i+4 <= len(x); i += 4 {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		x[i], x[i+1], x[i+2], x[i+3] = table[s&4095], table[s>>12&4095], table[s>>24&4095], table[s>>36&4095]
	}
}

// BenchmarkLlamaShapeBF16 runs the CPU engine's BF16 products at
// Llama-3-8B shapes on all cores: x = E, 128,256 × 4,096 bfloat16 (1 GB,
// allocated as bits, freed afterwards), times
//
//   - factor: a 4,096 × 128 bfloat16-exact W (E·W_V), the VDPBF16PS tile;
//   - factor-scaled: the same W not bfloat16-exact (norm gains folded in),
//     converted rows × the float32 tile;
//   - gemv3: a neuron's 3 directions, the streaming GEMV (GB/s of x read).
//
// Rates per CPU-second come with the wall-clock ones: on a shared machine
// the latter measure the sharing.
func BenchmarkLlamaShapeBF16(b *testing.B) {
	const n, d = 128256, 4096
	x := weights.Matrix{Rows: n, Cols: d, BF16: make([]uint16, n*d)}
	fillBF16(x.BF16)
	defer func() {
		x.BF16 = nil
		runtime.GC()
		debug.FreeOSMemory()
	}()
	e := CPU().(cpuEngine)
	r := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct {
		name  string
		m     int
		exact bool
	}{{"factor", 128, true}, {"factor-scaled", 128, false}, {"gemv3", 3, false}} {
		w := randW(r, d, c.m, c.exact)
		out := weights.NewMatrix(n, c.m)
		b.Run(c.name, func(b *testing.B) {
			if c.m <= kernel.GemvMaxDirs {
				b.SetBytes(2 * n * d)
			}
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if err := e.MatMulInto(x, w, out); err != nil {
					b.Fatal(err)
				}
			}
			cpu := cpuSeconds() - cpu0
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/op")
			if c.m > kernel.GemvMaxDirs {
				flop := 2 * float64(n) * d * float64(c.m) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop/cpu/1e9, "GFLOP/cpu-s")
			} else {
				b.ReportMetric(2*float64(n)*d*float64(b.N)/cpu/1e9, "GB/cpu-s")
			}
		})
	}
}
