package weights

import "lenskit.dev/lenskit/checkpoint"

func init() { register("gemma", openGemma) }

// gemmaDefaults are GemmaConfig's (transformers v5, configuration_gemma.py at
// commit 008e574; the same in 4.38–4.57): vocab 256000, hidden 3072,
// intermediate 24576, 28 layers, 16 heads, 16 KV heads, head_dim 256,
// gelu_pytorch_tanh, 8192 positions, rms_norm_eps 1e-6, tied, rope_theta
// 10000, attention_bias false.
var gemmaDefaults = decoderDefaults{vocab: 256000, hidden: 3072, inter: 24576, layers: 28, heads: 16, kvHeads: 16, headDim: 256,
	actKey: "hidden_activation", act: "gelu_pytorch_tanh", maxPos: 8192, eps: 1e-6, tied: true, theta: 10000}

// openGemma adapts GemmaForCausalLM: the Llama layout with GeGLU
// (gelu_pytorch_tanh), RMSNorm weights stored as γ − 1 (applied as 1 + w,
// in float32), embeddings multiplied by √hidden_size in the model's dtype,
// a tied unembedding by default and optional attention biases.
func openGemma(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readDecoder(r, "gemma", gemmaDefaults)
	gemmaCommon(r, &dc)
	return openDecoder(c, r, dc)
}

// gemmaCommon sets what every Gemma shares.
func gemmaCommon(r *hfConfig, dc *decoderConfig) {
	dc.gemmaNorm = true
	dc.scaleEmbedding = true
	dc.attnBias = r.boolean("attention_bias", false)
	dc.oBias = dc.attnBias
}
