package project

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

// refViewStats computes a view's statistics the direct way: the singular
// values of the full (restricted) V × V matrix by Jacobi SVD, and the
// copying score from the eigenvalues of that V × V matrix — not of the
// d_head × d_head product the library reduces it to.
func refViewStats(t *testing.T, ref refScores, tokens []int, ov bool) ViewStats {
	t.Helper()
	if tokens == nil {
		tokens = seq(ref.rows)
	}
	n := len(tokens)
	m := newDmat(n, n)
	for i, s := range tokens {
		for j, tt := range tokens {
			m.set(i, j, ref.at(s, tt))
		}
	}
	_, s, _ := svdJacobi(m)
	st := ViewStats{Singular: s, Sigma1: s[0], EffectiveRank: effectiveRank(s), CopyingScore: math.NaN()}
	if ov {
		ev, err := eigenvalues(m)
		if err != nil {
			t.Fatal(err)
		}
		st.CopyingScore = copyingScore(ev)
		var tr float64
		for i := range n {
			tr += m.at(i, i)
		}
		var re float64
		for _, l := range ev {
			re += real(l)
		}
		if math.Abs(re-tr) > 1e-8*math.Max(1, math.Abs(tr)) {
			t.Fatalf("reference eigenvalues sum to %v, trace %v", re, tr)
		}
	}
	return st
}

func closeRel(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))+1e-12
}

func checkViewStats(t *testing.T, what string, got, want ViewStats, h int, rel, abs float64) {
	t.Helper()
	if len(got.Singular) != h {
		t.Fatalf("%s: %d singular values, want d_head = %d", what, len(got.Singular), h)
	}
	for i := range h {
		if math.Abs(got.Singular[i]-want.Singular[i]) > rel*want.Singular[0] {
			t.Fatalf("%s: σ_%d = %v, direct %v", what, i+1, got.Singular[i], want.Singular[i])
		}
	}
	// The direct SVD has V − d_head more values, all ≈ 0.
	for i := h; i < len(want.Singular); i++ {
		if want.Singular[i] > rel*want.Singular[0] {
			t.Fatalf("%s: direct σ_%d = %v beyond the rank d_head = %d", what, i+1, want.Singular[i], h)
		}
	}
	if !closeRel(got.Sigma1, want.Sigma1, rel) {
		t.Errorf("%s: σ₁ = %v, direct %v", what, got.Sigma1, want.Sigma1)
	}
	if math.Abs(got.EffectiveRank-want.EffectiveRank) > 1e3*rel*float64(h) {
		t.Errorf("%s: effective rank %v, direct %v", what, got.EffectiveRank, want.EffectiveRank)
	}
	if math.IsNaN(want.CopyingScore) != math.IsNaN(got.CopyingScore) ||
		(!math.IsNaN(want.CopyingScore) && math.Abs(got.CopyingScore-want.CopyingScore) > abs) {
		t.Errorf("%s: copying score %v, direct %v", what, got.CopyingScore, want.CopyingScore)
	}
}

// TestViewStatsPlanted plants OV circuits with a known spectrum: the
// embedding has orthonormal columns (EᵀE = I, tied unembedding), W_V is
// d_head orthonormal directions Q and W_O = D·Qᵀ, so the V × V view
// E·Q·D·Qᵀ·Eᵀ has exactly D's eigenvalues and singular values. Head 0.0
// copies (D = diag of positive values: score 1), head 0.1 writes against
// (negative: −1), head 1.0 mixes signs and a rotation pair.
func TestViewStatsPlanted(t *testing.T) {
	shape := synth.Shape{Layers: 2, Heads: 2, DModel: 16, DFF: 8, Vocab: 300, Positions: 8}
	dh := shape.DModel / shape.Heads
	r := rand.New(rand.NewPCG(9, 10))
	cols := orthonormal(r, shape.DModel, shape.Vocab) // d orthonormal vectors of length V
	q := orthonormal(r, shape.DModel, shape.DModel)   // rows: orthonormal directions in R^d
	type plant struct {
		layer, head int
		d           [][]float64 // d_head × d_head
		eig         []complex128
		sing        []float64
	}
	diag := func(xs ...float64) [][]float64 {
		m := make([][]float64, dh)
		for i := range m {
			m[i] = make([]float64, dh)
			m[i][i] = xs[i]
		}
		return m
	}
	copying := diag(3, 2.5, 2, 1.5, 1, 0.8, 0.5, 0.25)
	negative := diag(-3, -2, -2, -1, -1, -0.5, -0.5, -0.1)
	mixed := diag(2, -1, 0.5, -0.5, 0, 0, 0, 0)
	a, b := 0.6, 0.8 // a rotation-scaling block: eigenvalues 0.6 ± 0.8i, singular values 1, 1
	mixed[4][4], mixed[4][5], mixed[5][4], mixed[5][5] = a, -b, b, a
	plants := []plant{
		{0, 0, copying, nil, nil},
		{0, 1, negative, nil, nil},
		{1, 0, mixed, []complex128{2, -1, 0.5, -0.5, complex(a, b), complex(a, -b), 0, 0}, []float64{2, 1, 1, 1, 0.5, 0.5, 0, 0}},
	}
	for i := range plants[:2] {
		for j := range dh {
			x := plants[i].d[j][j]
			plants[i].eig = append(plants[i].eig, complex(x, 0))
			plants[i].sing = append(plants[i].sing, math.Abs(x))
		}
	}
	fill := func(name string, sh []int, dst []float32) {
		d := shape.DModel
		if name == "wte.weight" {
			for tok := range shape.Vocab {
				for k := range d {
					dst[tok*d+k] = float32(cols[k][tok])
				}
			}
			return
		}
		for _, p := range plants {
			switch name {
			case fmt.Sprintf("h.%d.attn.c_attn.weight", p.layer): // d × 3d; W_V of head h: columns 2d + h·dh + i
				for i := range dh {
					for k := range d {
						dst[k*3*d+2*d+p.head*dh+i] = float32(q[i][k])
					}
				}
			case fmt.Sprintf("h.%d.attn.c_proj.weight", p.layer): // d × d; W_O of head h: rows h·dh + i
				for i := range dh {
					for k := range d {
						var x float64
						for j := range dh {
							x += p.d[i][j] * q[j][k]
						}
						dst[(p.head*dh+i)*d+k] = float32(x)
					}
				}
			}
		}
	}
	sp := synthSpace(t, synth.Options{Shape: shape, Seed: 11, Fill: fill})
	for _, p := range plants {
		v, err := sp.OV(p.layer, p.head)
		if err != nil {
			t.Fatal(err)
		}
		st, err := v.Stats(nil)
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("OV %d.%d", p.layer, p.head)
		want := slices.Clone(p.sing)
		slices.Sort(want)
		slices.Reverse(want)
		for i := range want {
			if math.Abs(st.Singular[i]-want[i]) > 1e-5 {
				t.Errorf("%s: σ = %v, planted %v", what, st.Singular, want)
				break
			}
		}
		matchSpectrum(t, what, st.Eigen, p.eig, 1e-5)
		var re, abs float64
		for _, l := range p.eig {
			re += real(l)
			abs += math.Hypot(real(l), imag(l))
		}
		if math.Abs(st.CopyingScore-re/abs) > 1e-5 {
			t.Errorf("%s: copying score %v, planted %v", what, st.CopyingScore, re/abs)
		}
	}
}

// TestViewStatsFamilies: for every family, the statistics of every head's
// OV and QK views (QK at δ = 0 and 1 for rotary models) equal the direct
// computation on the reference V × V matrix built from the generator's
// raw values, with all tokens and with a filtered subset.
func TestViewStatsFamilies(t *testing.T) {
	families := append([]string{"gpt2"}, synth.Families...)
	for fi, family := range families {
		t.Run(family, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var raw *synth.Raw
			var err error
			if family == "gpt2" {
				raw, err = gpt2Raw(dir)
			} else {
				raw, err = synth.WriteFamily(dir, synth.FamilyOptions{ModelType: family, Layers: 1, Heads: 4, KVHeads: 2,
					DModel: 32, DHead: 8, DFF: 24, Vocab: 120, DType: checkpoint.BF16, Seed: uint64(7 + fi), Decay: 2})
				if family == "gpt_neox" {
					raw, err = synth.WriteFamily(dir, synth.FamilyOptions{ModelType: family, Layers: 1, Heads: 4,
						DModel: 32, DHead: 8, DFF: 24, Vocab: 120, Seed: uint64(7 + fi), Decay: 2})
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			sp := openSpace(t, dir)
			f := familyRefs{raw: raw, eps: sp.Model.Arch().NormEps}
			subset := subset(rand.New(rand.NewPCG(uint64(fi), 1)), raw.Vocab, 0.5)
			for _, tokens := range [][]int{nil, subset} {
				for h := range raw.Heads {
					ov, err := sp.OV(0, h)
					if err != nil {
						t.Fatal(err)
					}
					got, err := ov.Stats(tokens)
					if err != nil {
						t.Fatal(err)
					}
					want := refViewStats(t, f.ov(0, h), tokens, true)
					checkViewStats(t, fmt.Sprintf("OV 0.%d (%d tokens)", h, len(tokens)), got, want, raw.DHead, 1e-4, 1e-4)
					deltas := []int{0}
					if sp.Model.Arch().Rotary != nil {
						deltas = []int{0, 1}
					}
					for _, d := range deltas {
						qk, err := sp.QKAt(0, h, d)
						if err != nil {
							t.Fatal(err)
						}
						got, err := qk.Stats(tokens)
						if err != nil {
							t.Fatal(err)
						}
						var ref refScores
						if family == "gpt2" {
							ref = gpt2QK(raw, 0, h)
						} else {
							ref = f.qk(0, h, d, d+3)
						}
						want := refViewStats(t, ref, tokens, false)
						checkViewStats(t, fmt.Sprintf("QK 0.%d δ=%d (%d tokens)", h, d, len(tokens)), got, want, raw.DHead, 1e-4, 0)
					}
				}
			}
		})
	}
}

// gpt2Raw writes a small random GPT-2 checkpoint (one layer) and returns
// its values in synth.Raw form — the fields the references read — from the
// generator's own values, independently of lenskit/weights.
func gpt2Raw(dir string) (*synth.Raw, error) {
	return gpt2RawShape(dir, synth.Shape{Layers: 1, Heads: 4, DModel: 32, DFF: 24, Vocab: 300, Positions: 16}, 5)
}

func gpt2RawShape(dir string, shape synth.Shape, seed uint64) (*synth.Raw, error) {
	o := synth.Options{Shape: shape, Seed: seed}
	if err := synth.Write(dir, o); err != nil {
		return nil, err
	}
	d, dh := shape.DModel, shape.DModel/shape.Heads
	mat := func(name string, rows, cols int) synth.Mat {
		v := synth.Values(o, name, []int{rows, cols})
		m := synth.NewMat(rows, cols)
		for i, x := range v {
			m.V[i] = float64(x)
		}
		return m
	}
	vec := func(name string, n int) []float64 {
		out := make([]float64, n)
		for i, x := range synth.Values(o, name, []int{n}) {
			out[i] = float64(x)
		}
		return out
	}
	raw := &synth.Raw{ModelType: "gpt2", Layers: shape.Layers, Heads: shape.Heads, KVHeads: shape.Heads, DModel: d, DHead: dh, DFF: shape.DFF, Vocab: shape.Vocab}
	raw.Embedding = mat("wte.weight", shape.Vocab, d)
	raw.Unembedding = raw.Embedding
	raw.FinalNorm = synth.RawNorm{Gain: vec("ln_f.weight", d), Bias: vec("ln_f.bias", d)}
	for l := range shape.Layers {
		pre := fmt.Sprintf("h.%d.", l)
		attn := mat(pre+"attn.c_attn.weight", d, 3*d)
		proj := mat(pre+"attn.c_proj.weight", d, d)
		var L synth.RawLayer
		for h := range shape.Heads {
			part := func(p int) synth.Mat {
				m := synth.NewMat(d, dh)
				for k := range d {
					for i := range dh {
						m.V[k*dh+i] = attn.At(k, p*d+h*dh+i)
					}
				}
				return m
			}
			L.WQ = append(L.WQ, part(0))
			L.WK = append(L.WK, part(1))
			L.WV = append(L.WV, part(2))
			wo := synth.NewMat(dh, d)
			for i := range dh {
				copy(wo.V[i*d:(i+1)*d], proj.Row(h*dh+i))
			}
			L.WO = append(L.WO, wo)
		}
		L.Reads = []synth.Mat{mat(pre+"mlp.c_fc.weight", d, shape.DFF).T()}
		L.Values = mat(pre+"mlp.c_proj.weight", shape.DFF, d)
		L.AttnNorm = synth.RawNorm{Gain: vec(pre+"ln_1.weight", d), Bias: vec(pre+"ln_1.bias", d)}
		L.MLPNorm = synth.RawNorm{Gain: vec(pre+"ln_2.weight", d), Bias: vec(pre+"ln_2.bias", d)}
		raw.Layer = append(raw.Layer, L)
	}
	return raw, nil
}

// gpt2QK is GPT-2's QK view E·W_Q·W_Kᵀ·Eᵀ from raw values (no rotary).
func gpt2QK(r *synth.Raw, l, h int) refScores {
	L := r.Layer[l]
	out := refScores{rows: r.Vocab, cols: r.Vocab, v: make([]float64, r.Vocab*r.Vocab)}
	qs := make([][]float64, r.Vocab)
	ks := make([][]float64, r.Vocab)
	for t := range r.Vocab {
		qs[t] = rowTimes(r.Embedding.Row(t), L.WQ[h])
		ks[t] = rowTimes(r.Embedding.Row(t), L.WK[h])
	}
	for s := range r.Vocab {
		for t := range r.Vocab {
			out.v[s*r.Vocab+t] = dotF(qs[s], ks[t])
		}
	}
	return out
}

// TestPrevTokenPlanted plants a previous-token head — orthonormal position
// embeddings p_0 … p_15 and W_Q·W_Kᵀ = c·Σ p_i·p_{i−1}ᵀ — and checks its
// margin and fraction, and every head's against a direct loop over
// positions.
func TestPrevTokenPlanted(t *testing.T) {
	shape := synth.Shape{Layers: 1, Heads: 2, DModel: 64, DFF: 8, Vocab: 300, Positions: 16}
	dh := shape.DModel / shape.Heads
	r := rand.New(rand.NewPCG(12, 13))
	pos := orthonormal(r, shape.Positions, shape.DModel)
	const c = 4.0
	fill := func(name string, sh []int, dst []float32) {
		d := shape.DModel
		switch name {
		case "wpe.weight":
			for p := range shape.Positions {
				for k := range d {
					dst[p*d+k] = float32(pos[p][k])
				}
			}
		case "h.0.attn.c_attn.weight": // W_Q of head 1: columns dh + i; W_K: d + dh + i
			for i := range shape.Positions - 1 {
				for k := range d {
					dst[k*3*d+dh+i] = float32(pos[i+1][k])
					dst[k*3*d+d+dh+i] = float32(c * pos[i][k])
				}
			}
			for i := shape.Positions - 1; i < dh; i++ {
				for k := range d {
					dst[k*3*d+dh+i] = 0
					dst[k*3*d+d+dh+i] = 0
				}
			}
		}
	}
	dir := t.TempDir()
	o := synth.Options{Shape: shape, Seed: 14, Fill: fill}
	if err := synth.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	sp := openSpace(t, dir)
	scale := 1 / math.Sqrt(float64(dh))
	got, ok, err := sp.PrevToken(0, 1)
	if err != nil || !ok {
		t.Fatalf("PrevToken: ok=%v err=%v", ok, err)
	}
	if math.Abs(got.Margin-c*scale) > 1e-5 || got.Fraction != 1 {
		t.Errorf("planted head: margin %v fraction %v, want %v and 1", got.Margin, got.Fraction, c*scale)
	}
	// Direct loop, every head, from the generator's values.
	wpe := synth.Values(o, "wpe.weight", []int{shape.Positions, shape.DModel})
	attn := synth.Values(o, "h.0.attn.c_attn.weight", []int{shape.DModel, 3 * shape.DModel})
	d := shape.DModel
	for h := range shape.Heads {
		proj := func(p, part int) []float64 {
			out := make([]float64, dh)
			for i := range dh {
				for k := range d {
					out[i] += float64(wpe[p*d+k]) * float64(attn[k*3*d+part*d+h*dh+i])
				}
			}
			return out
		}
		var sum float64
		var wins int
		for p := 1; p < shape.Positions; p++ {
			q := proj(p, 0)
			best := math.Inf(-1)
			var prev float64
			for j := 0; j <= p; j++ {
				s := dotF(q, proj(j, 1))
				if j == p-1 {
					prev = s
				} else {
					best = max(best, s)
				}
			}
			m := scale * (prev - best)
			sum += m
			if m > 0 {
				wins++
			}
		}
		n := float64(shape.Positions - 1)
		got, _, err := sp.PrevToken(0, h)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Margin-sum/n) > 1e-5*math.Max(1, math.Abs(sum/n)) || got.Fraction != float64(wins)/n {
			t.Errorf("head 0.%d: margin %v fraction %v, direct %v and %v", h, got.Margin, got.Fraction, sum/n, float64(wins)/n)
		}
	}
	// A rotary model has no learned positions.
	fdir := t.TempDir()
	if _, err := synth.WriteFamily(fdir, synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 2, DModel: 16, DFF: 8, Vocab: 260, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := openSpace(t, fdir).PrevToken(0, 0); ok || err != nil {
		t.Errorf("llama: PrevToken ok=%v err=%v, want not applicable", ok, err)
	}
}

// TestNeuronStats plants a prediction neuron (its value is the sum of a few
// tokens' unembeddings: a heavy positive tail) and a suppression neuron
// (the negative of that) and checks that NeuronScan's statistics and tops
// equal a direct computation for every neuron of every family, with and
// without processing and a token filter.
func TestNeuronStats(t *testing.T) {
	shape := synth.Shape{Layers: 1, Heads: 2, DModel: 32, DFF: 12, Vocab: 400, Positions: 8}
	boosted := []int{10, 77, 150, 320}
	fill := func(name string, sh []int, dst []float32) {
		d := shape.DModel
		if name == "wte.weight" { // the boosted tokens' embeddings are 4 times longer
			for _, tok := range boosted {
				for k := range d {
					dst[tok*d+k] *= 4
				}
			}
		}
		if name != "h.0.mlp.c_proj.weight" { // d_ff × d: row i is neuron i's value
			return
		}
		wte := synth.Values(synth.Options{Shape: shape, Seed: 15}, "wte.weight", []int{shape.Vocab, shape.DModel})
		for _, row := range []int{3, 5} {
			sign := float32(1)
			if row == 5 {
				sign = -1
			}
			for k := range d {
				dst[row*d+k] = 0
				for _, tok := range boosted {
					dst[row*d+k] += sign * 40 * wte[tok*d+k]
				}
			}
		}
	}
	dir := t.TempDir()
	o := synth.Options{Shape: shape, Seed: 15, Fill: fill}
	if err := synth.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	sp := openSpace(t, dir)
	_, stats, err := sp.NeuronScan(0, NeuronOptions{K: 5})
	if err != nil {
		t.Fatal(err)
	}
	pred, supp := stats[3], stats[5]
	if !(pred.ValueSkew > 2 && pred.ValueKurtosis > 5) {
		t.Errorf("prediction neuron: skew %v kurtosis %v, want a heavy positive tail", pred.ValueSkew, pred.ValueKurtosis)
	}
	if !(supp.ValueSkew < -2 && supp.ValueKurtosis > 5) {
		t.Errorf("suppression neuron: skew %v kurtosis %v, want a heavy negative tail", supp.ValueSkew, supp.ValueKurtosis)
	}
	// The long embeddings of the boosted tokens give every neuron some
	// tail; the planted ones must stand out at both ends.
	for i, st := range stats {
		if i == 3 || i == 5 {
			continue
		}
		if st.ValueSkew >= pred.ValueSkew || st.ValueSkew <= supp.ValueSkew || st.ValueKurtosis >= min(pred.ValueKurtosis, supp.ValueKurtosis) {
			t.Errorf("random neuron %d: skew %v kurtosis %v; planted: %v/%v and %v/%v", i, st.ValueSkew, st.ValueKurtosis,
				pred.ValueSkew, pred.ValueKurtosis, supp.ValueSkew, supp.ValueKurtosis)
		}
	}

	all := Processing{FoldNorms: true, FoldFinalNorm: true, CenterUnembed: true}
	for fi, family := range append([]string{"gpt2"}, synth.Families...) {
		for _, proc := range []Processing{{}, all} {
			t.Run(fmt.Sprintf("%s/%s", family, proc), func(t *testing.T) {
				t.Parallel()
				fdir := t.TempDir()
				var raw *synth.Raw
				var err error
				if family == "gpt2" {
					raw, err = gpt2RawShape(fdir, synth.Shape{Layers: 1, Heads: 2, DModel: 16, DFF: 20, Vocab: 300, Positions: 8}, 99)
				} else {
					raw, err = synth.WriteFamily(fdir, synth.FamilyOptions{ModelType: family, Layers: 1, Heads: 2, KVHeads: 1,
						DModel: 16, DHead: 8, DFF: 20, Vocab: 300, DType: checkpoint.BF16, Seed: uint64(30 + fi)})
					if family == "gpt_neox" {
						raw, err = synth.WriteFamily(fdir, synth.FamilyOptions{ModelType: family, Layers: 1, Heads: 2,
							DModel: 16, DFF: 20, Vocab: 300, Seed: uint64(30 + fi)})
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				sp := openSpace(t, fdir)
				sp, err = NewSpace(sp.Model, CPU(), WithProcessing(proc))
				if err != nil {
					t.Fatal(err)
				}
				f := familyRefs{raw: raw, proc: proc}
				u := f.unembed()
				L := raw.Layer[0]
				for _, tokens := range [][]int{nil, subset(rand.New(rand.NewPCG(uint64(fi), 2)), raw.Vocab, 0.4)} {
					tops, stats, err := sp.NeuronScan(0, NeuronOptions{K: 7, Tokens: tokens})
					if err != nil {
						t.Fatal(err)
					}
					single, err := sp.Neurons(0, NeuronOptions{K: 7, Tokens: tokens})
					if err != nil {
						t.Fatal(err)
					}
					ids := tokens
					if ids == nil {
						ids = seq(raw.Vocab)
					}
					for i := range raw.DFF {
						if !sameColumns(tops[i].Columns, single[i].Columns) {
							t.Fatalf("neuron %d: NeuronScan's columns differ from Neurons'", i)
						}
						val := L.Values.Row(i)
						scores := make([]float64, len(ids))
						for j, tok := range ids {
							scores[j] = dotF(u.Row(tok), val)
						}
						mean, std, skew, kurt := moments(scores)
						var reads [][]float64
						for _, rd := range L.Reads {
							x := slices.Clone(rd.Row(i))
							if proc.FoldNorms {
								for j := range x {
									x[j] *= L.MLPNorm.Gain[j]
								}
							}
							reads = append(reads, x)
						}
						nrm := func(x []float64) float64 { return math.Sqrt(dotF(x, x)) }
						st := stats[i]
						want := NeuronStats{Neuron: NeuronID{0, i}, ValueMean: mean, ValueStd: std, ValueSkew: skew, ValueKurtosis: kurt,
							KeyNorm: nrm(reads[0]), ValueNorm: nrm(val), CosKeyValue: dotF(reads[0], val) / (nrm(reads[0]) * nrm(val)),
							UpNorm: math.NaN(), CosUpValue: math.NaN()}
						if len(reads) > 1 {
							want.UpNorm = nrm(reads[1])
							want.CosUpValue = dotF(reads[1], val) / (want.UpNorm * want.ValueNorm)
						}
						check := func(name string, got, want, tol float64) {
							if math.IsNaN(want) != math.IsNaN(got) || (!math.IsNaN(want) && math.Abs(got-want) > tol) {
								t.Errorf("neuron %d (%d tokens): %s = %v, direct %v", i, len(ids), name, got, want)
							}
						}
						if st.Neuron != want.Neuron {
							t.Fatalf("stats[%d] names %v", i, st.Neuron)
						}
						scale := want.ValueStd
						check("mean", st.ValueMean, want.ValueMean, 1e-5*scale)
						check("std", st.ValueStd, want.ValueStd, 1e-5*scale)
						check("skew", st.ValueSkew, want.ValueSkew, 1e-4)
						check("kurtosis", st.ValueKurtosis, want.ValueKurtosis, 1e-4)
						check("key norm", st.KeyNorm, want.KeyNorm, 1e-6*want.KeyNorm)
						check("up norm", st.UpNorm, want.UpNorm, 1e-6*want.UpNorm)
						check("value norm", st.ValueNorm, want.ValueNorm, 1e-6*want.ValueNorm)
						check("cos(key, value)", st.CosKeyValue, want.CosKeyValue, 1e-6)
						check("cos(up, value)", st.CosUpValue, want.CosUpValue, 1e-6)
					}
				}
			})
		}
	}
}
