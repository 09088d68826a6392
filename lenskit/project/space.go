package project

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"lenskit.dev/lenskit/weights"
)

// Space is a model's vocabulary space: its input embedding W_E, its
// unembedding W_U and the engine that computes projections onto them. A
// Space caches what repeated questions share (row norms, the factors of a
// KV group, head views), so a notebook asks many questions of one Space. It
// is safe for concurrent use.
//
// Which side reads through which matrix follows the model: sources of OV,
// both sides of QK and neuron keys (gate, up) are read through W_E — they
// are what a token puts into the residual stream; OV targets and neuron
// values through W_U — they are what the residual stream says about the next
// token. For tied models (GPT-2, Gemma, Llama 3.2 1B/3B) the two are one
// matrix.
type Space struct {
	Model  *weights.Model
	WE, WU weights.Matrix // Tokens × DModel each (rows beyond the tokenizer are not part of the space)
	Engine Engine
	Proc   Processing

	normsOnce sync.Once
	maxNormE  float64   // max_t |W_E,t| (raw), bounds float32 rounding
	maxNormU  float64   // max_t |W_U,t| (raw)
	finalGain []float32 // Proc.FoldFinalNorm: W_U is read as W_U·diag(finalGain)
	meanU     []float64 // Proc.CenterUnembed: the mean row of the raw W_U, subtracted (after the gain)
	normsErr  error

	mu      sync.Mutex
	heads   map[headKey]*HeadView
	factors map[factorKey]weights.Matrix
	order   []factorKey // factors in insertion order, oldest first
}

type headKey struct {
	kind        Kind
	layer, head int
	offset      int
}

// factorKey names a factor shared by the query heads of a KV group (or
// owned by one head): which weight, layer, and head or KV head.
type factorKey struct {
	part        byte // 'q', 'k', 'v', 'o'
	layer, head int
}

// Processing is optional weight processing, off by default: the paper and
// the seed read raw weights. It is the same for every family.
type Processing struct {
	// FoldNorms folds the gain of the norm that feeds a matrix into it:
	// the attention norm's into W_Q, W_K and W_V, the MLP norm's into the
	// neuron keys (gate and up). Gains are the effective ones (Gemma's
	// stored γ − 1 read as 1 + γ).
	FoldNorms bool
	// FoldFinalNorm folds the final norm's gain into W_U.
	FoldFinalNorm bool
	// CenterUnembed subtracts W_U's mean row (over the space's tokens), as
	// TransformerLens's center_unembed does: logits then differ only by
	// what distinguishes tokens.
	CenterUnembed bool
}

// String is the description recorded in evidence: "" for raw weights, else
// e.g. "fold-norms+fold-final-norm+center-unembed".
func (p Processing) String() string {
	var s []string
	if p.FoldNorms {
		s = append(s, "fold-norms")
	}
	if p.FoldFinalNorm {
		s = append(s, "fold-final-norm")
	}
	if p.CenterUnembed {
		s = append(s, "center-unembed")
	}
	return strings.Join(s, "+")
}

// ParseProcessing reads what String writes ("" or "raw" for none).
func ParseProcessing(s string) (Processing, error) {
	var p Processing
	if s == "" || s == "raw" {
		return p, nil
	}
	for _, f := range strings.Split(s, "+") {
		switch f {
		case "fold-norms":
			p.FoldNorms = true
		case "fold-final-norm":
			p.FoldFinalNorm = true
		case "center-unembed":
			p.CenterUnembed = true
		default:
			return p, fmt.Errorf("project: unknown weight processing %q (want fold-norms, fold-final-norm, center-unembed, joined by +)", f)
		}
	}
	return p, nil
}

// An Option configures NewSpace.
type Option func(*Space)

// Tokens restricts the space to the first n token ids: a padded embedding
// (Qwen's 151,936 rows for 151,665 tokens) has rows no token uses, and they
// take part in no view.
func Tokens(n int) Option {
	return func(s *Space) {
		if n > 0 && n < s.WE.Rows {
			s.WE, s.WU = s.WE.Slice(0, n), s.WU.Slice(0, n)
		}
	}
}

// WithProcessing selects weight processing.
func WithProcessing(p Processing) Option { return func(s *Space) { s.Proc = p } }

// NewSpace prepares the vocabulary space of m. A nil engine means CPU().
func NewSpace(m *weights.Model, eng Engine, opts ...Option) (*Space, error) {
	if m == nil {
		return nil, fmt.Errorf("project: nil model")
	}
	we, err := m.Embedding()
	if err != nil {
		return nil, err
	}
	wu, err := m.Unembedding()
	if err != nil {
		return nil, err
	}
	if eng == nil {
		eng = CPU()
	}
	s := &Space{Model: m, WE: we, WU: wu, Engine: eng, heads: map[headKey]*HeadView{}, factors: map[factorKey]weights.Matrix{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// ErrNonFinite marks weights holding NaN or ±Inf, or products that overflow
// float32. lenskit's policy: a query that would read such values fails,
// naming the tensor (or factor) and the row, rather than answering with
// NaN-scored or silently missing tokens.
var ErrNonFinite = errors.New("non-finite values")

// FirstNonFinite returns the index of the first NaN or ±Inf in x, or −1:
// the one test every non-finite check uses (all exponent bits set is ±Inf
// or NaN; one mask and compare per value, which matters on a logit lens's
// hundreds of megabytes).
func FirstNonFinite(x []float32) int {
	for i, v := range x {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// FirstNonFiniteBF16 is FirstNonFinite for bfloat16 bits.
func FirstNonFiniteBF16(x []uint16) int {
	for i, v := range x {
		if v&0x7f80 == 0x7f80 {
			return i
		}
	}
	return -1
}

func nonFinite(what string, row int, rowName string) error {
	return fmt.Errorf("project: %s: %w: %s %d holds NaN or ±Inf", what, ErrNonFinite, rowName, row)
}

// prepare computes, once, the row norms of W_E and W_U that bound float32
// rounding, checks both for non-finite values, and prepares W_U's
// processing (final norm gain, mean row). With both, W_U is read as
// (W_U − 1·meanᵀ)·diag(γ_f): a direction x scores W_U,t·(γ_f ⊙ x) − mean·(γ_f ⊙ x).
func (s *Space) prepare() error {
	// Every query that reads the mapped weights comes here first: a file
	// truncated since it was opened is an error now, not a SIGBUS later.
	if s.Model != nil {
		if err := s.Model.Checkpoint().Verify(); err != nil {
			return err
		}
	}
	s.normsOnce.Do(func() {
		if s.Proc.FoldFinalNorm {
			g, _, err := s.Model.LnF()
			if err != nil {
				s.normsErr = err
				return
			}
			s.finalGain = g
		}
		var bad int
		if s.maxNormE, bad = maxRowNorm(s.WE); bad >= 0 {
			s.normsErr = nonFinite("W_E (the embedding)", bad, "token")
			return
		}
		if sameMatrix(s.WE, s.WU) {
			s.maxNormU = s.maxNormE // tied: one pass over the matrix
		} else if s.maxNormU, bad = maxRowNorm(s.WU); bad >= 0 {
			s.normsErr = nonFinite("W_U (the unembedding)", bad, "token")
			return
		}
		if s.Proc.CenterUnembed {
			s.meanU = columnMean(s.WU)
		}
	})
	return s.normsErr
}

// maxRowNorm returns max_t |m_t| and the first row whose norm is not
// finite (−1 when none).
func maxRowNorm(m weights.Matrix) (float64, int) {
	var mu sync.Mutex
	var mx float64
	bad := -1
	parallelRows(m.Rows, 4096, func(lo, hi int) {
		buf := make([]float32, m.Cols)
		var local float64
		lbad := -1
		for t := lo; t < hi; t++ {
			n := norm64(m.RowInto(buf, t))
			if math.IsNaN(n) || math.IsInf(n, 0) {
				if lbad < 0 {
					lbad = t
				}
				continue
			}
			local = max(local, n)
		}
		mu.Lock()
		mx = max(mx, local)
		if lbad >= 0 && (bad < 0 || lbad < bad) {
			bad = lbad
		}
		mu.Unlock()
	})
	return mx, bad
}

// columnMean returns the mean row of m, in float64. Chunks of rows are
// summed on all cores and their sums added in chunk order, so the result
// does not depend on scheduling (a catalogue's bytes must not).
func columnMean(m weights.Matrix) []float64 {
	const step = 4096
	parts := make([][]float64, (m.Rows+step-1)/step)
	parallelRows(len(parts), 1, func(lo, hi int) {
		buf := make([]float32, m.Cols)
		for c := lo; c < hi; c++ {
			local := make([]float64, m.Cols)
			for t := c * step; t < min((c+1)*step, m.Rows); t++ {
				for j, v := range m.RowInto(buf, t) {
					local[j] += float64(v)
				}
			}
			parts[c] = local
		}
	})
	sum := make([]float64, m.Cols)
	for _, p := range parts {
		for j := range sum {
			sum[j] += p[j]
		}
	}
	for j := range sum {
		sum[j] /= float64(m.Rows)
	}
	return sum
}

// uShift returns the constant W_U's centring subtracts from every token's
// score of direction x (already scaled by the final gain): mean·x, or 0.
func (s *Space) uShift(x []float32) float64 {
	if s.meanU == nil {
		return 0
	}
	var sh float64
	for i, m := range s.meanU {
		sh += m * float64(x[i])
	}
	return sh
}

// uDirection returns x as the raw W_U must see it: γ_f ⊙ x when the final
// norm is folded, else x itself.
func (s *Space) uDirection(x []float32) []float32 {
	if s.finalGain == nil {
		return x
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v * s.finalGain[i]
	}
	return out
}

// OV returns the W_OV view of head layer.head: W_E·W_V·W_O·W_Uᵀ, source
// token (row, the token attended to) → target token (column, the token
// written towards), kept as the factors W_E·W_V and W_U·W_Oᵀ. With
// grouped-query attention W_V is the KV group's, and W_E·W_V is computed
// once for all query heads of the group.
func (s *Space) OV(layer, head int) (*HeadView, error) { return s.view(OV, layer, head, 0) }

// QK returns the W_QK view of head layer.head at offset 0: W_E·W_Q·W_Kᵀ·W_Eᵀ,
// query token (row) ↔ key token (column), kept as the factors W_E·W_Q and
// W_E·W_K (each RMS-normalised per row and scaled by its gains for QK-norm
// models).
func (s *Space) QK(layer, head int) (*HeadView, error) { return s.view(QK, layer, head, 0) }

// QKAt returns the W_QK view at relative offset δ = query position − key
// position. Rotary models rotate queries and keys by their positions, so the
// score of a query token at position m with a key token at m − δ depends on
// δ: the key factor is rotated by −δ·ω_i in each rotary plane (Hugging
// Face's rotate_half layout, partial rotary, the layer's base and scaling),
// and the view stays a rank-d_head factored product searched exactly like
// any other. δ = 0 is QK. A model with learned positions (GPT-2) has no
// offset to choose: any δ ≠ 0 is an error.
func (s *Space) QKAt(layer, head, delta int) (*HeadView, error) {
	return s.view(QK, layer, head, delta)
}

// View returns the OV or QK view of a head (QK at offset 0).
func (s *Space) View(kind Kind, layer, head int) (*HeadView, error) {
	return s.view(kind, layer, head, 0)
}

// ViewAt returns the OV or QK view of a head at an offset (only QK of a
// rotary model accepts δ ≠ 0).
func (s *Space) ViewAt(kind Kind, layer, head, delta int) (*HeadView, error) {
	return s.view(kind, layer, head, delta)
}

// ErrNoOffset: a view was asked at δ ≠ 0 where positions do not enter it.
var ErrNoOffset = errors.New("offset not applicable")

func (s *Space) view(kind Kind, layer, head, delta int) (*HeadView, error) {
	a := s.Model.Arch()
	if kind != OV && kind != QK {
		return nil, fmt.Errorf("project: unknown view %v", kind)
	}
	if layer < 0 || layer >= a.Layers || head < 0 || head >= a.Heads {
		// The weights package words the error.
		if _, err := s.Model.WO(layer, head); err != nil {
			return nil, err
		}
	}
	if delta != 0 {
		switch {
		case kind == OV:
			return nil, fmt.Errorf("project: head %d.%d: %w: the OV view does not depend on positions (δ = %d given)", layer, head, ErrNoOffset, delta)
		case a.Rotary == nil:
			return nil, fmt.Errorf("project: head %d.%d: %w: %s has learned absolute positions, not rotary embeddings, so its QK view has no query–key offset (δ = %d given); use δ = 0", layer, head, ErrNoOffset, s.Model.Name(), delta)
		}
	}
	key := headKey{kind, layer, head, delta}
	s.mu.Lock()
	v, ok := s.heads[key]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	g := a.KVGroup(head)
	var fa, fb weights.Matrix
	var err error
	switch kind {
	case OV:
		if fa, err = s.factor(factorKey{'v', layer, g}); err != nil {
			return nil, err
		}
		if fb, err = s.factor(factorKey{'o', layer, head}); err != nil {
			return nil, err
		}
	case QK:
		if fa, err = s.factor(factorKey{'q', layer, head}); err != nil {
			return nil, err
		}
		if fb, err = s.factor(factorKey{'k', layer, g}); err != nil {
			return nil, err
		}
		if a.Rotary != nil {
			if fb, err = s.rotate(fb, layer, delta); err != nil {
				return nil, err
			}
		}
	}
	v = &HeadView{Head: HeadID{layer, head}, Kind: kind, KV: g, GQA: a.KVHeads != a.Heads, Offset: delta,
		Processing: s.Proc.String(), A: fa, B: fb, engine: s.Engine}
	s.mu.Lock()
	// A whole-model scan must not keep every view alive, nor a model with a
	// large vocabulary more than a few: views hold their factors.
	if len(s.heads) >= maxCachedHeads || factorBytes(fa)+factorBytes(fb) > cacheBudget/maxCachedHeads {
		clear(s.heads)
	}
	s.heads[key] = v
	s.mu.Unlock()
	return v, nil
}

// maxCachedHeads bounds the head views a Space keeps, maxCachedFactors and
// cacheBudget the factors (each Vocab × d_head: 13 MB for GPT-2 medium, 66 MB
// for Llama 3 8B, so the budget keeps eight of the first and three of the
// second).
const (
	maxCachedHeads   = 4
	maxCachedFactors = 8
	cacheBudget      = 256 << 20
)

func factorBytes(m weights.Matrix) int { return 4 * m.Rows * m.Cols }

// factor returns one factor of a head view, computing it at most once while
// it stays cached: 'v' W_E·W_V and 'k' W_E·W_K of a KV head (normalised for
// QK-norm models), 'q' W_E·W_Q of a query head (likewise), 'o' W_U·W_Oᵀ of
// a query head (with W_U's processing).
func (s *Space) factor(key factorKey) (weights.Matrix, error) {
	s.mu.Lock()
	f, ok := s.factors[key]
	s.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := s.computeFactor(key)
	if err != nil {
		return weights.Matrix{}, err
	}
	s.mu.Lock()
	if _, ok := s.factors[key]; !ok {
		total := factorBytes(f)
		for _, k := range s.order {
			total += factorBytes(s.factors[k])
		}
		for len(s.order) > 0 && (len(s.order) >= maxCachedFactors || total > cacheBudget) {
			total -= factorBytes(s.factors[s.order[0]])
			delete(s.factors, s.order[0])
			s.order = s.order[1:]
		}
		s.factors[key] = f
		s.order = append(s.order, key)
	}
	s.mu.Unlock()
	return f, nil
}

func (s *Space) computeFactor(key factorKey) (weights.Matrix, error) {
	m, l := s.Model, key.layer
	a := m.Arch()
	var w weights.Matrix // DModel × DHead
	var err error
	var what string
	switch key.part {
	case 'q':
		w, err = m.WQ(l, key.head)
		what = fmt.Sprintf("W_Q of head %d.%d", l, key.head)
	case 'k':
		w, err = m.WK(l, key.head)
		what = fmt.Sprintf("W_K of KV head %d.%d", l, key.head)
	case 'v':
		w, err = m.WV(l, key.head)
		what = fmt.Sprintf("W_V of KV head %d.%d", l, key.head)
	case 'o':
		var wo weights.Matrix
		if wo, err = m.WO(l, key.head); err == nil {
			w = wo.T()
		}
		what = fmt.Sprintf("W_O of head %d.%d", l, key.head)
	}
	if err != nil {
		return weights.Matrix{}, err
	}
	if r := nonFiniteRow(w); r >= 0 {
		return weights.Matrix{}, nonFinite(what, r, "row")
	}
	if key.part == 'o' {
		// W_U·diag(γ_f)·W_Oᵀ = W_U·(diag(γ_f)·W_Oᵀ); centring subtracts
		// mean(W_U)·diag(γ_f)·W_Oᵀ from every row afterwards.
		if s.finalGain != nil {
			w = scaleRows(w, s.finalGain)
		}
	} else if s.Proc.FoldNorms {
		n, ok, err := m.Norm(weights.AttnNorm, l)
		if err != nil {
			return weights.Matrix{}, err
		}
		if ok {
			w = scaleRows(w, n.Gain)
		}
	}
	src := s.WE
	if key.part == 'o' {
		src = s.WU
	}
	f, err := s.Engine.MatMul(src, w)
	if err != nil {
		return weights.Matrix{}, err
	}
	if key.part == 'o' && s.meanU != nil {
		shift := make([]float64, w.Cols)
		col := make([]float32, w.Rows)
		for j := range w.Cols {
			for i := range w.Rows {
				col[i] = w.Data[i*w.Cols+j]
			}
			shift[j] = s.uShift(col)
		}
		parallelRows(f.Rows, 4096, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				row := f.Data[t*f.Cols : (t+1)*f.Cols]
				for j := range row {
					row[j] = float32(float64(row[j]) - shift[j])
				}
			}
		})
	}
	if a.QKNorm && (key.part == 'q' || key.part == 'k') {
		site := weights.QNorm
		if key.part == 'k' {
			site = weights.KNorm
		}
		n, ok, err := m.Norm(site, l)
		if err != nil {
			return weights.Matrix{}, err
		}
		if ok {
			rmsNormRows(f, n.Gain, n.Eps)
		}
	}
	factorName := map[byte]string{'q': "W_E·W_Q", 'k': "W_E·W_K", 'v': "W_E·W_V", 'o': "W_U·W_Oᵀ"}[key.part]
	if r := nonFiniteRow(f); r >= 0 {
		return weights.Matrix{}, fmt.Errorf("project: %s of %s: %w: the product overflows float32 at token %d", factorName, what[strings.Index(what, "of ")+3:], ErrNonFinite, r)
	}
	return f, nil
}

// scaleRows returns diag(g)·w as a new matrix.
func scaleRows(w weights.Matrix, g []float32) weights.Matrix {
	out := weights.NewMatrix(w.Rows, w.Cols)
	for i := range w.Rows {
		for j := range w.Cols {
			out.Data[i*w.Cols+j] = w.Data[i*w.Cols+j] * g[i]
		}
	}
	return out
}

// rmsNormRows replaces each row x of f by x/√(mean(x²) + eps) ⊙ gain, as
// QK-norm does to each head's queries and keys.
func rmsNormRows(f weights.Matrix, gain []float32, eps float64) {
	parallelRows(f.Rows, 4096, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			row := f.Data[t*f.Cols : (t+1)*f.Cols]
			var ss float64
			for _, x := range row {
				ss += float64(x) * float64(x)
			}
			inv := 1 / math.Sqrt(ss/float64(len(row))+eps)
			for j, x := range row {
				row[j] = float32(float64(x) * inv * float64(gain[j]))
			}
		}
	})
}

// rotate returns the key factor k rotated for offset δ: in each rotary
// plane (i, i + Dims/2) of the first Dims coordinates, R(−δ·ω_i), times
// the square of the layer's attention scaling (YaRN) on the rotated
// coordinates — so that q·R(−δω)·k is the score of a query at position m
// with a key at m − δ, since R(mω)ᵀ·R((m−δ)ω) = R(−δω).
func (s *Space) rotate(k weights.Matrix, layer, delta int) (weights.Matrix, error) {
	inv, scale, err := s.Model.RotaryAt(layer)
	if err != nil {
		return weights.Matrix{}, err
	}
	if delta == 0 && scale == 1 {
		return k, nil
	}
	half := len(inv)
	c, sn := make([]float64, half), make([]float64, half)
	for i, w := range inv {
		th := float64(delta) * w
		c[i], sn[i] = math.Cos(th)*scale*scale, math.Sin(th)*scale*scale
	}
	out := weights.NewMatrix(k.Rows, k.Cols)
	parallelRows(k.Rows, 4096, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			src := k.Data[t*k.Cols : (t+1)*k.Cols]
			dst := out.Data[t*k.Cols : (t+1)*k.Cols]
			copy(dst, src)
			for i := range half {
				x, y := float64(src[i]), float64(src[i+half])
				dst[i] = float32(x*c[i] + y*sn[i])
				dst[i+half] = float32(y*c[i] - x*sn[i])
			}
		}
	})
	return out, nil
}

// nonFiniteRow returns the first row of m holding NaN or ±Inf, or −1.
func nonFiniteRow(m weights.Matrix) int {
	if i := FirstNonFinite(m.Data); i >= 0 {
		return i / m.Cols
	}
	return -1
}

// sameMatrix reports whether a and b are the same matrix in memory (W_E
// and W_U of a model with tied embeddings), so that work on one serves
// both.
func sameMatrix(a, b weights.Matrix) bool {
	if a.Rows != b.Rows || a.Cols != b.Cols || len(a.Data) != len(b.Data) || len(a.BF16) != len(b.BF16) {
		return false
	}
	switch {
	case len(a.Data) > 0:
		return &a.Data[0] == &b.Data[0]
	case len(a.BF16) > 0:
		return &a.BF16[0] == &b.BF16[0]
	}
	return false
}
