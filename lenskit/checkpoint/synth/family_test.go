package synth_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

// linear applies an nn.Linear weight ([out, in], stored row-major) to x as
// transformers does: y = W·x (+ b).
func linear(w []float32, b []float32, x []float64) []float64 {
	in := len(x)
	out := make([]float64, len(w)/in)
	for o := range out {
		for i := range in {
			out[o] += float64(w[o*in+i]) * x[i]
		}
		if b != nil {
			out[o] += float64(b[o])
		}
	}
	return out
}

// vecMat is x·M for a Raw matrix.
func vecMat(x []float64, m synth.Mat) []float64 {
	out := make([]float64, m.Cols)
	for i := range m.Rows {
		for j := range m.Cols {
			out[j] += x[i] * m.At(i, j)
		}
	}
	return out
}

func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// Raw describes what transformers computes from the stored tensors: the
// projections of a residual vector through the stored nn.Linear weights
// (applied as transformers applies them, with GPT-NeoX's fused output viewed
// as (heads, 3, d_head)) equal the products with Raw's per-head matrices,
// and Raw's norms are the stored gains (plus one for Gemma).
func TestFamilyRawIsWhatTransformersComputes(t *testing.T) {
	for _, mt := range synth.Families {
		t.Run(mt, func(t *testing.T) {
			o := synth.FamilyOptions{ModelType: mt, Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DFF: 24, Vocab: 40, Seed: 3, Biases: synth.BiasOn, DType: checkpoint.BF16}
			if mt == "gpt_neox" {
				o.KVHeads = 0
			}
			dir := t.TempDir()
			raw, err := synth.WriteFamily(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			c, err := checkpoint.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			prefix := map[string]string{"gpt_neox": "gpt_neox.", "gemma3": "model.language_model."}[mt]
			if prefix == "" {
				prefix = "model."
			}
			get := func(name string) []float32 {
				t.Helper()
				tn, err := c.Tensor(prefix + name)
				if err != nil {
					t.Fatal(err)
				}
				v, err := tn.Float32()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			opt := func(name string) []float32 {
				if _, ok := c.Lookup(prefix + name); !ok {
					return nil
				}
				return get(name)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float64, o.DModel)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			d, dh, ff := o.DModel, raw.DHead, o.DFF
			for l, rl := range raw.Layer {
				p := fmt.Sprintf("layers.%d.", l)
				addBias := func(v []float64, b []float64) []float64 {
					if b == nil {
						return v
					}
					for i := range v {
						v[i] += b[i]
					}
					return v
				}
				if mt == "gpt_neox" {
					y := linear(get(p+"attention.query_key_value.weight"), opt(p+"attention.query_key_value.bias"), x)
					for h := range o.Heads {
						base := h * 3 * dh // view(heads, 3·d_head)
						near(t, "q", addBias(vecMat(x, rl.WQ[h]), index(rl.BQ, h)), y[base:base+dh])
						near(t, "k", addBias(vecMat(x, rl.WK[h]), index(rl.BK, h)), y[base+dh:base+2*dh])
						near(t, "v", addBias(vecMat(x, rl.WV[h]), index(rl.BV, h)), y[base+2*dh:base+3*dh])
					}
				} else {
					q := linear(get(p+"self_attn.q_proj.weight"), opt(p+"self_attn.q_proj.bias"), x)
					k := linear(get(p+"self_attn.k_proj.weight"), opt(p+"self_attn.k_proj.bias"), x)
					for h := range o.Heads {
						near(t, "q", addBias(vecMat(x, rl.WQ[h]), index(rl.BQ, h)), q[h*dh:(h+1)*dh])
					}
					for g := range raw.KVHeads {
						near(t, "k", addBias(vecMat(x, rl.WK[g]), index(rl.BK, g)), k[g*dh:(g+1)*dh])
					}
				}
				// The output projection of a concatenated z is the sum of
				// the heads' z_h·W_O[h].
				z := make([]float64, o.Heads*dh)
				for i := range z {
					z[i] = rng.NormFloat64()
				}
				oName := "self_attn.o_proj."
				if mt == "gpt_neox" {
					oName = "attention.dense."
				}
				want := linear(get(p+oName+"weight"), opt(p+oName+"bias"), z)
				got := make([]float64, d)
				for h := range o.Heads {
					for j, v := range vecMat(z[h*dh:(h+1)*dh], rl.WO[h]) {
						got[j] += v
					}
				}
				near(t, "o", addBias(got, rl.BO), want)
				// MLP reads and writes.
				in, out := "mlp.gate_proj.", "mlp.down_proj."
				if mt == "gpt_neox" {
					in, out = "mlp.dense_h_to_4h.", "mlp.dense_4h_to_h."
				}
				pre := linear(get(p+in+"weight"), opt(p+in+"bias"), x)
				for i := range ff {
					r := rl.Reads[0].Row(i)
					dot := 0.0
					for j := range d {
						dot += r[j] * x[j]
					}
					if rl.BIn != nil {
						dot += rl.BIn[0][i]
					}
					near(t, "neuron read", []float64{dot}, pre[i:i+1])
				}
				hidden := make([]float64, ff)
				for i := range hidden {
					hidden[i] = rng.NormFloat64()
				}
				want = linear(get(p+out+"weight"), opt(p+out+"bias"), hidden)
				near(t, "mlp out", addBias(vecMat(hidden, rl.Values), rl.BOut), want)
				// Norm gains.
				w := get(p + "input_layernorm.weight")
				for i := range w {
					g := float64(w[i])
					if strings.HasPrefix(mt, "gemma") {
						g = float64(1 + w[i])
					}
					if rl.AttnNorm.Gain[i] != g {
						t.Fatalf("attention norm gain %d = %v, stored %v", i, rl.AttnNorm.Gain[i], w[i])
					}
				}
			}
			embed := map[bool]string{true: "embed_in.weight", false: "embed_tokens.weight"}[mt == "gpt_neox"]
			e := get(embed)
			for i, v := range raw.Embedding.V {
				if v != float64(e[i]) {
					t.Fatalf("embedding %d = %v, stored %v", i, v, e[i])
				}
			}
		})
	}
}

func index(v [][]float64, i int) []float64 {
	if v == nil {
		return nil
	}
	return v[i]
}

// Values depend on (Seed, canonical name) only: sharding and naming change
// nothing, BF16 stores the F32 values rounded.
func TestFamilyValuesIndependentOfStorage(t *testing.T) {
	base := synth.FamilyOptions{ModelType: "qwen3", Layers: 2, Heads: 4, KVHeads: 1, DModel: 16, DFF: 8, Vocab: 30, Seed: 9}
	write := func(o synth.FamilyOptions) *synth.Raw {
		raw, err := synth.WriteFamily(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		raw.Config = nil
		return raw
	}
	a := write(base)
	b := base
	b.Shards, b.Naming, b.Buffers = 4, synth.NamingBare, true
	if !reflect.DeepEqual(a, write(b)) {
		t.Error("sharding, naming or buffers changed the values")
	}
	c := base
	c.DType = checkpoint.BF16
	bf := write(c)
	for i, v := range a.Layer[1].WV[0].V {
		if want := float64(checkpoint.BF16ToF32(checkpoint.F32ToBF16(float32(v)))); bf.Layer[1].WV[0].V[i] != want {
			t.Fatalf("BF16 W_V[%d] = %v, want %v rounded = %v", i, bf.Layer[1].WV[0].V[i], v, want)
		}
	}
	d := base
	d.Seed = 10
	if reflect.DeepEqual(a.Embedding, write(d).Embedding) {
		t.Error("another seed gave the same embedding")
	}
}

func TestFamilyConfig(t *testing.T) {
	dir := t.TempDir()
	_, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: "gemma3", Layers: 1, Heads: 2, DModel: 8, DFF: 4, Vocab: 300, Tokenizer: true,
		Config: map[string]any{"text_config.rope_theta": nil, "text_config.rope_scaling": map[string]any{"rope_type": "linear"},
			"text_config.rope_scaling.factor": 8.0, "text_config.sliding_window": synth.JSONNull, "vision_config": nil}})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	tc := cfg["text_config"].(map[string]any)
	sw, hasSW := tc["sliding_window"]
	if cfg["model_type"] != "gemma3" || tc["model_type"] != "gemma3_text" || tc["rope_theta"] != nil || sw != nil || !hasSW ||
		!reflect.DeepEqual(tc["rope_scaling"], map[string]any{"rope_type": "linear", "factor": 8.0}) || cfg["vision_config"] != nil {
		t.Errorf("config %v", cfg)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Error(err)
	}
	c, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range []string{"model.language_model.embed_tokens.weight", "model.language_model.layers.0.self_attn.q_norm.weight",
		"model.language_model.layers.0.pre_feedforward_layernorm.weight", "vision_tower.vision_model.post_layernorm.weight"} {
		if _, ok := c.Lookup(n); !ok {
			t.Errorf("no %s among %v", n, c.Names())
		}
	}
}

// Decay gives matrices a decaying spectrum: the embedding's last
// coordinates are e^−Decay times smaller than its first.
func TestFamilyDecay(t *testing.T) {
	raw, err := synth.WriteFamily(t.TempDir(), synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 2, DModel: 64, DFF: 8, Vocab: 2000, Decay: 4})
	if err != nil {
		t.Fatal(err)
	}
	norm := func(j int) float64 {
		s := 0.0
		for i := range raw.Vocab {
			s += raw.Embedding.At(i, j) * raw.Embedding.At(i, j)
		}
		return math.Sqrt(s / float64(raw.Vocab))
	}
	first, last := norm(0), norm(63)
	if want := math.Exp(-4 * 63.0 / 64); math.Abs(last/first-want) > 0.15*want || math.Abs(first-0.02) > 0.002 {
		t.Errorf("column norms %v … %v: ratio %v, want ≈ %v", first, last, last/first, want)
	}
}

func TestWriteFamilyRejectsBadOptions(t *testing.T) {
	for _, c := range []struct {
		o    synth.FamilyOptions
		says string
	}{
		{synth.FamilyOptions{ModelType: "bert", Layers: 1, Heads: 1, DModel: 8, DFF: 8, Vocab: 8}, `model type "bert"`},
		{synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 4, KVHeads: 3, DModel: 8, DFF: 8, Vocab: 8}, "3 KV heads do not divide 4 heads"},
		{synth.FamilyOptions{ModelType: "llama", Layers: 0, Heads: 4, DModel: 8, DFF: 8, Vocab: 8}, "Layers is 0"},
		{synth.FamilyOptions{ModelType: "gpt_neox", Layers: 1, Heads: 4, KVHeads: 2, DModel: 32, DFF: 8, Vocab: 8}, "gpt_neox needs KVHeads = Heads"},
		{synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 2, DModel: 8, DFF: 8, Vocab: 8, Tokenizer: true}, "at least 257"},
		{synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 2, DModel: 8, DFF: 8, Vocab: 8, Naming: synth.NamingGemma3Legacy}, "does not apply"},
		{synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 2, DModel: 8, DFF: 8, Vocab: 8, DType: checkpoint.I32}, "dtype I32"},
	} {
		if _, err := synth.WriteFamily(t.TempDir(), c.o); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: error %v, want one saying %q", c.o, err, c.says)
		}
	}
}
