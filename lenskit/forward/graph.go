package forward

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // the graph DSL reads like the equations

	"lenskit.dev/lenskit/weights"
)

// Want selects what a run returns. Every output costs memory proportional
// to the prompt (see the package documentation); ask only for what is
// read.
type Want struct {
	Resid  bool // the residual stream: after the embedding, then after each attention and each MLP sub-layer
	Attn   bool // attention patterns, per layer heads × T × T (row: query position)
	Heads  bool // each head's write to the residual stream (z·W_O, before any post-norm), per layer heads × T × d
	MLP    bool // MLP activations (the value coefficients), per layer T × d_ff
	Logits bool // final logits (after any final softcap), T × vocab
	Lens   bool // the logit lens: every residual row through the final norm and W_U, as logits

	// Layers > 0 runs only the first Layers blocks (for activations over a
	// corpus); Logits and Lens then need every layer and are refused.
	Layers int
	// MLPFrom > 0 returns MLP activations only for layers ≥ MLPFrom.
	MLPFrom int
}

// graphKey identifies a compiled graph.
type graphKey struct {
	batch, seq int
	want       Want
}

// outKind names one output of a graph.
type outKind int

const (
	outResid  outKind = iota // [B, T, d] one per row
	outAttn                  // [B, H, T, T] one per layer
	outHeads                 // [H, B, T, d] one per layer
	outMLP                   // [B, T, DFF] one per layer asked
	outLogits                // [B, T, V]
	outLens                  // [R, B, T, V] logits of every residual row
	outLensY                 // [R, B, T, d] every residual row after the final norm (the host computes the logits)
)

// output is one output node's meaning.
type output struct {
	kind  outKind
	index int // row or layer
}

// rotaryTables returns, per layer, the index of its rotary table and the
// distinct tables (inverse frequencies and the cos/sin scale); nil without
// rotary.
func (m *Model) rotaryTables() (perLayer []int, tables []rotTable, err error) {
	if m.a.Rotary == nil {
		return nil, nil, nil
	}
	perLayer = make([]int, m.a.Layers)
	for l := range m.a.Layers {
		inv, scale, err := m.w.RotaryAt(l)
		if err != nil {
			return nil, nil, err
		}
		i := slices.IndexFunc(tables, func(t rotTable) bool { return t.scale == scale && slices.Equal(t.inv, inv) })
		if i < 0 {
			i = len(tables)
			tables = append(tables, rotTable{inv: inv, scale: scale})
		}
		perLayer[l] = i
	}
	return perLayer, tables, nil
}

type rotTable struct {
	inv   []float64
	scale float64
}

// cosSin returns cos(p·ω_i)·scale and sin(p·ω_i)·scale for p < seq, as
// seq × len(inv) float32 tables (computed in float64).
func (t rotTable) cosSin(seq int) (cos, sin []float32) {
	n := len(t.inv)
	cos, sin = make([]float32, seq*n), make([]float32, seq*n)
	for p := range seq {
		for i, w := range t.inv {
			s, c := math.Sincos(float64(p) * w)
			cos[p*n+i], sin[p*n+i] = float32(c*t.scale), float32(s*t.scale)
		}
	}
	return cos, sin
}

// builder holds the graph being built.
type builder struct {
	m       *Model
	g       *Graph
	b, t    int
	x0      *Node
	cos     []*Node // per rotary table
	sin     []*Node
	weights []*Node // parallel to m.params
	outs    []*Node
	plan    []output
	act     func(*Node) *Node
	rot     []int // per layer table
}

func (bd *builder) w(name string) *Node { return bd.weights[bd.m.index[name]] }

// f32 returns a weight as float32 (converting a BF16 one in the graph).
func (bd *builder) f32(name string) *Node {
	x := bd.w(name)
	if x.DType() != dtypes.Float32 {
		x = ConvertDType(x, dtypes.Float32)
	}
	return x
}

func (bd *builder) emit(n *Node, o output) {
	bd.outs = append(bd.outs, n)
	bd.plan = append(bd.plan, o)
}

// build declares the parameters (x0, the rotary tables, every weight in
// upload order) and the computation, and returns the outputs.
func (m *Model) build(g *Graph, k graphKey, rot []int, tables int) *builder {
	a := m.a
	bd := &builder{m: m, g: g, b: k.batch, t: k.seq, rot: rot}
	bd.act, _ = activation(a.Activation)
	bd.x0 = Parameter(g, "x0", shapes.Make(dtypes.Float32, k.batch, k.seq, a.DModel))
	if tables > 0 {
		half := a.Rotary.Dims / 2
		for i := range tables {
			bd.cos = append(bd.cos, Parameter(g, fmt.Sprintf("cos%d", i), shapes.Make(dtypes.Float32, k.seq, half)))
			bd.sin = append(bd.sin, Parameter(g, fmt.Sprintf("sin%d", i), shapes.Make(dtypes.Float32, k.seq, half)))
		}
	}
	for _, p := range m.params {
		bd.weights = append(bd.weights, Parameter(g, p.name, p.shape))
	}
	want := k.want
	layers := a.Layers
	if want.Layers > 0 {
		layers = min(want.Layers, a.Layers)
	}
	x := bd.x0
	var rows []*Node
	row := func(n *Node) {
		if want.Resid {
			bd.emit(n, output{outResid, len(rows)})
		}
		rows = append(rows, n)
	}
	row(x)
	for l := range layers {
		p := fmt.Sprintf("l%d.", l)
		attnOut := bd.attention(l, bd.norm(x, p+"n1"), want)
		if a.SandwichNorms {
			attnOut = bd.norm(attnOut, p+"pa")
		}
		mlpIn := Add(x, attnOut)
		if a.ParallelResidual {
			// GPT-NeoX: both sub-layers read the block's input.
			mlpIn = x
		}
		row(Add(x, attnOut))
		mlpOut := bd.mlp(l, bd.norm(mlpIn, p+"n2"), want)
		if a.SandwichNorms {
			mlpOut = bd.norm(mlpOut, p+"pm")
		}
		x = Add(Add(x, attnOut), mlpOut)
		row(x)
	}
	if want.Logits {
		bd.emit(bd.unembed(x), output{outLogits, 0})
	}
	if want.Lens {
		// Every row at once: [R, B, T, d] through the final norm (each
		// position of each row with its own statistics) and W_U.
		if m.product != nil {
			bd.emit(bd.norm(Stack(rows, 0), "final"), output{outLensY, 0})
		} else {
			bd.emit(bd.unembed(Stack(rows, 0)), output{outLens, 0})
		}
	}
	return bd
}

// norm applies the normalisation whose weights are name.g (and name.b):
// LayerNorm (x − mean)/√(var + eps)·γ + β or RMSNorm x/√(mean(x²) + eps)·γ,
// over the last axis.
func (bd *builder) norm(x *Node, name string) *Node {
	a := bd.m.a
	eps := a.NormEps
	gain := bd.w(name + ".g")
	if a.Norm == weights.LayerNorm {
		mean := ReduceAndKeep(x, ReduceMean, -1)
		c := Sub(x, mean)
		v := ReduceAndKeep(Square(c), ReduceMean, -1)
		y := Mul(Mul(c, Rsqrt(AddScalar(v, eps))), along(gain, x))
		if bd.m.has(name + ".b") {
			y = Add(y, along(bd.w(name+".b"), x))
		}
		return y
	}
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	y := Mul(Mul(x, Rsqrt(AddScalar(ms, eps))), along(gain, x))
	if bd.m.has(name + ".b") {
		y = Add(y, along(bd.w(name+".b"), x))
	}
	return y
}

// rmsHead is the per-head RMSNorm of QK-norm models, over the last axis
// (d_head), always RMS whatever the model's main norm.
func (bd *builder) rmsHead(x *Node, name string) *Node {
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	return Mul(Mul(x, Rsqrt(AddScalar(ms, bd.m.a.NormEps))), along(bd.w(name+".g"), x))
}

// dense is x·W (+ bias) for x [..., in] and W [in, out].
func dense(x, w, bias *Node) *Node {
	y := Dot(x, w).General([]int{x.Rank() - 1}, nil, []int{0}, nil)
	if bias != nil {
		y = Add(y, along(bias, y))
	}
	return y
}

// along reshapes a vector to broadcast over x's last axis ([1, …, 1, n]):
// GoMLX broadcasts only axes of size 1 between operands of equal rank.
func along(v, x *Node) *Node {
	if v.Rank() == x.Rank() {
		return v
	}
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = v.Shape().Dimensions[v.Rank()-1]
	return Reshape(v, dims...)
}

func (bd *builder) opt(name string) *Node {
	if bd.m.has(name) {
		return bd.w(name)
	}
	return nil
}

// rotate applies rotary embeddings in rotate_half form to x [B, T, n, dh]:
// within the first Dims coordinates, coordinate i and i + Dims/2 form a
// plane rotated by p·ω_i (cos and sin already scaled).
func (bd *builder) rotate(x *Node, l int) *Node {
	r := bd.m.a.Rotary
	if r == nil {
		return x
	}
	half := r.Dims / 2
	dh := bd.m.a.DHead
	cos := Reshape(bd.cos[bd.rot[l]], 1, bd.t, 1, half)
	sin := Reshape(bd.sin[bd.rot[l]], 1, bd.t, 1, half)
	x1 := SliceAxis(x, 3, AxisRange(0, half))
	x2 := SliceAxis(x, 3, AxisRange(half, 2*half))
	parts := []*Node{Sub(Mul(x1, cos), Mul(x2, sin)), Add(Mul(x2, cos), Mul(x1, sin))}
	if 2*half < dh {
		parts = append(parts, SliceAxis(x, 3, AxisRange(2*half, dh)))
	}
	return Concatenate(parts, 3)
}

// attention computes a layer's attention output [B, T, d] (before any
// post-norm) from the normalised input n, emitting the pattern and the
// per-head outputs when asked.
func (bd *builder) attention(l int, n *Node, want Want) *Node {
	a := bd.m.a
	p := fmt.Sprintf("l%d.", l)
	B, T, H, G, dh, d := bd.b, bd.t, a.Heads, a.KVHeads, a.DHead, a.DModel
	R := H / G
	q := Reshape(dense(n, bd.w(p+"wq"), bd.opt(p+"bq")), B, T, H, dh)
	k := Reshape(dense(n, bd.w(p+"wk"), bd.opt(p+"bk")), B, T, G, dh)
	v := Reshape(dense(n, bd.w(p+"wv"), bd.opt(p+"bv")), B, T, G, dh)
	if a.QKNorm {
		q, k = bd.rmsHead(q, p+"qn"), bd.rmsHead(k, p+"kn")
	}
	q, k = bd.rotate(q, l), bd.rotate(k, l)
	q = Reshape(q, B, T, G, R, dh)
	// scores [B, G, Tq, R, Tk]: batch B and G, contract d_head.
	s := Dot(q, k).General([]int{4}, []int{0, 2}, []int{3}, []int{0, 2})
	s = Transpose(s, 2, 3) // [B, G, R, Tq, Tk]
	s = MulScalar(s, a.AttnScale)
	if c := a.AttnSoftcap; c > 0 {
		s = MulScalar(Tanh(DivScalar(s, c)), c)
	}
	s = Where(BroadcastToDims(Reshape(bd.mask(l), 1, 1, 1, T, T), B, G, R, T, T), s, Infinity(bd.g, dtypes.Float32, -1))
	attn := Softmax(s, -1)
	if want.Attn {
		bd.emit(Reshape(attn, B, H, T, T), output{outAttn, l})
	}
	// z [B, G, R, Tq, dh]: batch B and G, contract Tk.
	z := Dot(attn, v).General([]int{4}, []int{0, 1}, []int{1}, []int{0, 2})
	z = Reshape(z, B, H, T, dh)
	wo := bd.w(p + "wo") // [H, dh, d]
	var out *Node
	if want.Heads {
		heads := Dot(z, wo).General([]int{3}, []int{1}, []int{1}, []int{0}) // [H, B, T, d]
		bd.emit(heads, output{outHeads, l})
		out = ReduceSum(heads, 0)
	} else {
		zt := Reshape(Transpose(z, 1, 2), B, T, H*dh)
		out = dense(zt, Reshape(wo, H*dh, d), nil)
	}
	if b := bd.opt(p + "bo"); b != nil {
		out = Add(out, along(b, out))
	}
	return out
}

// mask is the causal mask [Tq, Tk] (true: attend), narrowed to the window
// on sliding-window layers: key j is visible from query i when j ≤ i and,
// sliding, i − j < window.
func (bd *builder) mask(l int) *Node {
	T := bd.t
	qi := Iota(bd.g, shapes.Make(dtypes.Int32, T, T), 0)
	kj := Iota(bd.g, shapes.Make(dtypes.Int32, T, T), 1)
	m := GreaterOrEqual(qi, kj)
	if bd.m.w.Sliding(l) && bd.m.a.SlidingWindow > 0 {
		m = LogicalAnd(m, LessThan(Sub(qi, kj), Const(bd.g, int32(bd.m.a.SlidingWindow))))
	}
	return m
}

// mlp computes a layer's MLP output [B, T, d] (before any post-norm) from
// the normalised input n, emitting the activations when asked.
func (bd *builder) mlp(l int, n *Node, want Want) *Node {
	a := bd.m.a
	p := fmt.Sprintf("l%d.", l)
	// keys are DFF × d: contract d with d.
	read := func(r int) *Node {
		k := bd.f32(fmt.Sprintf("%sk%d", p, r))
		y := Dot(n, k).General([]int{2}, nil, []int{1}, nil) // [B, T, DFF]
		if b := bd.opt(fmt.Sprintf("%sbk%d", p, r)); b != nil {
			y = Add(y, along(b, y))
		}
		return y
	}
	var h *Node
	if a.MLP == weights.MLPGated {
		h = Mul(bd.act(read(0)), read(1))
	} else {
		h = bd.act(read(0))
	}
	if want.MLP && l >= want.MLPFrom {
		bd.emit(h, output{outMLP, l})
	}
	out := dense(h, bd.f32(p+"v"), bd.opt(p+"bff"))
	return out
}

// unembed reads residuals [..., d] through the final norm (each position's
// own statistics) and W_U: logits [..., V], softcapped when the model caps
// them.
func (bd *builder) unembed(x *Node) *Node {
	y := bd.norm(x, "final")
	u := bd.f32("unembed") // [V, d]
	logits := Dot(y, u).General([]int{y.Rank() - 1}, nil, []int{1}, nil)
	if c := bd.m.a.FinalSoftcap; c > 0 {
		logits = MulScalar(Tanh(DivScalar(logits, c)), c)
	}
	return logits
}

// activation returns the MLP nonlinearity config.json names, as Hugging
// Face's ACT2FN defines it.
func activation(name string) (func(*Node) *Node, error) {
	switch name {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_approximate":
		// 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), computed
		// as x·σ(2u) (the same function: 1 + tanh(u) = 2σ(2u)), because
		// the Go backend's logistic is several times faster than its tanh.
		return func(x *Node) *Node {
			u2 := MulScalar(Add(x, MulScalar(Mul(Square(x), x), 0.044715)), 2*math.Sqrt(2/math.Pi))
			return Mul(x, Logistic(u2))
		}, nil
	case "gelu", "gelu_python":
		// 0.5·x·(1 + erf(x/√2))
		return func(x *Node) *Node {
			return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
		}, nil
	case "silu", "swish":
		return func(x *Node) *Node { return Mul(x, Logistic(x)) }, nil
	case "relu":
		return func(x *Node) *Node { return Max(x, ZerosLike(x)) }, nil
	case "quick_gelu":
		return func(x *Node) *Node { return Mul(x, Logistic(MulScalar(x, 1.702))) }, nil
	}
	return nil, fmt.Errorf("activation %q is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, silu, swish, relu, quick_gelu)", name)
}
