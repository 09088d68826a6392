package weights_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint/synth"
)

// The reference formulas below are transcribed from transformers'
// modeling_rope_utils.py (the v5 line: rope_parameters, standardize_rope_params
// defaulting original_max_position_embeddings to max_position_embeddings,
// yarn with mscale/mscale_all_dim and truncate), function by function, in
// float64 where torch uses float32. They share no code with rotary.go.

// hfDefault is _compute_default_rope_parameters:
// inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2) / dim)).
func hfDefault(base float64, dim int) []float64 {
	var inv []float64
	for k := 0; k < dim; k += 2 {
		inv = append(inv, 1.0/math.Pow(base, float64(k)/float64(dim)))
	}
	return inv
}

// hfLinear is _compute_linear_scaling_rope_parameters: inv_freq /= factor.
func hfLinear(base float64, dim int, factor float64) []float64 {
	inv := hfDefault(base, dim)
	for i := range inv {
		inv[i] /= factor
	}
	return inv
}

// hfLlama3 is _compute_llama3_parameters.
func hfLlama3(base float64, dim int, factor, lowFreqFactor, highFreqFactor, oldContextLen float64) []float64 {
	invFreq := hfDefault(base, dim)
	lowFreqWavelen := oldContextLen / lowFreqFactor
	highFreqWavelen := oldContextLen / highFreqFactor
	out := make([]float64, len(invFreq))
	for i, f := range invFreq {
		wavelen := 2 * math.Pi / f
		// inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
		llama := f
		if wavelen > lowFreqWavelen {
			llama = f / factor
		}
		smoothFactor := (oldContextLen/wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
		smoothed := (1-smoothFactor)*llama/factor + smoothFactor*llama
		isMediumFreq := !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)
		if isMediumFreq {
			llama = smoothed
		}
		out[i] = llama
	}
	return out
}

type yarnParams struct {
	factor, attentionFactor, betaFast, betaSlow, mscale, mscaleAllDim float64
	originalMax                                                       float64
	truncate                                                          bool
}

// hfYarn is _compute_yarn_parameters.
func hfYarn(base float64, dim int, p yarnParams) ([]float64, float64) {
	getMscale := func(scale, mscale float64) float64 {
		if scale <= 1 {
			return 1.0
		}
		return 0.1*mscale*math.Log(scale) + 1.0
	}
	attentionFactor := p.attentionFactor
	if attentionFactor == 0 {
		if p.mscale != 0 && p.mscaleAllDim != 0 {
			attentionFactor = getMscale(p.factor, p.mscale) / getMscale(p.factor, p.mscaleAllDim)
		} else {
			attentionFactor = getMscale(p.factor, 1)
		}
	}
	betaFast, betaSlow := p.betaFast, p.betaSlow
	if betaFast == 0 {
		betaFast = 32
	}
	if betaSlow == 0 {
		betaSlow = 1
	}
	findCorrectionDim := func(numRotations float64) float64 {
		return (float64(dim) * math.Log(p.originalMax/(numRotations*2*math.Pi))) / (2 * math.Log(base))
	}
	low, high := findCorrectionDim(betaFast), findCorrectionDim(betaSlow)
	if p.truncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = math.Max(low, 0), math.Min(high, float64(dim-1))
	if low == high {
		high += 0.001
	}
	var inv []float64
	for k, i := 0, 0; k < dim; k, i = k+2, i+1 {
		posFreq := math.Pow(base, float64(k)/float64(dim))
		extrapolation := 1.0 / posFreq
		interpolation := 1.0 / (p.factor * posFreq)
		ramp := math.Min(math.Max((float64(i)-low)/(high-low), 0), 1)
		extrapolationFactor := 1 - ramp
		inv = append(inv, interpolation*(1-extrapolationFactor)+extrapolation*extrapolationFactor)
	}
	return inv, attentionFactor
}

func sameFreqs(t *testing.T, what string, got []float64, gotScale float64, want []float64, wantScale float64) {
	t.Helper()
	if len(got) != len(want) || math.Abs(gotScale-wantScale) > 1e-15 {
		t.Fatalf("%s: %d frequencies scale %v, want %d scale %v", what, len(got), gotScale, len(want), wantScale)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-13*want[i] {
			t.Fatalf("%s: ω[%d] = %.17g, want %.17g", what, i, got[i], want[i])
		}
	}
}

// RotaryAt gives transformers' inverse frequencies for every rope_scaling
// type, in the legacy rope_scaling spelling (type or rope_type) and in
// transformers 5's rope_parameters.
func TestRotaryScalingVariants(t *testing.T) {
	const dim = 64
	yarn := func(p yarnParams) func() ([]float64, float64) {
		return func() ([]float64, float64) { return hfYarn(500000, dim, p) }
	}
	plain := func(f []float64) func() ([]float64, float64) { return func() ([]float64, float64) { return f, 1 } }
	for _, c := range []struct {
		name    string
		config  map[string]any
		want    func() ([]float64, float64)
		scaling string
	}{
		{"none", map[string]any{}, plain(hfDefault(500000, dim)), ""},
		{"default type", map[string]any{"rope_scaling": map[string]any{"rope_type": "default"}}, plain(hfDefault(500000, dim)), ""},
		{"linear", map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 4.0}}, plain(hfLinear(500000, dim, 4)), "linear"},
		// Dynamic NTK changes the base only beyond max_position_embeddings.
		{"dynamic", map[string]any{"rope_scaling": map[string]any{"rope_type": "dynamic", "factor": 2.0}}, plain(hfDefault(500000, dim)), "dynamic"},
		{"llama3 (Llama 3.1)", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, plain(hfLlama3(500000, dim, 8, 1, 4, 8192)), "llama3"},
		{"llama3 without original_max_position_embeddings", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 32.0,
			"low_freq_factor": 1.0, "high_freq_factor": 4.0}}, plain(hfLlama3(500000, dim, 32, 1, 4, 131072)), "llama3"},
		{"yarn", map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}},
			yarn(yarnParams{factor: 4, originalMax: 32768, truncate: true}), "yarn"},
		{"yarn with attention_factor, betas, truncate false", map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0,
			"original_max_position_embeddings": 32768, "attention_factor": 0.8, "beta_fast": 16.0, "beta_slow": 2.0, "truncate": false}},
			yarn(yarnParams{factor: 4, originalMax: 32768, attentionFactor: 0.8, betaFast: 16, betaSlow: 2}), "yarn"},
		{"yarn with mscale", map[string]any{"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 40.0, "mscale": 1.0,
			"mscale_all_dim": 0.707}}, yarn(yarnParams{factor: 40, originalMax: 131072, mscale: 1, mscaleAllDim: 0.707, truncate: true}), "yarn"},
		{"rope_parameters (transformers 5)", map[string]any{"rope_theta": nil, "rope_scaling": nil,
			"rope_parameters": map[string]any{"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0}}, plain(hfLinear(500000, dim, 2)), "linear"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := map[string]any{"rope_theta": 500000.0, "max_position_embeddings": 131072}
			for k, v := range c.config {
				cfg[k] = v
			}
			dir := t.TempDir()
			if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: "llama", Layers: 1, Heads: 2, DModel: 2 * dim, DFF: 8, Vocab: 16,
				Config: cfg}); err != nil {
				t.Fatal(err)
			}
			m := open(t, dir)
			r := m.Arch().Rotary
			if typ := ""; r.Scaling != nil && r.Scaling.Type != c.scaling || r.Scaling == nil && c.scaling != typ {
				t.Errorf("scaling %+v, want type %q", r.Scaling, c.scaling)
			}
			got, scale, err := m.RotaryAt(0)
			if err != nil {
				t.Fatal(err)
			}
			want, wantScale := c.want()
			sameFreqs(t, c.name, got, scale, want, wantScale)
		})
	}
	// The llama3 case above must exercise all three bands.
	var low, mid, high int
	for i, f := range hfDefault(500000, dim) {
		w := hfLlama3(500000, dim, 8, 1, 4, 8192)[i]
		switch {
		case w == f:
			high++
		case w == f/8:
			low++
		default:
			mid++
		}
	}
	if low == 0 || mid == 0 || high == 0 {
		t.Errorf("llama3 bands: %d low, %d medium, %d high frequencies; want all three", low, mid, high)
	}
}

// Gemma 3: sliding layers rotate with rope_local_base_freq and no scaling,
// global ones with rope_theta and rope_scaling; the 5:1 pattern comes from
// sliding_window_pattern or layer_types; transformers 5's per-layer-type
// rope_parameters say the same.
func TestGemma3LocalGlobal(t *testing.T) {
	const dim = 16
	scaling := map[string]any{"rope_type": "linear", "factor": 8.0}
	for _, c := range []struct {
		name    string
		layers  int
		config  map[string]any
		sliding []bool
	}{
		{"default pattern 6", 7, map[string]any{"rope_scaling": scaling}, []bool{true, true, true, true, true, false, true}},
		{"pattern 3", 6, map[string]any{"sliding_window_pattern": 3, "rope_scaling": scaling}, []bool{true, true, false, true, true, false}},
		{"pattern absent: 6", 6, map[string]any{"sliding_window_pattern": nil, "rope_scaling": scaling}, []bool{true, true, true, true, true, false}},
		{"layer_types", 4, map[string]any{"rope_scaling": scaling, "layer_types": []string{"full_attention", "sliding_attention", "full_attention", "sliding_attention"}},
			[]bool{false, true, false, true}},
		{"rope_parameters by layer type", 3, map[string]any{"rope_theta": nil, "rope_local_base_freq": nil, "sliding_window_pattern": 2,
			"rope_parameters": map[string]any{"full_attention": map[string]any{"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
				"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 1e4}}}, []bool{true, false, true}},
	} {
		for _, mt := range []string{"gemma3_text", "gemma3"} {
			t.Run(mt+"/"+c.name, func(t *testing.T) {
				cfg := c.config
				if mt == "gemma3" {
					cfg = map[string]any{}
					for k, v := range c.config {
						cfg["text_config."+k] = v
					}
				}
				dir := t.TempDir()
				if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: mt, Layers: c.layers, Heads: 2, KVHeads: 1, DModel: 16, DHead: dim,
					DFF: 8, Vocab: 16, Config: cfg}); err != nil {
					t.Fatal(err)
				}
				m := open(t, dir)
				for l, s := range c.sliding {
					if m.Sliding(l) != s {
						t.Errorf("Sliding(%d) = %v, want %v", l, m.Sliding(l), s)
					}
					got, scale, err := m.RotaryAt(l)
					if err != nil {
						t.Fatal(err)
					}
					want := hfLinear(1e6, dim, 8)
					if s {
						want = hfDefault(1e4, dim)
					}
					sameFreqs(t, fmt.Sprintf("layer %d", l), got, scale, want, 1)
				}
			})
		}
	}
}

// Which layers attend through a window, family by family.
func TestSlidingWindowRules(t *testing.T) {
	for _, c := range []struct {
		name    string
		mt      string
		config  map[string]any
		window  int
		sliding []bool
	}{
		{"mistral: every layer", "mistral", map[string]any{"sliding_window": 32}, 32, []bool{true, true, true, true}},
		{"mistral: window absent: 4096", "mistral", map[string]any{"sliding_window": nil}, 4096, []bool{true, true, true, true}},
		{"mistral: null window", "mistral", map[string]any{"sliding_window": synth.JSONNull}, 0, []bool{false, false, false, false}},
		{"qwen2: use_sliding_window false", "qwen2", map[string]any{"use_sliding_window": false, "sliding_window": 32}, 0, []bool{false, false, false, false}},
		{"qwen2: from max_window_layers", "qwen2", map[string]any{"use_sliding_window": true, "sliding_window": 32, "max_window_layers": 2}, 32, []bool{false, false, true, true}},
		{"qwen2: max_window_layers default 28", "qwen2", map[string]any{"use_sliding_window": true, "sliding_window": 32, "max_window_layers": nil}, 32, []bool{false, false, false, false}},
		{"qwen2: layer_types", "qwen2", map[string]any{"use_sliding_window": true, "sliding_window": 32,
			"layer_types": []string{"sliding_attention", "full_attention", "sliding_attention", "full_attention"}}, 32, []bool{true, false, true, false}},
		{"qwen3: from max_window_layers", "qwen3", map[string]any{"use_sliding_window": true, "sliding_window": 64, "max_window_layers": 3}, 64, []bool{false, false, false, true}},
		{"gemma2: even layers", "gemma2", map[string]any{"sliding_window": 16}, 16, []bool{true, false, true, false}},
		{"gemma2: layer_types", "gemma2", map[string]any{"layer_types": []string{"full_attention", "full_attention", "sliding_attention", "full_attention"}}, 4096, []bool{false, false, true, false}},
		{"llama: none", "llama", nil, 0, []bool{false, false, false, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: c.mt, Layers: 4, Heads: 2, DModel: 16, DFF: 8, Vocab: 16, Config: c.config}); err != nil {
				t.Fatal(err)
			}
			m := open(t, dir)
			window, sliding := c.window, c.sliding
			if m.Arch().SlidingWindow != window {
				t.Errorf("SlidingWindow %d, want %d", m.Arch().SlidingWindow, window)
			}
			var got []bool
			for l := range 4 {
				got = append(got, m.Sliding(l))
			}
			if !slices.Equal(got, sliding) {
				t.Errorf("sliding layers %v, want %v", got, sliding)
			}
		})
	}
}

// A model's Rotary reports what RotaryAt uses.
func TestRotaryFields(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: "gpt_neox", Layers: 1, Heads: 2, DModel: 64, DFF: 8, Vocab: 16,
		Config: map[string]any{"rotary_pct": 0.5, "rotary_emb_base": 20000}}); err != nil {
		t.Fatal(err)
	}
	m := open(t, dir)
	r := m.Arch().Rotary
	if r.Fraction != 0.5 || r.Dims != 16 || r.Theta != 20000 {
		t.Errorf("rotary %+v, want fraction 0.5 of d_head 32 = 16 dims, base 20000", r)
	}
	got, scale, _ := m.RotaryAt(0)
	sameFreqs(t, "neox", got, scale, hfDefault(20000, 16), 1)
}
