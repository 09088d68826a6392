package project

import (
	"os"
	"testing"

	"lenskit.dev/internal/benchdata"
)

// mediumSpace opens a GPT-2-medium-shaped benchmark checkpoint, writing it
// first if needed (≈1.4 GB, once per machine; see internal/benchdata).
func mediumSpace(tb testing.TB, k benchdata.Kind) *Space {
	tb.Helper()
	dir, err := benchdata.Ensure(k, os.Stderr)
	if err != nil {
		tb.Fatal(err)
	}
	return openSpace(tb, dir)
}

func benchHead(b *testing.B, k benchdata.Kind, kind Kind) {
	sp := mediumSpace(b, k)
	var st Stats
	for i := 0; b.Loop(); i++ {
		clear(sp.heads) // every iteration computes the factors, as a scan does
		v, err := sp.View(kind, 12, 7)
		if err != nil {
			b.Fatal(err)
		}
		r, err := v.Top(PairOptions{K: 50})
		if err != nil {
			b.Fatal(err)
		}
		st = r.Stats
	}
	b.ReportMetric(100*st.Fraction(), "%dense")
}

func BenchmarkMediumRandomOV(b *testing.B)   { benchHead(b, benchdata.MediumRandom, OV) }
func BenchmarkMediumRandomQK(b *testing.B)   { benchHead(b, benchdata.MediumRandom, QK) }
func BenchmarkMediumDecayingOV(b *testing.B) { benchHead(b, benchdata.MediumDecaying, OV) }
func BenchmarkMediumDecayingQK(b *testing.B) { benchHead(b, benchdata.MediumDecaying, QK) }

func BenchmarkMediumNeuron(b *testing.B) {
	sp := mediumSpace(b, benchdata.MediumRandom)
	sp.prepare()
	for b.Loop() {
		if _, err := sp.Neuron(12, 345, NeuronOptions{K: 30}); err != nil {
			b.Fatal(err)
		}
	}
}
