package project

import (
	"math/rand/v2"
	"testing"
)

func benchSearch(b *testing.B, v int, kind factorKind) {
	r := rand.New(rand.NewPCG(1, 2))
	A, B := randFactors(r, v, 64, kind)
	ta, tb, _, ok := rotationFor(A, B)
	q := pairQuery{A: A, B: B, K: 50}
	if ok {
		q.TA, q.TB = ta, tb
	}
	b.ResetTimer()
	var st Stats
	for i := 0; i < b.N; i++ {
		_, st, _ = searchPairs(q)
	}
	b.ReportMetric(st.Fraction(), "dense-fraction")
	b.ReportMetric(float64(st.Candidates), "rescored")
}

func BenchmarkSearchFlat51200(b *testing.B)     { benchSearch(b, 51200, flat) }
func BenchmarkSearchDecaying51200(b *testing.B) { benchSearch(b, 51200, decaying) }
