package weights_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// shrink rewrites a tensor's header entry to a smaller shape, keeping its
// start: the bytes left over become a gap, which safetensors allows.
func shrink(t *testing.T, path, name string, shape []int, elemSize int) {
	editHeader(t, path, func(h map[string]map[string]any) {
		e := h[name]
		if e == nil {
			t.Fatalf("no tensor %q in %s", name, path)
		}
		n := elemSize
		for _, d := range shape {
			n *= d
		}
		begin := e["data_offsets"].([]any)[0].(float64)
		e["shape"], e["data_offsets"] = shape, []float64{begin, begin + float64(n)}
	})
}

// Every way a family checkpoint's config.json and tensors can disagree, each
// refused at open with an error naming the file (config.json, the tensor's
// file, or the directory for a missing tensor), the field or tensor, and the
// fault. The messages are the README's table.
func TestFamilyBadInput(t *testing.T) {
	const st = "model.safetensors"
	cfg := "config.json"
	small := func(mt string) synth.FamilyOptions {
		return synth.FamilyOptions{ModelType: mt, Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DFF: 16, Vocab: 24}
	}
	long := strings.Repeat("A", 100)
	for _, c := range []struct {
		name   string
		o      synth.FamilyOptions
		config map[string]any
		damage func(t *testing.T, dir string)
		file   string // joined to the directory; "" names the directory itself
		kind   error
		says   string
	}{
		{"KV heads do not divide heads", small("llama"), map[string]any{"num_attention_heads": 8, "num_key_value_heads": 3}, nil,
			cfg, weights.ErrConfig, "bad config: num_key_value_heads 3 does not divide num_attention_heads 8"},
		{"KV heads do not divide heads (gemma3 text_config)", small("gemma3"), map[string]any{"text_config.num_key_value_heads": 3}, nil,
			cfg, weights.ErrConfig, "bad config: text_config.num_key_value_heads 3 does not divide text_config.num_attention_heads 4"},
		{"zero heads", small("mistral"), map[string]any{"num_attention_heads": 0}, nil,
			cfg, weights.ErrConfig, "bad config: num_attention_heads is 0, want a positive number"},
		{"hidden size not a multiple of heads without head_dim", small("llama"), map[string]any{"hidden_size": 30, "head_dim": nil}, nil,
			cfg, weights.ErrConfig, "bad config: hidden_size 30 is not a multiple of num_attention_heads 4 (and head_dim is not set)"},
		{"odd head_dim", small("qwen3"), map[string]any{"head_dim": 7}, nil,
			cfg, weights.ErrConfig, "bad config: head_dim 7 is odd: rotary embeddings rotate pairs of coordinates"},
		{"odd rotary dims", synth.FamilyOptions{ModelType: "gpt_neox", Layers: 1, Heads: 4, DModel: 32, DFF: 16, Vocab: 24},
			map[string]any{"rotary_pct": 0.125}, nil,
			cfg, weights.ErrConfig, "bad config: rotary_pct 0.125 of head_dim 8 rotates 1 coordinates, an odd number (rotary rotates pairs)"},
		{"field of the wrong kind", small("llama"), map[string]any{"rope_theta": "big"}, nil,
			cfg, weights.ErrConfig, `bad config: rope_theta is "big", want a number`},
		{"unknown rope_scaling type", small("llama"), map[string]any{"rope_scaling": map[string]any{"rope_type": "longrope", "factor": 2.0}}, nil,
			cfg, weights.ErrConfig, `bad config: rope_scaling type "longrope" is not supported (supported: linear, dynamic, llama3, yarn)`},
		{"unknown rope type, long and hostile", small("qwen2"), map[string]any{"rope_scaling": map[string]any{"type": long + "\n"}}, nil,
			cfg, weights.ErrConfig, `bad config: rope_scaling type "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"… is not supported`},
		{"llama3 scaling without low_freq_factor", small("llama"), map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0,
			"high_freq_factor": 4.0}}, nil,
			cfg, weights.ErrConfig, `bad config: rope_scaling type "llama3" needs low_freq_factor`},
		{"yarn without factor", small("qwen2"), map[string]any{"rope_scaling": map[string]any{"type": "yarn"}}, nil,
			cfg, weights.ErrConfig, `bad config: rope_scaling type "yarn" needs factor`},
		{"scaled sliding layers", small("gemma3_text"), map[string]any{"rope_parameters": map[string]any{
			"full_attention": map[string]any{"rope_type": "default"}, "sliding_attention": map[string]any{"rope_type": "linear", "factor": 2.0}}}, nil,
			cfg, weights.ErrConfig, `bad config: rope_parameters.sliding_attention has rope_type "linear": scaling on sliding-window layers is not supported (only default)`},
		{"layer_types of the wrong length", small("gemma2"), map[string]any{"layer_types": []string{"full_attention"}}, nil,
			cfg, weights.ErrConfig, "bad config: layer_types has 1 entries for 2 layers (num_hidden_layers)"},
		{"unknown layer type", small("qwen3"), map[string]any{"use_sliding_window": true, "layer_types": []string{"full_attention", "chunked_attention"}}, nil,
			cfg, weights.ErrConfig, `bad config: layer_types[1] is "chunked_attention", want "full_attention" or "sliding_attention"`},
		{"untied without lm_head", func() synth.FamilyOptions { o := small("llama"); o.Tied = true; return o }(),
			map[string]any{"tie_word_embeddings": false}, nil,
			"", weights.ErrShape, `tensor does not match config.json: tensor "lm_head.weight" is missing and tie_word_embeddings is false`},
		{"untied without embed_out", synth.FamilyOptions{ModelType: "gpt_neox", Layers: 1, Heads: 4, DModel: 32, DFF: 16, Vocab: 24, Tied: true},
			map[string]any{"tie_word_embeddings": nil}, nil, // GPTNeoXConfig's default is untied
			"", weights.ErrShape, `tensor does not match config.json: tensor "embed_out.weight" is missing and tie_word_embeddings is false`},
		{"untied gemma3 without its legacy lm_head", func() synth.FamilyOptions {
			o := small("gemma3")
			o.Tied, o.Naming = true, synth.NamingGemma3Legacy
			return o
		}(), map[string]any{"text_config.tie_word_embeddings": false}, nil,
			"", weights.ErrShape, `tensor "language_model.lm_head.weight" is missing and tie_word_embeddings is false`},
		{"fused QKV of the wrong size", synth.FamilyOptions{ModelType: "gpt_neox", Layers: 1, Heads: 4, DModel: 32, DFF: 16, Vocab: 24}, nil,
			func(t *testing.T, dir string) {
				shrink(t, filepath.Join(dir, st), "gpt_neox.layers.0.attention.query_key_value.weight", []int{64, 32}, 4)
			},
			st, weights.ErrShape, `tensor "gpt_neox.layers.0.attention.query_key_value.weight": tensor does not match config.json: shape [64 32], config.json implies [96 32] (fused Q|K|V: num_attention_heads=4 × 3 × head_dim 8 rows, hidden_size=32)`},
		{"K projection for fewer KV heads than the config", small("llama"), map[string]any{"num_key_value_heads": 4}, nil,
			st, weights.ErrShape, `tensor "model.layers.0.self_attn.k_proj.weight": tensor does not match config.json: shape [16 32], config.json implies [32 32] (num_key_value_heads=4 × head_dim=8, hidden_size=32)`},
		{"MLP of another width", small("gemma"), map[string]any{"intermediate_size": 20}, nil,
			st, weights.ErrShape, `tensor "model.layers.0.mlp.gate_proj.weight": tensor does not match config.json: shape [16 32], config.json implies [20 32] (intermediate_size=20, hidden_size=32)`},
		{"q_norm of the wrong width", small("qwen3"), nil, func(t *testing.T, dir string) {
			shrink(t, filepath.Join(dir, st), "model.layers.1.self_attn.q_norm.weight", []int{4}, 4)
		}, st, weights.ErrShape, `tensor "model.layers.1.self_attn.q_norm.weight": tensor does not match config.json: shape [4], config.json implies [8] (head_dim=8)`},
		{"non-float dtype", small("mistral"), nil, func(t *testing.T, dir string) {
			editHeader(t, filepath.Join(dir, st), func(h map[string]map[string]any) { h["model.layers.1.mlp.down_proj.weight"]["dtype"] = "I32" })
		}, st, weights.ErrShape, `tensor "model.layers.1.mlp.down_proj.weight": tensor does not match config.json: dtype I32 is not a float type`},
		{"missing layer", small("qwen2"), map[string]any{"num_hidden_layers": 3}, nil,
			"", weights.ErrShape, `tensor does not match config.json: tensor "model.layers.2.input_layernorm.weight" is missing`},
		{"missing q/k norms (a Llama called Qwen3)", small("llama"), map[string]any{"model_type": "qwen3"}, nil,
			"", weights.ErrShape, `tensor "model.layers.0.self_attn.q_norm.weight" is missing (model_type qwen3 normalises queries and keys per head)`},
		{"missing sandwich norms (a Gemma called Gemma 2)", small("gemma"), map[string]any{"model_type": "gemma2"}, nil,
			"", weights.ErrShape, `tensor "model.layers.0.pre_feedforward_layernorm.weight" is missing (model_type gemma2 normalises sub-layer outputs)`},
		{"missing attention biases", small("llama"), map[string]any{"attention_bias": true}, nil,
			"", weights.ErrShape, `tensor "model.layers.0.self_attn.q_proj.bias" is missing (attention_bias is true)`},
		{"missing Qwen2 biases (a Mistral called Qwen2)", small("mistral"), map[string]any{"model_type": "qwen2"}, nil,
			"", weights.ErrShape, `tensor "model.layers.0.self_attn.q_proj.bias" is missing (Qwen2's q_proj, k_proj and v_proj always have biases)`},
		{"missing NeoX attention biases", synth.FamilyOptions{ModelType: "gpt_neox", Layers: 1, Heads: 4, DModel: 32, DFF: 16, Vocab: 24, Biases: synth.BiasOff},
			map[string]any{"attention_bias": nil}, nil, // GPTNeoXConfig's default is true
			"", weights.ErrShape, `tensor "gpt_neox.layers.0.attention.query_key_value.bias" is missing (attention_bias is true)`},
		{"missing embedding", small("gemma3"), nil, func(t *testing.T, dir string) {
			editHeader(t, filepath.Join(dir, st), func(h map[string]map[string]any) { delete(h, "model.language_model.embed_tokens.weight") })
		}, "", weights.ErrShape, `tensor "model.language_model.embed_tokens.weight" is missing`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o := c.o
			o.Config = c.config
			if _, err := synth.WriteFamily(dir, o); err != nil {
				t.Fatal(err)
			}
			if c.damage != nil {
				c.damage(t, dir)
			}
			_, err := openErr(dir)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("%s", err)
			path := dir
			if c.file != "" {
				path = filepath.Join(dir, c.file)
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			if !strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q\nshould name %s and say %q", err, path, c.says)
			}
		})
	}
}
