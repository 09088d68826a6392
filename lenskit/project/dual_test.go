package project

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint/synth"
)

// TestDualSearchMatchesBruteForce: one dual search returns the top K and
// the bottom K a brute-force sort gives, on 200 seeded random cases of
// every factor structure, with filters, exclusions, ties and 1–3 workers.
func TestDualSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := range 200 {
		kind := factorKind(trial % 4)
		v := 50 + r.IntN(400)
		h := []int{4, 7, 16, 32, 64, 70}[r.IntN(6)]
		A, B := randFactors(r, v, h, kind)
		q := pairQuery{A: A, B: B, K: []int{1, 5, 50, 300}[r.IntN(4)], Workers: 1 + r.IntN(3)}
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
		name := fmt.Sprintf("%d/%s/v%d/h%d/k%d", trial, kind, v, h, q.K)
		top, bottom, _, err := searchPairsDual(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		q.Bottom = false
		wantTop := bruteForce(q)
		q.Bottom = true
		wantBottom := bruteForce(q)
		if !slices.Equal(top, wantTop) {
			t.Errorf("%s: dual top differs from brute force", name)
		}
		if !slices.Equal(bottom, wantBottom) {
			t.Errorf("%s: dual bottom differs from brute force", name)
			for i := 0; i < min(len(bottom), len(wantBottom), 5); i++ {
				t.Logf("  %d: got %+v want %+v", i, bottom[i], wantBottom[i])
			}
		}
	}
}

// TestTopBottomEqualsTop: on a checkpoint's views, TopBottom equals two
// Top calls, with and without filters.
func TestTopBottomEqualsTop(t *testing.T) {
	sp := synthSpace(t, synth.Options{Shape: synth.Shape{Layers: 1, Heads: 2, DModel: 32, DFF: 8, Vocab: 400, Positions: 8}, Seed: 31})
	r := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []Kind{OV, QK} {
		v, err := sp.View(kind, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range []PairOptions{{K: 50}, {K: 7, Sources: subset(r, 400, 0.4), Targets: subset(r, 400, 0.6),
			Exclude: func(s, t int) bool { return s == t }}, {K: 10_000_000}} {
			top, bottom, err := v.TopBottom(opt)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := v.Top(opt)
			opt.Bottom = true
			wantB, _ := v.Top(opt)
			if !slices.Equal(top.Pairs, want.Pairs) || !slices.Equal(bottom.Pairs, wantB.Pairs) || !bottom.Bottom || top.Bottom {
				t.Errorf("%v k=%d: TopBottom differs from Top", kind, opt.K)
			}
		}
	}
}
