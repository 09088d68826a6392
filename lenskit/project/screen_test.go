package project

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// withScreen runs f with the int8 screening forced on for every size.
func withScreen(t *testing.T, f func()) {
	t.Helper()
	if !kernel.HasVNNI {
		t.Skip("the screening runs on AVX512-VNNI only")
	}
	old := screenMin
	screenMin = 0
	defer func() { screenMin = old }()
	f()
}

// TestScreenedNeuronScan: with the int8 screening, every neuron's columns
// are exactly the float32 path's (Neurons), for GPT-2 and every family,
// BF16, processing, token subsets, and k from 1 to more than the tokens;
// the value moments agree with the exact ones (the mean exactly, the
// others within the estimates' error).
func TestScreenedNeuronScan(t *testing.T) {
	var worst [3]float64
	defer func() {
		t.Logf("largest differences: std %.2g (relative), skew %.2g, kurtosis %.2g (relative to 1 + |κ|)", worst[0], worst[1], worst[2])
	}()
	withScreen(t, func() {
		all := Processing{FoldNorms: true, FoldFinalNorm: true, CenterUnembed: true}
		for fi, family := range append([]string{"gpt2"}, synth.Families...) {
			dir := t.TempDir()
			var err error
			if family == "gpt2" {
				err = synth.Write(dir, synth.Options{Shape: synth.Shape{Layers: 1, Heads: 2, DModel: 40, DFF: 70, Vocab: 401, Positions: 8}, Seed: 5})
			} else {
				o := synth.FamilyOptions{ModelType: family, Layers: 1, Heads: 2, KVHeads: 1, DModel: 32, DHead: 16, DFF: 45, Vocab: 333, DType: checkpoint.BF16, Seed: uint64(fi)}
				if family == "gpt_neox" {
					o.KVHeads, o.DType = 0, checkpoint.F32
				}
				_, err = synth.WriteFamily(dir, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			base := openSpace(t, dir)
			r := rand.New(rand.NewPCG(uint64(fi), 9))
			for _, proc := range []Processing{{}, all} {
				sp, _ := NewSpace(base.Model, CPU(), WithProcessing(proc))
				for _, c := range []struct {
					k      int
					tokens []int
				}{{1, nil}, {9, nil}, {50, subset(r, sp.WE.Rows, 0.3)}, {1000, subset(r, sp.WE.Rows, 0.05)}} {
					what := fmt.Sprintf("%s/%s/k=%d/%d tokens", family, proc, c.k, len(c.tokens))
					opt := NeuronOptions{K: c.k, Tokens: c.tokens}
					got, stats, err := sp.NeuronScan(0, opt)
					if err != nil {
						t.Fatal(err)
					}
					screenMin = math.MaxInt // the float32 path, for reference
					want, err := sp.Neurons(0, opt)
					wantScan, exact, err2 := sp.NeuronScan(0, opt)
					screenMin = 0
					if err != nil || err2 != nil {
						t.Fatal(err, err2)
					}
					for i := range want {
						if !sameColumns(got[i].Columns, want[i].Columns) || !sameColumns(wantScan[i].Columns, want[i].Columns) {
							t.Fatalf("%s: neuron %d: screened columns differ from the float32 path", what, i)
						}
						g, w := stats[i], exact[i]
						if g.KeyNorm != w.KeyNorm || g.CosKeyValue != w.CosKeyValue || g.ValueNorm != w.ValueNorm {
							t.Fatalf("%s: neuron %d: norms differ: %+v vs %+v", what, i, g, w)
						}
						// The estimates are projections on the quantised
						// direction x̂ (|x − x̂| ≈ 0.8% of |x|): the spread
						// moves by up to about a percent, the shape less.
						worst[0] = max(worst[0], math.Abs(g.ValueStd-w.ValueStd)/w.ValueStd)
						worst[1] = max(worst[1], math.Abs(g.ValueSkew-w.ValueSkew))
						worst[2] = max(worst[2], math.Abs(g.ValueKurtosis-w.ValueKurtosis)/(1+math.Abs(w.ValueKurtosis)))
						if math.Abs(g.ValueMean-w.ValueMean) > 1e-5*w.ValueStd ||
							math.Abs(g.ValueStd-w.ValueStd) > 0.02*w.ValueStd ||
							math.Abs(g.ValueSkew-w.ValueSkew) > 0.05 ||
							math.Abs(g.ValueKurtosis-w.ValueKurtosis) > 0.05*(1+math.Abs(w.ValueKurtosis)) {
							t.Fatalf("%s: neuron %d: moments %v/%v/%v/%v, exact %v/%v/%v/%v", what, i,
								g.ValueMean, g.ValueStd, g.ValueSkew, g.ValueKurtosis, w.ValueMean, w.ValueStd, w.ValueSkew, w.ValueKurtosis)
						}
					}
				}
			}
		}
	})
}

// TestScreenTies: integer weights make many exact ties; the screened
// columns break them by token id exactly as the float32 path does, and a
// zero direction (all scores equal) returns the lowest ids.
func TestScreenTies(t *testing.T) {
	withScreen(t, func() {
		shape := synth.Shape{Layers: 1, Heads: 1, DModel: 16, DFF: 40, Vocab: 300, Positions: 8}
		fill := func(name string, sh []int, dst []float32) {
			r := rand.New(rand.NewPCG(uint64(len(name)), 3))
			for i := range dst {
				dst[i] = float32(r.IntN(3) - 1)
			}
			if name == "h.0.mlp.c_fc.weight" { // neuron 7's key is zero
				for k := range shape.DModel {
					dst[k*shape.DFF+7] = 0
				}
			}
		}
		sp := synthSpace(t, synth.Options{Shape: shape, Seed: 1, Fill: fill})
		got, _, err := sp.NeuronScan(0, NeuronOptions{K: 30})
		if err != nil {
			t.Fatal(err)
		}
		screenMin = math.MaxInt
		want, _ := sp.Neurons(0, NeuronOptions{K: 30})
		screenMin = 0
		for i := range want {
			if !sameColumns(got[i].Columns, want[i].Columns) {
				t.Fatalf("neuron %d: screened %v\nfloat32 %v", i, got[i].Columns[Key], want[i].Columns[Key])
			}
		}
		for r, tk := range got[7].Columns[Key] {
			if tk.ID != r || tk.Score != 0 {
				t.Fatalf("zero key: %v", got[7].Columns[Key])
			}
		}
	})
}

// TestScreenNonFinite: a vocabulary row with NaN fails the screening,
// naming the token.
func TestScreenNonFinite(t *testing.T) {
	m := weights.NewMatrix(40, 8)
	for i := range m.Data {
		m.Data[i] = float32(i % 7)
	}
	m.Data[17*8+3] = float32(math.NaN())
	_, err := screenDirections(quantiseVocab(m, nil), [][]float32{make([]float32, 8)}, []float64{0}, 3, false)
	if err == nil || !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "token 17") {
		t.Fatalf("NaN row: %v", err)
	}
}

// TestScreenPilot: on a vocabulary large enough for the pilot guess, the
// screened columns equal the float32 path's; with a few huge tokens all in
// pilot panels the guess overshoots the k-th best score, is caught by the
// verification, and those directions are screened again — still exact.
func TestScreenPilot(t *testing.T) {
	withScreen(t, func() {
		shape := synth.Shape{Layers: 1, Heads: 1, DModel: 16, DFF: 40, Vocab: 3000, Positions: 8}
		for _, huge := range []bool{false, true} {
			fill := func(name string, sh []int, dst []float32) {
				if name != "wte.weight" || !huge {
					return
				}
				for _, p := range []int{0, 16, 32} { // pilot panels: tokens 12p … 12p+11
					for tok := 12 * p; tok < 12*p+12; tok++ {
						for k := range shape.DModel {
							dst[tok*shape.DModel+k] *= 10
						}
					}
				}
			}
			sp := synthSpace(t, synth.Options{Shape: shape, Seed: 3, Fill: fill})
			got, _, err := sp.NeuronScan(0, NeuronOptions{K: 50})
			if err != nil {
				t.Fatal(err)
			}
			keys, _ := sp.Model.FFKeys(0, 0)
			dirs := make([][]float32, keys.Rows)
			for i := range dirs {
				dirs[i] = keys.Row(i)
			}
			res, err := screenDirections(quantised(sp.WE, nil), dirs, make([]float64, len(dirs)), 50, false)
			if err != nil {
				t.Fatal(err)
			}
			if huge && res.redone == 0 {
				t.Error("the planted tokens did not defeat the pilot's guess: the verification path is untested")
			}
			screenMin = math.MaxInt
			want, _ := sp.Neurons(0, NeuronOptions{K: 50})
			screenMin = 0
			for i := range want {
				if !sameColumns(got[i].Columns, want[i].Columns) {
					t.Fatalf("huge=%v neuron %d: screened columns differ from the float32 path", huge, i)
				}
			}
			t.Logf("huge=%v: %d candidates, %d directions screened again", huge, res.candidates, res.redone)
		}
	})
}
