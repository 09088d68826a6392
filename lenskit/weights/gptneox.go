package weights

import (
	"fmt"
	"maps"
	"math"

	"lenskit.dev/lenskit/checkpoint"
)

func init() { register("gpt_neox", openGPTNeoX) }

// gptNeoX adapts GPTNeoXForCausalLM (Pythia, GPT-NeoX-20B). Layout (P is
// "gpt_neox." or, for a bare GPTNeoXModel, ""; nn.Linear weights [out, in]):
//
//	P.embed_in.weight                               Vocab × d
//	P.layers.L.input_layernorm.{weight,bias}        d        AttnNorm
//	P.layers.L.attention.query_key_value.weight     [3d, d]  fused, interleaved per head
//	P.layers.L.attention.query_key_value.bias       [3d]     (attention_bias)
//	P.layers.L.attention.dense.{weight,bias}        [d, d], [d]
//	P.layers.L.post_attention_layernorm.{weight,bias} d      MLPNorm
//	P.layers.L.mlp.dense_h_to_4h.{weight,bias}      [F, d], [F]
//	P.layers.L.mlp.dense_4h_to_h.{weight,bias}      [d, F], [d]
//	P.final_layer_norm.{weight,bias}                d
//	embed_out.weight                                Vocab × d (untied)
//
// The fused projection's output is viewed as (heads, 3, head_dim): rows
// h·3·dh … h·3·dh+dh−1 are head h's query, the next dh its key, the next dh
// its value. Only the first rotary_pct of each head is rotated. Buffers
// (attention.bias, attention.masked_bias, attention.rotary_emb.inv_freq) are
// ignored. use_parallel_residual computes x + attn(ln1(x)) + mlp(ln2(x)).
type gptNeoX struct {
	a      Arch
	embed  *checkpoint.Tensor
	out    *checkpoint.Tensor // nil when tied
	finalW *checkpoint.Tensor
	finalB *checkpoint.Tensor
	layers []neoxLayer
	params map[string]*checkpoint.Tensor
}

type neoxLayer struct {
	qkv, qkvB, dense, denseB *checkpoint.Tensor
	in, inB, out, outB       *checkpoint.Tensor
	ln1, ln1B, ln2, ln2B     *checkpoint.Tensor
}

// openGPTNeoX reads a GPTNeoXConfig (transformers v5,
// configuration_gpt_neox.py at commit 008e574; the same in 4.x, where the
// rotary fields were rotary_pct and rotary_emb_base): defaults vocab 50432,
// hidden 6144, 44 layers, 64 heads, intermediate 24576, gelu, 2048
// positions, layer_norm_eps 1e-5, untied, use_parallel_residual true,
// attention_bias true, rotary_pct 0.25, rotary_emb_base 10000.
func openGPTNeoX(c *checkpoint.Checkpoint) (adapter, error) {
	r := newHFConfig(c)
	a := Arch{ModelType: "gpt_neox", MLP: MLPPlain, Norm: LayerNorm, EmbedScale: 1}
	a.Vocab = r.integer("vocab_size", 50432)
	a.DModel = r.integer("hidden_size", 6144)
	a.Layers = r.integer("num_hidden_layers", 44)
	a.Heads = r.integer("num_attention_heads", 64)
	a.DFF = r.integer("intermediate_size", 24576)
	r.positive("vocab_size", a.Vocab, "hidden_size", a.DModel, "num_hidden_layers", a.Layers,
		"num_attention_heads", a.Heads, "intermediate_size", a.DFF)
	if r.err == nil && a.DModel%a.Heads != 0 {
		r.fail("hidden_size %d is not a multiple of num_attention_heads %d", a.DModel, a.Heads)
	}
	a.KVHeads = a.Heads
	a.DHead = a.DModel / max(a.Heads, 1)
	a.Activation = r.str("hidden_act", "gelu")
	a.Positions = r.integer("max_position_embeddings", 2048)
	r.positive("max_position_embeddings", a.Positions)
	a.NormEps = r.number("layer_norm_eps", 1e-5)
	if r.err == nil && (a.NormEps < 0 || math.IsInf(a.NormEps, 0)) {
		r.fail("layer_norm_eps is %v, want a non-negative number", a.NormEps)
	}
	a.Tied = r.boolean("tie_word_embeddings", false)
	a.ParallelResidual = r.boolean("use_parallel_residual", true)
	attnBias := r.boolean("attention_bias", true)
	a.AttnScale = 1 / math.Sqrt(float64(max(a.DHead, 1)))

	// Rotary: transformers 4.x names the base rotary_emb_base and the share
	// rotary_pct; 5 moves them into rope_parameters (rope_theta,
	// partial_rotary_factor). Either spelling is read.
	thetaKey := "rotary_emb_base"
	if !r.has(thetaKey) && r.has("rope_theta") {
		thetaKey = "rope_theta"
	}
	rot := r.rotary(thetaKey, 10000, "", 0, a.Positions)
	fracKey, frac := "rotary_pct", 0.25
	if p, ok := r.object("rope_parameters"); ok && p["partial_rotary_factor"] != nil {
		fracKey = "rope_parameters.partial_rotary_factor"
		f, ok := asFloat(p["partial_rotary_factor"])
		if !ok {
			r.fail("%s is %s, want a number", fracKey, short(p["partial_rotary_factor"]))
		}
		frac = f
	} else if !r.has("rotary_pct") && r.has("partial_rotary_factor") {
		fracKey = "partial_rotary_factor"
		frac = r.number(fracKey, 0.25)
	} else {
		frac = r.number(fracKey, 0.25)
	}
	if r.err == nil && !(frac >= 0 && frac <= 1) {
		r.fail("%s is %v, want a share between 0 and 1", fracKey, frac)
	}
	rot.Fraction = frac
	rot.Dims = int(float64(a.DHead) * frac) // int(head_size * rotary_pct), as GPTNeoXAttention
	if r.err == nil && rot.Dims%2 != 0 {
		r.fail("%s %v of head_dim %d rotates %d coordinates, an odd number (rotary rotates pairs)", fracKey, frac, a.DHead, rot.Dims)
	}
	if rot.Dims > 0 {
		a.Rotary = rot
	}
	if r.err != nil {
		return nil, r.err
	}
	a.Defaults = r.defaults

	prefix := "gpt_neox."
	if _, ok := c.Lookup(prefix + "embed_in.weight"); !ok {
		if _, ok := c.Lookup("embed_in.weight"); ok {
			prefix = ""
		}
	}
	s := newTensorSet(c, prefix)
	d, v, ff, h, dh := a.DModel, a.Vocab, a.DFF, a.Heads, a.DHead
	dims := fmt.Sprintf("hidden_size=%d", d)
	embedWhy := fmt.Sprintf("vocab_size=%d, %s", v, dims)
	qkvWhy := fmt.Sprintf("fused Q|K|V: num_attention_heads=%d × 3 × head_dim %d rows, %s", h, dh, dims)
	ffWhy := fmt.Sprintf("intermediate_size=%d, %s", ff, dims)
	m := &gptNeoX{a: a}
	var err error
	if m.embed, err = s.need("embed_in.weight", embedWhy, v, d); err != nil {
		return nil, err
	}
	m.a.DType = string(m.embed.DType)
	if m.finalW, err = s.need("final_layer_norm.weight", dims, d); err != nil {
		return nil, err
	}
	if m.finalB, err = s.need("final_layer_norm.bias", dims, d); err != nil {
		return nil, err
	}
	for l := range a.Layers {
		p := fmt.Sprintf("layers.%d.", l)
		var ly neoxLayer
		for _, t := range []struct {
			dst     **checkpoint.Tensor
			name    string
			why     string
			shape   []int
			when    bool
			because string
		}{
			{&ly.ln1, "input_layernorm.weight", dims, []int{d}, true, ""},
			{&ly.ln1B, "input_layernorm.bias", dims, []int{d}, true, ""},
			{&ly.qkv, "attention.query_key_value.weight", qkvWhy, []int{3 * d, d}, true, ""},
			{&ly.qkvB, "attention.query_key_value.bias", qkvWhy, []int{3 * d}, attnBias, "attention_bias is true"},
			{&ly.dense, "attention.dense.weight", dims, []int{d, d}, true, ""},
			{&ly.denseB, "attention.dense.bias", dims, []int{d}, attnBias, "attention_bias is true"},
			{&ly.ln2, "post_attention_layernorm.weight", dims, []int{d}, true, ""},
			{&ly.ln2B, "post_attention_layernorm.bias", dims, []int{d}, true, ""},
			{&ly.in, "mlp.dense_h_to_4h.weight", ffWhy, []int{ff, d}, true, ""},
			{&ly.inB, "mlp.dense_h_to_4h.bias", ffWhy, []int{ff}, true, ""},
			{&ly.out, "mlp.dense_4h_to_h.weight", ffWhy, []int{d, ff}, true, ""},
			{&ly.outB, "mlp.dense_4h_to_h.bias", dims, []int{d}, true, ""},
		} {
			if !t.when {
				continue
			}
			if *t.dst, err = s.needBecause(p+t.name, t.because, t.why, t.shape...); err != nil {
				return nil, err
			}
		}
		m.layers = append(m.layers, ly)
	}
	if m.out, err = outputEmbedding(c, s, a.Tied, "embed_out.weight", "embed_out.weight", "tie_word_embeddings", embedWhy, v, d); err != nil {
		return nil, err
	}
	m.params = s.params
	return m, nil
}

func (m *gptNeoX) arch() Arch                       { return m.a }
func (m *gptNeoX) embedding() (Matrix, error)       { return largeMatrixOf(m.embed) }
func (m *gptNeoX) positions() (Matrix, bool, error) { return Matrix{}, false, nil }
func (m *gptNeoX) sliding(int) bool                 { return false }

func (m *gptNeoX) unembedding() (Matrix, error) {
	if m.out != nil {
		return largeMatrixOf(m.out)
	}
	return largeMatrixOf(m.embed)
}

// ffKeys is dense_h_to_4h.weight as stored: [d_ff, d] is already one row per
// neuron.
func (m *gptNeoX) ffKeys(l, _ int) (Matrix, error) { return largeMatrixOf(m.layers[l].in) }
func (m *gptNeoX) ffValues(l int) (Matrix, error)  { return transposeLarge(m.layers[l].out) }

// ffValue is column i of dense_4h_to_h: one neuron without transposing the
// layer.
func (m *gptNeoX) ffValue(l, i int) ([]float32, error) { return column(m.layers[l].out, i) }

// qkvRow is the first row of part (0 Q, 1 K, 2 V) of head h in the fused
// projection viewed as (heads, 3, head_dim).
func (m *gptNeoX) qkvRow(part, h int) int { return (3*h + part) * m.a.DHead }

func (m *gptNeoX) wq(l, h int) (Matrix, error) {
	return linearRowsT(m.layers[l].qkv, m.qkvRow(0, h), m.a.DHead)
}
func (m *gptNeoX) wk(l, h int) (Matrix, error) {
	return linearRowsT(m.layers[l].qkv, m.qkvRow(1, h), m.a.DHead)
}
func (m *gptNeoX) wv(l, h int) (Matrix, error) {
	return linearRowsT(m.layers[l].qkv, m.qkvRow(2, h), m.a.DHead)
}
func (m *gptNeoX) wo(l, h int) (Matrix, error) {
	return linearCols(m.layers[l].dense, h*m.a.DHead, m.a.DHead)
}

func (m *gptNeoX) bias(kind BiasKind, l, idx int) ([]float32, error) {
	ly := &m.layers[l]
	var t *checkpoint.Tensor
	switch kind {
	case BiasQ, BiasK, BiasV:
		if ly.qkvB == nil {
			return nil, nil
		}
		return vectorPart(ly.qkvB, m.qkvRow(int(kind-BiasQ), idx), m.a.DHead)
	case BiasO:
		t = ly.denseB
	case BiasFFIn:
		t = ly.inB
	case BiasFFOut:
		t = ly.outB
	}
	if t == nil {
		return nil, nil
	}
	return vectorPart(t, 0, t.NumElements())
}

func (m *gptNeoX) norm(site NormSite, l int) (Norm, bool, error) {
	var w, b *checkpoint.Tensor
	switch site {
	case AttnNorm:
		w, b = m.layers[l].ln1, m.layers[l].ln1B
	case MLPNorm:
		w, b = m.layers[l].ln2, m.layers[l].ln2B
	case FinalNorm:
		w, b = m.finalW, m.finalB
	default:
		return Norm{}, false, nil
	}
	g, err := gains(w, false)
	if err != nil {
		return Norm{}, false, err
	}
	bias, err := vectorPart(b, 0, b.NumElements())
	if err != nil {
		return Norm{}, false, err
	}
	return Norm{Kind: LayerNorm, Gain: g, Bias: bias, Eps: m.a.NormEps}, true, nil
}

func (m *gptNeoX) parameters() map[string]*checkpoint.Tensor { return maps.Clone(m.params) }
