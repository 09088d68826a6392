package project

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

// The references below are computed from synth.Raw — the generator's
// float64 values in plain mathematical form — by straightforward loops that
// share nothing with the adapters or with Space: no factors, no rotation of
// key factors, no search. They are what issue 8's "exact, per family" asks
// to compare against.

// refScores is a full V × V reference view, or one column set.
type refScores struct {
	rows, cols int
	v          []float64
}

func (r refScores) at(i, j int) float64 { return r.v[i*r.cols+j] }

// refTop returns the reference's k best pairs in result order (score, then
// source id, then target id), negated for bottom.
func (r refScores) top(k int, bottom bool) []cand {
	sign := 1.0
	if bottom {
		sign = -1
	}
	all := make([]cand, 0, len(r.v))
	for i := range r.rows {
		for j := range r.cols {
			all = append(all, cand{score: sign * r.at(i, j), src: int32(i), tgt: int32(j)})
		}
	}
	slices.SortFunc(all, compareCands)
	return all[:min(k, len(all))]
}

// samePairs checks got against the reference's order. Two lists may differ
// only where the reference's scores are within tol of each other (a float32
// rounding of the factors can swap near-ties), and every returned score must
// be the reference's within tol.
func samePairs(t *testing.T, what string, got []Pair, ref refScores, k int, bottom bool, tol float64) {
	t.Helper()
	want := ref.top(k, bottom)
	if len(got) != len(want) {
		t.Fatalf("%s: %d pairs, want %d", what, len(got), len(want))
	}
	sign := 1.0
	if bottom {
		sign = -1
	}
	for i, p := range got {
		r := ref.at(p.Source, p.Target)
		if math.Abs(float64(p.Score)-r) > tol {
			t.Fatalf("%s: pair %d (%d, %d) scores %v, reference %v", what, i, p.Source, p.Target, p.Score, r)
		}
		w := want[i]
		if int(w.src) != p.Source || int(w.tgt) != p.Target {
			if math.Abs(sign*r-w.score) > 2*tol {
				t.Fatalf("%s: pair %d is (%d, %d) with reference score %v; want (%d, %d) with %v",
					what, i, p.Source, p.Target, r, w.src, w.tgt, sign*w.score)
			}
		}
	}
}

func sameTokens(t *testing.T, what string, got []Token, ref []float64, k int, neg bool, tol float64) {
	t.Helper()
	r := refScores{rows: len(ref), cols: 1, v: ref}
	var pairs []Pair
	for _, tk := range got {
		pairs = append(pairs, Pair{Source: tk.ID, Score: tk.Score})
	}
	if neg {
		// A negated column holds the top of −x: compare with the reference
		// negated, best first.
		nr := refScores{rows: r.rows, cols: 1, v: make([]float64, len(ref))}
		for i, v := range ref {
			nr.v[i] = -v
		}
		r = nr
	}
	samePairs(t, what, pairs, r, k, false, tol)
}

func matVec(m synth.Mat, x []float64) []float64 {
	out := make([]float64, m.Rows)
	for i := range m.Rows {
		for j, v := range m.Row(i) {
			out[i] += v * x[j]
		}
	}
	return out
}

// rowTimes returns x·W (x of length W.Rows).
func rowTimes(x []float64, w synth.Mat) []float64 {
	out := make([]float64, w.Cols)
	for i, a := range x {
		for j := range w.Cols {
			out[j] += a * w.V[i*w.Cols+j]
		}
	}
	return out
}

func dotF(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// rmsNorm is x/√(mean(x²)+eps) ⊙ g.
func rmsNorm(x, g []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * inv * g[i]
	}
	return out
}

// ropeAt rotates x as Hugging Face's apply_rotary_pos_emb does for a token
// at position pos: on the first dims coordinates, x·cos + rotate_half(x)·sin
// with angle pos·θ^(−2i/dims) for pair (i, i+dims/2); the rest unrotated.
func ropeAt(x []float64, pos int, theta float64, dims int) []float64 {
	out := slices.Clone(x)
	half := dims / 2
	for i := range half {
		ang := float64(pos) * math.Pow(theta, -float64(2*i)/float64(dims))
		c, s := math.Cos(ang), math.Sin(ang)
		// rotate_half(x) = (−x[i+half], x[i]) on the pair.
		out[i] = x[i]*c - x[i+half]*s
		out[i+half] = x[i+half]*c + x[i]*s
	}
	return out
}

// familyRefs computes reference views of one head from raw values.
type familyRefs struct {
	raw  *synth.Raw
	eps  float64
	proc Processing
}

// inputs returns the rows the QK and OV sides read (W_E, or W_E ⊙ γ for
// folded norms is applied to the weights instead; see weight).
func (f familyRefs) weight(w synth.Mat, gain []float64) synth.Mat {
	if gain == nil || !f.proc.FoldNorms {
		return w
	}
	out := synth.NewMat(w.Rows, w.Cols)
	for i := range w.Rows {
		for j := range w.Cols {
			out.V[i*w.Cols+j] = w.At(i, j) * gain[i]
		}
	}
	return out
}

// unembed returns W_U as the processing reads it: (W_U − mean)·diag(γ_f).
func (f familyRefs) unembed() synth.Mat {
	u := f.raw.Unembedding
	out := synth.NewMat(u.Rows, u.Cols)
	mean := make([]float64, u.Cols)
	if f.proc.CenterUnembed {
		for i := range u.Rows {
			for j := range u.Cols {
				mean[j] += u.At(i, j) / float64(u.Rows)
			}
		}
	}
	for i := range u.Rows {
		for j := range u.Cols {
			g := 1.0
			if f.proc.FoldFinalNorm {
				g = f.raw.FinalNorm.Gain[j]
			}
			out.V[i*u.Cols+j] = (u.At(i, j) - mean[j]) * g
		}
	}
	return out
}

func (f familyRefs) ov(l, h int) refScores {
	r := f.raw
	g := h / (r.Heads / r.KVHeads)
	wv := f.weight(r.Layer[l].WV[g], r.Layer[l].AttnNorm.Gain)
	u := f.unembed()
	// Per source s: x = E_s·W_V·W_O (d), then scores x·U_tᵀ.
	out := refScores{rows: r.Vocab, cols: r.Vocab, v: make([]float64, r.Vocab*r.Vocab)}
	for s := range r.Vocab {
		x := rowTimes(rowTimes(r.Embedding.Row(s), wv), r.Layer[l].WO[h])
		for t := range r.Vocab {
			out.v[s*r.Vocab+t] = dotF(x, u.Row(t))
		}
	}
	return out
}

// qk computes the attention logit (before 1/√d_head) of a query token at
// position m and a key token at m − δ, by the family's own steps: project,
// QK-norm, rotate each at its position, dot.
func (f familyRefs) qk(l, h, delta, m int) refScores {
	r := f.raw
	g := h / (r.Heads / r.KVHeads)
	L := r.Layer[l]
	wq := f.weight(L.WQ[h], L.AttnNorm.Gain)
	wk := f.weight(L.WK[g], L.AttnNorm.Gain)
	theta := r.Rotary.Theta
	if L.Sliding && r.Rotary.LocalTheta > 0 {
		theta = r.Rotary.LocalTheta
	}
	side := func(w synth.Mat, norm []float64, pos int) [][]float64 {
		out := make([][]float64, r.Vocab)
		for t := range r.Vocab {
			x := rowTimes(r.Embedding.Row(t), w)
			if norm != nil {
				x = rmsNorm(x, norm, f.eps)
			}
			out[t] = ropeAt(x, pos, theta, r.Rotary.Dims)
		}
		return out
	}
	qs, ks := side(wq, L.QNorm, m), side(wk, L.KNorm, m-delta)
	out := refScores{rows: r.Vocab, cols: r.Vocab, v: make([]float64, r.Vocab*r.Vocab)}
	for s := range r.Vocab {
		for t := range r.Vocab {
			out.v[s*r.Vocab+t] = dotF(qs[s], ks[t])
		}
	}
	return out
}

func maxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// TestFamiliesMatchBruteForce is issue 8's "exact, per family": for tiny
// random checkpoints of every family (GQA ratios 1, 2 and 4 where the family
// allows; tied and untied; F32 and BF16; sharded), every query head's OV
// view, its QK view at δ = 0, 1, 7 and 100, and neuron views give the
// reference's ids in the reference's order, top and bottom 50 — with raw
// weights, and OV and neurons also with every weight processing on.
func TestFamiliesMatchBruteForce(t *testing.T) {
	type variant struct {
		kv    int
		tied  bool
		dtype checkpoint.DType
		proc  Processing
	}
	all := Processing{FoldNorms: true, FoldFinalNorm: true, CenterUnembed: true}
	for fi, family := range synth.Families {
		variants := []variant{
			{4, false, checkpoint.F32, Processing{}},
			{2, true, checkpoint.BF16, Processing{}},
			{1, false, checkpoint.BF16, all},
		}
		if family == "gpt_neox" {
			// GPT-NeoX has no grouped-query attention.
			variants = []variant{{4, false, checkpoint.F32, Processing{}}, {4, true, checkpoint.BF16, all}}
		}
		for vi, v := range variants {
			name := fmt.Sprintf("%s/kv=%d/tied=%v/%s/%s", family, v.kv, v.tied, v.dtype, v.proc)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				o := synth.FamilyOptions{ModelType: family, Layers: 2, Heads: 4, KVHeads: v.kv, DModel: 32, DHead: 8,
					DFF: 24, Vocab: 160, Tied: v.tied, DType: v.dtype, Seed: uint64(100*fi + vi), Shards: 1 + vi%2, Decay: 2}
				if family == "gpt_neox" {
					o.DHead = 8 // d_model / heads, rotary_pct 0.25 → 2 rotated dims
				}
				raw, err := synth.WriteFamily(dir, o)
				if err != nil {
					t.Fatal(err)
				}
				sp := openSpace(t, dir)
				sp, err = NewSpace(sp.Model, CPU(), WithProcessing(v.proc))
				if err != nil {
					t.Fatal(err)
				}
				a := sp.Model.Arch()
				f := familyRefs{raw: raw, eps: a.NormEps, proc: v.proc}
				const k = 50
				for l := range raw.Layers {
					for h := range raw.Heads {
						ref := f.ov(l, h)
						tol := 1e-5 * maxAbs(ref.v)
						ov, err := sp.OV(l, h)
						if err != nil {
							t.Fatal(err)
						}
						for _, bottom := range []bool{false, true} {
							r, err := ov.Top(PairOptions{K: k, Bottom: bottom})
							if err != nil {
								t.Fatal(err)
							}
							samePairs(t, fmt.Sprintf("OV %d.%d bottom=%v", l, h, bottom), r.Pairs, ref, k, bottom, tol)
							if r.KV != h/(raw.Heads/raw.KVHeads) || r.GQA != (raw.KVHeads != raw.Heads) {
								t.Fatalf("OV %d.%d names KV head %d (GQA %v)", l, h, r.KV, r.GQA)
							}
						}
						if v.proc != (Processing{}) {
							continue // QK under processing: only the norms' gains enter, covered by OV's
						}
						for _, delta := range []int{0, 1, 7, 100} {
							ref := f.qk(l, h, delta, delta+5)
							tol := 1e-5 * maxAbs(ref.v)
							qk, err := sp.QKAt(l, h, delta)
							if err != nil {
								t.Fatal(err)
							}
							for _, bottom := range []bool{false, true} {
								r, err := qk.Top(PairOptions{K: k, Bottom: bottom})
								if err != nil {
									t.Fatal(err)
								}
								samePairs(t, fmt.Sprintf("QK %d.%d δ=%d bottom=%v", l, h, delta, bottom), r.Pairs, ref, k, bottom, tol)
							}
						}
					}
					u := f.unembed()
					for _, i := range []int{0, 7, raw.DFF - 1} {
						n, err := sp.Neuron(l, i, NeuronOptions{K: k})
						if err != nil {
							t.Fatal(err)
						}
						L := raw.Layer[l]
						reads := []Side{Key}
						negs := []Side{NegKey}
						if raw.Gated {
							reads, negs = []Side{Gate, Up}, []Side{NegGate, NegUp}
						}
						if n.Gated != raw.Gated {
							t.Fatalf("neuron gated = %v, want %v", n.Gated, raw.Gated)
						}
						for r, side := range reads {
							dir := slices.Clone(L.Reads[r].Row(i))
							if v.proc.FoldNorms {
								for j := range dir {
									dir[j] *= L.MLPNorm.Gain[j]
								}
							}
							ref := matVec(raw.Embedding, dir)
							tol := 1e-5 * maxAbs(ref)
							sameTokens(t, fmt.Sprintf("L%d/N%d %v", l, i, side), n.Columns[side], ref, k, false, tol)
							sameTokens(t, fmt.Sprintf("L%d/N%d %v", l, i, negs[r]), n.Columns[negs[r]], ref, k, true, tol)
						}
						ref := matVec(u, L.Values.Row(i))
						tol := 1e-5 * maxAbs(ref)
						sameTokens(t, fmt.Sprintf("L%d/N%d V", l, i), n.Columns[Value], ref, k, false, tol)
						sameTokens(t, fmt.Sprintf("L%d/N%d -V", l, i), n.Columns[NegValue], ref, k, true, tol)
					}
				}
			})
		}
	}
}

// TestRotaryConvention pins issue 8's "conventions pinned": for every
// rotary family (QK-norm on where the family has it), the QK view's entry
// at offset δ equals the attention logit a direct implementation computes
// with the query at position m and the key at m − δ, for several m — it
// depends on δ only.
func TestRotaryConvention(t *testing.T) {
	for _, family := range synth.Families {
		t.Run(family, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			o := synth.FamilyOptions{ModelType: family, Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DHead: 8, DFF: 24, Vocab: 40, Seed: 5}
			if family == "gpt_neox" {
				o.KVHeads = 4
			}
			raw, err := synth.WriteFamily(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			sp := openSpace(t, dir)
			f := familyRefs{raw: raw, eps: sp.Model.Arch().NormEps}
			for l := range raw.Layers {
				for _, delta := range []int{0, 1, 3, 50} {
					v, err := sp.QKAt(l, 3, delta)
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range []int{delta, delta + 1, delta + 17, 200} {
						ref := f.qk(l, 3, delta, m)
						tol := 2e-5 * maxAbs(ref.v)
						for s := 0; s < raw.Vocab; s += 3 {
							for tk := 1; tk < raw.Vocab; tk += 5 {
								got, _ := v.Score(s, tk)
								if math.Abs(float64(got)-ref.at(s, tk)) > tol {
									t.Fatalf("layer %d δ=%d m=%d: entry (%d, %d) = %v, attention logit %v", l, delta, m, s, tk, got, ref.at(s, tk))
								}
							}
						}
					}
				}
			}
		})
	}
}

// A model without rotary embeddings has no offset: δ ≠ 0 is an error that
// says why; δ = 0 is the plain view.
func TestOffsetWithoutRotary(t *testing.T) {
	sp := synthSpace(t, synth.Options{Shape: synth.Tiny, Seed: 2})
	if _, err := sp.QKAt(1, 1, 0); err != nil {
		t.Fatal(err)
	}
	_, err := sp.QKAt(1, 1, 2)
	if err == nil || !errors.Is(err, ErrNoOffset) {
		t.Fatalf("δ=2 on GPT-2: %v", err)
	}
	if _, err := sp.ViewAt(OV, 0, 0, 1); !errors.Is(err, ErrNoOffset) {
		t.Fatalf("OV at δ=1: %v", err)
	}
}
