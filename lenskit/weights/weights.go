package weights

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"lenskit.dev/lenskit/checkpoint"
)

// Arch is the shape of a model, as every analysis needs it.
type Arch struct {
	ModelType string // config.json model_type, e.g. "gpt2"
	Layers    int    // transformer blocks
	Heads     int    // attention heads per block
	DModel    int    // residual stream width d
	DHead     int    // per-head width, DModel / Heads
	DFF       int    // MLP hidden width (neurons per layer)
	Vocab     int    // rows of the embedding and unembedding
	Positions int    // rows of the position embedding
}

func (a Arch) String() string {
	return fmt.Sprintf("%s: %d layers, %d heads, d=%d, d_head=%d, d_ff=%d, vocab %d, %d positions",
		a.ModelType, a.Layers, a.Heads, a.DModel, a.DHead, a.DFF, a.Vocab, a.Positions)
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
// an architecture (Llama, GPT-NeoX) means writing one adapter in a file of
// its own and registering it in an init function; nothing else changes.
type adapter interface {
	arch() Arch
	// embedding and unembedding are Vocab × DModel.
	embedding() (Matrix, error)
	unembedding() (Matrix, error)
	// ffKeys is DModel × DFF, ffValues DFF × DModel.
	ffKeys(layer int) (Matrix, error)
	ffValues(layer int) (Matrix, error)
	// qkv returns W_Q, W_K or W_V of one head (part 0, 1, 2), DModel × DHead.
	qkv(part, layer, head int) (Matrix, error)
	// wo returns W_O of one head, DHead × DModel.
	wo(layer, head int) (Matrix, error)
	lnF() (gain, bias []float32, err error)
	// parameters lists the tensors that make up the model under canonical
	// (architecture-defined, prefix-free) names, for the weights hash.
	parameters() map[string]*checkpoint.Tensor
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

func (m *Model) checkNeuron(layer, i int) error {
	if err := m.checkLayer(layer); err != nil {
		return err
	}
	if i < 0 || i >= m.a.DFF {
		return &RangeError{What: "neuron", Value: i, Limit: m.a.DFF, Model: m.name}
	}
	return nil
}

// Unembedding returns E, Vocab × DModel: row t is the direction whose dot
// product with the final residual (after ln_f) is token t's logit. For GPT-2
// with tied embeddings (the default) this is the token embedding wte; an
// untied lm_head.weight is used when tie_word_embeddings is false.
func (m *Model) Unembedding() (Matrix, error) { return m.ad.unembedding() }

// Embedding returns the token embedding wte, Vocab × DModel: row t is added
// to the residual stream for token t.
func (m *Model) Embedding() (Matrix, error) { return m.ad.embedding() }

// FFKeys returns the MLP's input weights of a layer, DModel × DFF: column i
// is neuron i's key, the direction the residual is read along (GPT-2:
// mlp.c_fc.weight as stored, since Conv1D computes h = x·W).
func (m *Model) FFKeys(layer int) (Matrix, error) {
	if err := m.checkLayer(layer); err != nil {
		return Matrix{}, err
	}
	return m.ad.ffKeys(layer)
}

// FFKey returns neuron i's key (column i of FFKeys), length DModel, as a
// fresh copy.
func (m *Model) FFKey(layer, i int) ([]float32, error) {
	if err := m.checkNeuron(layer, i); err != nil {
		return nil, err
	}
	k, err := m.ad.ffKeys(layer)
	if err != nil {
		return nil, err
	}
	return k.Col(i), nil
}

// FFValues returns the MLP's output weights of a layer, DFF × DModel: row i
// is neuron i's value, the direction it writes to the residual (GPT-2:
// mlp.c_proj.weight as stored).
func (m *Model) FFValues(layer int) (Matrix, error) {
	if err := m.checkLayer(layer); err != nil {
		return Matrix{}, err
	}
	return m.ad.ffValues(layer)
}

// FFValue returns neuron i's value (row i of FFValues), length DModel, as a
// fresh copy.
func (m *Model) FFValue(layer, i int) ([]float32, error) {
	if err := m.checkNeuron(layer, i); err != nil {
		return nil, err
	}
	v, err := m.ad.ffValues(layer)
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.Row(i)), nil
}

// WQ returns head's query weights, DModel × DHead, as a gathered copy: the
// query of a residual x is x·W_Q. For GPT-2, c_attn.weight is DModel × 3·DModel
// with columns [Q | K | V] and head h owning columns h·DHead … (h+1)·DHead−1
// within each third — the seed's W_Q, W_K, W_V = c_attn.chunk(3, dim=-1)
// followed by reshape(d, heads, d_head).
func (m *Model) WQ(layer, head int) (Matrix, error) { return m.qkv(0, layer, head) }

// WK returns head's key weights, DModel × DHead (see WQ for the layout).
func (m *Model) WK(layer, head int) (Matrix, error) { return m.qkv(1, layer, head) }

// WV returns head's value weights, DModel × DHead (see WQ for the layout).
func (m *Model) WV(layer, head int) (Matrix, error) { return m.qkv(2, layer, head) }

func (m *Model) qkv(part, layer, head int) (Matrix, error) {
	if err := m.checkHead(layer, head); err != nil {
		return Matrix{}, err
	}
	return m.ad.qkv(part, layer, head)
}

// WO returns head's output weights, DHead × DModel: the head's contribution
// to the residual is z·W_O for its value-weighted sum z. For GPT-2 these are
// rows head·DHead … (head+1)·DHead−1 of attn.c_proj.weight (DModel × DModel);
// being contiguous they alias the checkpoint (read-only).
// W_OV = W_V·W_O and W_QK = W_Q·W_Kᵀ are both DModel × DModel.
func (m *Model) WO(layer, head int) (Matrix, error) {
	if err := m.checkHead(layer, head); err != nil {
		return Matrix{}, err
	}
	return m.ad.wo(layer, head)
}

// LnF returns the final layer norm's gain and bias (GPT-2: ln_f.weight,
// ln_f.bias), each of length DModel, as fresh copies. The seed projects
// through E without ln_f; callers that fold it in use these.
func (m *Model) LnF() (gain, bias []float32, err error) { return m.ad.lnF() }

// Close closes the underlying checkpoint (unmapping its files). Matrices
// obtained from the Model must not be used afterwards.
func (m *Model) Close() error { return m.ck.Close() }

// matrixOf views a 2-D float tensor as a Matrix (aliasing when possible).
func matrixOf(t *checkpoint.Tensor) (Matrix, error) {
	data, err := t.Float32()
	if err != nil {
		return Matrix{}, fmt.Errorf("weights: %w", err)
	}
	return Matrix{Rows: t.Shape[0], Cols: t.Shape[1], Data: data}, nil
}
