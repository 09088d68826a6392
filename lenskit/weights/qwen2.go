package weights

import "lenskit.dev/lenskit/checkpoint"

func init() { register("qwen2", openQwen2) }

// qwen2Defaults are Qwen2Config's (transformers v5, configuration_qwen2.py at
// commit 008e574; the same in 4.37–4.57): vocab 151936, hidden 4096,
// intermediate 22016, 32 layers, 32 heads, 32 KV heads, silu, 32768
// positions, rms_norm_eps 1e-6, untied, rope_theta 10000,
// use_sliding_window false, sliding_window 4096, max_window_layers 28.
var qwen2Defaults = decoderDefaults{vocab: 151936, hidden: 4096, inter: 22016, layers: 32, heads: 32, kvHeads: 32,
	actKey: "hidden_act", act: "silu", maxPos: 32768, eps: 1e-6, tied: false, theta: 10000, noHeadDim: true}

// openQwen2 adapts Qwen2ForCausalLM (Qwen2, Qwen2.5): the Llama layout with
// biases on q_proj, k_proj and v_proj (always; o_proj has none).
func openQwen2(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readDecoder(r, "qwen2", qwen2Defaults)
	dc.attnBias = true
	dc.biasReason = "Qwen2's q_proj, k_proj and v_proj always have biases"
	qwenSliding(r, &dc)
	return openDecoder(c, r, dc)
}

// qwenSliding applies Qwen2Config's and Qwen3Config's rule: sliding_window
// counts only with use_sliding_window (else it is None), and then layers
// from max_window_layers on slide — unless layer_types lists them.
func qwenSliding(r *hfConfig, dc *decoderConfig) {
	if !r.boolean("use_sliding_window", false) {
		// layer_types may still be present; without a window no layer slides.
		r.layerTypes(dc.a.Layers)
		return
	}
	dc.a.SlidingWindow = nullableInt(r, "sliding_window", 4096)
	if s, ok := r.layerTypes(dc.a.Layers); ok {
		dc.sliding = s
		return
	}
	from := r.integer("max_window_layers", 28)
	dc.sliding = slidingFrom(r, dc.a.Layers, func(i int) bool { return i >= from })
}
