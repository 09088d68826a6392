package weights_test

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// familyArch is the Arch a checkpoint written by synth.WriteFamily with o
// (and no config overrides) must report, from the generator's documented
// config: written out here, not computed by the adapters' code.
func familyArch(o synth.FamilyOptions) weights.Arch {
	dh := o.DHead
	if dh == 0 {
		dh = o.DModel / o.Heads
	}
	kv := o.KVHeads
	if kv == 0 {
		kv = o.Heads
	}
	dt := string(o.DType)
	if dt == "" {
		dt = "F32"
	}
	a := weights.Arch{ModelType: o.ModelType, Layers: o.Layers, Heads: o.Heads, KVHeads: kv, DModel: o.DModel, DHead: dh,
		DFF: o.DFF, Vocab: o.Vocab, Positions: 64, MLP: weights.MLPGated, Activation: "silu", Norm: weights.RMSNorm,
		NormEps: 1e-5, Rotary: &weights.Rotary{Theta: 10000, Fraction: 1, Dims: dh}, Tied: o.Tied, DType: dt,
		EmbedScale: 1, AttnScale: 1 / math.Sqrt(float64(dh))}
	switch o.ModelType {
	case "mistral":
		a.SlidingWindow = 4096
	case "qwen2":
		a.Rotary.Theta = 1e6
	case "qwen3":
		a.Rotary.Theta, a.QKNorm = 1e6, true
	case "gemma", "gemma2", "gemma3_text", "gemma3":
		a.Activation, a.NormEps = "gelu_pytorch_tanh", 1e-6
		// √d in the model's dtype, as transformers casts the normalizer.
		a.EmbedScale = math.Sqrt(float64(o.DModel))
		if o.DType == checkpoint.BF16 {
			a.EmbedScale = float64(checkpoint.BF16ToF32(checkpoint.F32ToBF16(float32(a.EmbedScale))))
		} else {
			a.EmbedScale = float64(float32(a.EmbedScale))
		}
		if o.ModelType != "gemma" {
			a.SandwichNorms = true
			a.AttnScale = 1 / math.Sqrt(float64(dh)) // query_pre_attn_scalar = head_dim
		}
		if o.ModelType == "gemma2" {
			a.SlidingWindow, a.AttnSoftcap, a.FinalSoftcap = 4096, 50, 30
		}
		if o.ModelType == "gemma3_text" || o.ModelType == "gemma3" {
			a.SlidingWindow, a.QKNorm = 512, true
			a.Rotary.Theta, a.Rotary.LocalTheta = 1e6, 1e4
		}
	case "gpt_neox":
		a.MLP, a.Activation, a.Norm, a.ParallelResidual = weights.MLPPlain, "gelu", weights.LayerNorm, true
		a.Rotary = &weights.Rotary{Theta: 10000, Fraction: 0.25, Dims: dh / 4}
	}
	return a
}

// checkRaw compares every accessor of m with the generator's raw values,
// exactly: a BF16 or F32 value read through the adapter must be the stored
// value, which Raw holds as float64.
func checkRaw(t *testing.T, m *weights.Model, raw *synth.Raw, bf16 bool) {
	t.Helper()
	a := m.Arch()
	vec := func(what string, got []float32, want []float64) {
		t.Helper()
		if (got == nil) != (want == nil) {
			t.Fatalf("%s: got %d values, want %d (nil %v)", what, len(got), len(want), want == nil)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range got {
			if float64(got[i]) != want[i] {
				t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	mat := func(what string, got weights.Matrix, err error, want synth.Mat) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got.Rows != want.Rows || got.Cols != want.Cols {
			t.Fatalf("%s is %v, want %d×%d", what, got, want.Rows, want.Cols)
		}
		row := make([]float32, got.Cols)
		for i := range got.Rows {
			vec(fmt.Sprintf("%s row %d", what, i), got.RowInto(row, i), want.Row(i))
		}
	}
	large := func(what string, got weights.Matrix) {
		t.Helper()
		if got.IsBF16() != bf16 {
			t.Errorf("%s: IsBF16 %v, want %v (BF16 matrices alias the file, not a float32 copy)", what, got.IsBF16(), bf16)
		}
	}
	e, err := m.Embedding()
	mat("Embedding", e, err, raw.Embedding)
	large("Embedding", e)
	u, err := m.Unembedding()
	mat("Unembedding", u, err, raw.Unembedding)
	large("Unembedding", u)
	if _, ok, err := m.Positions(); ok || err != nil {
		t.Errorf("Positions: ok %v err %v; rotary models have no learned positions", ok, err)
	}
	fn, ok, err := m.Norm(weights.FinalNorm, 0)
	if !ok || err != nil {
		t.Fatalf("final norm: ok %v err %v", ok, err)
	}
	vec("final norm gain", fn.Gain, raw.FinalNorm.Gain)
	vec("final norm bias", fn.Bias, raw.FinalNorm.Bias)
	for l, rl := range raw.Layer {
		for h := range a.Heads {
			w, err := m.WQ(l, h)
			mat(fmt.Sprintf("WQ(%d,%d)", l, h), w, err, rl.WQ[h])
			w, err = m.WO(l, h)
			mat(fmt.Sprintf("WO(%d,%d)", l, h), w, err, rl.WO[h])
			b, err := m.Bias(weights.BiasQ, l, h)
			if err != nil {
				t.Fatal(err)
			}
			vec(fmt.Sprintf("BiasQ(%d,%d)", l, h), b, index(rl.BQ, h))
		}
		for g := range a.KVHeads {
			w, err := m.WK(l, g)
			mat(fmt.Sprintf("WK(%d,%d)", l, g), w, err, rl.WK[g])
			w, err = m.WV(l, g)
			mat(fmt.Sprintf("WV(%d,%d)", l, g), w, err, rl.WV[g])
			for _, k := range []struct {
				kind weights.BiasKind
				want [][]float64
			}{{weights.BiasK, rl.BK}, {weights.BiasV, rl.BV}} {
				b, err := m.Bias(k.kind, l, g)
				if err != nil {
					t.Fatal(err)
				}
				vec(fmt.Sprintf("Bias(%d,%d,%d)", k.kind, l, g), b, index(k.want, g))
			}
		}
		b, _ := m.Bias(weights.BiasO, l, 0)
		vec("BiasO", b, rl.BO)
		b, _ = m.Bias(weights.BiasFFOut, l, 0)
		vec("BiasFFOut", b, rl.BOut)
		if len(a.Reads()) != len(rl.Reads) {
			t.Fatalf("%d read directions, raw has %d", len(a.Reads()), len(rl.Reads))
		}
		for r, want := range rl.Reads {
			k, err := m.FFKeys(l, r)
			mat(fmt.Sprintf("FFKeys(%d,%d)", l, r), k, err, want)
			large("FFKeys", k)
			for _, i := range []int{0, a.DFF / 2, a.DFF - 1} {
				key, err := m.FFKey(l, r, i)
				if err != nil {
					t.Fatal(err)
				}
				vec(fmt.Sprintf("FFKey(%d,%d,%d)", l, r, i), key, want.Row(i))
			}
			b, err := m.Bias(weights.BiasFFIn, l, r)
			if err != nil {
				t.Fatal(err)
			}
			vec(fmt.Sprintf("BiasFFIn(%d,%d)", l, r), b, index(rl.BIn, r))
		}
		v, err := m.FFValues(l)
		mat(fmt.Sprintf("FFValues(%d)", l), v, err, rl.Values)
		large("FFValues", v)
		for _, i := range []int{0, a.DFF - 1} {
			val, err := m.FFValue(l, i)
			if err != nil {
				t.Fatal(err)
			}
			vec(fmt.Sprintf("FFValue(%d,%d)", l, i), val, rl.Values.Row(i))
		}
		for _, n := range []struct {
			site weights.NormSite
			want synth.RawNorm
		}{
			{weights.AttnNorm, rl.AttnNorm}, {weights.MLPNorm, rl.MLPNorm},
			{weights.PostAttnNorm, rl.PostAttnNorm}, {weights.PostMLPNorm, rl.PostMLPNorm},
			{weights.QNorm, synth.RawNorm{Gain: rl.QNorm}}, {weights.KNorm, synth.RawNorm{Gain: rl.KNorm}},
		} {
			got, ok, err := m.Norm(n.site, l)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (n.want.Gain != nil) {
				t.Fatalf("layer %d %v: present %v, want %v", l, n.site, ok, n.want.Gain != nil)
			}
			vec(fmt.Sprintf("layer %d %v gain", l, n.site), got.Gain, n.want.Gain)
			vec(fmt.Sprintf("layer %d %v bias", l, n.site), got.Bias, n.want.Bias)
			if ok && (got.Eps != raw.NormEps || (got.Kind == weights.LayerNorm) != raw.LayerNorm) {
				t.Errorf("layer %d %v: %v eps %v, want eps %v", l, n.site, got.Kind, got.Eps, raw.NormEps)
			}
		}
		if want := rl.Sliding && raw.Window > 0; m.Sliding(l) != want {
			t.Errorf("Sliding(%d) = %v, want %v", l, m.Sliding(l), want)
		}
		// Unscaled rotary: ω_i = θ^(−2i/dims), θ the local base on
		// sliding layers of Gemma 3.
		inv, scale, err := m.RotaryAt(l)
		if err != nil {
			t.Fatal(err)
		}
		theta := raw.Rotary.Theta
		if rl.Sliding && raw.Rotary.LocalTheta > 0 {
			theta = raw.Rotary.LocalTheta
		}
		if len(inv) != raw.Rotary.Dims/2 || scale != 1 {
			t.Fatalf("RotaryAt(%d): %d frequencies, scale %v; want %d, 1", l, len(inv), scale, raw.Rotary.Dims/2)
		}
		for i, f := range inv {
			if want := math.Pow(theta, -float64(2*i)/float64(raw.Rotary.Dims)); math.Abs(f-want) > 1e-15*want {
				t.Fatalf("RotaryAt(%d)[%d] = %v, want %v", l, i, f, want)
			}
		}
	}
	if a.EmbedScale != raw.EmbedScale || a.AttnScale != raw.AttnScale || a.AttnSoftcap != raw.AttnSoftcap ||
		a.FinalSoftcap != raw.FinalSoftcap || a.SandwichNorms != raw.Sandwich || a.ParallelResidual != raw.Parallel ||
		a.SlidingWindow != raw.Window || a.Activation != raw.Activation || (a.MLP == weights.MLPGated) != raw.Gated {
		t.Errorf("arch %+v disagrees with the generator's forward constants %+v", a, raw)
	}
}

func index(v [][]float64, i int) []float64 {
	if v == nil {
		return nil
	}
	return v[i]
}

// Every family × {F32, BF16} × {tied, untied} × GQA ratio {1, 2, 4} ×
// {one file, three shards with another naming and the buffers}: the Arch is
// what the config says and every accessor returns exactly the stored values.
// The weights hash does not depend on sharding or naming.
func TestFamiliesMatchRaw(t *testing.T) {
	n := 0
	for _, mt := range synth.Families {
		for _, dt := range []checkpoint.DType{checkpoint.F32, checkpoint.BF16} {
			for _, tied := range []bool{false, true} {
				for _, kv := range []int{4, 2, 1} {
					if mt == "gpt_neox" && kv != 4 {
						continue // no grouped-query attention
					}
					hashes := map[string]bool{}
					for _, shards := range []int{1, 3} {
						o := synth.FamilyOptions{ModelType: mt, Layers: 2, Heads: 4, KVHeads: kv, DModel: 32, DFF: 48, Vocab: 300,
							Tied: tied, DType: dt, Shards: shards, Seed: 7, Decay: 2}
						if shards > 1 {
							o.Buffers = true
							switch mt {
							case "gemma3":
								o.Naming = synth.NamingGemma3Legacy
							default:
								o.Naming = synth.NamingBare
							}
						}
						if mt == "qwen3" || mt == "gemma" {
							o.DHead = 16 // head_dim × heads ≠ hidden_size
						}
						if mt == "llama" || mt == "gemma2" {
							o.Biases = synth.BiasOn
						}
						if mt == "gpt_neox" && tied {
							o.Biases = synth.BiasOff
						}
						name := fmt.Sprintf("%s/%s/tied=%v/kv=%d/shards=%d", mt, dt, tied, kv, shards)
						t.Run(name, func(t *testing.T) {
							dir := t.TempDir()
							raw, err := synth.WriteFamily(dir, o)
							if err != nil {
								t.Fatal(err)
							}
							m := open(t, dir)
							if got, want := m.Arch(), familyArch(o); !reflect.DeepEqual(got, want) {
								t.Fatalf("arch\n%+v\nwant\n%+v", got, want)
							}
							checkRaw(t, m, raw, dt == checkpoint.BF16)
							h, err := m.Hash()
							if err != nil {
								t.Fatal(err)
							}
							hashes[h] = true
						})
						n++
					}
					if len(hashes) != 1 {
						t.Errorf("%s %s tied=%v kv=%d: %d distinct hashes over sharding and naming, want 1", mt, dt, tied, kv, len(hashes))
					}
				}
			}
		}
	}
	t.Logf("%d checkpoints compared", n)
}

// Gemma's stored norm weights are γ − 1: the gain applied is 1 + w, added
// in float32. Checked against the file's own bytes, not through Raw.
func TestGemmaNormsArePlusOne(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: "gemma2", Layers: 1, Heads: 2, DModel: 16, DFF: 32, Vocab: 64, DType: checkpoint.BF16}); err != nil {
		t.Fatal(err)
	}
	m := open(t, dir)
	for _, c := range []struct {
		site   weights.NormSite
		stored string
	}{
		{weights.AttnNorm, "model.layers.0.input_layernorm.weight"},
		{weights.PostAttnNorm, "model.layers.0.post_attention_layernorm.weight"},
		{weights.MLPNorm, "model.layers.0.pre_feedforward_layernorm.weight"},
		{weights.PostMLPNorm, "model.layers.0.post_feedforward_layernorm.weight"},
		{weights.FinalNorm, "model.norm.weight"},
	} {
		tn, err := m.Checkpoint().Tensor(c.stored)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := tn.Float32()
		n, ok, err := m.Norm(c.site, 0)
		if !ok || err != nil {
			t.Fatalf("%v: ok %v err %v", c.site, ok, err)
		}
		for i := range w {
			if n.Gain[i] != 1+w[i] || n.Bias != nil || n.Kind != weights.RMSNorm {
				t.Fatalf("%v gain[%d] = %v, stored %v: want %v", c.site, i, n.Gain[i], w[i], 1+w[i])
			}
		}
	}
}
