package forward

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"lenskit.dev/lenskit/internal/gomlxbackend"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// Trace is what one run saw of one prompt. Slices a run was not asked for
// are nil. Positions are the prompt's own (padding is cut off). The slices
// of the traces of one batch share the run's output memory: treat them as
// read-only.
type Trace struct {
	IDs []int // the prompt
	T   int   // its length

	// Resid holds the residual stream, 1 + 2·layers rows of T × d: after
	// the embedding (row 0), then after layer l's attention (row 1 + 2l)
	// and after its MLP (row 2 + 2l). For a parallel-residual model the
	// "after attention" row is the block input plus the attention output.
	Resid [][]float32
	// Attn[l] is layer l's attention, heads × T × T: [h][q][k] is how much
	// query position q of head h attends to key position k.
	Attn [][]float32
	// Heads[l] is what each head of layer l writes to the residual stream
	// (its z·W_O, before any post-attention norm), heads × T × d.
	Heads [][]float32
	// MLP[l] is layer l's activations, T × d_ff: the coefficient each
	// neuron's value is multiplied by (act(x·k + b) for a plain MLP,
	// act(x·g)·(x·u) for a gated one).
	MLP [][]float32
	// Logits are the final logits, T × vocab (after any final softcap).
	Logits []float32
	// LensLogits[r] is residual row r read through the final norm (its
	// own statistics at every position) and W_U (and any final softcap),
	// T × vocab: the last row is the model's own logits. ReadLens turns
	// them into distributions. When the vocabulary product ran on the host
	// (WithLensProduct) the logits stay in that product's layout and
	// LensLogits is nil: read them with LensRow.
	LensLogits [][]float32
	lensCols   *lensColumns

	keep  []*tensors.Tensor // the output buffers the slices alias (see exec)
	share *lensShare        // the host lens product's buffer (see Release)
}

// RowName names residual row r as the command line's lens does: "embed",
// "L0.attn", "L0.mlp", …
func RowName(r int) string {
	if r == 0 {
		return "embed"
	}
	if r%2 == 1 {
		return fmt.Sprintf("L%d.attn", (r-1)/2)
	}
	return fmt.Sprintf("L%d.mlp", (r-2)/2)
}

// seqBucket is the multiple prompts are padded to.
const seqBucket = 16

// ErrTooLong is returned (wrapped) for a prompt longer than the model's
// positions.
var ErrTooLong = errors.New("prompt longer than the model's positions")

// ErrEmpty is returned (wrapped) for an empty prompt.
var ErrEmpty = errors.New("empty prompt")

// Run runs prompts (token ids) through the model, all in one batch, and
// returns one Trace per prompt with what want selects. Every prompt must
// hold 1 … Arch.Positions ids below Arch.Vocab.
func (m *Model) Run(prompts [][]int, want Want) ([]*Trace, error) {
	a := m.a
	if len(prompts) == 0 {
		return nil, fmt.Errorf("forward: %s: no prompts", m.w.Name())
	}
	if want.Layers < 0 || want.Layers > a.Layers || want.MLPFrom < 0 {
		return nil, fmt.Errorf("forward: %s: layers %d (from %d) out of range [0,%d]", m.w.Name(), want.Layers, want.MLPFrom, a.Layers)
	}
	if want.Layers == a.Layers {
		want.Layers = 0
	}
	if want.Layers > 0 && (want.Logits || want.Lens) {
		return nil, fmt.Errorf("forward: %s: logits and the logit lens need every layer (asked for %d of %d)", m.w.Name(), want.Layers, a.Layers)
	}
	if !want.Resid && !want.Attn && !want.Heads && !want.MLP && !want.Logits && !want.Lens {
		return nil, fmt.Errorf("forward: %s: nothing asked of the run", m.w.Name())
	}
	maxLen := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("forward: %s: prompt %d: %w", m.w.Name(), i, ErrEmpty)
		}
		if len(p) > a.Positions {
			return nil, fmt.Errorf("forward: %s: prompt %d has %d tokens: %w (%d)", m.w.Name(), i, len(p), ErrTooLong, a.Positions)
		}
		for j, id := range p {
			if id < 0 || id >= a.Vocab {
				return nil, fmt.Errorf("forward: %s: prompt %d, position %d: token id %d out of range [0,%d)", m.w.Name(), i, j, id, a.Vocab)
			}
		}
		maxLen = max(maxLen, len(p))
	}
	B := len(prompts)
	T := (maxLen + seqBucket - 1) / seqBucket * seqBucket
	x0, err := m.embed(prompts, T)
	if err != nil {
		return nil, err
	}
	rot, tables, err := m.rotaryTables()
	if err != nil {
		return nil, fmt.Errorf("forward: %s: %w", m.w.Name(), err)
	}
	var outs [][]float32
	var keep []*tensors.Tensor
	var plan []output
	err = m.locked(func() error {
		cg, err := m.graph(graphKey{batch: B, seq: T, want: want}, rot, len(tables))
		if err != nil {
			return err
		}
		plan = cg.plan()
		var inputs []compute.Buffer
		var release []compute.Buffer
		defer func() {
			for _, b := range release {
				_ = b.Finalize()
			}
		}()
		send := func(data []float32, dims ...int) error {
			b, err := m.backend.BufferFromFlatData(0, data, shapes.Make(dtypes.Float32, dims...))
			if err != nil {
				return err
			}
			inputs = append(inputs, b)
			release = append(release, b)
			return nil
		}
		if err := send(x0, B, T, a.DModel); err != nil {
			return fmt.Errorf("uploading the embeddings: %w", err)
		}
		for _, t := range tables {
			c, s := t.cosSin(T)
			if err := send(c, T, len(t.inv)); err != nil {
				return err
			}
			if err := send(s, T, len(t.inv)); err != nil {
				return err
			}
		}
		for _, p := range m.params {
			inputs = append(inputs, p.buf)
		}
		outs, keep, err = m.exec(cg.g, inputs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("forward: %s: batch of %d × %d tokens: %w", m.w.Name(), B, T, err)
	}
	share, err := m.hostLens(plan, outs)
	if err != nil {
		return nil, fmt.Errorf("forward: %s: logit lens: %w", m.w.Name(), err)
	}
	if err := nonFiniteOutput(m.w.Name(), plan, outs); err != nil {
		return nil, err
	}
	traces := m.split(prompts, T, want, plan, outs)
	if share != nil {
		share.refs.Store(int32(len(traces)))
		for _, tr := range traces {
			tr.share = share
		}
	}
	for _, tr := range traces {
		tr.keep = keep
	}
	return traces, nil
}

func (c *cachedGraph) plan() []output { return c.outs }

// locked runs f holding the model's lock, with GoMLX panics turned into
// errors.
func (m *Model) locked(f func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("model is closed")
	}
	m.clock++
	return gomlxbackend.Catch(f)
}

// graph returns the compiled graph for k, building it on first use.
// Called with m.mu held.
func (m *Model) graph(k graphKey, rot []int, tables int) (*cachedGraph, error) {
	for _, c := range m.graphs {
		if c.key == k {
			c.used = m.clock
			return c, nil
		}
	}
	t0 := time.Now()
	g := graph.NewGraph(m.backend, fmt.Sprintf("lenskit_forward_b%d_t%d", k.batch, k.seq))
	var bd *builder
	err := gomlxbackend.Catch(func() error {
		bd = m.build(g, k, rot, tables)
		return g.Compile(bd.outs...)
	})
	if err != nil {
		_ = gomlxbackend.Catch(func() error { g.Finalize(); return nil })
		return nil, fmt.Errorf("compiling the forward graph (batch %d, %d tokens): %w", k.batch, k.seq, err)
	}
	m.compile += time.Since(t0)
	m.nCompil++
	if len(m.graphs) >= maxGraphs {
		i := oldest(m.graphs)
		m.graphs[i].g.Finalize()
		m.graphs = append(m.graphs[:i], m.graphs[i+1:]...)
	}
	c := &cachedGraph{key: k, g: g, outs: bd.plan, used: m.clock}
	m.graphs = append(m.graphs, c)
	return c, nil
}

// exec runs g and returns every output as float32 on the host, and the
// result tensors the slices alias (nil when they were copied). On a
// backend with shared buffers (the Go backend) the slices are the output
// buffers themselves — a vocabulary-sized lens is hundreds of megabytes, and
// copying it cost as much as computing it — and the tensors must stay
// referenced while the slices are used: a tensor's finalizer returns its
// buffer to the backend's pool. Called with m.mu held.
func (m *Model) exec(g *graph.Graph, inputs []compute.Buffer) ([][]float32, []*tensors.Tensor, error) {
	res := g.RunWithBuffers(inputs, make([]bool, len(inputs)), 0)
	shared := m.backend.HasSharedBuffers()
	out := make([][]float32, len(res))
	for i, t := range res {
		buf, err := t.Buffer(m.backend, 0)
		if err == nil && shared {
			var flat any
			if flat, err = buf.Data(); err == nil {
				if f, ok := flat.([]float32); ok && len(f) == t.Shape().Size() {
					out[i] = f
					continue
				}
			}
		}
		if err != nil {
			finalizeAll(res)
			return nil, nil, err
		}
		out[i] = make([]float32, t.Shape().Size())
		if err := buf.ToFlatData(out[i]); err != nil {
			finalizeAll(res)
			return nil, nil, err
		}
	}
	if !shared {
		finalizeAll(res)
		res = nil
	}
	return out, res, nil
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// hostLens replaces the normalised residual rows of a run made with a
// lens product by their logits: W_U·Yᵀ on the host engine, V × N with N
// the rows of every position in [R, B, T] order, kept in that layout (a
// transpose of a vocabulary-sized lens cost as much as reading it),
// softcapped when the model caps its logits.
func (m *Model) hostLens(plan []output, outs [][]float32) (share *lensShare, err error) {
	for i, o := range plan {
		if o.kind != outLensY {
			continue
		}
		d, V := m.a.DModel, m.a.Vocab
		y := outs[i]
		n := len(y) / d
		yt := weights.NewMatrix(d, n)
		transposeInto(yt.Data, y, n, d)
		u, err := m.w.Unembedding()
		if err != nil {
			return nil, err
		}
		var prod weights.Matrix
		if pi, ok := m.product.(productInto); ok {
			// Into a buffer the traces give back (Trace.Release): a fresh
			// one costs a page fault per 4 kB of a 321 MB product.
			share = m.lensBuffer(V * n)
			prod = weights.Matrix{Rows: V, Cols: n, Data: share.data}
			err = pi.MatMulInto(u, yt, prod)
		} else {
			prod, err = m.product.MatMul(u, yt)
		}
		if err != nil {
			return nil, err
		}
		if prod.Rows != V || prod.Cols != n || len(prod.Data) != V*n {
			return nil, fmt.Errorf("the lens product returned %v, want %d×%d", prod, V, n)
		}
		if c := m.a.FinalSoftcap; c > 0 {
			for j, v := range prod.Data {
				prod.Data[j] = float32(c * math.Tanh(float64(v)/c))
			}
		}
		outs[i] = prod.Data
	}
	return share, nil
}

// productInto is a Product that can write into a given matrix
// (project's CPU engine).
type productInto interface {
	MatMulInto(x, w, out weights.Matrix) error
}

// lensShare is a host lens product's buffer, shared by the traces of one
// batch and given back to the model's pool when the last is released.
type lensShare struct {
	data []float32
	refs atomic.Int32
	pool *sync.Pool
}

// lensBuffer returns a buffer of n floats for a lens product, reused from
// an earlier released run when one is large enough.
func (m *Model) lensBuffer(n int) *lensShare {
	if p, ok := m.lensPool.Get().(*[]float32); ok && cap(*p) >= n {
		return &lensShare{data: (*p)[:n], pool: &m.lensPool}
	}
	return &lensShare{data: make([]float32, n), pool: &m.lensPool}
}

// Release tells the model the trace's logit lens will not be read again,
// so the next run may reuse its memory (hundreds of megabytes for a
// medium-sized model). The trace's lens must not be read afterwards;
// releasing twice, or a trace without a host lens, does nothing.
func (tr *Trace) Release() {
	s := tr.share
	if s == nil {
		return
	}
	tr.share, tr.lensCols = nil, nil
	if s.refs.Add(-1) == 0 {
		s.pool.Put(&s.data)
	}
}

// transposeInto writes the transpose of src (rows × cols, row-major) into
// dst (cols × rows), in 64 × 64 blocks on every core.
func transposeInto(dst, src []float32, rows, cols int) {
	const blk = 64
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r0 := range work {
				r1 := min(r0+blk, rows)
				for c0 := 0; c0 < cols; c0 += blk {
					c1 := min(c0+blk, cols)
					for r := r0; r < r1; r++ {
						row := src[r*cols : (r+1)*cols]
						for c := c0; c < c1; c++ {
							dst[c*rows+r] = row[c]
						}
					}
				}
			}
		}()
	}
	for r0 := 0; r0 < rows; r0 += blk {
		work <- r0
	}
	close(work)
	wg.Wait()
}

// lensColumns is a host-computed lens: logits V × n, column (r·B + b)·T + t
// holding row r at position t of prompt b.
type lensColumns struct {
	data                []float32
	n, vocab            int
	rows, batch, seq, b int
}

func (c *lensColumns) col(r, t int) int { return (r*c.batch+c.b)*c.seq + t }

// LensRow writes the logits of residual row r at position t (vocab
// values) into dst and returns it, whichever layout the run produced.
func (tr *Trace) LensRow(r, t int, dst []float32) []float32 {
	if c := tr.lensCols; c != nil {
		if cap(dst) < c.vocab {
			dst = make([]float32, c.vocab)
		}
		dst = dst[:c.vocab]
		j := c.col(r, t)
		for v := range dst {
			dst[v] = c.data[v*c.n+j]
		}
		return dst
	}
	V := len(tr.LensLogits[r]) / tr.T
	return append(dst[:0], tr.LensLogits[r][t*V:(t+1)*V]...)
}

// embed builds the first residual on the host: W_E[id]·EmbedScale plus the
// learned position row (GPT-2), batch × seq × d, zero rows for padding.
func (m *Model) embed(prompts [][]int, seq int) ([]float32, error) {
	a := m.a
	d := a.DModel
	e, err := m.w.Embedding()
	if err != nil {
		return nil, fmt.Errorf("forward: %s: %w", m.w.Name(), err)
	}
	pos, hasPos, err := m.w.Positions()
	if err != nil {
		return nil, fmt.Errorf("forward: %s: %w", m.w.Name(), err)
	}
	x := make([]float32, len(prompts)*seq*d)
	row := make([]float32, d)
	for b, p := range prompts {
		for t, id := range p {
			dst := x[(b*seq+t)*d : (b*seq+t+1)*d]
			e.RowInto(row, id)
			if i := project.FirstNonFinite(row); i >= 0 {
				return nil, fmt.Errorf("forward: %s: W_E (the embedding): %w: token %d holds NaN or ±Inf at coordinate %d", m.w.Name(), project.ErrNonFinite, id, i)
			}
			for i, v := range row {
				dst[i] = float32(float64(v) * a.EmbedScale)
			}
			if hasPos {
				pr := pos.RowInto(row, t)
				if i := project.FirstNonFinite(pr); i >= 0 {
					return nil, fmt.Errorf("forward: %s: the position embedding: %w: position %d holds NaN or ±Inf at coordinate %d", m.w.Name(), project.ErrNonFinite, t, i)
				}
				for i, v := range pr {
					dst[i] += v
				}
			}
		}
	}
	return x, nil
}

// split cuts the batch's outputs into one Trace per prompt.
func (m *Model) split(prompts [][]int, T int, want Want, plan []output, outs [][]float32) []*Trace {
	a := m.a
	B := len(prompts)
	d, H, V, F := a.DModel, a.Heads, a.Vocab, a.DFF
	rows := 1 + 2*a.Layers
	if want.Layers > 0 {
		rows = 1 + 2*want.Layers
	}
	traces := make([]*Trace, B)
	for b, p := range prompts {
		tr := &Trace{IDs: append([]int(nil), p...), T: len(p)}
		if want.Resid {
			tr.Resid = make([][]float32, rows)
		}
		if want.Attn {
			tr.Attn = make([][]float32, a.Layers)
		}
		if want.Heads {
			tr.Heads = make([][]float32, a.Layers)
		}
		if want.MLP {
			tr.MLP = make([][]float32, a.Layers)
		}
		if want.Lens {
			tr.LensLogits = make([][]float32, rows)
		}
		traces[b] = tr
	}
	// take returns prompt b's first n positions of a [.., B, T, w] block,
	// aliasing the batch's output (no copy; capacity cut so that appends
	// cannot reach the next prompt).
	take := func(src []float32, b, n, w int) []float32 {
		return src[b*T*w : (b*T+n)*w : (b*T+n)*w]
	}
	for i, o := range plan {
		x := outs[i]
		for b, tr := range traces {
			n := tr.T
			switch o.kind {
			case outResid:
				tr.Resid[o.index] = take(x, b, n, d)
			case outAttn:
				// [B, H, T, T] → H × n × n
				dst := make([]float32, H*n*n)
				for h := range H {
					for q := range n {
						src := x[((b*H+h)*T+q)*T:]
						copy(dst[(h*n+q)*n:(h*n+q+1)*n], src[:n])
					}
				}
				tr.Attn[o.index] = dst
			case outHeads:
				// [H, B, T, d] → H × n × d
				dst := make([]float32, H*n*d)
				for h := range H {
					copy(dst[h*n*d:(h+1)*n*d], x[((h*B+b)*T)*d:((h*B+b)*T+n)*d])
				}
				tr.Heads[o.index] = dst
			case outMLP:
				tr.MLP[o.index] = take(x, b, n, F)
			case outLogits:
				tr.Logits = take(x, b, n, V)
			case outLens:
				for r := range rows {
					tr.LensLogits[r] = take(x[r*B*T*V:(r+1)*B*T*V], b, n, V)
				}
			case outLensY:
				tr.LensLogits = nil
				tr.lensCols = &lensColumns{data: x, n: rows * B * T, vocab: V, rows: rows, batch: B, seq: T, b: b}
			}
		}
	}
	return traces
}
