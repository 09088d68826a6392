package weights

import (
	"fmt"
	"maps"
	"math"

	"lenskit.dev/lenskit/checkpoint"
)

// decoder adapts the decoder layout Hugging Face shares between Llama,
// Mistral, Qwen2, Qwen3, Gemma, Gemma 2 and Gemma 3 (nn.Linear weights,
// [out, in], applied as y = x·Wᵀ + b):
//
//	P.embed_tokens.weight                   Vocab × d
//	P.layers.L.input_layernorm.weight       d                 AttnNorm
//	P.layers.L.self_attn.q_proj.{weight,bias}  [H·dh, d], [H·dh]
//	P.layers.L.self_attn.k_proj.{weight,bias}  [G·dh, d], [G·dh]   G = KV heads
//	P.layers.L.self_attn.v_proj.{weight,bias}  [G·dh, d], [G·dh]
//	P.layers.L.self_attn.o_proj.{weight,bias}  [d, H·dh], [d]
//	P.layers.L.self_attn.{q,k}_norm.weight  dh                QNorm, KNorm (Qwen3, Gemma 3)
//	P.layers.L.post_attention_layernorm.weight d              MLPNorm (Llama…); PostAttnNorm (Gemma 2/3)
//	P.layers.L.pre_feedforward_layernorm.weight d             MLPNorm (Gemma 2/3)
//	P.layers.L.post_feedforward_layernorm.weight d            PostMLPNorm (Gemma 2/3)
//	P.layers.L.mlp.gate_proj.{weight,bias}  [F, d], [F]       read 0
//	P.layers.L.mlp.up_proj.{weight,bias}    [F, d], [F]       read 1
//	P.layers.L.mlp.down_proj.{weight,bias}  [d, F], [d]
//	P.norm.weight                           d                 FinalNorm
//	lm_head.weight                          Vocab × d         untied only
//
// P is "model." (…ForCausalLM), "" (the bare …Model), or Gemma 3's
// "model.language_model." / "language_model.model."; each family lists the
// layouts it accepts and the first whose embedding exists is used. Biases
// exist only where the config says (attention_bias, mlp_bias; Qwen2 always
// has q/k/v biases). Buffers (rotary_emb.inv_freq) and other towers
// (Gemma 3's vision_tower) are ignored.
//
// Per-head W_Q, W_K, W_V and W_O are gathered copies (d × dh); FFKeys are
// gate_proj and up_proj as stored (BF16 aliased); FFValues is down_proj
// transposed into a fresh matrix of the stored precision.
type decoder struct {
	a         Arch
	gemmaNorm bool
	slides    []bool
	embed     *checkpoint.Tensor
	lmHead    *checkpoint.Tensor // nil when tied
	final     *checkpoint.Tensor
	layers    []decoderLayer
	params    map[string]*checkpoint.Tensor
}

type decoderLayer struct {
	q, k, v, o        *checkpoint.Tensor
	qb, kb, vb, ob    *checkpoint.Tensor // nil without biases
	gate, up, down    *checkpoint.Tensor
	gateB, upB, downB *checkpoint.Tensor
	norms             [KNorm + 1]*checkpoint.Tensor // by NormSite; FinalNorm unused
}

// decoderConfig is what a family's reader makes of config.json.
type decoderConfig struct {
	a              Arch
	attnBias       bool   // q_proj, k_proj, v_proj have biases
	oBias          bool   // o_proj has a bias
	mlpBias        bool   // gate_proj, up_proj, down_proj have biases
	biasReason     string // why q/k/v biases are expected, for a missing one ("attention_bias is true")
	gemmaNorm      bool   // norm weights store γ − 1 (Gemma's RMSNorm applies 1 + weight)
	scaleEmbedding bool   // embeddings × √d rounded to the embedding's dtype (Gemma)
	sliding        []bool
	layouts        []layout
}

// layout is one naming of the decoder's tensors.
type layout struct {
	prefix string // before embed_tokens, layers.L…, norm
	lmHead string // the untied output embedding's name
}

// causalLM is the layout of …ForCausalLM and of the bare …Model.
var causalLM = []layout{{"model.", "lm_head.weight"}, {"", "lm_head.weight"}}

// decoderDefaults are a family's config class defaults for the fields every
// decoder has. kvHeads 0 means None (= num_attention_heads); headDim 0 means
// hidden_size / num_attention_heads.
type decoderDefaults struct {
	vocab, hidden, inter, layers, heads, kvHeads, headDim int
	actKey, act                                           string
	maxPos                                                int
	eps                                                   float64
	tied                                                  bool
	theta                                                 float64
	localKey                                              string // rope_local_base_freq (Gemma 3)
	localTheta                                            float64
	// noHeadDim: the config class has no head_dim field (Qwen2); the
	// attention reads one when config.json has it, else hidden/heads.
	noHeadDim bool
}

// readDecoder reads the fields every decoder family shares and checks that
// they can describe a model.
func readDecoder(r *hfConfig, modelType string, d decoderDefaults) decoderConfig {
	a := Arch{ModelType: modelType, MLP: MLPGated, Norm: RMSNorm, EmbedScale: 1}
	a.Vocab = r.integer("vocab_size", d.vocab)
	a.DModel = r.integer("hidden_size", d.hidden)
	a.DFF = r.integer("intermediate_size", d.inter)
	a.Layers = r.integer("num_hidden_layers", d.layers)
	a.Heads = r.integer("num_attention_heads", d.heads)
	r.positive("vocab_size", a.Vocab, "hidden_size", a.DModel, "intermediate_size", a.DFF,
		"num_hidden_layers", a.Layers, "num_attention_heads", a.Heads)
	if d.kvHeads == 0 || r.isNull("num_key_value_heads") {
		a.KVHeads = r.integerOr("num_key_value_heads", func() int { return a.Heads })
	} else {
		a.KVHeads = r.integer("num_key_value_heads", d.kvHeads)
	}
	r.positive("num_key_value_heads", a.KVHeads)
	if r.err == nil && a.Heads%a.KVHeads != 0 {
		r.fail("%s %d does not divide %s %d", r.name("num_key_value_heads"), a.KVHeads, r.name("num_attention_heads"), a.Heads)
	}
	if d.headDim == 0 || r.isNull("head_dim") {
		if !r.has("head_dim") && r.err == nil && a.DModel%a.Heads != 0 {
			r.fail("%s %d is not a multiple of %s %d (and head_dim is not set)", r.name("hidden_size"), a.DModel, r.name("num_attention_heads"), a.Heads)
		}
		if d.noHeadDim && !r.has("head_dim") {
			a.DHead = a.DModel / max(a.Heads, 1) // not a field of the class: nothing was assumed
		} else {
			a.DHead = r.integerOr("head_dim", func() int { return a.DModel / max(a.Heads, 1) })
		}
	} else {
		a.DHead = r.integer("head_dim", d.headDim)
	}
	r.positive("head_dim", a.DHead)
	if r.err == nil && a.DHead%2 != 0 {
		r.fail("%s %d is odd: rotary embeddings rotate pairs of coordinates", r.name("head_dim"), a.DHead)
	}
	if d.actKey == "hidden_activation" {
		// Gemma: GemmaMLP (transformers 4.38–4.47) and Gemma2MLP/Gemma3MLP
		// apply hidden_activation, gelu_pytorch_tanh when it is absent,
		// whatever hidden_act says (Gemma 1.0 configs say "gelu", wrongly).
		a.Activation = r.str("hidden_activation", d.act)
	} else {
		a.Activation = r.str(d.actKey, d.act)
	}
	a.Positions = r.integer("max_position_embeddings", d.maxPos)
	r.positive("max_position_embeddings", a.Positions)
	a.NormEps = r.number("rms_norm_eps", d.eps)
	if r.err == nil && (a.NormEps < 0 || math.IsInf(a.NormEps, 0)) {
		r.fail("%s is %v, want a non-negative number", r.name("rms_norm_eps"), a.NormEps)
	}
	a.Tied = r.boolean("tie_word_embeddings", d.tied)
	a.AttnScale = 1 / math.Sqrt(float64(max(a.DHead, 1)))
	a.Rotary = r.rotary("rope_theta", d.theta, d.localKey, d.localTheta, a.Positions)
	a.Rotary.Dims = a.DHead
	return decoderConfig{a: a, layouts: causalLM}
}

// slidingFrom returns layer_types when the config has it, else rule(i) for
// every layer.
func slidingFrom(r *hfConfig, layers int, rule func(i int) bool) []bool {
	if s, ok := r.layerTypes(layers); ok || r.err != nil {
		return s
	}
	s := make([]bool, max(layers, 0))
	for i := range s {
		s[i] = rule(i)
	}
	return s
}

// nullableInt reads a field whose null means "none" (0), such as
// sliding_window.
func nullableInt(r *hfConfig, key string, def int) int {
	if r.isNull(key) {
		return 0
	}
	if def == 0 && !r.has(key) {
		r.setDefault(key, "null") // the class default is None
		return 0
	}
	return r.integer(key, def)
}

// nullableFloat reads a field whose null means "none" (0), such as the
// softcaps.
func nullableFloat(r *hfConfig, key string, def float64) float64 {
	if r.isNull(key) {
		return 0
	}
	if def == 0 && !r.has(key) {
		r.setDefault(key, "null") // the class default is None
		return 0
	}
	v := r.number(key, def)
	if r.err == nil && (v < 0 || math.IsInf(v, 0)) {
		r.fail("%s is %v, want a non-negative number", r.name(key), v)
	}
	return v
}

// openDecoder checks every tensor the config implies and returns the
// adapter. r carries the config's first fault and the defaults applied.
func openDecoder(c *checkpoint.Checkpoint, r *hfConfig, dc decoderConfig) (adapter, error) {
	if r.err != nil {
		return nil, r.err
	}
	a := dc.a
	a.Defaults = r.defaults
	lay := dc.layouts[0]
	for _, l := range dc.layouts {
		if _, ok := c.Lookup(l.prefix + "embed_tokens.weight"); ok {
			lay = l
			break
		}
	}
	s := newTensorSet(c, lay.prefix)
	d, v, ff, h, g, dh := a.DModel, a.Vocab, a.DFF, a.Heads, a.KVHeads, a.DHead
	dims := fmt.Sprintf("hidden_size=%d", d)
	embedWhy := fmt.Sprintf("vocab_size=%d, %s", v, dims)
	ad := &decoder{a: a, gemmaNorm: dc.gemmaNorm, slides: dc.sliding}
	var err error
	if ad.embed, err = s.need("embed_tokens.weight", embedWhy, v, d); err != nil {
		return nil, err
	}
	ad.a.DType = string(ad.embed.DType)
	if dc.scaleEmbedding {
		ad.a.EmbedScale = roundToDType(math.Sqrt(float64(d)), ad.embed.DType)
	}
	if ad.final, err = s.need("norm.weight", dims, d); err != nil {
		return nil, err
	}
	qWhy := fmt.Sprintf("num_attention_heads=%d × head_dim=%d, %s", h, dh, dims)
	kvWhy := fmt.Sprintf("num_key_value_heads=%d × head_dim=%d, %s", g, dh, dims)
	ffWhy := fmt.Sprintf("intermediate_size=%d, %s", ff, dims)
	biasBecause := dc.biasReason
	if biasBecause == "" {
		biasBecause = "attention_bias is true"
	}
	qkBecause := "model_type " + a.ModelType + " normalises queries and keys per head"
	sandwich, sandwichBecause := a.SandwichNorms, "model_type "+a.ModelType+" normalises sub-layer outputs"
	for l := range a.Layers {
		p := fmt.Sprintf("layers.%d.", l)
		var ly decoderLayer
		for _, t := range []struct {
			dst     **checkpoint.Tensor
			name    string
			why     string
			shape   []int
			when    bool
			because string // why a conditional tensor is expected
		}{
			{&ly.norms[AttnNorm], "input_layernorm.weight", dims, []int{d}, true, ""},
			{&ly.q, "self_attn.q_proj.weight", qWhy, []int{h * dh, d}, true, ""},
			{&ly.k, "self_attn.k_proj.weight", kvWhy, []int{g * dh, d}, true, ""},
			{&ly.v, "self_attn.v_proj.weight", kvWhy, []int{g * dh, d}, true, ""},
			{&ly.o, "self_attn.o_proj.weight", qWhy, []int{d, h * dh}, true, ""},
			{&ly.qb, "self_attn.q_proj.bias", qWhy, []int{h * dh}, dc.attnBias, biasBecause},
			{&ly.kb, "self_attn.k_proj.bias", kvWhy, []int{g * dh}, dc.attnBias, biasBecause},
			{&ly.vb, "self_attn.v_proj.bias", kvWhy, []int{g * dh}, dc.attnBias, biasBecause},
			{&ly.ob, "self_attn.o_proj.bias", dims, []int{d}, dc.oBias, "attention_bias is true"},
			{&ly.norms[QNorm], "self_attn.q_norm.weight", fmt.Sprintf("head_dim=%d", dh), []int{dh}, a.QKNorm, qkBecause},
			{&ly.norms[KNorm], "self_attn.k_norm.weight", fmt.Sprintf("head_dim=%d", dh), []int{dh}, a.QKNorm, qkBecause},
			{&ly.norms[MLPNorm], "post_attention_layernorm.weight", dims, []int{d}, !sandwich, ""},
			{&ly.norms[PostAttnNorm], "post_attention_layernorm.weight", dims, []int{d}, sandwich, ""},
			{&ly.norms[MLPNorm], "pre_feedforward_layernorm.weight", dims, []int{d}, sandwich, sandwichBecause},
			{&ly.norms[PostMLPNorm], "post_feedforward_layernorm.weight", dims, []int{d}, sandwich, sandwichBecause},
			{&ly.gate, "mlp.gate_proj.weight", ffWhy, []int{ff, d}, true, ""},
			{&ly.up, "mlp.up_proj.weight", ffWhy, []int{ff, d}, true, ""},
			{&ly.down, "mlp.down_proj.weight", ffWhy, []int{d, ff}, true, ""},
			{&ly.gateB, "mlp.gate_proj.bias", ffWhy, []int{ff}, dc.mlpBias, "mlp_bias is true"},
			{&ly.upB, "mlp.up_proj.bias", ffWhy, []int{ff}, dc.mlpBias, "mlp_bias is true"},
			{&ly.downB, "mlp.down_proj.bias", dims, []int{d}, dc.mlpBias, "mlp_bias is true"},
		} {
			if !t.when {
				continue
			}
			if *t.dst, err = s.needBecause(p+t.name, t.because, t.why, t.shape...); err != nil {
				return nil, err
			}
		}
		ad.layers = append(ad.layers, ly)
	}
	if ad.lmHead, err = outputEmbedding(c, s, a.Tied, lay.lmHead, "lm_head.weight", "tie_word_embeddings", embedWhy, v, d); err != nil {
		return nil, err
	}
	ad.params = s.params
	return ad, nil
}

// outputEmbedding finds the unembedding of an untied model (an error when
// missing) or checks the shape of a tied one stored anyway (transformers
// re-ties it on load, so its values are the embedding's: neither read nor
// hashed). Nil when tied.
func outputEmbedding(c *checkpoint.Checkpoint, s *tensorSet, tied bool, stored, canonical, tieField, why string, v, d int) (*checkpoint.Tensor, error) {
	t, ok := c.Lookup(stored)
	if tied {
		if ok {
			if err := checkTensor(t, why, v, d); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	if !ok {
		return nil, fmt.Errorf("weights: %s: %w: tensor %q is missing and %s is false", c.ID(), ErrShape, stored, tieField)
	}
	return s.needStored(stored, canonical, why, v, d)
}

// roundToDType rounds x to the precision of a dtype, as transformers casts
// Gemma's normalizer √d to the hidden states' dtype (55.4256 becomes 55.5 in
// BF16).
func roundToDType(x float64, dt checkpoint.DType) float64 {
	switch dt {
	case checkpoint.BF16:
		return float64(checkpoint.BF16ToF32(checkpoint.F32ToBF16(float32(x))))
	case checkpoint.F16:
		return float64(checkpoint.F16ToF32(checkpoint.F32ToF16(float32(x))))
	case checkpoint.F32:
		return float64(float32(x))
	}
	return x
}

func (m *decoder) arch() Arch                       { return m.a }
func (m *decoder) embedding() (Matrix, error)       { return largeMatrixOf(m.embed) }
func (m *decoder) positions() (Matrix, bool, error) { return Matrix{}, false, nil }
func (m *decoder) sliding(l int) bool               { return m.slides != nil && m.slides[l] }

func (m *decoder) unembedding() (Matrix, error) {
	if m.lmHead != nil {
		return largeMatrixOf(m.lmHead)
	}
	return largeMatrixOf(m.embed)
}

func (m *decoder) ffKeys(l, r int) (Matrix, error) {
	if r == 0 {
		return largeMatrixOf(m.layers[l].gate)
	}
	return largeMatrixOf(m.layers[l].up)
}

func (m *decoder) ffValues(l int) (Matrix, error) { return transposeLarge(m.layers[l].down) }

// ffValue is column i of down_proj: one neuron without transposing the layer.
func (m *decoder) ffValue(l, i int) ([]float32, error) { return column(m.layers[l].down, i) }

func (m *decoder) wq(l, h int) (Matrix, error) {
	return linearRowsT(m.layers[l].q, h*m.a.DHead, m.a.DHead)
}
func (m *decoder) wk(l, g int) (Matrix, error) {
	return linearRowsT(m.layers[l].k, g*m.a.DHead, m.a.DHead)
}
func (m *decoder) wv(l, g int) (Matrix, error) {
	return linearRowsT(m.layers[l].v, g*m.a.DHead, m.a.DHead)
}
func (m *decoder) wo(l, h int) (Matrix, error) {
	return linearCols(m.layers[l].o, h*m.a.DHead, m.a.DHead)
}

func (m *decoder) bias(kind BiasKind, l, idx int) ([]float32, error) {
	ly := &m.layers[l]
	dh := m.a.DHead
	var t *checkpoint.Tensor
	lo := 0
	switch kind {
	case BiasQ:
		t, lo = ly.qb, idx*dh
	case BiasK:
		t, lo = ly.kb, idx*dh
	case BiasV:
		t, lo = ly.vb, idx*dh
	case BiasO:
		t = ly.ob
	case BiasFFIn:
		t = ly.gateB
		if idx == 1 {
			t = ly.upB
		}
	case BiasFFOut:
		t = ly.downB
	}
	if t == nil {
		return nil, nil
	}
	n := t.NumElements()
	if kind <= BiasV {
		n = dh
	}
	return vectorPart(t, lo, n)
}

func (m *decoder) norm(site NormSite, l int) (Norm, bool, error) {
	t := m.final
	if site != FinalNorm {
		if int(site) >= len(m.layers[l].norms) {
			return Norm{}, false, nil
		}
		t = m.layers[l].norms[site]
	}
	if t == nil {
		return Norm{}, false, nil
	}
	g, err := gains(t, m.gemmaNorm)
	if err != nil {
		return Norm{}, false, err
	}
	return Norm{Kind: RMSNorm, Gain: g, Eps: m.a.NormEps}, true, nil
}

func (m *decoder) parameters() map[string]*checkpoint.Tensor { return maps.Clone(m.params) }
