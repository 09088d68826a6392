package weights

import (
	"math"

	"lenskit.dev/lenskit/checkpoint"
)

func init() { register("gemma2", openGemma2) }

// gemma2Defaults are Gemma2Config's (transformers v5, configuration_gemma2.py
// at commit 008e574; the same in 4.42–4.57): vocab 256000, hidden 2304,
// intermediate 9216, 26 layers, 8 heads, 4 KV heads, head_dim 256,
// hidden_activation gelu_pytorch_tanh, 8192 positions, rms_norm_eps 1e-6,
// tied, rope_theta 10000, attention_bias false, query_pre_attn_scalar 256,
// sliding_window 4096, final_logit_softcapping 30, attn_logit_softcapping 50,
// even layers sliding.
var gemma2Defaults = decoderDefaults{vocab: 256000, hidden: 2304, inter: 9216, layers: 26, heads: 8, kvHeads: 4, headDim: 256,
	actKey: "hidden_activation", act: "gelu_pytorch_tanh", maxPos: 8192, eps: 1e-6, tied: true, theta: 10000}

// openGemma2 adapts Gemma2ForCausalLM: Gemma plus sandwich norms (careful:
// post_attention_layernorm is the attention *output* norm here and
// pre_feedforward_layernorm the MLP's input norm, unlike Llama), logit
// softcapping, attention scaled by query_pre_attn_scalar^−½, and
// sliding-window attention on layers 0, 2, 4, … (layer_types when given).
func openGemma2(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readDecoder(r, "gemma2", gemma2Defaults)
	gemmaCommon(r, &dc)
	gemmaForward(r, &dc, 30, 50)
	dc.sliding = slidingFrom(r, dc.a.Layers, func(i int) bool { return (i+1)%2 != 0 })
	return openDecoder(c, r, dc)
}

// gemmaForward reads what Gemma 2 and 3 add to the forward pass.
func gemmaForward(r *hfConfig, dc *decoderConfig, finalCap, attnCap float64) {
	dc.a.SandwichNorms = true
	q := r.number("query_pre_attn_scalar", 256)
	r.positive("query_pre_attn_scalar", q)
	dc.a.AttnScale = 1 / math.Sqrt(q)
	dc.a.SlidingWindow = nullableInt(r, "sliding_window", 4096)
	dc.a.FinalSoftcap = nullableFloat(r, "final_logit_softcapping", finalCap)
	dc.a.AttnSoftcap = nullableFloat(r, "attn_logit_softcapping", attnCap)
}
