package weights

import "lenskit.dev/lenskit/checkpoint"

func init() { register("mistral", openMistral) }

// mistralDefaults are MistralConfig's (transformers v5,
// configuration_mistral.py at commit 001f85b; unchanged since 4.34): vocab
// 32000, hidden 4096, intermediate 14336, 32 layers, 32 heads, 8 KV heads,
// head_dim None (= hidden/heads), silu, 4096·32 positions, rms_norm_eps
// 1e-6, untied, rope_theta 10000, sliding_window 4096.
var mistralDefaults = decoderDefaults{vocab: 32000, hidden: 4096, inter: 14336, layers: 32, heads: 32, kvHeads: 8,
	actKey: "hidden_act", act: "silu", maxPos: 4096 * 32, eps: 1e-6, tied: false, theta: 10000}

// openMistral adapts MistralForCausalLM: the Llama layout without biases;
// every layer attends through sliding_window tokens unless it is null
// (Mistral 7B v0.2 onwards).
func openMistral(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	dc := readDecoder(r, "mistral", mistralDefaults)
	dc.a.SlidingWindow = nullableInt(r, "sliding_window", 4096)
	dc.sliding = make([]bool, max(dc.a.Layers, 0))
	for i := range dc.sliding {
		dc.sliding[i] = true
	}
	return openDecoder(c, r, dc)
}
