package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randI8(r *rand.Rand, n int) []int8 {
	s := make([]int8, n)
	for i := range s {
		s[i] = int8(r.IntN(256) - 128)
	}
	return s
}

func randU8(r *rand.Rand, n int) []uint8 {
	s := make([]uint8, n)
	for i := range s {
		s[i] = uint8(r.IntN(256))
	}
	return s
}

func TestDotI8MatchesGeneric(t *testing.T) {
	if !HasVNNI {
		t.Skip("CPU has no AVX512-VNNI; the generic path is the only path")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, kq := range []int{1, 2, 8, 16, 33} {
		a := randI8(r, I8Rows*4*kq)
		b := randU8(r, I8Cols*4*kq)
		var corr [I8Rows]int32
		for i := range corr {
			corr[i] = int32(r.IntN(1<<20) - 1<<19)
		}
		var got, want [I8Rows * I8Cols]int32
		gm := DotI8(a, b, kq, &corr, &got)
		wm := dotI8Generic(a, b, kq, &corr, &want)
		if got != want || gm != wm {
			t.Fatalf("kq=%d: assembly tile differs from the Go tile (max %d vs %d)", kq, gm, wm)
		}
	}
}

// TestDotI8Signedness pins the operand convention: a is signed, b unsigned.
func TestDotI8Signedness(t *testing.T) {
	a := make([]int8, I8Rows*4)
	b := make([]uint8, I8Cols*4)
	a[0] = -128 // row 0, coordinate 0
	b[0] = 255  // column 0, coordinate 0
	var corr [I8Rows]int32
	var out [I8Rows * I8Cols]int32
	m := DotI8(a, b, 1, &corr, &out)
	if out[0] != -128*255 {
		t.Fatalf("out[0] = %d, want %d", out[0], -128*255)
	}
	if m != 0 {
		t.Fatalf("max = %d, want 0", m)
	}
}

func TestSgemmMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 7, 64, 300} {
		lda := k + 5
		a := make([]float32, F32Rows*lda)
		b := make([]float32, k*F32Cols)
		for i := range a {
			a[i] = r.Float32()*2 - 1
		}
		for i := range b {
			b[i] = r.Float32()*2 - 1
		}
		ldo := F32Cols + 3
		got := make([]float32, F32Rows*ldo)
		want := make([]float32, F32Rows*ldo)
		Sgemm(a, lda, b, k, got, ldo)
		sgemmGeneric(a, lda, b, k, want, ldo)
		for i := range got {
			d := got[i] - want[i]
			if d < 0 {
				d = -d
			}
			if d > 1e-4*float32(k) {
				t.Fatalf("k=%d: element %d = %g, want %g", k, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkDotI8 reports multiply-adds per second of the screening tile
// with kq = 16 (d_head = 64), B streamed from a 512 KB block as in the
// engine's loop.
func BenchmarkDotI8(bm *testing.B) {
	const kq, panels = 16, 128
	r := rand.New(rand.NewPCG(5, 6))
	a := randI8(r, I8Rows*4*kq)
	b := randU8(r, I8Cols*4*kq*panels)
	var corr [I8Rows]int32
	var out [I8Rows * I8Cols]int32
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		for p := range panels {
			DotI8(a, b[p*I8Cols*4*kq:], kq, &corr, &out)
		}
	}
	macs := float64(bm.N) * panels * I8Rows * I8Cols * 4 * kq
	bm.ReportMetric(macs/bm.Elapsed().Seconds()/1e9, "GMAC/s")
}

func BenchmarkSgemm(bm *testing.B) {
	const k = 1024
	r := rand.New(rand.NewPCG(7, 8))
	a := make([]float32, F32Rows*k)
	b := make([]float32, k*F32Cols)
	for i := range a {
		a[i] = r.Float32()
	}
	for i := range b {
		b[i] = r.Float32()
	}
	out := make([]float32, F32Rows*F32Cols)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		Sgemm(a, k, b, k, out, F32Cols)
	}
	bm.ReportMetric(float64(bm.N)*F32Rows*F32Cols*k*2/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func TestGemv2(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, d := range []int{16, 256, 1024, 40} {
		lde := d + 16
		e := make([]float32, 4*lde)
		x, y := make([]float32, d), make([]float32, d)
		for i := range e {
			e[i] = r.Float32()*2 - 1
		}
		for i := range x {
			x[i], y[i] = r.Float32()*2-1, r.Float32()*2-1
		}
		var got [8]float32
		Gemv2(e, lde, x, y, &got)
		for row := range 4 {
			var sx, sy float64
			for k := range d {
				sx += float64(e[row*lde+k]) * float64(x[k])
				sy += float64(e[row*lde+k]) * float64(y[k])
			}
			if d := math.Abs(float64(got[2*row]) - sx); d > 1e-4 {
				t.Fatalf("row %d: x dot = %g, want %g", row, got[2*row], sx)
			}
			if d := math.Abs(float64(got[2*row+1]) - sy); d > 1e-4 {
				t.Fatalf("row %d: y dot = %g, want %g", row, got[2*row+1], sy)
			}
		}
	}
}
