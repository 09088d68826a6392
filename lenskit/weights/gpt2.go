package weights

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"lenskit.dev/lenskit/checkpoint"
)

func init() { register("gpt2", openGPT2) }

// gpt2 adapts Hugging Face GPT2LMHeadModel / GPT2Model checkpoints.
//
// Layout (transformers' Conv1D stores weights as in × out and computes
// y = x·W + b, the transpose of nn.Linear):
//
//	wte.weight               Vocab × d      token embedding (E when tied)
//	wpe.weight               Positions × d
//	h.L.ln_1.{weight,bias}   d
//	h.L.attn.c_attn.weight   d × 3d         columns [Q | K | V]
//	h.L.attn.c_attn.bias     3d
//	h.L.attn.c_proj.weight   d × d          rows grouped by head
//	h.L.attn.c_proj.bias     d
//	h.L.ln_2.{weight,bias}   d
//	h.L.mlp.c_fc.weight      d × d_ff       column i = key of neuron i
//	h.L.mlp.c_fc.bias        d_ff
//	h.L.mlp.c_proj.weight    d_ff × d       row i = value of neuron i
//	h.L.mlp.c_proj.bias      d
//	ln_f.{weight,bias}       d
//	lm_head.weight           Vocab × d      only when untied
//
// Every name may carry the "transformer." prefix (GPT2LMHeadModel) or not
// (GPT2Model). The buffers attn.bias (causal mask) and attn.masked_bias are
// ignored, as is a tied lm_head.weight that a file stores anyway.
type gpt2 struct {
	a       Arch
	wte     *checkpoint.Tensor
	wpe     *checkpoint.Tensor
	lmHead  *checkpoint.Tensor // nil when tied
	cAttn   []*checkpoint.Tensor
	attnOut []*checkpoint.Tensor
	cFc     []*checkpoint.Tensor
	mlpOut  []*checkpoint.Tensor
	params  map[string]*checkpoint.Tensor
}

func openGPT2(c *checkpoint.Checkpoint) (adapter, error) {
	cfg := c.Config()
	cfgPath := c.ID() + "/config.json"
	if c.Dir() != "" {
		cfgPath = filepath.Join(c.Dir(), "config.json")
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("weights: %s: %w: "+format, append([]any{cfgPath, ErrConfig}, args...)...)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"n_layer", cfg.NLayer}, {"n_head", cfg.NHead}, {"n_embd", cfg.NEmbd}, {"n_inner", cfg.NInner},
		{"vocab_size", cfg.VocabSize}, {"n_positions", cfg.NPositions}} {
		if f.v <= 0 {
			return nil, bad("%s is %d, want a positive number", f.name, f.v)
		}
	}
	if cfg.NEmbd%cfg.NHead != 0 {
		return nil, bad("n_embd %d is not a multiple of n_head %d", cfg.NEmbd, cfg.NHead)
	}
	d, ff, v := cfg.NEmbd, cfg.NInner, cfg.VocabSize
	g := &gpt2{
		a: Arch{ModelType: "gpt2", Layers: cfg.NLayer, Heads: cfg.NHead, KVHeads: cfg.NHead, DModel: d, DHead: d / cfg.NHead,
			DFF: ff, Vocab: v, Positions: cfg.NPositions,
			MLP: MLPPlain, Activation: cfg.Activation, Norm: LayerNorm, NormEps: cfg.LayerNormEpsilon,
			Tied: cfg.TieWordEmbeddings, EmbedScale: 1, AttnScale: 1 / math.Sqrt(float64(d/cfg.NHead))},
		params: make(map[string]*checkpoint.Tensor),
	}
	// need finds a parameter under either naming and checks it against the
	// shape config.json implies; why explains that shape in the error.
	need := func(name, why string, shape ...int) (*checkpoint.Tensor, error) {
		t, ok := c.Lookup("transformer." + name)
		if !ok {
			t, ok = c.Lookup(name)
		}
		if !ok {
			return nil, fmt.Errorf("weights: %s: %w: tensor %q (or %q) is missing", c.ID(), ErrShape, name, "transformer."+name)
		}
		if !t.DType.Float() {
			return nil, fmt.Errorf("weights: %s: tensor %q: %w: dtype %s is not a float type", t.File, t.Name, ErrShape, t.DType)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("weights: %s: tensor %q: %w: shape %v, config.json implies %v (%s)", t.File, t.Name, ErrShape, t.Shape, shape, why)
		}
		g.params[name] = t
		return t, nil
	}
	var err error
	dims := fmt.Sprintf("n_embd=%d", d)
	if g.wte, err = need("wte.weight", fmt.Sprintf("vocab_size=%d, %s", v, dims), v, d); err != nil {
		return nil, err
	}
	g.a.DType = string(g.wte.DType)
	if g.wpe, err = need("wpe.weight", fmt.Sprintf("n_positions=%d, %s", cfg.NPositions, dims), cfg.NPositions, d); err != nil {
		return nil, err
	}
	if _, err = need("ln_f.weight", dims, d); err != nil {
		return nil, err
	}
	if _, err = need("ln_f.bias", dims, d); err != nil {
		return nil, err
	}
	ffDims := fmt.Sprintf("%s, n_inner=%d", dims, ff)
	for l := range cfg.NLayer {
		p := fmt.Sprintf("h.%d.", l)
		for _, s := range []struct {
			name  string
			why   string
			shape []int
		}{
			{"ln_1.weight", dims, []int{d}}, {"ln_1.bias", dims, []int{d}},
			{"attn.c_attn.weight", dims + ", Q|K|V", []int{d, 3 * d}}, {"attn.c_attn.bias", dims + ", Q|K|V", []int{3 * d}},
			{"attn.c_proj.weight", dims, []int{d, d}}, {"attn.c_proj.bias", dims, []int{d}},
			{"ln_2.weight", dims, []int{d}}, {"ln_2.bias", dims, []int{d}},
			{"mlp.c_fc.weight", ffDims, []int{d, ff}}, {"mlp.c_fc.bias", ffDims, []int{ff}},
			{"mlp.c_proj.weight", ffDims, []int{ff, d}}, {"mlp.c_proj.bias", dims, []int{d}},
		} {
			if _, err := need(p+s.name, s.why, s.shape...); err != nil {
				return nil, err
			}
		}
		g.cAttn = append(g.cAttn, g.params[p+"attn.c_attn.weight"])
		g.attnOut = append(g.attnOut, g.params[p+"attn.c_proj.weight"])
		g.cFc = append(g.cFc, g.params[p+"mlp.c_fc.weight"])
		g.mlpOut = append(g.mlpOut, g.params[p+"mlp.c_proj.weight"])
	}
	if cfg.TieWordEmbeddings {
		// A tied lm_head stored anyway must at least have the right shape;
		// its values are the embedding's by definition (transformers
		// re-ties on load), so it is neither read nor hashed.
		if t, ok := c.Lookup("lm_head.weight"); ok && !slices.Equal(t.Shape, []int{v, d}) {
			return nil, fmt.Errorf("weights: %s: tensor %q: %w: shape %v, config.json implies %v (vocab_size=%d, %s)", t.File, t.Name, ErrShape, t.Shape, []int{v, d}, v, dims)
		}
	} else {
		// lm_head sits beside the transformer, never under its prefix.
		t, ok := c.Lookup("lm_head.weight")
		switch {
		case !ok:
			return nil, fmt.Errorf("weights: %s: %w: tensor \"lm_head.weight\" is missing and tie_word_embeddings is false", c.ID(), ErrShape)
		case !t.DType.Float():
			return nil, fmt.Errorf("weights: %s: tensor %q: %w: dtype %s is not a float type", t.File, t.Name, ErrShape, t.DType)
		case !slices.Equal(t.Shape, []int{v, d}):
			return nil, fmt.Errorf("weights: %s: tensor %q: %w: shape %v, config.json implies %v (vocab_size=%d, %s)", t.File, t.Name, ErrShape, t.Shape, []int{v, d}, v, dims)
		}
		g.lmHead = t
		g.params["lm_head.weight"] = t
	}
	return g, nil
}

func (g *gpt2) arch() Arch                 { return g.a }
func (g *gpt2) embedding() (Matrix, error) { return largeMatrixOf(g.wte) }
func (g *gpt2) sliding(int) bool           { return false }

func (g *gpt2) unembedding() (Matrix, error) {
	if g.lmHead != nil {
		return largeMatrixOf(g.lmHead)
	}
	return largeMatrixOf(g.wte)
}

func (g *gpt2) positions() (Matrix, bool, error) {
	m, err := matrixOf(g.wpe)
	return m, err == nil, err
}

// ffKeys transposes c_fc (d × d_ff, Conv1D) into lenskit's neuron-major
// layout: a fresh copy, since no file stores it that way.
func (g *gpt2) ffKeys(l, _ int) (Matrix, error) { return transposeLarge(g.cFc[l]) }

// ffKey is column i of c_fc (stored d × d_ff): one neuron's key without
// transposing the layer.
func (g *gpt2) ffKey(l, _, i int) ([]float32, error) { return column(g.cFc[l], i) }

func (g *gpt2) ffValues(l int) (Matrix, error) { return largeMatrixOf(g.mlpOut[l]) }

func (g *gpt2) wq(l, h int) (Matrix, error) { return g.qkv(0, l, h) }
func (g *gpt2) wk(l, h int) (Matrix, error) { return g.qkv(1, l, h) }
func (g *gpt2) wv(l, h int) (Matrix, error) { return g.qkv(2, l, h) }

func (g *gpt2) qkv(part, l, h int) (Matrix, error) {
	w, err := matrixOf(g.cAttn[l])
	if err != nil {
		return Matrix{}, err
	}
	d, dh := g.a.DModel, g.a.DHead
	out := NewMatrix(d, dh)
	col := part*d + h*dh
	for r := range d {
		copy(out.Data[r*dh:(r+1)*dh], w.Data[r*w.Cols+col:r*w.Cols+col+dh])
	}
	return out, nil
}

func (g *gpt2) wo(l, h int) (Matrix, error) {
	w, err := matrixOf(g.attnOut[l])
	if err != nil {
		return Matrix{}, err
	}
	d, dh := g.a.DModel, g.a.DHead
	lo, hi := h*dh*d, (h+1)*dh*d
	return Matrix{Rows: dh, Cols: d, Data: w.Data[lo:hi:hi]}, nil
}

func (g *gpt2) bias(kind BiasKind, l, idx int) ([]float32, error) {
	p := fmt.Sprintf("h.%d.", l)
	d, dh := g.a.DModel, g.a.DHead
	var name string
	lo, n := 0, d
	switch kind {
	case BiasQ, BiasK, BiasV:
		name, lo, n = p+"attn.c_attn.bias", int(kind-BiasQ)*d+idx*dh, dh
	case BiasO:
		name = p + "attn.c_proj.bias"
	case BiasFFIn:
		name, n = p+"mlp.c_fc.bias", g.a.DFF
	case BiasFFOut:
		name = p + "mlp.c_proj.bias"
	}
	v, err := vectorOf(g.params[name])
	if err != nil {
		return nil, err
	}
	return v[lo : lo+n], nil
}

func (g *gpt2) norm(site NormSite, l int) (Norm, bool, error) {
	var w, b string
	switch site {
	case AttnNorm:
		w, b = fmt.Sprintf("h.%d.ln_1.weight", l), fmt.Sprintf("h.%d.ln_1.bias", l)
	case MLPNorm:
		w, b = fmt.Sprintf("h.%d.ln_2.weight", l), fmt.Sprintf("h.%d.ln_2.bias", l)
	case FinalNorm:
		w, b = "ln_f.weight", "ln_f.bias"
	default:
		return Norm{}, false, nil
	}
	gain, err := vectorOf(g.params[w])
	if err != nil {
		return Norm{}, false, err
	}
	bias, err := vectorOf(g.params[b])
	if err != nil {
		return Norm{}, false, err
	}
	return Norm{Kind: LayerNorm, Gain: gain, Bias: bias, Eps: g.a.NormEps}, true, nil
}

func (g *gpt2) parameters() map[string]*checkpoint.Tensor {
	out := make(map[string]*checkpoint.Tensor, len(g.params))
	for k, t := range g.params {
		out[k] = t
	}
	return out
}
