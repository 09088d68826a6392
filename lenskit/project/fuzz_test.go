package project

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit/weights"
)

// fuzzValue maps a byte to a factor value: mostly small integers (many
// exact ties), and the hostile ones — NaN, ±Inf, values whose products
// overflow float32, subnormals.
func fuzzValue(b byte) float32 {
	switch b {
	case 250:
		return float32(math.NaN())
	case 251:
		return float32(math.Inf(1))
	case 252:
		return float32(math.Inf(-1))
	case 253:
		return 1e37
	case 254:
		return -3e38
	case 255:
		return 1e-42
	}
	return float32(int(b%7) - 3)
}

func fuzzMatrix(data []byte, rows, cols int) weights.Matrix {
	m := weights.NewMatrix(rows, cols)
	for i := range m.Data {
		if len(data) > 0 {
			m.Data[i] = fuzzValue(data[i%len(data)])
		}
	}
	return m
}

// FuzzPairSearch: for any factors (hostile values included), k and
// bottom, a head view's search either returns exactly the brute-force
// answer or a clear error — non-finite factors (ErrNonFinite), a negative
// or oversized k — and never panics or answers with NaN scores.
func FuzzPairSearch(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint8(20), uint8(3), int64(5), false)
	f.Add([]byte{250, 1, 2}, uint8(5), uint8(2), int64(3), true)
	f.Add([]byte{253, 253, 1}, uint8(9), uint8(4), int64(1_000_000_000), false)
	f.Add([]byte{0, 0, 0}, uint8(3), uint8(1), int64(-1), false)
	f.Add([]byte{255, 3, 254}, uint8(7), uint8(2), int64(1<<40), true)
	f.Fuzz(func(t *testing.T, data []byte, v, h uint8, k int64, bottom bool) {
		rows, width := 1+int(v%40), 1+int(h%9)
		a := fuzzMatrix(data, rows, width)
		b := fuzzMatrix(slices.Concat(data[min(1, len(data)):], []byte{6}), rows+1, width)
		hv, err := NewHeadView(HeadID{0, 0}, OV, a, b, CPU())
		if err != nil {
			if !errors.Is(err, ErrNonFinite) {
				t.Fatalf("NewHeadView: %v", err)
			}
			return
		}
		kk := int(max(min(k, 1<<40), -(1 << 40)))
		r, err := hv.Top(PairOptions{K: kk, Bottom: bottom})
		switch {
		case kk < 0:
			if err == nil {
				t.Fatal("negative k accepted")
			}
			return
		case err != nil:
			t.Fatalf("k=%d: %v", kk, err)
		}
		want := bruteForce(pairQuery{A: a, B: b, K: min(kk, rows*(rows+1)), Bottom: bottom})
		if !slices.Equal(r.Pairs, want) {
			t.Fatalf("k=%d bottom=%v: search differs from brute force:\n got  %v\n want %v", kk, bottom, head(r.Pairs), head(want))
		}
		for _, p := range r.Pairs {
			if math.IsNaN(float64(p.Score)) {
				t.Fatalf("NaN score in %v", p)
			}
		}
	})
}

// FuzzProjection: neuron-style projections of hostile directions onto a
// hostile vocabulary either equal brute force or fail with ErrNonFinite.
func FuzzProjection(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5}, []byte{3, 3, 1}, uint8(30), int64(4))
	f.Add([]byte{250, 2, 3}, []byte{3, 3, 1}, uint8(10), int64(2))
	f.Add([]byte{253, 2, 3}, []byte{253, 3, 1}, uint8(10), int64(1_000_000_000))
	f.Fuzz(func(t *testing.T, ed, xd []byte, v uint8, k int64) {
		rows, d := 1+int(v%60), 1+len(xd)%9
		e := fuzzMatrix(ed, rows, d)
		x := make([]float32, d)
		for i := range x {
			if len(xd) > 0 {
				x[i] = fuzzValue(xd[i%len(xd)])
			}
		}
		s := &Space{WE: e, WU: e, Engine: CPU()}
		kk := int(max(min(k, 1<<40), -(1 << 40)))
		got, err := s.Project([][]float32{x}, kk, nil)
		if kk < 0 {
			if err == nil {
				t.Fatal("negative k accepted")
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrNonFinite) && !strings.Contains(err.Error(), "non-finite") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if FirstNonFinite(x) >= 0 {
			t.Fatalf("non-finite direction %v accepted", x)
		}
		for b, sign := range [2]float64{1, -1} {
			want := bruteProject(e, x, sign, kk, nil)
			if !slices.Equal(got[0][b], want) {
				t.Fatalf("sign %v: got %v, want %v", sign, head(got[0][b]), head(want))
			}
		}
	})
}
