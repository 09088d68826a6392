package kernel

import "math"

// Exact dot products for rescoring. The product of two float32 values (or
// of a float32 and a float64 value that is itself a float32) is exact in
// float64, so only the order of the additions is a choice (for a float64 b
// that is not a float32 value, each product is fused with its addition:
// one rounding, math.FMA); it is fixed here, the same on every path:
// element k is added to partial sum k mod 32
// in increasing k, and the 32 partial sums are then added as a tree (s[l]
// += s[l+16], then +8, +4, +2, +1). The assembly keeps the 32 sums in four
// registers (about 40 times the speed of one running sum, whose every
// addition waits for the previous one); the portable twin computes the very
// same additions, so both give the same bits.

// Dot64 returns Σ a[k]·b[k] in float64 (len(b) ≥ len(a)).
func Dot64(a, b []float32) float64 {
	var acc [32]float64
	d := len(a)
	if d == 0 {
		return 0
	}
	b = b[:d]
	n := d &^ 31
	if HasAVX512 && n > 0 {
		dot64x32(&a[0], &b[0], n, &acc[0])
	} else {
		n = 0
	}
	for k := n; k < d; k++ {
		acc[k&31] = math.FMA(float64(a[k]), float64(b[k]), acc[k&31])
	}
	return reduce32(&acc)
}

// Dot64F returns Σ a[k]·b[k] in float64 with the order of Dot64 (so for b
// holding float32 values, Dot64F(a, b) == Dot64(a, b as float32)).
func Dot64F(a []float32, b []float64) float64 {
	var acc [32]float64
	d := len(a)
	if d == 0 {
		return 0
	}
	b = b[:d]
	n := d &^ 31
	if HasAVX512 && n > 0 {
		dot64fx32(&a[0], &b[0], n, &acc[0])
	} else {
		n = 0
	}
	for k := n; k < d; k++ {
		acc[k&31] = math.FMA(float64(a[k]), b[k], acc[k&31])
	}
	return reduce32(&acc)
}

func reduce32(acc *[32]float64) float64 {
	for w := 16; w >= 1; w /= 2 {
		for l := range w {
			acc[l] += acc[l+w]
		}
	}
	return acc[0]
}
