package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

func bf16Bits(v float32) uint16 { return uint16(math.Float32bits(v) >> 16) }

func bf16Val(b uint16) float64 { return float64(math.Float32frombits(uint32(b) << 16)) }

// randBF16 returns a random bfloat16: mostly N(0, 1)-like values, and with
// special set also the values that exercise the instruction's edges —
// subnormals, products that underflow or overflow float32, zeros of both
// signs, Inf and NaN.
func randBF16(r *rand.Rand, special bool) uint16 {
	v := float32(r.NormFloat64())
	if special {
		switch r.IntN(20) {
		case 0:
			return uint16(r.IntN(128)) | uint16(r.IntN(2))<<15 // subnormal or ±0
		case 1:
			v *= 0x1p-63 // products with another tiny value underflow
		case 2:
			v *= 0x1p-70
		case 3:
			v *= 0x1p64 // products with another huge value overflow
		case 4:
			v *= 0x1p-120
		case 5:
			if r.IntN(4) == 0 {
				return 0x7f80 | uint16(r.IntN(2))<<15 // ±Inf
			}
		case 6:
			if r.IntN(8) == 0 {
				return 0x7fc1 // NaN
			}
		case 7, 8, 9:
			// 2⁻⁶⁵…2⁻⁵⁷: products of two land around the smallest
			// normal, where rounding and flushing interact.
			return uint16(r.IntN(2))<<15 | uint16(0x1f00+r.IntN(0x400))
		}
	}
	return bf16Bits(v)
}

// packedFrom builds a d × m float32 W whose values are bfloat16 (with
// subnormals replaced by zero, as PackBF16 requires) and packs it.
func packedFrom(r *rand.Rand, d, m int, special bool) ([]float32, [][]uint16) {
	w := make([]float32, d*m)
	for i := range w {
		b := randBF16(r, special)
		if b&0x7f80 == 0 {
			b &= 0x8000
		}
		w[i] = math.Float32frombits(uint32(b) << 16)
	}
	var panels [][]uint16
	for c0 := 0; c0 < m; c0 += BF16Cols {
		p := make([]uint16, BF16PanelLen(d))
		if !PackBF16(p, w, d, m, c0) {
			panic("PackBF16 rejected bfloat16 values")
		}
		panels = append(panels, p)
	}
	return w, panels
}

func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// TestSgemmBF16BitIdentical checks that the Go twin computes the bits the
// assembly computes, on shapes with odd d (the last pair half padded) and
// on values at every edge of the instruction: subnormal inputs, underflow
// and overflow of products, cancellations, Inf and NaN.
func TestSgemmBF16BitIdentical(t *testing.T) {
	if !HasBF16 {
		t.Skip("CPU has no AVX512_BF16; the Go twin is the only path")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, d := range []int{1, 2, 3, 4, 5, 7, 64, 65, 300, 301} {
		for _, special := range []bool{false, true, true, true} {
			lda, ldo := d+3, BF16Cols+5
			a := make([]uint16, BF16Rows*lda)
			for i := range a {
				a[i] = randBF16(r, special)
			}
			_, panels := packedFrom(r, d, BF16Cols, special)
			got := make([]float32, BF16Rows*ldo)
			want := make([]float32, BF16Rows*ldo)
			SgemmBF16(a, lda, panels[0], d, got, ldo, false)
			sgemmBF16Generic(a, lda, panels[0], d, want, ldo, false)
			for i := range got {
				if !sameFloat(got[i], want[i]) {
					t.Fatalf("d=%d special=%v: element %d: assembly %g (%#08x), Go twin %g (%#08x)",
						d, special, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

// TestSgemmBF16Blocks: a product computed in blocks of coordinates with
// accumulate has the bits of one call, on both paths, for block lengths
// that are even (all but the last, which may be odd).
func TestSgemmBF16Blocks(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, d := range []int{9, 64, 301} {
		a := make([]uint16, BF16Rows*d)
		for i := range a {
			a[i] = randBF16(r, true)
		}
		_, panels := packedFrom(r, d, BF16Cols, true)
		for _, f := range []func(a []uint16, lda int, b []uint16, d int, out []float32, ldo int, acc bool){SgemmBF16, sgemmBF16Generic} {
			whole := make([]float32, BF16Rows*BF16Cols)
			f(a, d, panels[0], d, whole, BF16Cols, false)
			for _, blk := range []int{2, 4, 62} {
				got := make([]float32, BF16Rows*BF16Cols)
				for k0 := 0; k0 < d; k0 += blk {
					f(a[k0:], d, panels[0][k0*BF16Cols:], min(blk, d-k0), got, BF16Cols, k0 > 0)
				}
				for i := range got {
					if !sameFloat(got[i], whole[i]) {
						t.Fatalf("d=%d in blocks of %d: element %d is %g, one call gives %g", d, blk, i, got[i], whole[i])
					}
				}
			}
		}
	}
	if !HasBF16 {
		return
	}
	// Accumulating onto arbitrary values (subnormal ones are read as zero):
	// assembly and twin agree bit for bit.
	const d = 33
	a := make([]uint16, BF16Rows*d)
	for i := range a {
		a[i] = randBF16(r, true)
	}
	_, panels := packedFrom(r, d, BF16Cols, true)
	got := make([]float32, BF16Rows*BF16Cols)
	for i := range got {
		got[i] = math.Float32frombits(uint32(randBF16(r, true))<<16 | uint32(r.IntN(1<<16)))
	}
	want := append([]float32(nil), got...)
	SgemmBF16(a, d, panels[0], d, got, BF16Cols, true)
	sgemmBF16Generic(a, d, panels[0], d, want, BF16Cols, true)
	for i := range got {
		if !sameFloat(got[i], want[i]) {
			t.Fatalf("accumulate: element %d: assembly %g, twin %g", i, got[i], want[i])
		}
	}
}

// TestDpStepSemantics pins, on hand-derived cases, the arithmetic
// SgemmBF16 documents — order of the two products of a pair, one rounding
// per product, exact (fused) products, flushing of subnormal inputs and
// results — on the Go twin and, when the CPU has it, on the instruction.
func TestDpStepSemantics(t *testing.T) {
	const p30 = float32(1 << 30)
	const maxBF16 = 0x1.fep127 // bits 0x7f7f
	negZero := float32(math.Copysign(0, -1))
	sub := math.Float32frombits(0x00010000)                 // a bfloat16 subnormal
	type pair struct{ ae, ao, be, bo float32 }              // a pair (even, odd) and b's
	set := func(v float32) pair { return pair{v, 0, 1, 0} } // acc ← v
	cases := []struct {
		name  string
		pairs []pair
		want  float32
	}{
		// odd product first: (−2³⁰ + 2³⁰) + 1 = 1; even first would give 0.
		{"odd first", []pair{set(-p30), {1, p30, 1, 1}}, 1},
		{"then even", []pair{set(-p30), {p30, 1, 1, 1}}, 0},
		// each addition rounds: 1 + 2⁻²⁴ → 1 (tie to even), twice.
		{"two roundings", []pair{set(1), {0x1p-24, 0x1p-24, 1, 1}}, 1},
		// 1.5·2⁻¹²⁶ − 2⁻¹²⁷: the subnormal product is added exactly.
		{"fused product", []pair{{0x1.8p-63, 0, 0x1p-63, 0}, {0x1p-63, 0, -0x1p-64, 0}}, 0x1p-126},
		// 2⁻¹⁴⁰ is subnormal: flushed to a zero of its sign.
		{"flush result", []pair{{0x1p-70, 0, -0x1p-70, 0}}, negZero},
		// odd step 0 + 2⁻¹²⁷ flushes to 0 before the even step adds 2⁻¹²⁶.
		{"flush between steps", []pair{{0x1p-63, 0x1p-63, 0x1p-63, 0x1p-64}}, 0x1p-126},
		// a subnormal input is read as zero.
		{"subnormal input", []pair{{sub, 0, 0x1p100, 0}}, 0},
		// products beyond float32's range are exact too:
		// 2¹²⁷·2 − max bfloat16 = 2¹²⁰.
		{"overflowing product", []pair{set(-maxBF16), {0x1p127, 0, 2, 0}}, 0x1p120},
	}
	for _, c := range cases {
		var acc float32
		for _, p := range c.pairs {
			// The twin works on already-flushed inputs.
			ae, ao := dazBF16(bf16Bits(p.ae)), dazBF16(bf16Bits(p.ao))
			acc = dpStep(dpStep(acc, ao, p.bo), ae, p.be)
		}
		if !sameFloat(acc, c.want) {
			t.Errorf("%s: Go twin gives %g, want %g", c.name, acc, c.want)
		}
		if !HasBF16 {
			continue
		}
		// The tile: one pair per coordinate pair, all six rows alike.
		d := 2 * len(c.pairs)
		a := make([]uint16, BF16Rows*d)
		b := make([]uint16, BF16PanelLen(d))
		for i, p := range c.pairs {
			for row := range BF16Rows {
				a[row*d+2*i], a[row*d+2*i+1] = bf16Bits(p.ae), bf16Bits(p.ao)
			}
			for col := range BF16Cols {
				b[(i*BF16Cols+col)*2], b[(i*BF16Cols+col)*2+1] = bf16Bits(p.be), bf16Bits(p.bo)
			}
		}
		out := make([]float32, BF16Rows*BF16Cols)
		SgemmBF16(a, d, b, d, out, BF16Cols, false)
		if !sameFloat(out[0], c.want) {
			t.Errorf("%s: VDPBF16PS gives %g, want %g", c.name, out[0], c.want)
		}
	}
}

// gamma is γ_n = n·u/(1−n·u) for float32 (u = 2⁻²⁴).
func gamma(n int) float64 { return float64(n) * 0x1p-24 / (1 - float64(n)*0x1p-24) }

// TestSgemmBF16Bound checks both paths against a float64 reference within
// the documented bound, for ragged d (odd: the padded pair), with and
// without subnormal inputs in A.
func TestSgemmBF16Bound(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, d := range []int{1, 5, 64, 127, 1000, 4097} {
		for _, withSub := range []bool{false, true} {
			lda, ldo := d+1, BF16Cols
			a := make([]uint16, BF16Rows*lda)
			for i := range a {
				a[i] = bf16Bits(float32(r.NormFloat64()))
				if withSub && r.IntN(8) == 0 {
					a[i] = uint16(1 + r.IntN(127)) // subnormal: read as 0
				}
			}
			w, panels := packedFrom(r, d, BF16Cols, false)
			got := make([]float32, BF16Rows*ldo)
			twin := make([]float32, BF16Rows*ldo)
			SgemmBF16(a, lda, panels[0], d, got, ldo, false)
			sgemmBF16Generic(a, lda, panels[0], d, twin, ldo, false)
			n := 2 * ((d + 1) / 2)
			for row := range BF16Rows {
				for c := range BF16Cols {
					var exact, absSum, bSum float64
					for k := range d {
						x, y := bf16Val(a[row*lda+k]), float64(w[k*BF16Cols+c])
						exact += x * y
						absSum += math.Abs(x * y)
						bSum += math.Abs(y)
					}
					bound := gamma(n)*absSum + 0x1p-126*(bSum+float64(n))
					for _, v := range []float32{got[row*ldo+c], twin[row*ldo+c]} {
						if e := math.Abs(float64(v) - exact); !(e <= bound) {
							t.Fatalf("d=%d row %d col %d: %g, exact %g: error %.3g > bound %.3g", d, row, c, v, exact, e, bound)
						}
					}
				}
			}
		}
	}
}

// TestSgemmBF16NonFinite: a NaN in a row of A makes that row's outputs NaN
// (never hidden by the tile), an Inf makes them ±Inf or NaN, and the other
// rows stay finite.
func TestSgemmBF16NonFinite(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, d := range []int{1, 2, 9, 130} {
		for _, bad := range []uint16{0x7fc0, 0x7f80, 0xff80} {
			for _, k := range []int{0, d - 1, d / 2} {
				a := make([]uint16, BF16Rows*d)
				for i := range a {
					a[i] = bf16Bits(float32(r.NormFloat64()))
				}
				a[2*d+k] = bad
				_, panels := packedFrom(r, d, BF16Cols, false)
				for _, f := range []func(a []uint16, lda int, b []uint16, d int, out []float32, ldo int, acc bool){SgemmBF16, sgemmBF16Generic} {
					out := make([]float32, BF16Rows*BF16Cols)
					f(a, d, panels[0], d, out, BF16Cols, false)
					for row := range BF16Rows {
						for c := range BF16Cols {
							v := float64(out[row*BF16Cols+c])
							switch {
							case row != 2 && (math.IsNaN(v) || math.IsInf(v, 0)):
								t.Fatalf("d=%d: row %d is clean but output %d is %g", d, row, c, v)
							case row == 2 && bad == 0x7fc0 && !math.IsNaN(v):
								t.Fatalf("d=%d: NaN at coordinate %d of row 2 gave %g in column %d", d, k, v, c)
							case row == 2 && bad != 0x7fc0 && !math.IsNaN(v) && !math.IsInf(v, 0):
								t.Fatalf("d=%d: Inf at coordinate %d of row 2 gave %g in column %d", d, k, v, c)
							}
						}
					}
				}
			}
		}
	}
}

func TestPackBF16(t *testing.T) {
	const d, m = 5, 70
	w := make([]float32, d*m)
	for i := range w {
		w[i] = float32(i%97) - 48 // small integers: exact bfloat16
	}
	p := make([]uint16, BF16PanelLen(d))
	if !PackBF16(p, w, d, m, 64) {
		t.Fatal("PackBF16 rejected small integers")
	}
	for k := range d + 1 {
		for c := range BF16Cols {
			got := bf16Val(p[k/2*2*BF16Cols+2*c+k%2])
			want := 0.0
			if k < d && 64+c < m {
				want = float64(w[k*m+64+c])
			}
			if got != want {
				t.Fatalf("coordinate %d column %d: packed %g, want %g", k, c, got, want)
			}
		}
	}
	for _, v := range []float32{1 + 0x1p-20, math.Float32frombits(0x00010000), 0x1p-130} {
		w[3*m+66] = v
		if PackBF16(p, w, d, m, 64) {
			t.Errorf("PackBF16 accepted %g (%#08x)", v, math.Float32bits(v))
		}
	}
	for _, v := range []float32{float32(math.Inf(-1)), float32(math.NaN()), float32(math.Copysign(0, -1)), 0x1p-126} {
		if !IsBF16(v) {
			t.Errorf("IsBF16(%g) = false", v)
		}
	}
}

func TestConvertBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{0, 1, 63, 64, 65, 200, 1024} {
		src := make([]uint16, n)
		for i := range src {
			src[i] = uint16(r.Uint32())
		}
		dst := make([]float32, n+1)
		dst[n] = 42
		ConvertBF16(dst, src)
		for i, b := range src {
			if math.Float32bits(dst[i]) != uint32(b)<<16 {
				t.Fatalf("n=%d: element %d: %#08x from %#04x", n, i, math.Float32bits(dst[i]), b)
			}
		}
		if dst[n] != 42 {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
}

// TestGemvBF16 checks GemvBF16 against a float64 reference within
// γ_d·Σ|e·dir| for every number of directions, ragged row counts (not a
// multiple of the kernel's 4 or 2) and ragged d (not a multiple of 16),
// and the assembly against the Go twin within twice that bound.
func TestGemvBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for m := 1; m <= GemvMaxDirs; m++ {
		for _, d := range []int{1, 15, 16, 17, 100, 1024} {
			rows, lde := 1+r.IntN(9), d+r.IntN(20)
			e := make([]uint16, rows*lde)
			for i := range e {
				e[i] = bf16Bits(float32(r.NormFloat64()))
			}
			w := make([]float32, d*m)
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			g, err := NewGemvDirs(w, d, m)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, rows*m)
			GemvBF16(e, lde, rows, g, got)
			twin := make([]float32, rows*m)
			for row := range rows {
				lanes := make([]float32, m*16)
				g.finish(e[row*lde:row*lde+d], 0, lanes, twin[row*m:(row+1)*m])
			}
			for row := range rows {
				for j := range m {
					var exact, absSum float64
					for k := range d {
						p := bf16Val(e[row*lde+k]) * float64(w[k*m+j])
						exact += p
						absSum += math.Abs(p)
					}
					bound := gamma(d) * absSum
					if e := math.Abs(float64(got[row*m+j]) - exact); e > bound {
						t.Fatalf("m=%d d=%d row %d dir %d: %g, exact %g: error %.3g > %.3g", m, d, row, j, got[row*m+j], exact, e, bound)
					}
					if e := math.Abs(float64(got[row*m+j]) - float64(twin[row*m+j])); e > 2*bound {
						t.Fatalf("m=%d d=%d row %d dir %d: assembly %g, twin %g", m, d, row, j, got[row*m+j], twin[row*m+j])
					}
				}
			}
		}
	}
}

// TestGemvBF16NaN: a NaN anywhere in a row (in the assembly's chunks or
// the ragged tail) makes every direction's output for that row NaN.
func TestGemvBF16NaN(t *testing.T) {
	const rows, d, m = 9, 40, 3
	w := make([]float32, d*m)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	g, err := NewGemvDirs(w, d, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, 17, 39} {
		for _, bad := range []int{0, 3, 5, 8} {
			e := make([]uint16, rows*d)
			for i := range e {
				e[i] = bf16Bits(float32(i%5) - 2)
			}
			e[bad*d+k] = 0x7fc0
			out := make([]float32, rows*m)
			GemvBF16(e, d, rows, g, out)
			for i, v := range out {
				if (i/m == bad) != math.IsNaN(float64(v)) {
					t.Fatalf("NaN at row %d coordinate %d: output %d (row %d) is %g", bad, k, i, i/m, v)
				}
			}
		}
	}
}

func TestNewGemvDirsRejects(t *testing.T) {
	for _, c := range []struct{ d, m, n int }{{4, 0, 0}, {4, 9, 36}, {4, 2, 7}, {-1, 1, 0}} {
		if _, err := NewGemvDirs(make([]float32, c.n), c.d, c.m); err == nil {
			t.Errorf("NewGemvDirs(%d values, d=%d, m=%d) succeeded", c.n, c.d, c.m)
		}
	}
}

// BenchmarkSgemmBF16 reports the BF16 tile's GFLOP/s on one core (2 FLOP
// per multiply-add, as for BenchmarkSgemm) with d = 4096, A streamed from
// a 6 MB block of rows as in the engine's loop and two panels of B (a
// head factor's 128 columns); per CPU-second too, for shared machines.
func BenchmarkSgemmBF16(bm *testing.B) {
	const d, blocks = 4096, 128
	r := rand.New(rand.NewPCG(21, 22))
	a := make([]uint16, blocks*BF16Rows*d)
	for i := range a {
		a[i] = bf16Bits(float32(r.NormFloat64()))
	}
	_, panels := packedFrom(r, d, 2*BF16Cols, false)
	out := make([]float32, BF16Rows*BF16Cols)
	bm.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < bm.N; i++ {
		for blk := range blocks {
			for _, p := range panels {
				SgemmBF16(a[blk*BF16Rows*d:], d, p, d, out, BF16Cols, false)
			}
		}
	}
	flop := float64(bm.N) * blocks * 2 * BF16Rows * BF16Cols * d * 2
	bm.ReportMetric(flop/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
	bm.ReportMetric(flop/(cpuSeconds()-cpu0)/1e9, "GFLOP/cpu-s")
}

// BenchmarkGemvBF16 reports the streaming GEMV's read rate on one core:
// 3 directions over 16,384 × 4,096 bfloat16 rows (128 MiB, far beyond the
// caches).
func BenchmarkGemvBF16(bm *testing.B) {
	const rows, d, m = 16384, 4096, 3
	e := make([]uint16, rows*d)
	for i := range e {
		e[i] = uint16(0x3f80 + i%64)
	}
	w := make([]float32, d*m)
	for i := range w {
		w[i] = float32(i%13) - 6
	}
	g, _ := NewGemvDirs(w, d, m)
	out := make([]float32, rows*m)
	bm.SetBytes(int64(2 * rows * d))
	bm.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < bm.N; i++ {
		GemvBF16(e, d, rows, g, out)
	}
	bm.ReportMetric(float64(bm.N)*2*rows*d/(cpuSeconds()-cpu0)/1e9, "GB/cpu-s")
}
