package weights

import "lenskit.dev/lenskit/checkpoint"

func init() { register("qwen3", openQwen3) }

// qwen3Defaults are Qwen3Config's (transformers v5, configuration_qwen3.py at
// commit 008e574; the same in 4.51–4.57): vocab 151936, hidden 4096,
// intermediate 22016, 32 layers, 32 heads, 32 KV heads, head_dim 128, silu,
// 32768 positions, rms_norm_eps 1e-6, untied, rope_theta 10000,
// attention_bias false, use_sliding_window false, sliding_window 4096,
// max_window_layers 28.
var qwen3Defaults = decoderDefaults{vocab: 151936, hidden: 4096, inter: 22016, layers: 32, heads: 32, kvHeads: 32, headDim: 128,
	actKey: "hidden_act", act: "silu", maxPos: 32768, eps: 1e-6, tied: false, theta: 10000}

// openQwen3 adapts Qwen3ForCausalLM: the Llama layout with an explicit
// head_dim, optional attention biases (q/k/v/o) and per-head RMSNorm of
// queries and keys (self_attn.q_norm, k_norm: head_dim gains, plain γ)
// before rotary.
func openQwen3(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readDecoder(r, "qwen3", qwen3Defaults)
	dc.a.QKNorm = true
	dc.attnBias = r.boolean("attention_bias", false)
	dc.oBias = dc.attnBias
	qwenSliding(r, &dc)
	return openDecoder(c, r, dc)
}
