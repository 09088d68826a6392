package project

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// bruteProject is the reference for ProjectPair: every token scored with
// dot64, sorted by better.
func bruteProject(e weights.Matrix, dir []float32, sign float64, k int, tokens []int) []Token {
	if tokens == nil {
		tokens = seq(e.Rows)
	}
	var cs []cand
	for _, t := range tokens {
		cs = append(cs, cand{score: sign * dot64(e.Row(t), dir), src: int32(t)})
	}
	return bestTokens(cs, k)
}

func TestProjectPairMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 40; trial++ {
		v, d := 100+r.IntN(3000), []int{16, 64, 100}[r.IntN(3)]
		e := weights.NewMatrix(v, d)
		x, y := make([]float32, d), make([]float32, d)
		integer := trial%3 == 0 // integer values: many exact ties
		for i := range e.Data {
			if integer {
				e.Data[i] = float32(r.IntN(3) - 1)
			} else {
				e.Data[i] = float32(r.NormFloat64())
			}
		}
		for i := range x {
			if integer {
				x[i], y[i] = float32(r.IntN(3)-1), float32(r.IntN(3)-1)
			} else {
				x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
		}
		var tokens []int
		switch trial % 4 {
		case 1:
			tokens = subset(r, v, 0.1)
		case 2:
			tokens = subset(r, v, 0.9)
		}
		k := []int{0, 1, 30, 500}[r.IntN(4)]
		sp := &Space{WE: e, WU: e, Engine: CPU()}
		got, err := sp.ProjectPair(x, y, k, tokens)
		if err != nil {
			t.Fatal(err)
		}
		want := [4][]Token{
			bruteProject(e, x, 1, k, tokens), bruteProject(e, y, 1, k, tokens),
			bruteProject(e, x, -1, k, tokens), bruteProject(e, y, -1, k, tokens),
		}
		for c := range 4 {
			if !slices.Equal(got[c], want[c]) {
				t.Errorf("trial %d (v=%d d=%d k=%d %d tokens): column %v differs:\n got  %v\n want %v",
					trial, v, d, k, len(tokens), Sides[c], head(got[c]), head(want[c]))
			}
		}
	}
}

func head[T any](s []T) []T { return s[:min(len(s), 6)] }

func TestChunkedSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for trial := 0; trial < 20; trial++ {
		kind := factorKind(trial % 4)
		v := 100 + r.IntN(900)
		A, B := randFactors(r, v, 16, kind)
		q := pairQuery{A: A, B: B, K: []int{1, 10, 100}[r.IntN(3)], Bottom: trial%5 == 0}
		if trial%2 == 0 {
			q.Rows, q.Cols = subset(r, v, 0.6), subset(r, v, 0.4)
			q.Exclude = func(s, t int) bool { return s == t }
		}
		got, _, err := searchPairsChunked(q, CPU())
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteForce(q); !slices.Equal(got, want) {
			t.Errorf("trial %d (%s, k=%d): chunked search differs from brute force:\n got  %v\n want %v", trial, kind, q.K, head(got), head(want))
		}
	}
}

// orthonormal returns n orthonormal vectors of length d (n ≤ d).
func orthonormal(r *rand.Rand, n, d int) [][]float64 {
	var out [][]float64
	for len(out) < n {
		v := make([]float64, d)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		for _, u := range out {
			var p float64
			for i := range v {
				p += v[i] * u[i]
			}
			for i := range v {
				v[i] -= p * u[i]
			}
		}
		var n2 float64
		for _, x := range v {
			n2 += x * x
		}
		for i := range v {
			v[i] /= math.Sqrt(n2)
		}
		out = append(out, v)
	}
	return out
}

// TestPlantedCircuits writes a checkpoint whose head 1.2 OV maps four chosen
// source tokens to four chosen target tokens and whose neuron L0/N5 key
// reads a chosen set of six tokens, and checks lenskit recovers exactly
// those, in the planted order.
func TestPlantedCircuits(t *testing.T) {
	shape := synth.Shape{Layers: 2, Heads: 4, DModel: 32, DFF: 16, Vocab: 500, Positions: 8}
	dh := shape.DModel / shape.Heads
	r := rand.New(rand.NewPCG(41, 42))
	dirs := orthonormal(r, 14, shape.DModel)
	sources := []int{17, 250, 3, 499}
	targets := []int{42, 42 + 100, 7, 311}
	keySet := []int{5, 66, 123, 200, 301, 450}
	planted := map[int][]float64{} // token → embedding direction
	for i, s := range sources {
		planted[s] = dirs[i]
		planted[targets[i]] = dirs[4+i]
	}
	for i, tok := range keySet {
		planted[tok] = dirs[8+i]
	}
	fill := func(name string, sh []int, dst []float32) {
		d := shape.DModel
		switch name {
		case "wte.weight":
			for tok, dir := range planted {
				for k := range d {
					dst[tok*d+k] = float32(dir[k])
				}
			}
		case "h.1.attn.c_attn.weight": // d × 3d; W_V of head 2 = columns 2d + 2·dh …
			for i := range sources {
				col := 2*d + 2*dh + i
				for k := range d {
					dst[k*3*d+col] = float32(dirs[i][k] * (4 - float64(i))) // pair i scores 4−i
				}
			}
		case "h.1.attn.c_proj.weight": // d × d; W_O of head 2 = rows 2·dh …
			for i := range sources {
				row := 2*dh + i
				for k := range d {
					dst[row*d+k] = float32(dirs[4+i][k])
				}
			}
		case "h.0.mlp.c_fc.weight": // d × d_ff; neuron 5's key = column 5
			for k := range d {
				dst[k*shape.DFF+5] = 0
			}
			for i, tok := range keySet {
				for k := range d {
					dst[k*shape.DFF+5] += float32(planted[tok][k] * (2 - 0.1*float64(i)))
				}
			}
		}
	}
	sp := synthSpace(t, synth.Options{Shape: shape, Seed: 7, Fill: fill})
	ov, err := sp.OV(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	top, err := ov.Top(PairOptions{K: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range top.Pairs {
		if p.Source != sources[i] || p.Target != targets[i] {
			t.Errorf("OV 1.2 pair %d = %d → %d (%.3f), planted %d → %d", i, p.Source, p.Target, p.Score, sources[i], targets[i])
		}
	}
	nt, err := sp.Neuron(0, 5, NeuronOptions{K: 6})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, tk := range nt.Columns[Key] {
		got = append(got, tk.ID)
	}
	if !slices.Equal(got, keySet) {
		t.Errorf("L0/N5 key tokens = %v, planted %v", got, keySet)
	}
	// The other heads of layer 1 carry no circuit: their top pair must not
	// be a planted one with a planted-size score.
	if other, err := sp.OV(1, 1); err == nil {
		tp, _ := other.Top(PairOptions{K: 1})
		if len(tp.Pairs) == 1 && tp.Pairs[0].Score > 0.5 {
			t.Errorf("head 1.1 has a planted-size entry %+v", tp.Pairs[0])
		}
	}
}

func TestOutOfRange(t *testing.T) {
	sp := synthSpace(t, synth.Options{Shape: synth.Tiny})
	for _, f := range []func() error{
		func() error { _, err := sp.OV(2, 0); return err },
		func() error { _, err := sp.QK(0, 2); return err },
		func() error { _, err := sp.Neuron(0, 32, NeuronOptions{K: 3}); return err },
		func() error { _, err := sp.Neuron(-1, 0, NeuronOptions{K: 3}); return err },
	} {
		err := f()
		var re *weights.RangeError
		if err == nil || !errors.As(err, &re) {
			t.Errorf("want a RangeError, got %v", err)
		}
	}
}

// TestNeuronsMatchesNeuron: the layer-at-once projection returns, for every
// neuron, exactly what the one-neuron projection returns.
func TestNeuronsMatchesNeuron(t *testing.T) {
	shape := synth.Shape{Layers: 2, Heads: 2, DModel: 16, DFF: 300, Vocab: 400, Positions: 8}
	sp := synthSpace(t, synth.Options{Shape: shape, Seed: 3})
	r := rand.New(rand.NewPCG(5, 6))
	for _, tokens := range [][]int{nil, subset(r, shape.Vocab, 0.3), subset(r, shape.Vocab, 0.8)} {
		all, err := sp.Neurons(1, NeuronOptions{K: 7, Tokens: tokens})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != shape.DFF {
			t.Fatalf("%d neurons, want %d", len(all), shape.DFF)
		}
		for i, got := range all {
			want, err := sp.Neuron(1, i, NeuronOptions{K: 7, Tokens: tokens})
			if err != nil {
				t.Fatal(err)
			}
			if got.Neuron != want.Neuron || !sameColumns(got.Columns, want.Columns) {
				t.Fatalf("neuron %d (%d tokens): layer scan %v, single %v", i, len(tokens), got.Columns, want.Columns)
			}
		}
	}
	if _, err := sp.Neurons(2, NeuronOptions{K: 3}); err == nil {
		t.Error("layer 2 of a 2-layer model accepted")
	}
}

func sameColumns(a, b [NumSides][]Token) bool {
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// synthSpace writes a synthetic checkpoint and opens its vocabulary space.
func synthSpace(t *testing.T, o synth.Options) *Space {
	t.Helper()
	dir := t.TempDir()
	if err := synth.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	return openSpace(t, dir)
}

// openSpace opens the checkpoint in dir and its vocabulary space on the
// CPU engine; the checkpoint closes with the test.
func openSpace(tb testing.TB, dir string) *Space {
	tb.Helper()
	ck, err := checkpoint.Load(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ck.Close() })
	m, err := weights.FromCheckpoint(ck)
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := NewSpace(m, CPU())
	if err != nil {
		tb.Fatal(err)
	}
	return sp
}
