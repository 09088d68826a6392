package forward

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"

	"lenskit.dev/lenskit/internal/gomlxbackend"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// Model is a model ready to run on text: its weights on a GoMLX backend
// and the graphs compiled so far. It is safe for concurrent use; runs
// execute one at a time (the backend itself uses every core, or the GPU).
type Model struct {
	w       *weights.Model
	a       weights.Arch
	backend compute.Backend
	isGo    bool
	config  string

	params []param // the weights, in graph parameter order
	index  map[string]int
	host   hostWeights // small host copies for attribution

	product Product // the lens's vocabulary product on the host (Go backend only), or nil

	mu sync.Mutex
	// lensPool holds a released host lens product's buffer (*[]float32).
	lensPool sync.Pool
	closed   bool
	clock    uint64
	graphs   []*cachedGraph
	compile  time.Duration // total compile time so far
	nCompil  int
}

// param is one weight tensor on the device.
type param struct {
	name  string
	shape shapes.Shape
	buf   compute.Buffer
}

// maxGraphs bounds the compiled graphs kept (a notebook session compiles a
// handful of prompt lengths and output selections).
const maxGraphs = 16

// Product is a dense matrix product on the host, x·w — what lenskit's
// projection engines (project.Engine) provide.
type Product interface {
	MatMul(x, w weights.Matrix) (weights.Matrix, error)
}

// Option configures New.
type Option func(*Model)

// WithLensProduct computes the logit lens's vocabulary product, W_U times
// every normalised residual row, with p instead of in the GoMLX graph when
// the backend is the pure-Go one. That product is most of a lens's work
// (1,568 rows × 1,024 × 51,200 for a 32-token prompt on a GPT-2-medium
// shape) and lenskit's own CPU engine runs it three to four times faster
// than the Go backend; on XLA the graph keeps it.
func WithLensProduct(p Product) Option { return func(m *Model) { m.product = p } }

// New uploads m's weights to a GoMLX backend: backend names one as for the
// projection engine ("go", "xla:cuda", …); "" chooses ($GOMLX_BACKEND, else
// XLA CUDA when a plugin and a GPU are present, else "go"). The Model does
// not own m: close m after the Model.
func New(m *weights.Model, backend string, opts ...Option) (*Model, error) {
	if m == nil {
		return nil, errors.New("forward: nil weights")
	}
	cfg := backend
	if cfg == "" {
		var explicit bool
		cfg, explicit = gomlxbackend.Choose(gomlxbackend.GoName)
		if !explicit && cfg != gomlxbackend.GoName {
			// XLA CUDA was found: use it if it starts, else fall back.
			if b, isGo, err := gomlxbackend.New(cfg); err == nil {
				return newModel(m, b, isGo, cfg, opts)
			}
			cfg = gomlxbackend.GoName
		}
	}
	b, isGo, err := gomlxbackend.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("forward: %s: %w", m.Name(), err)
	}
	return newModel(m, b, isGo, cfg, opts)
}

func newModel(w *weights.Model, b compute.Backend, isGo bool, cfg string, opts []Option) (*Model, error) {
	a := w.Arch()
	if err := checkArch(a, w.Name()); err != nil {
		_ = gomlxbackend.Catch(func() error { b.Finalize(); return nil })
		return nil, err
	}
	m := &Model{w: w, a: a, backend: b, isGo: isGo, config: cfg, index: map[string]int{}}
	for _, o := range opts {
		o(m)
	}
	if !isGo {
		m.product = nil // the device computes it better
	}
	if err := m.upload(); err != nil {
		m.Close()
		return nil, fmt.Errorf("forward: %s: %w", w.Name(), err)
	}
	return m, nil
}

// checkArch rejects what the graph cannot compute.
func checkArch(a weights.Arch, name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("forward: %s: "+format, append([]any{name}, args...)...)
	}
	if a.Layers <= 0 || a.Heads <= 0 || a.DModel <= 0 || a.DHead <= 0 || a.DFF <= 0 || a.Vocab <= 0 {
		return bad("shape %v cannot be run", a)
	}
	if a.KVHeads <= 0 || a.Heads%a.KVHeads != 0 {
		return bad("%d KV heads do not divide %d heads", a.KVHeads, a.Heads)
	}
	if _, err := activation(a.Activation); err != nil {
		return bad("%v", err)
	}
	if a.Rotary != nil && (a.Rotary.Dims <= 0 || a.Rotary.Dims%2 != 0 || a.Rotary.Dims > a.DHead) {
		return bad("rotary dimensions %d do not fit head width %d", a.Rotary.Dims, a.DHead)
	}
	if a.Norm != weights.LayerNorm && a.Norm != weights.RMSNorm {
		return bad("norm %q is not supported", a.Norm)
	}
	return nil
}

// Weights returns the weights the model runs.
func (m *Model) Weights() *weights.Model { return m.w }

// Arch returns the model's shape.
func (m *Model) Arch() weights.Arch { return m.a }

// Backend describes the GoMLX backend ("Go Backend / …", or XLA's device),
// and warns when the Go backend was built without GOEXPERIMENT=simd.
func (m *Model) Backend() string { return m.config + ": " + gomlxbackend.Describe(m.backend, m.isGo) }

// Stats reports how many graphs were compiled and the time spent compiling
// them (runs report their own time without it).
func (m *Model) Stats() (graphs int, compile time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nCompil, m.compile
}

// Close releases the compiled graphs, the weights on the device and the
// backend. Later runs return an error.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	err := gomlxbackend.Catch(func() error {
		for _, g := range m.graphs {
			g.g.Finalize()
		}
		var errs []error
		for _, p := range m.params {
			if p.buf != nil {
				errs = append(errs, p.buf.Finalize())
			}
		}
		m.backend.Finalize()
		return errors.Join(errs...)
	})
	m.graphs, m.params = nil, nil
	if err != nil {
		return fmt.Errorf("forward: closing %s: %w", m.w.Name(), err)
	}
	return nil
}

// hostWeights are the vectors attribution reads on the host (float64).
type hostWeights struct {
	finalGain, finalBias []float64
	postAttn, postMLP    [][]float64 // per layer gains of the sandwich norms (nil without)
	biasO, biasFFOut     [][]float64 // per layer (nil when absent)
}

// upload sends every weight to the device, in the order buildGraph
// declares them, and keeps the vectors attribution needs on the host.
func (m *Model) upload() error {
	a := m.a
	w := m.w
	d, H, G, dh := a.DModel, a.Heads, a.KVHeads, a.DHead
	addF32 := func(name string, data []float32, dims ...int) error {
		if len(data) != prod(dims) {
			return fmt.Errorf("%s has %d values for shape %v", name, len(data), dims)
		}
		if i := project.FirstNonFinite(data); i >= 0 {
			return nonFiniteWeight(name, dims, i)
		}
		var buf compute.Buffer
		sh := shapes.Make(dtypes.Float32, dims...)
		err := gomlxbackend.Catch(func() (err error) {
			buf, err = m.backend.BufferFromFlatData(0, data, sh)
			return err
		})
		if err != nil {
			return fmt.Errorf("uploading %s: %w", name, err)
		}
		m.index[name] = len(m.params)
		m.params = append(m.params, param{name: name, shape: sh, buf: buf})
		return nil
	}
	addMatrix := func(name string, x weights.Matrix) error {
		if !x.IsBF16() {
			return addF32(name, x.Data, x.Rows, x.Cols)
		}
		if len(x.BF16) != x.Rows*x.Cols {
			return fmt.Errorf("%s has %d values for %v", name, len(x.BF16), x)
		}
		if i := project.FirstNonFiniteBF16(x.BF16); i >= 0 {
			return nonFiniteWeight(name, []int{x.Rows, x.Cols}, i)
		}
		var buf compute.Buffer
		sh := shapes.Make(dtypes.BFloat16, x.Rows, x.Cols)
		bits := unsafe.Slice((*bfloat16.BFloat16)(unsafe.Pointer(unsafe.SliceData(x.BF16))), len(x.BF16))
		err := gomlxbackend.Catch(func() (err error) {
			buf, err = m.backend.BufferFromFlatData(0, bits, sh)
			return err
		})
		if err != nil {
			return fmt.Errorf("uploading %s: %w", name, err)
		}
		m.index[name] = len(m.params)
		m.params = append(m.params, param{name: name, shape: sh, buf: buf})
		return nil
	}
	addNorm := func(name string, site weights.NormSite, layer int) (weights.Norm, bool, error) {
		n, ok, err := w.Norm(site, layer)
		if err != nil || !ok {
			return n, ok, err
		}
		if err := addF32(name+".g", n.Gain, len(n.Gain)); err != nil {
			return n, ok, err
		}
		if n.Bias != nil {
			if err := addF32(name+".b", n.Bias, len(n.Bias)); err != nil {
				return n, ok, err
			}
		}
		return n, ok, nil
	}
	// bias uploads a layer's bias vectors of one kind, concatenated over
	// count heads (or one vector), when the model has them.
	bias := func(name string, kind weights.BiasKind, layer, count, width int) ([]float32, error) {
		var all []float32
		for i := range count {
			b, err := w.Bias(kind, layer, i)
			if err != nil {
				return nil, err
			}
			if b == nil {
				return nil, nil
			}
			if len(b) != width {
				return nil, fmt.Errorf("%s has %d values, want %d", name, len(b), width)
			}
			all = append(all, b...)
		}
		return all, addF32(name, all, len(all))
	}
	// heads concatenates per-head d × dh matrices column-wise into d × n·dh.
	heads := func(n int, get func(i int) (weights.Matrix, error)) ([]float32, error) {
		out := make([]float32, d*n*dh)
		for i := range n {
			x, err := get(i)
			if err != nil {
				return nil, err
			}
			x = x.F32()
			if x.Rows != d || x.Cols != dh {
				return nil, fmt.Errorf("head matrix %v, want %d×%d", x, d, dh)
			}
			for r := range d {
				copy(out[r*n*dh+i*dh:r*n*dh+(i+1)*dh], x.Data[r*dh:(r+1)*dh])
			}
		}
		return out, nil
	}
	toF64 := func(x []float32) []float64 {
		if x == nil {
			return nil
		}
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out
	}
	m.host.postAttn = make([][]float64, a.Layers)
	m.host.postMLP = make([][]float64, a.Layers)
	m.host.biasO = make([][]float64, a.Layers)
	m.host.biasFFOut = make([][]float64, a.Layers)
	for l := range a.Layers {
		p := fmt.Sprintf("l%d.", l)
		if _, ok, err := addNorm(p+"n1", weights.AttnNorm, l); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("layer %d has no attention norm", l)
		}
		q, err := heads(H, func(h int) (weights.Matrix, error) { return w.WQ(l, h) })
		if err != nil {
			return err
		}
		if err := addF32(p+"wq", q, d, H*dh); err != nil {
			return err
		}
		k, err := heads(G, func(g int) (weights.Matrix, error) { return w.WK(l, g) })
		if err != nil {
			return err
		}
		if err := addF32(p+"wk", k, d, G*dh); err != nil {
			return err
		}
		v, err := heads(G, func(g int) (weights.Matrix, error) { return w.WV(l, g) })
		if err != nil {
			return err
		}
		if err := addF32(p+"wv", v, d, G*dh); err != nil {
			return err
		}
		if _, err := bias(p+"bq", weights.BiasQ, l, H, dh); err != nil {
			return err
		}
		if _, err := bias(p+"bk", weights.BiasK, l, G, dh); err != nil {
			return err
		}
		if _, err := bias(p+"bv", weights.BiasV, l, G, dh); err != nil {
			return err
		}
		if a.QKNorm {
			for _, s := range []struct {
				name string
				site weights.NormSite
			}{{p + "qn", weights.QNorm}, {p + "kn", weights.KNorm}} {
				if _, ok, err := addNorm(s.name, s.site, l); err != nil {
					return err
				} else if !ok {
					return fmt.Errorf("layer %d has no %v", l, s.site)
				}
			}
		}
		o := make([]float32, 0, H*dh*d)
		for h := range H {
			x, err := w.WO(l, h)
			if err != nil {
				return err
			}
			x = x.F32()
			if x.Rows != dh || x.Cols != d {
				return fmt.Errorf("W_O %v, want %d×%d", x, dh, d)
			}
			o = append(o, x.Data...)
		}
		if err := addF32(p+"wo", o, H, dh, d); err != nil {
			return err
		}
		bo, err := bias(p+"bo", weights.BiasO, l, 1, d)
		if err != nil {
			return err
		}
		m.host.biasO[l] = toF64(bo)
		if a.SandwichNorms {
			n, ok, err := addNorm(p+"pa", weights.PostAttnNorm, l)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("layer %d has no post-attention norm", l)
			}
			m.host.postAttn[l] = toF64(n.Gain)
		}
		if _, ok, err := addNorm(p+"n2", weights.MLPNorm, l); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("layer %d has no MLP norm", l)
		}
		for r := range a.Reads() {
			x, err := w.FFKeys(l, r)
			if err != nil {
				return err
			}
			if err := addMatrix(fmt.Sprintf("%sk%d", p, r), x); err != nil {
				return err
			}
			if _, err := biasFF(w, l, r, a.DFF, func(b []float32) error { return addF32(fmt.Sprintf("%sbk%d", p, r), b, len(b)) }); err != nil {
				return err
			}
		}
		vals, err := w.FFValues(l)
		if err != nil {
			return err
		}
		if err := addMatrix(p+"v", vals); err != nil {
			return err
		}
		bff, err := bias(p+"bff", weights.BiasFFOut, l, 1, d)
		if err != nil {
			return err
		}
		m.host.biasFFOut[l] = toF64(bff)
		if a.SandwichNorms {
			n, ok, err := addNorm(p+"pm", weights.PostMLPNorm, l)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("layer %d has no post-MLP norm", l)
			}
			m.host.postMLP[l] = toF64(n.Gain)
		}
	}
	fn, ok, err := addNorm("final", weights.FinalNorm, 0)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the model has no final norm")
	}
	m.host.finalGain, m.host.finalBias = toF64(fn.Gain), toF64(fn.Bias)
	u, err := w.Unembedding()
	if err != nil {
		return err
	}
	return addMatrix("unembed", u)
}

// biasFF reads a layer's MLP input bias of read direction r and hands it to
// add when the model has one.
func biasFF(w *weights.Model, l, r, dff int, add func([]float32) error) ([]float32, error) {
	b, err := w.Bias(weights.BiasFFIn, l, r)
	if err != nil || b == nil {
		return nil, err
	}
	if len(b) != dff {
		return nil, fmt.Errorf("MLP input bias of layer %d has %d values, want %d", l, len(b), dff)
	}
	return b, add(b)
}

func prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// has reports whether a weight was uploaded (biases and norms are
// optional).
func (m *Model) has(name string) bool { _, ok := m.index[name]; return ok }

// cachedGraph is a compiled graph and what its inputs and outputs are.
type cachedGraph struct {
	key  graphKey
	g    *graph.Graph
	outs []output
	used uint64
}

// oldest returns the index of the least recently used graph.
func oldest(gs []*cachedGraph) int {
	return slices.IndexFunc(gs, func(c *cachedGraph) bool {
		for _, o := range gs {
			if o.used < c.used {
				return false
			}
		}
		return true
	})
}
