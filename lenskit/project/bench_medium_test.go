package project

import (
	"context"
	"testing"

	"lenskit.dev/internal/benchdata"
	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/weights"
)

// mediumSpace opens a GPT-2-medium-shaped benchmark checkpoint, writing it
// first if needed (≈1.4 GB, once per machine; see internal/benchdata).
func mediumSpace(b *testing.B, k benchdata.Kind) *Space {
	b.Helper()
	dir, err := benchdata.Ensure(k, nil)
	if err != nil {
		b.Fatal(err)
	}
	ck, err := checkpoint.Load(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ck.Close() })
	m, err := weights.FromCheckpoint(ck)
	if err != nil {
		b.Fatal(err)
	}
	sp, err := NewSpace(m, CPU())
	if err != nil {
		b.Fatal(err)
	}
	return sp
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
	sp.maxRowNorm()
	for b.Loop() {
		if _, err := sp.Neuron(12, 345, NeuronOptions{K: 30}); err != nil {
			b.Fatal(err)
		}
	}
}
