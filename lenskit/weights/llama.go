package weights

import "lenskit.dev/lenskit/checkpoint"

func init() { register("llama", openLlama) }

// llamaDefaults are LlamaConfig's (transformers v5, configuration_llama.py
// at commit 008e574; the same values since 4.31 — rope_theta was an
// __init__ argument until v5 moved it into rope_parameters with
// default_theta 10000): vocab 32000, hidden 4096, intermediate 11008, 32
// layers, 32 heads, num_key_value_heads None (= heads), head_dim None
// (= hidden/heads), silu, 2048 positions, rms_norm_eps 1e-6, untied,
// attention_bias and mlp_bias false.
var llamaDefaults = decoderDefaults{vocab: 32000, hidden: 4096, inter: 11008, layers: 32, heads: 32,
	actKey: "hidden_act", act: "silu", maxPos: 2048, eps: 1e-6, tied: false, theta: 10000}

// openLlama adapts LlamaForCausalLM (Llama 2, 3, 3.1, 3.2): the decoder
// layout with optional biases on q/k/v/o_proj (attention_bias) and on the MLP
// (mlp_bias), rope_scaling llama3, linear, dynamic or yarn.
func openLlama(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readDecoder(r, "llama", llamaDefaults)
	dc.attnBias = r.boolean("attention_bias", false)
	dc.oBias = dc.attnBias
	dc.mlpBias = r.boolean("mlp_bias", false)
	return openDecoder(c, r, dc)
}
