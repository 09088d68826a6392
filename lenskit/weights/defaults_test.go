package weights_test

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// omit deletes config fields (nil in FamilyOptions.Config), prefixed for
// Gemma 3's nested text_config.
func omit(prefix string, keys ...string) map[string]any {
	m := map[string]any{}
	for _, k := range keys {
		m[prefix+k] = nil
	}
	return m
}

// A config.json without a field gets the default of the family's
// transformers config class (values from configuration_*.py, cited in each
// adapter), and Arch.Defaults lists exactly the fields assumed.
func TestConfigDefaults(t *testing.T) {
	for _, c := range []struct {
		name     string
		o        synth.FamilyOptions
		omit     map[string]any
		change   func(a *weights.Arch) // from familyArch(o) to what the defaults give
		defaults []string
	}{
		{"llama", synth.FamilyOptions{ModelType: "llama", Heads: 4, DModel: 32},
			omit("", "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta",
				"rope_scaling", "tie_word_embeddings", "attention_bias", "mlp_bias"),
			func(a *weights.Arch) { a.Positions, a.NormEps = 2048, 1e-6 },
			[]string{"num_key_value_heads=4", "head_dim=8", "hidden_act=silu", "max_position_embeddings=2048", "rms_norm_eps=1e-06",
				"rope_theta=10000", "tie_word_embeddings=false", "attention_bias=false", "mlp_bias=false"}},
		{"mistral", synth.FamilyOptions{ModelType: "mistral", Heads: 8, DModel: 32},
			omit("", "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta",
				"tie_word_embeddings", "sliding_window"),
			func(a *weights.Arch) { a.Positions, a.NormEps = 131072, 1e-6 },
			[]string{"num_key_value_heads=8", "head_dim=4", "hidden_act=silu", "max_position_embeddings=131072", "rms_norm_eps=1e-06",
				"rope_theta=10000", "tie_word_embeddings=false", "sliding_window=4096"}},
		{"qwen2", synth.FamilyOptions{ModelType: "qwen2", Heads: 32, DModel: 64},
			omit("", "num_key_value_heads", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta",
				"tie_word_embeddings", "use_sliding_window", "sliding_window", "max_window_layers"),
			func(a *weights.Arch) { a.Positions, a.NormEps, a.Rotary.Theta = 32768, 1e-6, 10000 },
			[]string{"num_key_value_heads=32", "hidden_act=silu", "max_position_embeddings=32768", "rms_norm_eps=1e-06",
				"rope_theta=10000", "tie_word_embeddings=false", "use_sliding_window=false"}},
		{"qwen3", synth.FamilyOptions{ModelType: "qwen3", Heads: 2, KVHeads: 1, DModel: 32, DHead: 128},
			omit("", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta",
				"tie_word_embeddings", "attention_bias", "use_sliding_window"),
			func(a *weights.Arch) { a.Positions, a.NormEps, a.Rotary.Theta = 32768, 1e-6, 10000 },
			[]string{"head_dim=128", "hidden_act=silu", "max_position_embeddings=32768", "rms_norm_eps=1e-06",
				"rope_theta=10000", "tie_word_embeddings=false", "attention_bias=false", "use_sliding_window=false"}},
		{"gemma", synth.FamilyOptions{ModelType: "gemma", Heads: 16, DModel: 16, DHead: 256, Tied: true},
			omit("", "num_key_value_heads", "head_dim", "hidden_act", "hidden_activation", "max_position_embeddings", "rms_norm_eps",
				"rope_theta", "tie_word_embeddings", "attention_bias"),
			func(a *weights.Arch) { a.Positions = 8192 },
			[]string{"num_key_value_heads=16", "head_dim=256", "hidden_activation=gelu_pytorch_tanh", "max_position_embeddings=8192",
				"rms_norm_eps=1e-06", "rope_theta=10000", "tie_word_embeddings=true", "attention_bias=false"}},
		{"gemma2", synth.FamilyOptions{ModelType: "gemma2", Heads: 8, KVHeads: 4, DModel: 16, DHead: 256, Tied: true},
			omit("", "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings", "rms_norm_eps", "rope_theta",
				"tie_word_embeddings", "attention_bias", "query_pre_attn_scalar", "sliding_window", "final_logit_softcapping",
				"attn_logit_softcapping"),
			func(a *weights.Arch) { a.Positions = 8192 },
			[]string{"num_key_value_heads=4", "head_dim=256", "hidden_activation=gelu_pytorch_tanh", "max_position_embeddings=8192",
				"rms_norm_eps=1e-06", "rope_theta=10000", "tie_word_embeddings=true", "attention_bias=false",
				"query_pre_attn_scalar=256", "sliding_window=4096", "final_logit_softcapping=30", "attn_logit_softcapping=50"}},
		{"gemma3_text", synth.FamilyOptions{ModelType: "gemma3_text", Heads: 8, KVHeads: 4, DModel: 16, DHead: 256, Tied: true},
			omit("", "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings", "rms_norm_eps", "rope_theta",
				"rope_local_base_freq", "tie_word_embeddings", "attention_bias", "query_pre_attn_scalar", "sliding_window",
				"final_logit_softcapping", "attn_logit_softcapping", "sliding_window_pattern"),
			func(a *weights.Arch) { a.Positions, a.SlidingWindow = 131072, 4096 },
			[]string{"num_key_value_heads=4", "head_dim=256", "hidden_activation=gelu_pytorch_tanh", "max_position_embeddings=131072",
				"rms_norm_eps=1e-06", "rope_theta=1e+06", "rope_local_base_freq=10000", "tie_word_embeddings=true", "attention_bias=false",
				"query_pre_attn_scalar=256", "sliding_window=4096", "final_logit_softcapping=null", "attn_logit_softcapping=null",
				"sliding_window_pattern=6"}},
		{"gemma3", synth.FamilyOptions{ModelType: "gemma3", Heads: 8, KVHeads: 4, DModel: 16, DHead: 256, Tied: true},
			omit("text_config.", "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings", "rms_norm_eps",
				"rope_theta", "rope_local_base_freq", "tie_word_embeddings", "attention_bias", "query_pre_attn_scalar", "sliding_window",
				"final_logit_softcapping", "attn_logit_softcapping", "sliding_window_pattern"),
			func(a *weights.Arch) { a.Positions, a.SlidingWindow = 131072, 4096 },
			[]string{"text_config.num_key_value_heads=4", "text_config.head_dim=256", "text_config.hidden_activation=gelu_pytorch_tanh",
				"text_config.max_position_embeddings=131072", "text_config.rms_norm_eps=1e-06", "text_config.rope_theta=1e+06",
				"text_config.rope_local_base_freq=10000", "text_config.tie_word_embeddings=true", "text_config.attention_bias=false",
				"text_config.query_pre_attn_scalar=256", "text_config.sliding_window=4096", "text_config.final_logit_softcapping=null",
				"text_config.attn_logit_softcapping=null", "text_config.sliding_window_pattern=6"}},
		{"gpt_neox", synth.FamilyOptions{ModelType: "gpt_neox", Heads: 4, DModel: 32},
			omit("", "hidden_act", "max_position_embeddings", "layer_norm_eps", "tie_word_embeddings", "use_parallel_residual",
				"attention_bias", "rotary_pct", "rotary_emb_base"),
			func(a *weights.Arch) { a.Positions = 2048 },
			[]string{"hidden_act=gelu", "max_position_embeddings=2048", "layer_norm_eps=1e-05", "tie_word_embeddings=false",
				"use_parallel_residual=true", "attention_bias=true", "rotary_emb_base=10000", "rotary_pct=0.25"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Layers, o.DFF, o.Vocab, o.Config = 2, 8, 16, c.omit
			o.DType = checkpoint.BF16
			dir := t.TempDir()
			if _, err := synth.WriteFamily(dir, o); err != nil {
				t.Fatal(err)
			}
			m := open(t, dir)
			want := familyArch(o)
			c.change(&want)
			if c.name == "gemma2" || c.name == "gemma3_text" || c.name == "gemma3" {
				want.AttnScale = 1 / math.Sqrt(256) // query_pre_attn_scalar
			}
			got := m.Arch()
			gotDefaults := slices.Clone(got.Defaults)
			got.Defaults, want.Defaults = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("arch\n%+v\nwant\n%+v", got, want)
			}
			slices.Sort(gotDefaults)
			wantDefaults := slices.Clone(c.defaults)
			slices.Sort(wantDefaults)
			if !slices.Equal(gotDefaults, wantDefaults) {
				t.Errorf("Defaults\n%q\nwant\n%q", gotDefaults, wantDefaults)
			}
		})
	}
}

// Size fields take their defaults too: a Llama config without vocab_size
// implies LlamaConfig's 32,000 rows, which the embedding does not have.
func TestSizeDefaults(t *testing.T) {
	for _, c := range []struct {
		o    synth.FamilyOptions
		omit string
		says string
	}{
		{synth.FamilyOptions{ModelType: "llama"}, "vocab_size", `tensor "model.embed_tokens.weight": tensor does not match config.json: shape [16 32], config.json implies [32000 32] (vocab_size=32000, hidden_size=32)`},
		{synth.FamilyOptions{ModelType: "qwen2"}, "intermediate_size", `tensor "model.layers.0.mlp.gate_proj.weight": tensor does not match config.json: shape [8 32], config.json implies [22016 32] (intermediate_size=22016, hidden_size=32)`},
		{synth.FamilyOptions{ModelType: "gemma"}, "head_dim", `tensor "model.layers.0.self_attn.q_proj.weight": tensor does not match config.json: shape [32 32], config.json implies [1024 32] (num_attention_heads=4 × head_dim=256, hidden_size=32)`},
		{synth.FamilyOptions{ModelType: "gpt_neox"}, "num_hidden_layers", `tensor "gpt_neox.layers.2.input_layernorm.weight" is missing`},
	} {
		t.Run(c.o.ModelType+"/"+c.omit, func(t *testing.T) {
			o := c.o
			o.Layers, o.Heads, o.DModel, o.DFF, o.Vocab, o.Config = 2, 4, 32, 8, 16, omit("", c.omit)
			dir := t.TempDir()
			if _, err := synth.WriteFamily(dir, o); err != nil {
				t.Fatal(err)
			}
			_, err := openErr(dir)
			if !errors.Is(err, weights.ErrShape) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %v\nwant one saying %s", err, c.says)
			}
		})
	}
}

// openErr opens dir as a checkpoint and a Model, returning the first error.
func openErr(dir string) (*weights.Model, error) {
	c, err := checkpoint.Open(dir)
	if err != nil {
		return nil, err
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	m.Close()
	return m, nil
}
