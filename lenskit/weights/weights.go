package weights

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"lenskit.dev/lenskit/checkpoint"
)

// Arch is the shape of a model and the equations it runs, described without
// naming its family: everything an analysis or a forward pass needs to know
// that differs between GPT-2, Llama, Qwen, Gemma and GPT-NeoX is a field here
// (or a per-layer accessor of Model), filled by the family's adapter.
type Arch struct {
	ModelType string // config.json model_type, e.g. "gpt2", "llama", "gemma3_text"
	Layers    int    // transformer blocks
	Heads     int    // query heads per block
	KVHeads   int    // key/value heads per block (= Heads without grouped-query attention)
	DModel    int    // residual stream width d
	DHead     int    // per-head width (DModel/Heads for GPT-2; Gemma and Qwen3 set their own)
	DFF       int    // MLP hidden width (neurons per layer)
	Vocab     int    // rows of the embedding and unembedding (may exceed the tokenizer: padding)
	Positions int    // learned position rows (GPT-2), else the context length of the config

	MLP        MLPKind  // plain (K, V) or gated (gate, up, V)
	Activation string   // the MLP's nonlinearity as config.json names it: "gelu_new", "gelu", "silu", "gelu_pytorch_tanh", …
	Norm       NormKind // LayerNorm (with bias) or RMSNorm
	NormEps    float64  // the norms' epsilon
	Rotary     *Rotary  // rotary position embedding; nil for learned positions (GPT-2)
	QKNorm     bool     // queries and keys are RMS-normalised per head before rotary (Qwen3, Gemma 3)
	Tied       bool     // the unembedding is the embedding
	DType      string   // storage dtype of the embedding: "F32", "BF16", "F16", "F64"

	// What a forward pass needs beyond the weights.
	EmbedScale       float64 // the embedding is multiplied by this before the first block (Gemma: √d); 1 elsewhere
	AttnScale        float64 // attention logits are q·k times this (1/√d_head, or Gemma 2/3's query_pre_attn_scalar^−½)
	AttnSoftcap      float64 // logits → c·tanh(logits/c) when > 0 (Gemma 2)
	FinalSoftcap     float64 // final logits capped the same way when > 0 (Gemma 2 and 3)
	SandwichNorms    bool    // attention and MLP outputs are normalised again before the residual add (Gemma 2 and 3)
	ParallelResidual bool    // x + attn(ln1(x)) + mlp(ln2(x)) instead of sequential sub-layers (GPT-NeoX)
	SlidingWindow    int     // window of the sliding-window layers (0: none); Model.Sliding says which layers

	// Defaults lists the config.json fields that were absent and took the
	// value Hugging Face's config class for the family gives them, e.g.
	// "rope_theta=10000", so that info can say what was assumed.
	Defaults []string
}

// MLPKind says how an MLP neuron reads the residual stream.
type MLPKind string

const (
	// MLPPlain: h = act(x·k + b), one read direction k per neuron (GPT-2,
	// GPT-NeoX). Shown as "gelu" in info.
	MLPPlain MLPKind = "gelu"
	// MLPGated: h = act(x·g)·(x·u), two read directions, the gate g and the
	// up projection u (SwiGLU, GeGLU: Llama, Mistral, Qwen, Gemma).
	MLPGated MLPKind = "gated"
)

// NormKind names the normalisation a model applies.
type NormKind string

const (
	LayerNorm NormKind = "layernorm" // (x − mean)/√(var + eps)·γ + β
	RMSNorm   NormKind = "rmsnorm"   // x/√(mean(x²) + eps)·γ
)

// Reads names the read directions of an MLP neuron, in the order FFKeys
// numbers them: ["K"] for a plain MLP, ["gate", "up"] for a gated one.
func (a Arch) Reads() []string {
	if a.MLP == MLPGated {
		return []string{"gate", "up"}
	}
	return []string{"K"}
}

// KVGroup returns the key/value head that query head h reads, as Hugging
// Face's repeat_kv arranges it: query heads h·KVHeads/Heads … share one KV
// head, i.e. KV head h / (Heads/KVHeads).
func (a Arch) KVGroup(h int) int {
	if a.KVHeads <= 0 || a.KVHeads == a.Heads {
		return h
	}
	return h / (a.Heads / a.KVHeads)
}

func (a Arch) String() string {
	kv := ""
	if a.KVHeads != a.Heads {
		kv = fmt.Sprintf(" (%d KV)", a.KVHeads)
	}
	return fmt.Sprintf("%s: %d layers, %d heads%s, d=%d, d_head=%d, d_ff=%d, vocab %d",
		a.ModelType, a.Layers, a.Heads, kv, a.DModel, a.DHead, a.DFF, a.Vocab)
}

// Rotary describes a rotary position embedding (RoPE) in Hugging Face's
// rotate_half layout: within the first Dims coordinates of a head, coordinate
// i (i < Dims/2) and i + Dims/2 form a plane rotated by angle position·ω_i.
// GPT-NeoX rotates only the first Fraction of each head (rotary_pct).
type Rotary struct {
	Theta      float64      // rope_theta, the base of the frequencies ω_i = Theta^(−2i/Dims)
	LocalTheta float64      // base of the sliding-window layers when they use another (Gemma 3's rope_local_base_freq); 0 = same
	Fraction   float64      // share of each head that is rotated (1 except GPT-NeoX's rotary_pct)
	Dims       int          // rotated coordinates per head: Fraction·DHead, even
	Scaling    *RopeScaling // rope_scaling of the config (global layers only, for Gemma 3); nil = none
}

// RopeScaling is config.json's rope_scaling.
type RopeScaling struct {
	Type                 string  // "linear", "dynamic", "llama3", "yarn"
	Factor               float64 // all types
	LowFreqFactor        float64 // llama3
	HighFreqFactor       float64 // llama3
	OriginalMaxPositions int     // llama3, yarn, dynamic: original_max_position_embeddings
	BetaFast, BetaSlow   float64 // yarn
	AttentionFactor      float64 // yarn: scales cos and sin (0 = derived from Factor)
	Mscale, MscaleAllDim float64 // yarn (DeepSeek-style): derive AttentionFactor from both when set
	NoTruncate           bool    // yarn: truncate false — the correction range is not rounded to whole dimensions
}

// A RangeError reports a layer, head or neuron index outside the model.
type RangeError struct {
	What  string // "layer", "head", "neuron"
	Value int
	Limit int    // valid values are [0, Limit)
	Model string // the model's short name
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("weights: %s %d out of range [0,%d) for %s", e.What, e.Value, e.Limit, e.Model)
}

// ErrShape: a tensor's shape disagrees with config.json (or is missing, or
// has a dtype that is not a float). Open-time checks wrap it.
var ErrShape = errors.New("tensor does not match config.json")

// ErrConfig: config.json's numbers cannot describe a model (a non-positive
// size, heads that do not divide d_model).
var ErrConfig = errors.New("bad config")

// ErrModelType: config.json names an architecture without an adapter.
var ErrModelType = errors.New("unsupported model_type")

// An adapter knows one architecture's tensor names and layouts. Model checks
// indices before calling it, so an adapter may assume them in range. Adding
// an architecture means writing one adapter in a file of its own and
// registering it in an init function; nothing above this package changes.
//
// Layouts are lenskit's, whatever the file's: a matrix maps the residual
// stream by right-multiplication (x·W), as GPT-2's Conv1D stores it and as
// the literature writes W_Q, W_OV; nn.Linear weights ([out, in]) are
// transposed (or, for the row-major neuron matrices, used as stored).
type adapter interface {
	arch() Arch
	// embedding and unembedding are Vocab × DModel. Large BF16 tensors
	// should come back as BF16 matrices (see Matrix), not converted.
	embedding() (Matrix, error)
	unembedding() (Matrix, error)
	// positions is the learned position embedding, Positions × DModel; ok
	// is false for models without one.
	positions() (m Matrix, ok bool, err error)
	// ffKeys is DFF × DModel: row i is neuron i's read direction r (r
	// indexes Arch.Reads). ffValues is DFF × DModel: row i is neuron i's
	// value, the direction it writes.
	ffKeys(layer, r int) (Matrix, error)
	ffValues(layer int) (Matrix, error)
	// wq returns W_Q of query head h, wk and wv W_K and W_V of KV head g,
	// each DModel × DHead; wo returns W_O of query head h, DHead × DModel.
	wq(layer, h int) (Matrix, error)
	wk(layer, g int) (Matrix, error)
	wv(layer, g int) (Matrix, error)
	wo(layer, h int) (Matrix, error)
	// bias returns a bias vector (BiasQ, BiasK, BiasV: DHead, of query head
	// or KV head idx; BiasO, BiasFFOut: DModel; BiasFFIn: DFF of read idx),
	// or nil when the model has none.
	bias(kind BiasKind, layer, idx int) ([]float32, error)
	// norm returns a normalisation as the model applies it (gains
	// effective: Gemma's stored γ − 1 comes back as γ); ok is false when
	// the model has no such norm. layer is ignored for FinalNorm.
	norm(kind NormSite, layer int) (n Norm, ok bool, err error)
	// sliding reports whether layer uses sliding-window attention (and, for
	// Gemma 3, the local rotary base).
	sliding(layer int) bool
	// parameters lists the tensors that make up the model under canonical
	// (architecture-defined, prefix-free) names, for the weights hash.
	parameters() map[string]*checkpoint.Tensor
}

// BiasKind names a bias vector of a block.
type BiasKind int

const (
	BiasQ     BiasKind = iota // DHead, of a query head
	BiasK                     // DHead, of a KV head
	BiasV                     // DHead, of a KV head
	BiasO                     // DModel, the attention output's
	BiasFFIn                  // DFF, of read direction idx (gate/up or key)
	BiasFFOut                 // DModel, the MLP output's
)

// NormSite names where a normalisation sits.
type NormSite int

const (
	AttnNorm     NormSite = iota // before attention (ln_1, input_layernorm)
	MLPNorm                      // before the MLP (ln_2, post_attention_layernorm; Gemma 2/3 pre_feedforward_layernorm)
	PostAttnNorm                 // on the attention output before the residual add (Gemma 2/3 post_attention_layernorm)
	PostMLPNorm                  // on the MLP output before the residual add (Gemma 2/3 post_feedforward_layernorm)
	FinalNorm                    // before the unembedding (ln_f, norm, final_layer_norm)
	QNorm                        // per-head RMSNorm of queries (q_norm; QKNorm models), DHead gains
	KNorm                        // per-head RMSNorm of keys (k_norm), DHead gains
)

func (s NormSite) String() string {
	return [...]string{"attention norm", "MLP norm", "post-attention norm", "post-MLP norm", "final norm", "query norm", "key norm"}[s]
}

// Norm is one normalisation's parameters, as applied: y = x̂·Gain + Bias
// where x̂ is x standardised (LayerNorm) or divided by its root mean square
// (RMSNorm), each with Eps.
type Norm struct {
	Kind NormKind
	Gain []float32 // effective gain (Gemma's 1 + γ already added)
	Bias []float32 // nil for RMSNorm
	Eps  float64
}

var (
	adaptersMu sync.Mutex
	adapters   = map[string]func(*checkpoint.Checkpoint) (adapter, error){}
)

func register(modelType string, open func(*checkpoint.Checkpoint) (adapter, error)) {
	adaptersMu.Lock()
	defer adaptersMu.Unlock()
	adapters[modelType] = open
}

// Supported returns the model_type values FromCheckpoint accepts, sorted.
func Supported() []string {
	adaptersMu.Lock()
	defer adaptersMu.Unlock()
	var out []string
	for k := range adapters {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A Model is the weights of a checkpoint seen through its architecture:
// per-layer FF keys and values, per-head W_Q, W_K, W_V, W_O, the embedding,
// the unembedding E and the final layer norm, all as float32 matrices in the
// layouts documented at each method, whatever the file's naming and dtype.
//
// Matrices may alias the checkpoint's memory-mapped F32 data (or a converted
// copy cached per tensor for F16/BF16/F64): treat them as read-only; writing
// into an aliased matrix faults. A Model is safe for concurrent use.
type Model struct {
	ck   *checkpoint.Checkpoint
	ad   adapter
	a    Arch
	name string

	hashOnce sync.Once
	hash     string
	hashErr  error
}

// FromCheckpoint picks the adapter for the checkpoint's model_type and checks
// every tensor the model needs against config.json — presence, shape and a
// float dtype — touching only headers, not data. The Model does not own the
// checkpoint: Model.Close closes it, for the common case of a Model made from
// a freshly loaded checkpoint.
func FromCheckpoint(c *checkpoint.Checkpoint) (*Model, error) {
	cfg := c.Config()
	adaptersMu.Lock()
	open, ok := adapters[cfg.ModelType]
	adaptersMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("weights: %s: %w %q in config.json (supported: %s)", c.ID(), ErrModelType, cfg.ModelType, strings.Join(Supported(), ", "))
	}
	ad, err := open(c)
	if err != nil {
		return nil, err
	}
	return &Model{ck: c, ad: ad, a: ad.arch(), name: c.Name()}, nil
}

// Arch returns the model's shape.
func (m *Model) Arch() Arch { return m.a }

// ID returns the checkpoint id (hub id and commit, directory, or
// "embedded:tiny-pl-gpt2"), for notes and evidence.
func (m *Model) ID() string { return m.ck.ID() }

// Name returns the model's short name, as used in error messages.
func (m *Model) Name() string { return m.name }

// Checkpoint returns the checkpoint the weights come from.
func (m *Model) Checkpoint() *checkpoint.Checkpoint { return m.ck }

// Hash returns the weights hash: checkpoint.HashTensors over the model's
// parameters under canonical names (GPT-2: "wte.weight", "h.0.attn.c_attn.weight",
// …, without the "transformer." prefix; "lm_head.weight" only when it is not
// tied). Buffers (attn.bias, attn.masked_bias) and a tied lm_head copy are
// left out, so the hash is the same for every naming variant and file format
// of the same tensors in the same dtype. Computed once (it reads every byte),
// then cached.
func (m *Model) Hash() (string, error) {
	m.hashOnce.Do(func() { m.hash, m.hashErr = checkpoint.HashTensors(m.ad.parameters()) })
	return m.hash, m.hashErr
}

func (m *Model) checkLayer(layer int) error {
	if layer < 0 || layer >= m.a.Layers {
		return &RangeError{What: "layer", Value: layer, Limit: m.a.Layers, Model: m.name}
	}
	return nil
}

func (m *Model) checkHead(layer, head int) error {
	if err := m.checkLayer(layer); err != nil {
		return err
	}
	if head < 0 || head >= m.a.Heads {
		return &RangeError{What: "head", Value: head, Limit: m.a.Heads, Model: m.name}
	}
	return nil
}

func (m *Model) checkKV(layer, g int) error {
	if err := m.checkLayer(layer); err != nil {
		return err
	}
	if g < 0 || g >= m.a.KVHeads {
		return &RangeError{What: "KV head", Value: g, Limit: m.a.KVHeads, Model: m.name}
	}
	return nil
}

func (m *Model) checkNeuron(layer, i int) error {
	if err := m.checkLayer(layer); err != nil {
		return err
	}
	if i < 0 || i >= m.a.DFF {
		return &RangeError{What: "neuron", Value: i, Limit: m.a.DFF, Model: m.name}
	}
	return nil
}

func (m *Model) checkRead(r int) error {
	if n := len(m.a.Reads()); r < 0 || r >= n {
		return &RangeError{What: "MLP read direction", Value: r, Limit: n, Model: m.name}
	}
	return nil
}

// Embedding returns the input embedding W_E, Vocab × DModel: row t is added
// to the residual stream for token t (before the model's EmbedScale). Source
// tokens of OV, both sides of QK and neuron keys are read through it.
func (m *Model) Embedding() (Matrix, error) { return m.ad.embedding() }

// Unembedding returns W_U, Vocab × DModel: row t is the direction whose dot
// product with the final residual (after the final norm) is token t's
// logit. OV targets and neuron values are read through it. For tied models
// (GPT-2, Gemma, Llama 3.2 1B/3B) it is the embedding.
func (m *Model) Unembedding() (Matrix, error) { return m.ad.unembedding() }

// Positions returns the learned position embedding, Positions × DModel; ok
// is false for models that have none (rotary models).
func (m *Model) Positions() (Matrix, bool, error) { return m.ad.positions() }

// FFKeys returns read direction r of every neuron of a layer, DFF × DModel:
// row i is what neuron i reads the residual along — its key for a plain MLP
// (r = 0; GPT-2's mlp.c_fc.weight transposed), its gate (r = 0) or up
// projection (r = 1) for a gated one (gate_proj.weight, up_proj.weight as
// stored). Arch.Reads names the directions.
func (m *Model) FFKeys(layer, r int) (Matrix, error) {
	if err := m.checkLayer(layer); err != nil {
		return Matrix{}, err
	}
	if err := m.checkRead(r); err != nil {
		return Matrix{}, err
	}
	return m.ad.ffKeys(layer, r)
}

// FFKey returns read direction r of neuron i (row i of FFKeys), length
// DModel, as a fresh float32 copy.
func (m *Model) FFKey(layer, r, i int) ([]float32, error) {
	if err := m.checkNeuron(layer, i); err != nil {
		return nil, err
	}
	if nk, ok := m.ad.(neuronKeyer); ok {
		if err := m.checkRead(r); err != nil {
			return nil, err
		}
		return nk.ffKey(layer, r, i)
	}
	k, err := m.FFKeys(layer, r)
	if err != nil {
		return nil, err
	}
	return k.RowInto(make([]float32, k.Cols), i), nil
}

// neuronKeyer is implemented by adapters whose files store the MLP input
// weights d × d_ff (GPT-2's Conv1D c_fc): one neuron's key is a strided
// gather of d elements there, where ffKeys transposes the whole layer.
type neuronKeyer interface {
	ffKey(layer, r, i int) ([]float32, error)
}

// FFValues returns the MLP's output weights of a layer, DFF × DModel: row i
// is neuron i's value, the direction it writes to the residual (GPT-2:
// mlp.c_proj.weight as stored; gated MLPs: down_proj.weight transposed).
func (m *Model) FFValues(layer int) (Matrix, error) {
	if err := m.checkLayer(layer); err != nil {
		return Matrix{}, err
	}
	return m.ad.ffValues(layer)
}

// FFValue returns neuron i's value (row i of FFValues), length DModel, as a
// fresh float32 copy.
func (m *Model) FFValue(layer, i int) ([]float32, error) {
	if err := m.checkNeuron(layer, i); err != nil {
		return nil, err
	}
	if nv, ok := m.ad.(neuronValuer); ok {
		return nv.ffValue(layer, i)
	}
	v, err := m.ad.ffValues(layer)
	if err != nil {
		return nil, err
	}
	return v.RowInto(make([]float32, v.Cols), i), nil
}

// neuronValuer is implemented by adapters whose files store the MLP output
// weights d × d_ff (nn.Linear's down_proj): one neuron's value is a strided
// gather of d elements there, where ffValues transposes the whole layer.
type neuronValuer interface {
	ffValue(layer, i int) ([]float32, error)
}

// WQ returns query head's query weights, DModel × DHead, as a float32
// matrix: the query of a residual x is x·W_Q (before any QK-norm and
// rotary). For GPT-2, c_attn.weight is DModel × 3·DModel with columns
// [Q | K | V] and head h owning columns h·DHead … (h+1)·DHead−1 within each
// third — the seed's W_Q, W_K, W_V = c_attn.chunk(3, dim=-1) followed by
// reshape(d, heads, d_head).
func (m *Model) WQ(layer, head int) (Matrix, error) {
	if err := m.checkHead(layer, head); err != nil {
		return Matrix{}, err
	}
	return m.ad.wq(layer, head)
}

// WK returns the key weights of KV head g, DModel × DHead. Query head h
// reads KV head Arch.KVGroup(h); without grouped-query attention the KV
// heads are the query heads.
func (m *Model) WK(layer, g int) (Matrix, error) {
	if err := m.checkKV(layer, g); err != nil {
		return Matrix{}, err
	}
	return m.ad.wk(layer, g)
}

// WV returns the value weights of KV head g, DModel × DHead (see WK).
func (m *Model) WV(layer, g int) (Matrix, error) {
	if err := m.checkKV(layer, g); err != nil {
		return Matrix{}, err
	}
	return m.ad.wv(layer, g)
}

// WO returns query head's output weights, DHead × DModel: the head's
// contribution to the residual is z·W_O for its value-weighted sum z. For
// GPT-2 these are rows head·DHead … (head+1)·DHead−1 of attn.c_proj.weight
// (DModel × DModel). W_OV = W_V·W_O and W_QK = W_Q·W_Kᵀ are both
// DModel × DModel.
func (m *Model) WO(layer, head int) (Matrix, error) {
	if err := m.checkHead(layer, head); err != nil {
		return Matrix{}, err
	}
	return m.ad.wo(layer, head)
}

// Bias returns a bias vector of a layer, or nil when the model has none
// (Llama has none; Qwen2 has BiasQ, BiasK, BiasV; GPT-2 and GPT-NeoX have
// all). idx is the query head (BiasQ), KV head (BiasK, BiasV) or read
// direction (BiasFFIn); it is ignored for BiasO and BiasFFOut.
func (m *Model) Bias(kind BiasKind, layer, idx int) ([]float32, error) {
	var err error
	switch kind {
	case BiasQ:
		err = m.checkHead(layer, idx)
	case BiasK, BiasV:
		err = m.checkKV(layer, idx)
	case BiasFFIn:
		if err = m.checkLayer(layer); err == nil {
			err = m.checkRead(idx)
		}
	default:
		err = m.checkLayer(layer)
	}
	if err != nil {
		return nil, err
	}
	b, err := m.ad.bias(kind, layer, idx)
	return slices.Clone(b), err
}

// Norm returns the normalisation at site (layer ignored for FinalNorm), as
// the model applies it; ok is false when the model has none there (only
// Gemma 2/3 have PostAttnNorm and PostMLPNorm; only QK-norm models have
// QNorm and KNorm).
func (m *Model) Norm(site NormSite, layer int) (Norm, bool, error) {
	if site != FinalNorm {
		if err := m.checkLayer(layer); err != nil {
			return Norm{}, false, err
		}
	}
	n, ok, err := m.ad.norm(site, layer)
	n.Gain, n.Bias = slices.Clone(n.Gain), slices.Clone(n.Bias)
	return n, ok, err
}

// Sliding reports whether layer attends through a sliding window of
// Arch.SlidingWindow tokens (and, for Gemma 3, rotates with the local base).
func (m *Model) Sliding(layer int) bool {
	return m.a.SlidingWindow > 0 && m.checkLayer(layer) == nil && m.ad.sliding(layer)
}

// RotaryAt returns the inverse frequencies ω_i (i < Rotary.Dims/2) layer
// rotates by and the factor its cos and sin are multiplied by (YaRN's
// attention factor; 1 otherwise); nil for models without rotary.
func (m *Model) RotaryAt(layer int) (invFreq []float64, scale float64, err error) {
	if err := m.checkLayer(layer); err != nil {
		return nil, 0, err
	}
	if m.a.Rotary == nil {
		return nil, 1, nil
	}
	return m.a.Rotary.frequencies(m.Sliding(layer), m.a.Positions)
}

// LnF returns the final norm's gain and bias (bias nil for RMSNorm), each of
// length DModel, as fresh copies. The seed projects through E without it;
// callers that fold it in use these.
func (m *Model) LnF() (gain, bias []float32, err error) {
	n, _, err := m.Norm(FinalNorm, 0)
	return n.Gain, n.Bias, err
}

// Close closes the underlying checkpoint (unmapping its files). Matrices
// obtained from the Model must not be used afterwards.
func (m *Model) Close() error { return m.ck.Close() }

// matrixOf views a 2-D float tensor as a float32 Matrix (aliasing when
// possible, else converted once per tensor).
func matrixOf(t *checkpoint.Tensor) (Matrix, error) {
	data, err := t.Float32()
	if err != nil {
		return Matrix{}, fmt.Errorf("weights: %w", err)
	}
	return Matrix{Rows: t.Shape[0], Cols: t.Shape[1], Data: data}, nil
}

// largeMatrixOf views a 2-D float tensor as a Matrix without converting a
// BF16 tensor: its bits are aliased (see Matrix). Other dtypes are as in
// matrixOf. For the vocabulary-sized and MLP matrices.
func largeMatrixOf(t *checkpoint.Tensor) (Matrix, error) {
	if t.DType == checkpoint.BF16 {
		if bits, ok := t.Uint16s(); ok {
			return Matrix{Rows: t.Shape[0], Cols: t.Shape[1], BF16: bits}, nil
		}
	}
	return matrixOf(t)
}

// vectorOf reads a 1-D float tensor as a fresh float32 slice.
func vectorOf(t *checkpoint.Tensor) ([]float32, error) {
	data, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	return slices.Clone(data), nil
}
