package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScreenTilesMatchGeneric: the assembly tiles' outputs, maxima, minima
// and column masks equal the portable computation on random panels,
// including extreme bytes and thresholds on both sides of the values.
func TestScreenTilesMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		kq := 1 + r.IntN(40)
		a := make([]int8, I8Rows*4*kq)
		b := make([]uint8, I8Cols*4*kq)
		for i := range a {
			a[i] = int8(r.IntN(256) - 128)
			if trial%7 == 0 {
				a[i] = -128 + int8(r.IntN(2))*127
			}
		}
		for i := range b {
			b[i] = uint8(r.IntN(256))
		}
		var corr [I8Rows]int32
		for q := range kq {
			for rr := range I8Rows {
				for j := range 4 {
					corr[rr] += 128 * int32(a[q*48+rr*4+j])
				}
			}
		}
		var want, got [I8Rows * I8Cols]int32
		wantMax := dotI8Generic(a, b, kq, &corr, &want)
		wmx, wmn := tileMinMax(&want)
		if wmx != wantMax {
			t.Fatal("generic max disagrees with itself")
		}
		mx, mn := DotI8MinMax(a, b, kq, &corr, &got)
		if got != want || mx != wmx || mn != wmn {
			t.Fatalf("trial %d (kq %d): min/max %d/%d, want %d/%d; tiles equal: %v", trial, kq, mn, mx, wmn, wmx, got == want)
		}
		var hi, lo [I8Cols]int32
		for c := range I8Cols {
			cmx, cmn := want[c], want[c]
			for rr := range I8Rows {
				cmx, cmn = max(cmx, want[rr*I8Cols+c]), min(cmn, want[rr*I8Cols+c])
			}
			switch r.IntN(4) {
			case 0:
				hi[c], lo[c] = cmx, cmn-1 // the maximum itself reaches hi
			case 1:
				hi[c], lo[c] = cmx+1, cmn // the minimum itself reaches lo
			default:
				hi[c], lo[c] = cmx+1+int32(r.IntN(3)), cmn-1-int32(r.IntN(3))
			}
		}
		var wantMask uint32
		for c := range I8Cols {
			for rr := range I8Rows {
				if v := want[rr*I8Cols+c]; v >= hi[c] || v <= lo[c] {
					wantMask |= 1 << c
				}
			}
		}
		clear(got[:])
		if m := DotI8Cols(a, b, kq, &corr, &got, &hi, &lo); m != wantMask || got != want {
			t.Fatalf("trial %d: mask %032b, want %032b", trial, m, wantMask)
		}
	}
}

func benchTile(b *testing.B, kq int, f func(a []int8, bb []uint8, corr *[I8Rows]int32, out *[I8Rows * I8Cols]int32)) {
	a := make([]int8, I8Rows*4*kq)
	bb := make([]uint8, I8Cols*4*kq)
	for i := range a {
		a[i] = int8(i)
	}
	for i := range bb {
		bb[i] = uint8(3 * i)
	}
	var corr [I8Rows]int32
	var out [I8Rows * I8Cols]int32
	for b.Loop() {
		f(a, bb, &corr, &out)
	}
	b.ReportMetric(float64(I8Rows*I8Cols*4*kq)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
}

func BenchmarkTileMax16(b *testing.B) {
	benchTile(b, 16, func(a []int8, bb []uint8, c *[I8Rows]int32, o *[I8Rows * I8Cols]int32) { DotI8(a, bb, 16, c, o) })
}
func BenchmarkTileMinMax16(b *testing.B) {
	benchTile(b, 16, func(a []int8, bb []uint8, c *[I8Rows]int32, o *[I8Rows * I8Cols]int32) { DotI8MinMax(a, bb, 16, c, o) })
}
func BenchmarkTileCols256(b *testing.B) {
	var hi, lo [I8Cols]int32
	benchTile(b, 256, func(a []int8, bb []uint8, c *[I8Rows]int32, o *[I8Rows * I8Cols]int32) {
		DotI8Cols(a, bb, 256, c, o, &hi, &lo)
	})
}
func BenchmarkTileMax256(b *testing.B) {
	benchTile(b, 256, func(a []int8, bb []uint8, c *[I8Rows]int32, o *[I8Rows * I8Cols]int32) { DotI8(a, bb, 256, c, o) })
}

// TestColsMomentsBits: the assembly's power sums are bit for bit the
// portable twin's, and its mask and tile equal DotI8Cols'.
func TestColsMomentsBits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 100 {
		kq := 1 + r.IntN(64)
		a := make([]int8, I8Rows*4*kq)
		b := make([]uint8, I8Cols*4*kq)
		for i := range a {
			a[i] = int8(r.IntN(256) - 128)
		}
		for i := range b {
			b[i] = uint8(r.IntN(256))
		}
		var corr [I8Rows]int32
		for q := range kq {
			for rr := range I8Rows {
				for j := range 4 {
					corr[rr] += 128 * int32(a[q*48+rr*4+j])
				}
			}
		}
		var hi, lo [I8Cols]int32
		var center [I8Cols]float32
		for c := range I8Cols {
			hi[c], lo[c] = int32(r.IntN(200000)), -int32(r.IntN(200000))
			center[c] = float32(r.NormFloat64())
		}
		scale := float32(r.Float64() * 1e-4)
		var o1, o2 [I8Rows * I8Cols]int32
		var m1, m2 [4 * I8Cols]float32
		for i := range m1 {
			m1[i] = float32(r.NormFloat64())
			m2[i] = m1[i]
		}
		mask := DotI8ColsMoments(a, b, kq, &corr, &o1, &hi, &lo, scale, &center, &m1)
		// The twin, forced.
		want := DotI8Cols(a, b, kq, &corr, &o2, &hi, &lo)
		for rr := range I8Rows {
			for c := range I8Cols {
				y := float32(float32(o2[rr*I8Cols+c])*scale) - center[c]
				y2 := float32(y * y)
				m2[c] += y
				m2[I8Cols+c] += y2
				m2[2*I8Cols+c] += float32(y2 * y)
				m2[3*I8Cols+c] += float32(y2 * y2)
			}
		}
		if mask != want || o1 != o2 {
			t.Fatalf("trial %d: mask or tile differs", trial)
		}
		for i := range m1 {
			if math.Float32bits(m1[i]) != math.Float32bits(m2[i]) {
				t.Fatalf("trial %d: moment %d: %v, twin %v", trial, i, m1[i], m2[i])
			}
		}
	}
}
