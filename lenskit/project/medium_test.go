package project

import (
	"os"
	"slices"
	"testing"

	"lenskit.dev/internal/benchdata"
)

// TestMediumCrossCheck compares, on the GPT-2-medium-shaped benchmark
// checkpoints, the pruned int8 search with the chunked search (a float32
// dense product of every entry, then exact rescoring): two independent
// routes to the exact top 50 must agree. It writes the checkpoints (≈2.8
// GB) when missing, so it runs only with LENSKIT_MEDIUM=1.
func TestMediumCrossCheck(t *testing.T) {
	if os.Getenv("LENSKIT_MEDIUM") != "1" {
		t.Skip("set LENSKIT_MEDIUM=1 to cross-check on the medium-shaped checkpoints (≈2.8 GB written once)")
	}
	for _, k := range []benchdata.Kind{benchdata.MediumDecaying, benchdata.MediumRandom} {
		sp := mediumSpace(t, k)
		for _, kind := range []Kind{OV, QK} {
			v, err := sp.View(kind, 5, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, bottom := range []bool{false, true} {
				got, err := v.Top(PairOptions{K: 50, Bottom: bottom})
				if err != nil {
					t.Fatal(err)
				}
				want, _, err := searchPairsChunked(pairQuery{A: v.A, B: v.B, K: 50, Bottom: bottom}, CPU())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Pairs, want) {
					t.Errorf("%s 5.3 %v bottom=%v: pruned search differs from the dense one\n got  %v\n want %v", k, kind, bottom, got.Pairs[:5], want[:5])
				}
				t.Logf("%s 5.3 %v bottom=%v: %.2f%% of dense FLOPs, %d rescored", k, kind, bottom, 100*got.Stats.Fraction(), got.Stats.Candidates)
			}
		}
	}
}
