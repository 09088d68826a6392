package weights

import "lenskit.dev/lenskit/checkpoint"

func init() {
	register("gemma3_text", openGemma3Text)
	register("gemma3", openGemma3)
}

// gemma3Defaults are Gemma3TextConfig's (transformers v5,
// configuration_gemma3.py; the same in 4.50–4.57): vocab 262208, hidden
// 2304, intermediate 9216, 26 layers, 8 heads, 4 KV heads, head_dim 256,
// hidden_activation gelu_pytorch_tanh, 131072 positions, rms_norm_eps 1e-6,
// tied, rope_theta 1e6 (global layers), rope_local_base_freq 1e4 (sliding
// layers), attention_bias false, query_pre_attn_scalar 256, sliding_window
// 4096, no softcapping, sliding_window_pattern 6 (every 6th layer global).
var gemma3Defaults = decoderDefaults{vocab: 262208, hidden: 2304, inter: 9216, layers: 26, heads: 8, kvHeads: 4, headDim: 256,
	actKey: "hidden_activation", act: "gelu_pytorch_tanh", maxPos: 131072, eps: 1e-6, tied: true, theta: 1e6,
	localKey: "rope_local_base_freq", localTheta: 1e4}

// openGemma3Text adapts Gemma3ForCausalLM (model_type gemma3_text: Gemma 3
// 1B, or the text model saved alone).
func openGemma3Text(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readGemma3(r, "gemma3_text")
	return openDecoder(c, r, dc)
}

// openGemma3 adapts the text part of Gemma3ForConditionalGeneration
// (model_type gemma3: Gemma 3 4B, 12B, 27B): the config sits under
// text_config, the tensors under "language_model.model." (transformers
// 4.50–4.51) or "model.language_model." (4.52 on), with the tied lm_head
// beside them; the vision tower is ignored.
func openGemma3(c *checkpoint.Checkpoint) (adapter, error) {
	top := newHFConfig(c)
	r := top.sub("text_config")
	if !r.has("tie_word_embeddings") && top.has("tie_word_embeddings") {
		// Gemma3Config carries tie_word_embeddings at the top level too.
		r.raw = cloneWith(r.raw, "tie_word_embeddings", top.raw["tie_word_embeddings"])
	}
	dc := readGemma3(r, "gemma3")
	dc.layouts = []layout{{"model.language_model.", "lm_head.weight"}, {"language_model.model.", "language_model.lm_head.weight"}}
	top.adopt(r)
	return openDecoder(c, top, dc)
}

// readGemma3 reads a Gemma3TextConfig: Gemma 2 plus QK-norm (1 + γ), a local
// rotary base for sliding layers and the 5:1 local/global pattern.
func readGemma3(r *hfConfig, modelType string) decoderConfig {
	dc := readDecoder(r, modelType, gemma3Defaults)
	gemmaCommon(r, &dc)
	gemmaForward(r, &dc, 0, 0)
	dc.a.QKNorm = true
	if s, ok := r.layerTypes(dc.a.Layers); ok {
		dc.sliding = s
	} else if r.err == nil {
		pattern := r.integer("sliding_window_pattern", 6)
		r.positive("sliding_window_pattern", pattern)
		dc.sliding = slidingFrom(r, dc.a.Layers, func(i int) bool { return pattern > 0 && (i+1)%pattern != 0 })
	}
	return dc
}

// cloneWith returns a copy of m with key set to v.
func cloneWith(m map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	out[key] = v
	return out
}
