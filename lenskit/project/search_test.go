package project

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"lenskit.dev/lenskit/weights"
)

// bruteForce is the reference: every entry scored with dot64, fully sorted.
func bruteForce(q pairQuery) []Pair {
	rows, cols := q.Rows, q.Cols
	if rows == nil {
		rows = seq(q.A.Rows)
	}
	if cols == nil {
		cols = seq(q.B.Rows)
	}
	sign := float32(1)
	if q.Bottom {
		sign = -1
	}
	var all []cand
	a := make([]float32, q.A.Cols)
	for _, i := range rows {
		for k, v := range q.A.Row(i) {
			a[k] = v * sign
		}
		for _, j := range cols {
			if q.Exclude != nil && q.Exclude(i, j) {
				continue
			}
			all = append(all, cand{score: dot64(a, q.B.Row(j)), src: int32(i), tgt: int32(j)})
		}
	}
	return bestPairs(all, q.K, sign)
}

type factorKind int

const (
	flat factorKind = iota
	decaying
	ties
	lowRank
)

func (f factorKind) String() string {
	return [...]string{"flat", "decaying", "ties", "lowRank"}[f]
}

// randFactors returns V × h factors of the given structure.
func randFactors(r *rand.Rand, v, h int, kind factorKind) (weights.Matrix, weights.Matrix) {
	a, b := weights.NewMatrix(v, h), weights.NewMatrix(v, h)
	for _, m := range []weights.Matrix{a, b} {
		for i := range m.Data {
			switch kind {
			case ties:
				m.Data[i] = float32(r.IntN(5) - 2)
			default:
				m.Data[i] = float32(r.NormFloat64())
			}
		}
		if kind == decaying {
			for i := range v {
				row := m.Row(i)
				for k := range row {
					row[k] *= float32(math.Exp(-0.35 * float64(k)))
				}
				// A few rows with large norm, as rare tokens have in trained models.
				if r.IntN(50) == 0 {
					for k := range row {
						row[k] *= 3
					}
				}
			}
		}
		if kind == lowRank {
			for i := range v {
				row := m.Row(i)
				for k := h / 2; k < h; k++ {
					row[k] = 0
				}
			}
		}
	}
	return a, b
}

func subset(r *rand.Rand, n int, frac float64) []int {
	var s []int
	for i := range n {
		if r.Float64() < frac {
			s = append(s, i)
		}
	}
	return s
}

func TestSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 200; trial++ {
		kind := factorKind(trial % 4)
		v := 50 + r.IntN(400)
		h := []int{4, 7, 16, 32, 64, 70}[r.IntN(6)]
		A, B := randFactors(r, v, h, kind)
		q := pairQuery{A: A, B: B, K: []int{1, 5, 50, 300}[r.IntN(4)], Bottom: r.IntN(3) == 0, Workers: 1 + r.IntN(3)}
		if r.IntN(2) == 0 {
			q.Rows = subset(r, v, 0.5)
			q.Cols = subset(r, v, 0.7)
		}
		switch r.IntN(3) {
		case 1:
			q.Exclude = func(s, t int) bool { return s == t }
		case 2:
			q.Exclude = func(s, t int) bool { return (s+2*t)%3 == 0 }
		}
		if ta, tb, _, ok := rotationFor(A, B); ok {
			q.TA, q.TB = ta, tb
		}
		name := fmt.Sprintf("%d/%s/v%d/h%d/k%d/bottom=%v", trial, kind, v, h, q.K, q.Bottom)
		got, st, err := searchPairs(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := bruteForce(q)
		if !slices.Equal(got, want) {
			t.Errorf("%s: search differs from brute force (rank fallback %v)", name, st.RankFallback)
			for i := 0; i < min(len(got), len(want), 10); i++ {
				t.Logf("  %d: got %+v want %+v", i, got[i], want[i])
			}
			t.Logf("  len got %d want %d", len(got), len(want))
		}
	}
}

func TestRotationIsExactFactorisation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	A, B := randFactors(r, 300, 32, decaying)
	ta, tb, sigma, ok := rotationFor(A, B)
	if !ok {
		t.Fatal("rotation refused a well-conditioned pair")
	}
	id := ta.mul(tb.t())
	for i := range 32 {
		id.set(i, i, id.at(i, i)-1)
	}
	if e := id.frob(); e > 1e-9 {
		t.Errorf("‖T_A·T_Bᵀ − I‖ = %g", e)
	}
	for i := 1; i < len(sigma); i++ {
		if sigma[i] > sigma[i-1] {
			t.Fatalf("singular values not descending: %v", sigma)
		}
	}
	_, _, _, ok = rotationFor(randFactors(r, 300, 32, lowRank))
	if ok {
		t.Error("rotation accepted a rank-deficient pair")
	}
}
