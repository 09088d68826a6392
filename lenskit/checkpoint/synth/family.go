package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"lenskit.dev/lenskit/checkpoint"
)

// Families lists the model_type values WriteFamily writes: the decoder
// families lenskit/weights adapts besides GPT-2. "gemma3" is the
// multimodal Gemma3ForConditionalGeneration checkpoint (text config under
// text_config, tensors under a language-model prefix, a vision tower beside).
var Families = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3", "gpt_neox"}

// Biases selects which bias vectors a family checkpoint has.
type Biases int

const (
	// BiasDefault: the family's usual — Qwen2 has q/k/v biases, GPT-NeoX
	// has every bias, the others none.
	BiasDefault Biases = iota
	// BiasOn: also the optional ones — attention_bias true (q, k, v and o
	// biases) for Llama, Qwen3 and the Gemmas, mlp_bias true for Llama.
	// Mistral has no bias option; Qwen2 and GPT-NeoX are as by default.
	BiasOn
	// BiasOff: GPT-NeoX with attention_bias false (its MLP and norms keep
	// their biases). Qwen2's q/k/v biases are not optional in transformers
	// and stay.
	BiasOff
)

// FamilyNaming selects the tensor-name prefix.
type FamilyNaming int

const (
	// NamingDefault is what …ForCausalLM saves: "model." ("gpt_neox." for
	// GPT-NeoX) before the base model's tensors, lm_head.weight (embed_out
	// for GPT-NeoX) beside them; for "gemma3" the layout of transformers ≥
	// 4.52, "model.language_model." with lm_head.weight.
	NamingDefault FamilyNaming = iota
	// NamingBare is the bare base model (LlamaModel, GPTNeoXModel, …): no
	// prefix. Not for "gemma3".
	NamingBare
	// NamingGemma3Legacy is "gemma3" as transformers 4.50–4.51 saved it:
	// "language_model.model." and "language_model.lm_head.weight".
	NamingGemma3Legacy
)

// FamilyOptions describe a checkpoint for WriteFamily. Sizes are the
// model's: KVHeads 0 means Heads (no grouped-query attention), DHead 0 means
// DModel/Heads, Positions 0 means 64.
type FamilyOptions struct {
	ModelType                                         string // one of Families
	Layers, Heads, KVHeads, DModel, DHead, DFF, Vocab int
	Positions                                         int              // max_position_embeddings
	Tied                                              bool             // tie_word_embeddings; no lm_head / embed_out stored
	DType                                             checkpoint.DType // F32 (default), BF16 or F16
	Shards                                            int              // > 1: that many safetensors files plus model.safetensors.index.json
	Seed                                              uint64
	Biases                                            Biases
	Naming                                            FamilyNaming
	// Buffers also stores the non-parameters old checkpoints carry:
	// self_attn.rotary_emb.inv_freq (decoders); attention.bias,
	// attention.masked_bias and attention.rotary_emb.inv_freq (GPT-NeoX).
	Buffers bool
	// Config overrides config.json after it is built: each key (dotted to
	// reach into objects: "text_config.head_dim", "rope_scaling.factor")
	// is set to its value, or deleted when the value is nil (JSONNull
	// writes an explicit null) — to exercise defaults and bad input. Raw still describes the model as generated,
	// not the overridden config.
	Config map[string]any
	// Tokenizer also writes synth.WriteTokenizer's byte-level BPE
	// vocabulary of Vocab entries (Vocab ≥ 257).
	Tokenizer bool
	// Fill, when set, supplies every parameter's values before dtype
	// rounding: name is the canonical name (the stored name without its
	// prefix: "embed_tokens.weight", "layers.0.self_attn.q_proj.weight",
	// "lm_head.weight", "embed_in.weight", …), shape and layout are as
	// stored (nn.Linear [out, in]; Gemma norms hold γ − 1), and dst holds
	// the default random values on entry.
	Fill func(name string, shape []int, dst []float32)
	// Decay > 0 scales input coordinate j of every weight matrix (column j
	// of an nn.Linear weight or an embedding) by exp(−Decay·j/cols), so
	// that W_E, W_Q·W_Kᵀ, W_V·W_O … have decaying spectra, as trained
	// weights do, instead of random weights' flat ones.
	Decay float64
	// SkipRaw returns a nil *Raw: for checkpoints too large to hold as
	// float64 (the tensors are streamed to disk either way).
	SkipRaw bool
}

// Raw is a written checkpoint's parameters in plain mathematical form, as
// float64 values exactly equal to what is stored (after dtype rounding), laid
// out independently of lenskit/weights: matrices act by right-multiplication
// (x·W), so a head's contribution is x·W_V[g]·W_O[h] and its attention score
// (x_q·W_Q[h])·(x_k·W_K[g])ᵀ. Tests compute brute-force views and forward
// passes from it.
type Raw struct {
	ModelType                                         string
	Layers, Heads, KVHeads, DModel, DHead, DFF, Vocab int
	Config                                            map[string]any // config.json as written (overrides applied)
	Embedding                                         Mat            // W_E, Vocab × d: row t is token t's input vector (before EmbedScale)
	Unembedding                                       Mat            // W_U, Vocab × d: logits = final residual (after FinalNorm) · W_Uᵀ; the same Mat as Embedding when tied
	FinalNorm                                         RawNorm
	Layer                                             []RawLayer
	// Forward-pass constants of the generated model (before overrides).
	EmbedScale   float64 // Gemma: √d rounded to the dtype (transformers casts the normalizer); else 1
	AttnScale    float64 // 1/√d_head, or query_pre_attn_scalar^−½ (Gemma 2, 3)
	AttnSoftcap  float64 // Gemma 2: 50; else 0
	FinalSoftcap float64 // Gemma 2: 30; else 0
	Rotary       RawRotary
	Gated        bool   // MLP: act(x·gate)·(x·up) (else act(x·key + b))
	Activation   string // "silu", "gelu_pytorch_tanh", "gelu"
	LayerNorm    bool   // LayerNorm with biases (GPT-NeoX); else RMSNorm
	NormEps      float64
	Sandwich     bool // Gemma 2, 3: PostAttn and PostMLP norms before the residual adds
	Parallel     bool // GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x))
	Window       int  // sliding window of the layers with Sliding set
}

// RawLayer is one block. Query head h reads KV head h/(Heads/KVHeads).
type RawLayer struct {
	WQ, WO []Mat       // per query head: d × d_head, d_head × d
	WK, WV []Mat       // per KV head: d × d_head
	BQ     [][]float64 // per query head, d_head; nil without biases
	BK, BV [][]float64 // per KV head
	BO     []float64   // d; nil without
	// Reads are the MLP's read directions, each d_ff × d with row i neuron
	// i's: [key] for GPT-NeoX, [gate, up] for gated MLPs. BIn their
	// biases (d_ff each; nil without).
	Reads []Mat
	BIn   [][]float64
	// Values is d_ff × d: row i is what neuron i writes.
	Values Mat
	BOut   []float64
	// Norms with effective gains (Gemma's stored γ − 1 as 1 + γ, computed
	// in float32); a RawNorm with nil Gain is absent.
	AttnNorm, MLPNorm, PostAttnNorm, PostMLPNorm RawNorm
	QNorm, KNorm                                 []float64 // per-head gains (d_head), nil without QK-norm
	Sliding                                      bool
}

// RawNorm is a normalisation's effective gain and bias (nil for RMSNorm).
type RawNorm struct{ Gain, Bias []float64 }

// RawRotary is the rotary embedding as generated.
type RawRotary struct {
	Theta      float64 // base of global (or all) layers
	LocalTheta float64 // base of sliding layers (Gemma 3), else 0
	Dims       int     // rotated coordinates per head (rotate_half pairs i, i+Dims/2)
}

// Mat is a dense row-major float64 matrix.
type Mat struct {
	Rows, Cols int
	V          []float64
}

// NewMat returns a zero rows × cols matrix.
func NewMat(rows, cols int) Mat { return Mat{rows, cols, make([]float64, rows*cols)} }

// At returns element (i, j).
func (m Mat) At(i, j int) float64 { return m.V[i*m.Cols+j] }

// Row returns row i (aliasing m).
func (m Mat) Row(i int) []float64 { return m.V[i*m.Cols : (i+1)*m.Cols] }

// T returns the transpose.
func (m Mat) T() Mat {
	t := NewMat(m.Cols, m.Rows)
	for i := range m.Rows {
		for j := range m.Cols {
			t.V[j*m.Rows+i] = m.V[i*m.Cols+j]
		}
	}
	return t
}

// Mul returns m·b by the textbook triple loop: slow, plain, for references.
func (m Mat) Mul(b Mat) Mat {
	if m.Cols != b.Rows {
		panic(fmt.Sprintf("synth: Mul of %d×%d by %d×%d", m.Rows, m.Cols, b.Rows, b.Cols))
	}
	out := NewMat(m.Rows, b.Cols)
	for i := range m.Rows {
		for k := range m.Cols {
			a := m.V[i*m.Cols+k]
			for j := range b.Cols {
				out.V[i*b.Cols+j] += a * b.V[k*b.Cols+j]
			}
		}
	}
	return out
}

// traits is what a family's tensors look like.
type traits struct {
	neox, gemma, sandwich, qkNorm bool
	qkvBias, oBias, mlpBias       bool
	prefix, lmHead                string
}

func (o FamilyOptions) traits() traits {
	t := traits{prefix: "model.", lmHead: "lm_head.weight"}
	switch o.ModelType {
	case "gpt_neox":
		t.neox, t.prefix, t.lmHead = true, "gpt_neox.", "embed_out.weight"
		t.qkvBias = o.Biases != BiasOff
		t.oBias = t.qkvBias
	case "qwen2":
		t.qkvBias = true
	case "gemma", "gemma2", "gemma3_text", "gemma3":
		t.gemma = true
		t.sandwich = o.ModelType != "gemma"
		t.qkNorm = strings.HasPrefix(o.ModelType, "gemma3")
	case "qwen3":
		t.qkNorm = true
	}
	if o.Biases == BiasOn && o.ModelType != "mistral" && o.ModelType != "qwen2" && !t.neox {
		t.qkvBias, t.oBias = true, true
		t.mlpBias = o.ModelType == "llama"
	}
	switch {
	case o.Naming == NamingBare:
		t.prefix = ""
	case o.ModelType == "gemma3" && o.Naming == NamingGemma3Legacy:
		t.prefix, t.lmHead = "language_model.model.", "language_model.lm_head.weight"
	case o.ModelType == "gemma3":
		t.prefix = "model.language_model."
	}
	return t
}

func (o FamilyOptions) kv() int {
	if o.KVHeads == 0 {
		return o.Heads
	}
	return o.KVHeads
}

func (o FamilyOptions) dHead() int {
	if o.DHead == 0 && o.Heads > 0 {
		return o.DModel / o.Heads
	}
	return o.DHead
}

func (o FamilyOptions) positions() int {
	if o.Positions == 0 {
		return 64
	}
	return o.Positions
}

func (o FamilyOptions) dtype() checkpoint.DType {
	if o.DType == "" {
		return checkpoint.F32
	}
	return o.DType
}

// ropeDims is the rotated share of a head: all of it, except GPT-NeoX's
// rotary_pct 0.25.
func (o FamilyOptions) ropeDims() int {
	if o.ModelType == "gpt_neox" {
		return o.dHead() / 4
	}
	return o.dHead()
}

func (o FamilyOptions) validate() error {
	if !slices.Contains(Families, o.ModelType) {
		return fmt.Errorf("synth: model type %q: want one of %s", o.ModelType, strings.Join(Families, ", "))
	}
	dh := o.dHead()
	for _, f := range []struct {
		name string
		v    int
	}{{"Layers", o.Layers}, {"Heads", o.Heads}, {"KVHeads", o.kv()}, {"DModel", o.DModel}, {"DHead", dh}, {"DFF", o.DFF}, {"Vocab", o.Vocab}, {"Positions", o.positions()}} {
		if f.v <= 0 || f.v > 1<<24 {
			return fmt.Errorf("synth: %s is %d, want 1 … %d", f.name, f.v, 1<<24)
		}
	}
	if o.Heads%o.kv() != 0 {
		return fmt.Errorf("synth: %d KV heads do not divide %d heads", o.kv(), o.Heads)
	}
	if o.DHead == 0 && o.DModel%o.Heads != 0 {
		return fmt.Errorf("synth: d_model %d is not a multiple of %d heads; set DHead", o.DModel, o.Heads)
	}
	if o.ModelType == "gpt_neox" && (o.kv() != o.Heads || dh*o.Heads != o.DModel || dh%8 != 0) {
		return fmt.Errorf("synth: gpt_neox needs KVHeads = Heads, DHead = DModel/Heads and DHead a multiple of 8 (rotary_pct 0.25 of it even)")
	}
	if dh%2 != 0 {
		return fmt.Errorf("synth: DHead %d is odd", dh)
	}
	switch o.dtype() {
	case checkpoint.F32, checkpoint.BF16, checkpoint.F16:
	default:
		return fmt.Errorf("synth: dtype %s: want F32, BF16 or F16", o.DType)
	}
	if o.Naming == NamingGemma3Legacy && o.ModelType != "gemma3" || o.Naming == NamingBare && o.ModelType == "gemma3" {
		return fmt.Errorf("synth: naming %d does not apply to %s", o.Naming, o.ModelType)
	}
	if o.Tokenizer && o.Vocab < 257 {
		return fmt.Errorf("synth: a byte-level vocabulary needs at least 257 entries, not %d", o.Vocab)
	}
	return nil
}

// tensorKind says how a tensor's default values are drawn.
type tensorKind int

const (
	kindWeight tensorKind = iota // N(0, 0.02²), decayed along columns
	kindGain                     // 1 + N(0, 0.02²) (Gemma: N(0, 0.02²), stored γ − 1)
	kindBias                     // N(0, 0.02²)
	kindBuffer                   // not a parameter
)

type familySpec struct {
	Spec
	stored string
	kind   tensorKind
}

// familySpecs lists the tensors of o in file order.
func familySpecs(o FamilyOptions) []familySpec {
	t := o.traits()
	dt := o.dtype()
	d, ff, v, h, g, dh := o.DModel, o.DFF, o.Vocab, o.Heads, o.kv(), o.dHead()
	var out []familySpec
	add := func(kind tensorKind, name string, shape ...int) {
		out = append(out, familySpec{Spec{name, shape, dt, true}, t.prefix + name, kind})
	}
	buffer := func(name string, dtype checkpoint.DType, shape ...int) {
		if shape == nil {
			shape = []int{} // a scalar: "shape": [] in the header
		}
		out = append(out, familySpec{Spec{name, shape, dtype, false}, t.prefix + name, kindBuffer})
	}
	if t.neox {
		add(kindWeight, "embed_in.weight", v, d)
		for l := range o.Layers {
			p := fmt.Sprintf("layers.%d.", l)
			add(kindGain, p+"input_layernorm.weight", d)
			add(kindBias, p+"input_layernorm.bias", d)
			add(kindGain, p+"post_attention_layernorm.weight", d)
			add(kindBias, p+"post_attention_layernorm.bias", d)
			if o.Buffers {
				buffer(p+"attention.bias", checkpoint.Bool, 1, 1, o.positions(), o.positions())
				buffer(p+"attention.masked_bias", checkpoint.F32)
			}
			add(kindWeight, p+"attention.query_key_value.weight", 3*d, d)
			if t.qkvBias {
				add(kindBias, p+"attention.query_key_value.bias", 3*d)
			}
			if o.Buffers {
				buffer(p+"attention.rotary_emb.inv_freq", checkpoint.F32, o.ropeDims()/2)
			}
			add(kindWeight, p+"attention.dense.weight", d, d)
			if t.oBias {
				add(kindBias, p+"attention.dense.bias", d)
			}
			add(kindWeight, p+"mlp.dense_h_to_4h.weight", ff, d)
			add(kindBias, p+"mlp.dense_h_to_4h.bias", ff)
			add(kindWeight, p+"mlp.dense_4h_to_h.weight", d, ff)
			add(kindBias, p+"mlp.dense_4h_to_h.bias", d)
		}
		add(kindGain, "final_layer_norm.weight", d)
		add(kindBias, "final_layer_norm.bias", d)
	} else {
		add(kindWeight, "embed_tokens.weight", v, d)
		for l := range o.Layers {
			p := fmt.Sprintf("layers.%d.", l)
			add(kindGain, p+"input_layernorm.weight", d)
			add(kindWeight, p+"self_attn.q_proj.weight", h*dh, d)
			add(kindWeight, p+"self_attn.k_proj.weight", g*dh, d)
			add(kindWeight, p+"self_attn.v_proj.weight", g*dh, d)
			add(kindWeight, p+"self_attn.o_proj.weight", d, h*dh)
			if t.qkvBias {
				add(kindBias, p+"self_attn.q_proj.bias", h*dh)
				add(kindBias, p+"self_attn.k_proj.bias", g*dh)
				add(kindBias, p+"self_attn.v_proj.bias", g*dh)
			}
			if t.oBias {
				add(kindBias, p+"self_attn.o_proj.bias", d)
			}
			if t.qkNorm {
				add(kindGain, p+"self_attn.q_norm.weight", dh)
				add(kindGain, p+"self_attn.k_norm.weight", dh)
			}
			if o.Buffers {
				buffer(p+"self_attn.rotary_emb.inv_freq", checkpoint.F32, dh/2)
			}
			add(kindGain, p+"post_attention_layernorm.weight", d)
			if t.sandwich {
				add(kindGain, p+"pre_feedforward_layernorm.weight", d)
				add(kindGain, p+"post_feedforward_layernorm.weight", d)
			}
			add(kindWeight, p+"mlp.gate_proj.weight", ff, d)
			add(kindWeight, p+"mlp.up_proj.weight", ff, d)
			add(kindWeight, p+"mlp.down_proj.weight", d, ff)
			if t.mlpBias {
				add(kindBias, p+"mlp.gate_proj.bias", ff)
				add(kindBias, p+"mlp.up_proj.bias", ff)
				add(kindBias, p+"mlp.down_proj.bias", d)
			}
		}
		add(kindGain, "norm.weight", d)
	}
	if !o.Tied {
		name := "lm_head.weight"
		if t.neox {
			name = "embed_out.weight"
		}
		out = append(out, familySpec{Spec{name, []int{v, d}, dt, true}, t.lmHead, kindWeight})
	}
	if o.ModelType == "gemma3" {
		// A token vision tower, which the text adapter must ignore.
		for _, n := range []string{"vision_tower.vision_model.post_layernorm.weight", "multi_modal_projector.mm_soft_emb_norm.weight"} {
			out = append(out, familySpec{Spec{n, []int{8}, dt, true}, n, kindGain})
		}
	}
	return out
}

// familyStream draws a tensor's default values: a PCG seeded by Seed and
// the FNV hash of the canonical name, so values do not depend on dtype,
// naming or sharding.
type familyStream struct {
	rng    *rand.Rand
	offset float32
	decay  []float32 // per column, nil without Decay
}

func newFamilyStream(o FamilyOptions, s familySpec) *familyStream {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	st := &familyStream{rng: rand.New(rand.NewPCG(o.Seed, h.Sum64()))}
	if s.kind == kindGain && !o.traits().gemma {
		st.offset = 1
	}
	if o.Decay > 0 && s.kind == kindWeight && len(s.Shape) == 2 {
		cols := s.Shape[1]
		st.decay = make([]float32, cols)
		for j := range cols {
			st.decay[j] = float32(math.Exp(-o.Decay * float64(j) / float64(cols)))
		}
	}
	return st
}

// fill writes the values of elements start … start+len(dst)−1.
func (s *familyStream) fill(dst []float32, start int) {
	for i := range dst {
		v := float32(s.rng.NormFloat64() * 0.02)
		if s.decay != nil {
			v *= s.decay[(start+i)%len(s.decay)]
		}
		dst[i] = s.offset + v
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// familyValues returns a parameter's values before dtype rounding.
func familyValues(o FamilyOptions, s familySpec) []float32 {
	dst := make([]float32, numel(s.Shape))
	newFamilyStream(o, s).fill(dst, 0)
	if o.Fill != nil {
		o.Fill(s.Name, s.Shape, dst)
	}
	return dst
}

// emitFamily writes one tensor's stored bytes.
func emitFamily(w *bufio.Writer, o FamilyOptions, s familySpec) error {
	switch {
	case s.kind == kindBuffer && s.DType == checkpoint.Bool: // causal mask
		p := s.Shape[len(s.Shape)-1]
		row := make([]byte, p)
		for i := range p {
			row[i] = 1
			if _, err := w.Write(row); err != nil {
				return err
			}
		}
		return nil
	case s.kind == kindBuffer && len(s.Shape) == 0: // masked_bias
		return encode(w, checkpoint.F32, []float32{-1e9})
	case s.kind == kindBuffer: // rotary_emb.inv_freq
		n, dims := s.Shape[0], 2*s.Shape[0]
		inv := make([]float32, n)
		for i := range inv {
			inv[i] = float32(1 / math.Pow(10000, float64(2*i)/float64(dims)))
		}
		return encode(w, checkpoint.F32, inv)
	case o.Fill != nil:
		return encode(w, s.DType, familyValues(o, s))
	}
	st := newFamilyStream(o, s)
	buf := make([]float32, chunk)
	for done, n := 0, numel(s.Shape); done < n; {
		k := min(n-done, chunk)
		st.fill(buf[:k], done)
		if err := encode(w, s.DType, buf[:k]); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// familyConfig is config.json as transformers writes it for the family
// (before o.Config's overrides).
func familyConfig(o FamilyOptions) map[string]any {
	dtName := map[checkpoint.DType]string{checkpoint.F32: "float32", checkpoint.F16: "float16", checkpoint.BF16: "bfloat16"}[o.dtype()]
	t := o.traits()
	arch := map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
		"qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
		"gemma3_text": "Gemma3ForCausalLM", "gemma3": "Gemma3ForConditionalGeneration", "gpt_neox": "GPTNeoXForCausalLM"}[o.ModelType]
	if t.neox {
		return map[string]any{
			"architectures": []string{arch}, "model_type": "gpt_neox",
			"vocab_size": o.Vocab, "hidden_size": o.DModel, "num_hidden_layers": o.Layers,
			"num_attention_heads": o.Heads, "intermediate_size": o.DFF, "hidden_act": "gelu",
			"rotary_pct": 0.25, "rotary_emb_base": 10000, "max_position_embeddings": o.positions(),
			"layer_norm_eps": 1e-5, "use_parallel_residual": true, "attention_bias": t.qkvBias,
			"tie_word_embeddings": o.Tied, "torch_dtype": dtName, "bos_token_id": 0, "eos_token_id": 0,
			"initializer_range": 0.02, "use_cache": true, "lenskit_synth_seed": o.Seed,
		}
	}
	c := map[string]any{
		"architectures": []string{arch}, "model_type": o.ModelType,
		"vocab_size": o.Vocab, "hidden_size": o.DModel, "intermediate_size": o.DFF,
		"num_hidden_layers": o.Layers, "num_attention_heads": o.Heads, "num_key_value_heads": o.kv(),
		"head_dim": o.dHead(), "hidden_act": "silu", "max_position_embeddings": o.positions(),
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": nil,
		"tie_word_embeddings": o.Tied, "torch_dtype": dtName, "bos_token_id": 1, "eos_token_id": 2,
		"initializer_range": 0.02, "attention_dropout": 0.0, "use_cache": true, "lenskit_synth_seed": o.Seed,
	}
	switch o.ModelType {
	case "llama":
		c["attention_bias"], c["mlp_bias"], c["pretraining_tp"] = t.qkvBias, t.mlpBias, 1
	case "mistral":
		c["sliding_window"] = 4096
	case "qwen2", "qwen3":
		c["rope_theta"] = 1000000.0
		c["use_sliding_window"], c["sliding_window"], c["max_window_layers"] = false, 4096, o.Layers
		if o.ModelType == "qwen3" {
			c["attention_bias"] = t.qkvBias
		} else if o.dHead()*o.Heads == o.DModel {
			delete(c, "head_dim") // Qwen2Config has none: head_dim is hidden/heads
		}
	case "gemma", "gemma2", "gemma3_text", "gemma3":
		c["hidden_act"], c["hidden_activation"] = "gelu_pytorch_tanh", "gelu_pytorch_tanh"
		c["rms_norm_eps"], c["attention_bias"] = 1e-6, t.qkvBias
		c["pad_token_id"], c["eos_token_id"], c["bos_token_id"] = 0, 1, 2
		if o.ModelType != "gemma" {
			c["query_pre_attn_scalar"] = o.dHead()
			c["cache_implementation"] = "hybrid"
		}
		if o.ModelType == "gemma2" {
			c["sliding_window"], c["final_logit_softcapping"], c["attn_logit_softcapping"] = 4096, 30.0, 50.0
		}
		if strings.HasPrefix(o.ModelType, "gemma3") {
			c["rope_theta"], c["rope_local_base_freq"] = 1000000.0, 10000.0
			c["sliding_window"], c["sliding_window_pattern"] = 512, 6
			c["final_logit_softcapping"], c["attn_logit_softcapping"] = nil, nil
		}
	}
	if o.ModelType == "gemma3" {
		c["model_type"] = "gemma3_text"
		delete(c, "architectures")
		delete(c, "torch_dtype")
		return map[string]any{
			"architectures": []string{arch}, "model_type": "gemma3", "text_config": c,
			"vision_config": map[string]any{"model_type": "siglip_vision_model", "hidden_size": 8, "num_hidden_layers": 1,
				"num_attention_heads": 1, "intermediate_size": 8, "image_size": 8, "patch_size": 4},
			"mm_tokens_per_image": 4, "boi_token_index": 255999, "eoi_token_index": 256000,
			"image_token_index": 262144, "torch_dtype": dtName, "lenskit_synth_seed": o.Seed,
		}
	}
	return c
}

// JSONNull as a FamilyOptions.Config value writes an explicit null, which
// transformers reads as None (sliding_window: null is no window), unlike a
// deleted field, which takes the config class default.
var JSONNull = json.RawMessage("null")

// override applies o.Config to c: dotted keys reach into nested objects
// (created when missing); nil deletes.
func override(c map[string]any, set map[string]any) {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys) // parents before their dotted children
	for _, k := range keys {
		m := c
		path := strings.Split(k, ".")
		for _, p := range path[:len(path)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		if v := set[k]; v == nil {
			delete(m, path[len(path)-1])
		} else {
			m[path[len(path)-1]] = v
		}
	}
}

// WriteFamily writes a random checkpoint of a decoder family into dir
// (created if needed): config.json with the family's field names, the
// weights under the exact names and layouts transformers saves (nn.Linear
// [out, in]; GPT-NeoX's fused query_key_value interleaved per head as
// (heads, 3, d_head); Gemma's norms as γ − 1; Gemma 3's nested prefix and
// text_config), one safetensors file or o.Shards plus an index, and
// optionally a tokenizer. It returns the stored values in mathematical form
// (nil with SkipRaw). Tensors are streamed, so a Llama-3-8B-shaped
// checkpoint is written in a few megabytes of memory.
func WriteFamily(dir string, o FamilyOptions) (*Raw, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	cfg := familyConfig(o)
	override(cfg, o.Config)
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("synth: config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpoint.ConfigFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	if o.Tokenizer {
		if err := WriteTokenizer(dir, o.Vocab); err != nil {
			return nil, err
		}
	}
	fspecs := familySpecs(o)
	byName := make(map[string]familySpec, len(fspecs))
	specs := make([]Spec, len(fspecs))
	for i, s := range fspecs {
		byName[s.Name] = s
		specs[i] = s.Spec
	}
	stored := func(s Spec) string { return byName[s.Name].stored }
	groups := shard(specs, o.Shards)
	wm := make(map[string]string)
	var total int64
	for i, g := range groups {
		file := checkpoint.SafetensorsFile
		if len(groups) > 1 {
			file = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		}
		for _, s := range g {
			wm[stored(s)] = file
			total += bytesOf(s)
		}
		if err := writeSafetensorsWith(filepath.Join(dir, file), g, stored,
			func(w *bufio.Writer, s Spec) error { return emitFamily(w, o, byName[s.Name]) }); err != nil {
			return nil, err
		}
	}
	if len(groups) > 1 {
		b, err := json.MarshalIndent(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": wm}, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, checkpoint.SafetensorsIndexFile), append(b, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	if o.SkipRaw {
		return nil, nil
	}
	return buildRaw(o, fspecs, cfg), nil
}

// roundStored is what dtype dt stores for x.
func roundStored(dt checkpoint.DType, x float32) float32 {
	switch dt {
	case checkpoint.BF16:
		return checkpoint.BF16ToF32(checkpoint.F32ToBF16(x))
	case checkpoint.F16:
		return checkpoint.F16ToF32(checkpoint.F32ToF16(x))
	}
	return x
}

// buildRaw regenerates every parameter, rounds it as stored and rearranges
// it by plain index arithmetic from transformers' layouts into the
// mathematical ones.
func buildRaw(o FamilyOptions, fspecs []familySpec, cfg map[string]any) *Raw {
	t := o.traits()
	dt := o.dtype()
	d, ff, h, g, dh := o.DModel, o.DFF, o.Heads, o.kv(), o.dHead()
	stored := map[string][]float32{}
	rows := map[string]int{}
	for _, s := range fspecs {
		if s.kind != kindBuffer {
			rows[s.Name] = s.Shape[0]
			v := familyValues(o, s)
			for i := range v {
				v[i] = roundStored(dt, v[i])
			}
			stored[s.Name] = v
		}
	}
	vec := func(name string) []float64 {
		v, ok := stored[name]
		if !ok {
			return nil
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	part := func(v []float64, lo, n int) []float64 {
		if v == nil {
			return nil
		}
		return v[lo : lo+n : lo+n]
	}
	gain := func(name string) []float64 {
		v, ok := stored[name]
		if !ok {
			return nil
		}
		out := make([]float64, len(v))
		for i, x := range v {
			if t.gemma {
				x = float32(1) + x // Gemma RMSNorm: x̂·(1 + w), in float32
			}
			out[i] = float64(x)
		}
		return out
	}
	// asIs is a stored [rows, cols] matrix as it is.
	asIs := func(name string) Mat {
		v := vec(name)
		return Mat{len(v) / d, d, v}
	}
	// rowsT gathers rows lo … lo+n−1 of an nn.Linear weight [out, in] into
	// an in × n matrix: y = x·Wᵀ, so output j reads input i with W[j][i].
	rowsT := func(name string, lo, n int) Mat {
		w := stored[name]
		in := len(w) / rows[name]
		m := NewMat(in, n)
		for j := range n {
			for i := range in {
				m.V[i*n+j] = float64(w[(lo+j)*in+i])
			}
		}
		return m
	}
	// colsT gathers input columns lo … lo+n−1 of an nn.Linear weight
	// [out, in] into an n × out matrix.
	colsT := func(name string, lo, n, out, in int) Mat {
		w := stored[name]
		m := NewMat(n, out)
		for j := range n {
			for i := range out {
				m.V[j*out+i] = float64(w[i*in+lo+j])
			}
		}
		return m
	}
	r := &Raw{ModelType: o.ModelType, Layers: o.Layers, Heads: h, KVHeads: g, DModel: d, DHead: dh, DFF: ff, Vocab: o.Vocab,
		Config: cfg, EmbedScale: 1, AttnScale: 1 / math.Sqrt(float64(dh)), Gated: !t.neox, Activation: "silu",
		NormEps: 1e-5, Sandwich: t.sandwich, Rotary: RawRotary{Theta: 10000, Dims: o.ropeDims()}}
	embed, head := "embed_tokens.weight", "lm_head.weight"
	if t.neox {
		embed, head = "embed_in.weight", "embed_out.weight"
		r.Activation, r.LayerNorm, r.Parallel = "gelu", true, true
		r.FinalNorm = RawNorm{gain("final_layer_norm.weight"), vec("final_layer_norm.bias")}
	} else {
		r.FinalNorm = RawNorm{Gain: gain("norm.weight")}
	}
	r.Embedding = asIs(embed)
	r.Unembedding = r.Embedding
	if !o.Tied {
		r.Unembedding = asIs(head)
	}
	switch o.ModelType {
	case "qwen2", "qwen3":
		r.Rotary.Theta = 1e6
	case "mistral":
		r.Window = 4096
	case "gemma", "gemma2", "gemma3_text", "gemma3":
		r.Activation, r.NormEps = "gelu_pytorch_tanh", 1e-6
		r.EmbedScale = float64(roundStored(dt, float32(math.Sqrt(float64(d)))))
		switch o.ModelType {
		case "gemma2":
			r.AttnSoftcap, r.FinalSoftcap, r.Window = 50, 30, 4096
		case "gemma3_text", "gemma3":
			r.Rotary.Theta, r.Rotary.LocalTheta, r.Window = 1e6, 1e4, 512
		}
	}
	for l := range o.Layers {
		p := fmt.Sprintf("layers.%d.", l)
		var ly RawLayer
		switch o.ModelType {
		case "mistral":
			ly.Sliding = true
		case "gemma2":
			ly.Sliding = l%2 == 0
		case "gemma3_text", "gemma3":
			ly.Sliding = (l+1)%6 != 0
		}
		if t.neox {
			qkv := p + "attention.query_key_value.weight"
			bias := vec(p + "attention.query_key_value.bias")
			for hh := range h {
				// view(heads, 3, d_head): head hh's Q, K, V rows in turn.
				base := 3 * hh * dh
				ly.WQ = append(ly.WQ, rowsT(qkv, base, dh))
				ly.WK = append(ly.WK, rowsT(qkv, base+dh, dh))
				ly.WV = append(ly.WV, rowsT(qkv, base+2*dh, dh))
				ly.WO = append(ly.WO, colsT(p+"attention.dense.weight", hh*dh, dh, d, d))
				if bias != nil {
					ly.BQ = append(ly.BQ, part(bias, base, dh))
					ly.BK = append(ly.BK, part(bias, base+dh, dh))
					ly.BV = append(ly.BV, part(bias, base+2*dh, dh))
				}
			}
			ly.BO = vec(p + "attention.dense.bias")
			ly.Reads = []Mat{{ff, d, vec(p + "mlp.dense_h_to_4h.weight")}}
			ly.BIn = [][]float64{vec(p + "mlp.dense_h_to_4h.bias")}
			ly.Values = colsT(p+"mlp.dense_4h_to_h.weight", 0, ff, d, ff)
			ly.BOut = vec(p + "mlp.dense_4h_to_h.bias")
			ly.AttnNorm = RawNorm{gain(p + "input_layernorm.weight"), vec(p + "input_layernorm.bias")}
			ly.MLPNorm = RawNorm{gain(p + "post_attention_layernorm.weight"), vec(p + "post_attention_layernorm.bias")}
		} else {
			a := p + "self_attn."
			qb, kb, vb := vec(a+"q_proj.bias"), vec(a+"k_proj.bias"), vec(a+"v_proj.bias")
			for hh := range h {
				ly.WQ = append(ly.WQ, rowsT(a+"q_proj.weight", hh*dh, dh))
				ly.WO = append(ly.WO, colsT(a+"o_proj.weight", hh*dh, dh, d, h*dh))
				if qb != nil {
					ly.BQ = append(ly.BQ, part(qb, hh*dh, dh))
				}
			}
			for gg := range g {
				ly.WK = append(ly.WK, rowsT(a+"k_proj.weight", gg*dh, dh))
				ly.WV = append(ly.WV, rowsT(a+"v_proj.weight", gg*dh, dh))
				if kb != nil {
					ly.BK = append(ly.BK, part(kb, gg*dh, dh))
					ly.BV = append(ly.BV, part(vb, gg*dh, dh))
				}
			}
			ly.BO = vec(a + "o_proj.bias")
			ly.QNorm, ly.KNorm = gain(a+"q_norm.weight"), gain(a+"k_norm.weight")
			ly.Reads = []Mat{{ff, d, vec(p + "mlp.gate_proj.weight")}, {ff, d, vec(p + "mlp.up_proj.weight")}}
			if gb := vec(p + "mlp.gate_proj.bias"); gb != nil {
				ly.BIn = [][]float64{gb, vec(p + "mlp.up_proj.bias")}
			}
			ly.Values = colsT(p+"mlp.down_proj.weight", 0, ff, d, ff)
			ly.BOut = vec(p + "mlp.down_proj.bias")
			ly.AttnNorm = RawNorm{Gain: gain(p + "input_layernorm.weight")}
			if t.sandwich {
				// Gemma 2/3: post_attention_layernorm normalises the
				// attention output; pre_feedforward_layernorm is the MLP's
				// input norm.
				ly.PostAttnNorm = RawNorm{Gain: gain(p + "post_attention_layernorm.weight")}
				ly.MLPNorm = RawNorm{Gain: gain(p + "pre_feedforward_layernorm.weight")}
				ly.PostMLPNorm = RawNorm{Gain: gain(p + "post_feedforward_layernorm.weight")}
			} else {
				ly.MLPNorm = RawNorm{Gain: gain(p + "post_attention_layernorm.weight")}
			}
		}
		r.Layer = append(r.Layer, ly)
	}
	return r
}
