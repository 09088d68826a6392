package forward

import (
	"fmt"
	"math"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// rawForward is a float64 forward pass from the generator's mathematical
// form of a checkpoint (synth.Raw), written from the families' equations
// (modeling_llama.py LlamaDecoderLayer; modeling_gemma2.py's sandwich norms
// and softcaps; modeling_qwen3.py's q_norm/k_norm before rotary;
// modeling_gpt_neox.py's parallel residual and partial rotary). It shares
// nothing with the weights package. It returns the logits, T × V, and the
// residual rows.
func rawForward(r *synth.Raw, ids []int) (logits [][]float64, rows [][][]float64) {
	T, d := len(ids), r.DModel
	norm := func(x []float64, n synth.RawNorm) []float64 {
		if r.LayerNorm {
			out := refLayerNormVec(x, n.Gain, n.Bias, r.NormEps)
			return out
		}
		return rmsWith([][]float64{x}, n.Gain, r.NormEps, false)[0]
	}
	x := make([][]float64, T)
	for p, id := range ids {
		x[p] = make([]float64, d)
		for i := range d {
			x[p][i] = r.Embedding.At(id, i) * r.EmbedScale
		}
	}
	snap := func() [][]float64 {
		out := make([][]float64, T)
		for p := range x {
			out[p] = append([]float64(nil), x[p]...)
		}
		return out
	}
	rows = append(rows, snap())
	H, G, dh := r.Heads, r.KVHeads, r.DHead
	for _, L := range r.Layer {
		theta := r.Rotary.Theta
		if L.Sliding && r.Rotary.LocalTheta > 0 {
			theta = r.Rotary.LocalTheta
		}
		rope := func(v []float64, pos int) []float64 {
			dims := r.Rotary.Dims
			half := dims / 2
			out := append([]float64(nil), v...)
			for i := range half {
				w := 1 / math.Pow(theta, float64(2*i)/float64(dims))
				cs, sn := math.Cos(float64(pos)*w), math.Sin(float64(pos)*w)
				out[i] = v[i]*cs - v[i+half]*sn
				out[i+half] = v[i+half]*cs + v[i]*sn
			}
			return out
		}
		proj := func(v []float64, m synth.Mat, b []float64) []float64 {
			out := make([]float64, m.Cols)
			for j := range m.Cols {
				s := 0.0
				if b != nil {
					s = b[j]
				}
				for i := range m.Rows {
					s += v[i] * m.At(i, j)
				}
				out[j] = s
			}
			return out
		}
		n1 := make([][]float64, T)
		for p := range T {
			n1[p] = norm(x[p], L.AttnNorm)
		}
		Q := make([][][]float64, T)
		K := make([][][]float64, T)
		V := make([][][]float64, T)
		for p := range T {
			Q[p], K[p], V[p] = make([][]float64, H), make([][]float64, G), make([][]float64, G)
			for h := range H {
				var b []float64
				if L.BQ != nil {
					b = L.BQ[h]
				}
				q := proj(n1[p], L.WQ[h], b)
				if L.QNorm != nil {
					q = rmsWith([][]float64{q}, L.QNorm, r.NormEps, false)[0]
				}
				Q[p][h] = rope(q, p)
			}
			for g := range G {
				var bk, bv []float64
				if L.BK != nil {
					bk, bv = L.BK[g], L.BV[g]
				}
				k := proj(n1[p], L.WK[g], bk)
				if L.KNorm != nil {
					k = rmsWith([][]float64{k}, L.KNorm, r.NormEps, false)[0]
				}
				K[p][g] = rope(k, p)
				V[p][g] = proj(n1[p], L.WV[g], bv)
			}
		}
		attn := make([][]float64, T)
		for q := range T {
			attn[q] = make([]float64, d)
			if L.BO != nil {
				copy(attn[q], L.BO)
			}
			for h := range H {
				g := h / (H / G)
				sc := make([]float64, q+1)
				for k := 0; k <= q; k++ {
					s := 0.0
					for i := range dh {
						s += Q[q][h][i] * K[k][g][i]
					}
					s *= r.AttnScale
					if r.AttnSoftcap > 0 {
						s = r.AttnSoftcap * math.Tanh(s/r.AttnSoftcap)
					}
					if L.Sliding && r.Window > 0 && q-k >= r.Window {
						s = math.Inf(-1)
					}
					sc[k] = s
				}
				softmax(sc)
				z := make([]float64, dh)
				for k, a := range sc {
					for i := range dh {
						z[i] += a * V[k][g][i]
					}
				}
				o := proj(z, L.WO[h], nil)
				for i := range d {
					attn[q][i] += o[i]
				}
			}
			if r.Sandwich {
				attn[q] = norm(attn[q], L.PostAttnNorm)
			}
		}
		after := addRows(x, attn)
		mlpIn := after
		if r.Parallel {
			mlpIn = x
		}
		mlp := make([][]float64, T)
		for p := range T {
			n2 := norm(mlpIn[p], L.MLPNorm)
			read := func(j int) []float64 {
				m := L.Reads[j]
				out := make([]float64, m.Rows)
				for n := range m.Rows {
					s := 0.0
					if L.BIn != nil && L.BIn[j] != nil {
						s = L.BIn[j][n]
					}
					for i := range d {
						s += n2[i] * m.At(n, i)
					}
					out[n] = s
				}
				return out
			}
			h := read(0)
			for n := range h {
				h[n] = refAct(r.Activation, h[n])
			}
			if r.Gated {
				u := read(1)
				for n := range h {
					h[n] *= u[n]
				}
			}
			mlp[p] = proj(h, L.Values, L.BOut)
			if r.Sandwich {
				mlp[p] = norm(mlp[p], L.PostMLPNorm)
			}
		}
		x = after
		rows = append(rows, snap())
		x = addRows(x, mlp)
		rows = append(rows, snap())
	}
	logits = make([][]float64, T)
	for p := range T {
		f := norm(x[p], r.FinalNorm)
		logits[p] = make([]float64, r.Vocab)
		for v := range r.Vocab {
			s := 0.0
			for i := range d {
				s += f[i] * r.Unembedding.At(v, i)
			}
			if r.FinalSoftcap > 0 {
				s = r.FinalSoftcap * math.Tanh(s/r.FinalSoftcap)
			}
			logits[p][v] = s
		}
	}
	return logits, rows
}

func refLayerNormVec(x, g, b []float64, eps float64) []float64 {
	mean, v := 0.0, 0.0
	for _, e := range x {
		mean += e
	}
	mean /= float64(len(x))
	for _, e := range x {
		v += (e - mean) * (e - mean)
	}
	v /= float64(len(x))
	out := make([]float64, len(x))
	for i, e := range x {
		out[i] = (e-mean)/math.Sqrt(v+eps)*g[i] + b[i]
	}
	return out
}

// familyCases are random tiny checkpoints of every family the generator
// writes, with the variants that change the equations: GQA, biases, tying,
// BF16 storage.
func familyCases() []synth.FamilyOptions {
	var out []synth.FamilyOptions
	for i, mt := range synth.Families {
		o := synth.FamilyOptions{ModelType: mt, Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DFF: 48, Vocab: 96, Positions: 64, Seed: uint64(100 + i)}
		if mt == "gpt_neox" {
			o.KVHeads = 4
		}
		out = append(out, o)
	}
	extra := []synth.FamilyOptions{
		{ModelType: "llama", Layers: 2, Heads: 4, DModel: 32, DFF: 48, Vocab: 96, Seed: 201, Biases: synth.BiasOn, Tied: true},
		{ModelType: "qwen3", Layers: 2, Heads: 4, KVHeads: 1, DModel: 32, DHead: 16, DFF: 48, Vocab: 96, Seed: 202, Biases: synth.BiasOn},
		{ModelType: "gemma2", Layers: 3, Heads: 2, KVHeads: 1, DModel: 32, DHead: 16, DFF: 48, Vocab: 96, Seed: 203, DType: checkpoint.BF16},
		{ModelType: "gpt_neox", Layers: 2, Heads: 2, DModel: 32, DFF: 48, Vocab: 96, Seed: 204, Biases: synth.BiasOff},
		// Windows shorter than the prompt, so that the sliding-window
		// masks cut (the generator's own windows are 512 and 4096).
		{ModelType: "mistral", Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DFF: 48, Vocab: 96, Seed: 205, Config: map[string]any{"sliding_window": 7}},
		{ModelType: "gemma2", Layers: 2, Heads: 2, DModel: 32, DHead: 16, DFF: 48, Vocab: 96, Seed: 206, Config: map[string]any{"sliding_window": 5}},
		{ModelType: "gemma3_text", Layers: 6, Heads: 2, KVHeads: 1, DModel: 32, DHead: 16, DFF: 48, Vocab: 96, Seed: 207, Config: map[string]any{"sliding_window": 6}},
	}
	return append(out, extra...)
}

// openFamily writes a family checkpoint and opens its forward pass.
func openFamily(t *testing.T, o synth.FamilyOptions) (*synth.Raw, *Model) {
	t.Helper()
	dir := t.TempDir()
	raw, err := synth.WriteFamily(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := o.Config["sliding_window"].(int); ok {
		raw.Window = w // Raw describes the generated model, before overrides
	}
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := weights.FromCheckpoint(ck)
	if err != nil {
		ck.Close()
		t.Fatal(err)
	}
	f, err := New(w, "go")
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		w.Close()
	})
	return raw, f
}

func familyName(o synth.FamilyOptions) string {
	name := fmt.Sprintf("%s/kv%d/bias%d/tied=%v/%s", o.ModelType, o.KVHeads, o.Biases, o.Tied, o.DType)
	if w, ok := o.Config["sliding_window"]; ok {
		name += fmt.Sprintf("/window%v", w)
	}
	return name
}

// TestFamiliesMatchReference: final logits and every residual row of the
// GoMLX forward equal the float64 reference on random tiny models of every
// family, to 1e-4 relative. The prompt (40 tokens) is longer than the
// sliding windows the generator sets, so windows are exercised.
func TestFamiliesMatchReference(t *testing.T) {
	for _, o := range familyCases() {
		t.Run(familyName(o), func(t *testing.T) {
			raw, f := openFamily(t, o)
			ids := randomIDs(o.Seed, 40, o.Vocab)
			tr, err := f.Run([][]int{ids}, Want{Logits: true, Resid: true})
			if err != nil {
				t.Fatal(err)
			}
			logits, rows := rawForward(raw, ids)
			e := relErr(tr[0].Logits, logits)
			if e > 1e-4 {
				t.Errorf("logits: relative error %.3g", e)
			}
			for r := range rows {
				if er := relErr(tr[0].Resid[r], rows[r]); er > 1e-4 {
					t.Errorf("residual %s: relative error %.3g", RowName(r), er)
				}
			}
			t.Logf("%s: window %d, logits relative error %.2g", f.Arch(), raw.Window, e)
		})
	}
}

// TestFamiliesDecompose: the direct contributions add up to the logit on
// every family (the pre-cap logit for softcapped Gemma 2).
func TestFamiliesDecompose(t *testing.T) {
	for _, o := range familyCases() {
		t.Run(familyName(o), func(t *testing.T) {
			raw, f := openFamily(t, o)
			checkDecomposition(t, f, randomIDs(o.Seed+1, 9, o.Vocab), raw.FinalSoftcap)
		})
	}
}
