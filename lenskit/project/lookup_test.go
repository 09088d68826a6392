package project

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// bruteLookup answers a reverse lookup by brute force through the public
// views: every neuron's full projection (Neuron with k = all tokens) and
// every head's OV entries (HeadView.Score) for every source and target.
func bruteLookup(t *testing.T, sp *Space, opt LookupOptions) *Lookup {
	t.Helper()
	a := sp.Model.Arch()
	all := sp.WE.Rows
	out := &Lookup{}
	readSides := []Side{Key}
	if a.MLP == weights.MLPGated {
		readSides = []Side{Gate, Up}
	}
	for l := range a.Layers {
		for i := range a.DFF {
			n, err := sp.Neuron(l, i, NeuronOptions{K: all})
			if err != nil {
				t.Fatal(err)
			}
			best := func(sides []Side) NeuronHit {
				var hit NeuronHit
				found := false
				for _, side := range sides {
					score := map[int]float32{}
					for _, tk := range n.Columns[side] {
						score[tk.ID] = tk.Score
					}
					for _, tg := range opt.Targets {
						x := score[tg]
						if !found || x > hit.Score || (x == hit.Score && tg < hit.Token) {
							hit = NeuronHit{Neuron: NeuronID{l, i}, Side: side, Token: tg, Score: x}
							found = true
						}
					}
				}
				return hit
			}
			out.Write = append(out.Write, best([]Side{Value}))
			out.Read = append(out.Read, best(readSides))
		}
		// Heads: the OV entry in float64, associated as (e_s·W'_V)·(W_O·z_t).
		var gain []float32
		if sp.Proc.FoldNorms {
			n, ok, err := sp.Model.Norm(weights.AttnNorm, l)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				gain = n.Gain
			}
		}
		for h := range a.Heads {
			wv, _ := sp.Model.WV(l, a.KVGroup(h))
			wo, _ := sp.Model.WO(l, h)
			srcs := opt.Sources
			if srcs == nil {
				srcs = seq(all)
			}
			hit := HeadHit{Head: HeadID{l, h}, KV: a.KVGroup(h)}
			best := math.Inf(-1)
			for _, tg := range opt.Targets {
				z := procUnembed(sp, tg)
				p := make([]float64, a.DHead)
				for i := range p {
					for k, zk := range z {
						p[i] += float64(wo.At(i, k)) * zk
					}
				}
				for _, s := range srcs {
					if opt.Exclude != nil && opt.Exclude(s, tg) {
						continue
					}
					e := sp.WE.Row(s)
					var x float64
					for i := range p {
						var q float64
						for k, ek := range e {
							g := 1.0
							if gain != nil {
								g = float64(gain[k])
							}
							q += float64(ek) * g * float64(wv.At(k, i))
						}
						x += q * p[i]
					}
					if x > best || (x == best && (tg < hit.Target || (tg == hit.Target && s < hit.Source))) {
						best = x
						hit.Source, hit.Target, hit.Score = s, tg, float32(x)
					}
				}
			}
			if !math.IsInf(best, -1) {
				out.Heads = append(out.Heads, hit)
			}
		}
	}
	byNeuron := func(x, y NeuronHit) int {
		if x.Score != y.Score {
			return cmp.Compare(y.Score, x.Score)
		}
		if c := cmp.Compare(x.Neuron.Layer, y.Neuron.Layer); c != 0 {
			return c
		}
		return cmp.Compare(x.Neuron.Index, y.Neuron.Index)
	}
	slices.SortFunc(out.Write, byNeuron)
	slices.SortFunc(out.Read, byNeuron)
	slices.SortFunc(out.Heads, func(x, y HeadHit) int {
		if x.Score != y.Score {
			return cmp.Compare(y.Score, x.Score)
		}
		if c := cmp.Compare(x.Head.Layer, y.Head.Layer); c != 0 {
			return c
		}
		return cmp.Compare(x.Head.Head, y.Head.Head)
	})
	k := opt.K
	out.Write = out.Write[:min(k, len(out.Write))]
	out.Read = out.Read[:min(k, len(out.Read))]
	out.Heads = out.Heads[:min(k, len(out.Heads))]
	return out
}

func checkLookup(t *testing.T, what string, got, want *Lookup) {
	t.Helper()
	if !slices.Equal(got.Write, want.Write) {
		t.Errorf("%s: writers\n got %v\nwant %v", what, got.Write, want.Write)
	}
	if !slices.Equal(got.Read, want.Read) {
		t.Errorf("%s: readers\n got %v\nwant %v", what, got.Read, want.Read)
	}
	// Head scores are float64 sums associated differently here: equal to
	// a relative 1e-12, so the float32 scores may differ in the last bit.
	ok := len(got.Heads) == len(want.Heads)
	for i := 0; ok && i < len(got.Heads); i++ {
		g, w := got.Heads[i], want.Heads[i]
		ok = g.Head == w.Head && g.KV == w.KV && g.Source == w.Source && g.Target == w.Target &&
			math.Abs(float64(g.Score-w.Score)) <= 1e-6*math.Abs(float64(w.Score))
	}
	if !ok {
		t.Errorf("%s: heads\n got %v\nwant %v", what, got.Heads, want.Heads)
	}
}

// procUnembed returns token t's row of W_U as the space's processing reads
// it, (u_t − ū)·diag(γ_f), computed here from the model.
func procUnembed(sp *Space, t int) []float64 {
	u := sp.WU
	z := make([]float64, u.Cols)
	for k, x := range u.Row(t) {
		z[k] = float64(x)
	}
	if sp.Proc.CenterUnembed {
		for r := range u.Rows {
			for k, x := range u.Row(r) {
				z[k] -= float64(x) / float64(u.Rows)
			}
		}
	}
	if sp.Proc.FoldFinalNorm {
		g, _, _ := sp.Model.LnF()
		for k := range z {
			z[k] *= float64(g[k])
		}
	}
	return z
}

// TestLookupMatchesBruteForce: the reverse lookup equals a brute force over
// all neurons and heads, for GPT-2 and every family (gated MLPs, grouped
// KV heads, BF16), with and without weight processing, with a source
// filter and excluded pairs, for one and several targets.
func TestLookupMatchesBruteForce(t *testing.T) {
	all := Processing{FoldNorms: true, FoldFinalNorm: true, CenterUnembed: true}
	families := append([]string{"gpt2"}, synth.Families...)
	for fi, family := range families {
		t.Run(family, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var err error
			if family == "gpt2" {
				err = synth.Write(dir, synth.Options{Shape: synth.Shape{Layers: 2, Heads: 3, DModel: 24, DFF: 40, Vocab: 260, Positions: 8}, Seed: 21})
			} else {
				o := synth.FamilyOptions{ModelType: family, Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DHead: 8, DFF: 30,
					Vocab: 200, DType: checkpoint.BF16, Seed: uint64(40 + fi)}
				if family == "gpt_neox" {
					o.KVHeads, o.DType = 0, checkpoint.F32
				}
				_, err = synth.WriteFamily(dir, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			base := openSpace(t, dir)
			r := rand.New(rand.NewPCG(uint64(fi), 3))
			for _, proc := range []Processing{{}, all} {
				sp, err := NewSpace(base.Model, CPU(), WithProcessing(proc))
				if err != nil {
					t.Fatal(err)
				}
				n := sp.WE.Rows
				for ci, opt := range []LookupOptions{
					{Targets: []int{r.IntN(n)}, K: 10},
					{Targets: []int{r.IntN(n), r.IntN(n), r.IntN(n)}, K: 25},
					{Targets: []int{5, 6, 7}, K: 7, Sources: subset(r, n, 0.3), Exclude: func(s, tg int) bool { return (s+tg)%3 == 0 }},
					{Targets: []int{n - 1}, K: 1000},
				} {
					opt.Targets = slices.Compact(slices.Sorted(slices.Values(opt.Targets)))
					got, err := sp.Lookup(opt)
					if err != nil {
						t.Fatal(err)
					}
					checkLookup(t, fmt.Sprintf("%s case %d", proc, ci), got, bruteLookup(t, sp, opt))
				}
			}
		})
	}
}

// TestLookupPlanted: a neuron whose value is a token's unembedding writes
// that token most, a neuron whose key is a token's embedding reads it
// most, and the planted OV head of TestPlantedCircuits sends its source to
// its target more than any other head.
func TestLookupPlanted(t *testing.T) {
	shape := synth.Shape{Layers: 2, Heads: 4, DModel: 32, DFF: 16, Vocab: 500, Positions: 8}
	dh := shape.DModel / shape.Heads
	r := rand.New(rand.NewPCG(51, 52))
	dirs := orthonormal(r, 3, shape.DModel)
	const src, tgt = 17, 142
	fill := func(name string, sh []int, dst []float32) {
		d := shape.DModel
		switch name {
		case "wte.weight":
			for k := range d {
				dst[src*d+k] = float32(dirs[0][k])
				dst[tgt*d+k] = float32(dirs[1][k])
			}
		case "h.1.attn.c_attn.weight":
			for k := range d {
				dst[k*3*d+2*d+2*dh] = float32(5 * dirs[0][k])
			}
		case "h.1.attn.c_proj.weight":
			for k := range d {
				dst[(2*dh)*d+k] = float32(5 * dirs[1][k])
			}
		case "h.0.mlp.c_proj.weight": // neuron 9 writes tgt
			for k := range d {
				dst[9*d+k] = float32(20 * dirs[1][k])
			}
		case "h.1.mlp.c_fc.weight": // neuron 4 of layer 1 reads tgt
			for k := range d {
				dst[k*shape.DFF+4] = float32(20 * dirs[1][k])
			}
		}
	}
	sp := synthSpace(t, synth.Options{Shape: shape, Seed: 53, Fill: fill})
	got, err := sp.Lookup(LookupOptions{Targets: []int{tgt}, K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Write) == 0 || got.Write[0].Neuron != (NeuronID{0, 9}) {
		t.Errorf("writers %v, want L0/N9 first", got.Write)
	}
	if len(got.Read) == 0 || got.Read[0].Neuron != (NeuronID{1, 4}) {
		t.Errorf("readers %v, want L1/N4 first", got.Read)
	}
	if len(got.Heads) == 0 || got.Heads[0].Head != (HeadID{1, 2}) || got.Heads[0].Source != src || got.Heads[0].Target != tgt {
		t.Errorf("heads %v, want 1.2 with %d → %d first", got.Heads, src, tgt)
	}
	for _, bad := range []LookupOptions{{K: 3}, {Targets: []int{shape.Vocab}, K: 3}, {Targets: []int{1}, K: -1}, {Targets: []int{1}, K: 1, Sources: []int{-2}}} {
		if _, err := sp.Lookup(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestLookupScreened: with the int8 screening forced on, the reverse
// lookup's heads equal the float32 path's, for every family and with a
// source filter and exclusions.
func TestLookupScreened(t *testing.T) {
	withScreen(t, func() {
		for fi, family := range append([]string{"gpt2"}, synth.Families...) {
			dir := t.TempDir()
			var err error
			if family == "gpt2" {
				err = synth.Write(dir, synth.Options{Shape: synth.Shape{Layers: 2, Heads: 3, DModel: 24, DFF: 20, Vocab: 260, Positions: 8}, Seed: 2})
			} else {
				o := synth.FamilyOptions{ModelType: family, Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DHead: 8, DFF: 20, Vocab: 200, DType: checkpoint.BF16, Seed: uint64(fi)}
				if family == "gpt_neox" {
					o.KVHeads, o.DType = 0, checkpoint.F32
				}
				_, err = synth.WriteFamily(dir, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			sp := openSpace(t, dir)
			r := rand.New(rand.NewPCG(uint64(fi), 5))
			for ci, opt := range []LookupOptions{
				{Targets: []int{3, 77, 150}, K: 100},
				{Targets: []int{9}, K: 5, Sources: subset(r, sp.WE.Rows, 0.4), Exclude: func(s, tg int) bool { return (s+tg)%4 == 0 }},
			} {
				got, err := sp.Lookup(opt)
				if err != nil {
					t.Fatal(err)
				}
				screenMin = math.MaxInt
				want, err := sp.Lookup(opt)
				screenMin = 0
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Heads, want.Heads) {
					t.Errorf("%s case %d: screened heads\n%v\nfloat32 path\n%v", family, ci, got.Heads, want.Heads)
				}
			}
		}
	})
}
