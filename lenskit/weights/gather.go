package weights

import (
	"fmt"
	"slices"

	"lenskit.dev/lenskit/checkpoint"
)

// tensorSet finds an adapter's tensors and checks each against the shape
// config.json implies at open, before any data is read, recording the
// parameters under canonical names for the weights hash. Its errors read as
// gpt2.go's: the file, the tensor, the fault and both shapes.
type tensorSet struct {
	c      *checkpoint.Checkpoint
	prefix string // prepended to canonical names of the base model's tensors
	params map[string]*checkpoint.Tensor
}

func newTensorSet(c *checkpoint.Checkpoint, prefix string) *tensorSet {
	return &tensorSet{c: c, prefix: prefix, params: make(map[string]*checkpoint.Tensor)}
}

// need finds prefix+name; why explains the expected shape ("hidden_size=256")
// and, for a tensor that only some configs have, why it is required.
func (s *tensorSet) need(name, why string, shape ...int) (*checkpoint.Tensor, error) {
	return s.needStored(s.prefix+name, name, why, shape...)
}

// needBecause is need for a tensor only some configs have: a missing one
// is reported with the reason it is expected ("attention_bias is true").
func (s *tensorSet) needBecause(name, because, why string, shape ...int) (*checkpoint.Tensor, error) {
	if _, ok := s.c.Lookup(s.prefix + name); !ok && because != "" {
		return nil, fmt.Errorf("weights: %s: %w: tensor %q is missing (%s)", s.c.ID(), ErrShape, s.prefix+name, because)
	}
	return s.need(name, why, shape...)
}

// needStored finds a tensor by its stored name (lm_head.weight sits beside
// the base model's prefix) and records it under canonical.
func (s *tensorSet) needStored(stored, canonical, why string, shape ...int) (*checkpoint.Tensor, error) {
	t, ok := s.c.Lookup(stored)
	if !ok {
		return nil, fmt.Errorf("weights: %s: %w: tensor %q is missing", s.c.ID(), ErrShape, stored)
	}
	if err := checkTensor(t, why, shape...); err != nil {
		return nil, err
	}
	s.params[canonical] = t
	return t, nil
}

// checkTensor checks a found tensor's dtype and shape.
func checkTensor(t *checkpoint.Tensor, why string, shape ...int) error {
	if !t.DType.Float() {
		return fmt.Errorf("weights: %s: tensor %q: %w: dtype %s is not a float type", t.File, t.Name, ErrShape, t.DType)
	}
	if !slices.Equal(t.Shape, shape) {
		return fmt.Errorf("weights: %s: tensor %q: %w: shape %v, config.json implies %v (%s)", t.File, t.Name, ErrShape, t.Shape, shape, why)
	}
	return nil
}

// elems reads single elements of a float tensor without converting a BF16
// one to a float32 copy: per-head matrices are gathered from it. F32 data is
// aliased; F16 and F64 are converted once per tensor (checkpoint caches it).
type elems struct {
	f32  []float32
	bf16 []uint16
}

func elemsOf(t *checkpoint.Tensor) (elems, error) {
	if t.DType == checkpoint.BF16 {
		if bits, ok := t.Uint16s(); ok {
			return elems{bf16: bits}, nil
		}
	}
	data, err := t.Float32()
	if err != nil {
		return elems{}, fmt.Errorf("weights: %w", err)
	}
	return elems{f32: data}, nil
}

func (e elems) at(i int) float32 {
	if e.bf16 != nil {
		return BF16ToF32(e.bf16[i])
	}
	return e.f32[i]
}

// linearRowsT gathers rows lo … lo+n−1 of an nn.Linear weight W ([out, in])
// transposed: an in × n matrix whose column j is row lo+j. This is how
// W_Q of a head (d × d_head) sits in q_proj.weight ([heads·d_head, d]):
// q = x·Wᵀ, so the head's columns of the product are its rows of W.
func linearRowsT(t *checkpoint.Tensor, lo, n int) (Matrix, error) {
	e, err := elemsOf(t)
	if err != nil {
		return Matrix{}, err
	}
	in := t.Shape[1]
	out := NewMatrix(in, n)
	for j := range n {
		row := (lo + j) * in
		for i := range in {
			out.Data[i*n+j] = e.at(row + i)
		}
	}
	return out, nil
}

// linearCols gathers columns lo … lo+n−1 of an nn.Linear weight W
// ([out, in]) transposed: an n × out matrix whose row j is column lo+j. This
// is W_O of a head (d_head × d) in o_proj.weight ([d, heads·d_head]): the
// head's value coordinates are the input columns lo … lo+d_head−1.
func linearCols(t *checkpoint.Tensor, lo, n int) (Matrix, error) {
	e, err := elemsOf(t)
	if err != nil {
		return Matrix{}, err
	}
	rows, in := t.Shape[0], t.Shape[1]
	m := NewMatrix(n, rows)
	for i := range rows {
		for j := range n {
			m.Data[j*rows+i] = e.at(i*in + lo + j)
		}
	}
	return m, nil
}

// transposeBlock is the tile edge of transposeLarge: a 128 × 128 tile of
// two-byte elements is 32 KB, one L1 cache's worth.
const transposeBlock = 128

// transposeLarge returns the transpose of a 2-D tensor as a fresh matrix
// in the tensor's own precision when that is BF16 (the bits are moved, not
// converted: half the memory of a float32 copy and exact), else float32.
// Used for down_proj ([d, d_ff]) → neuron-major values (d_ff × d). A
// 14,336 × 4,096 BF16 matrix (Llama 3 8B) is 117 MB and takes a few hundred
// milliseconds, most of it the kernel providing the fresh pages.
func transposeLarge(t *checkpoint.Tensor) (Matrix, error) {
	rows, cols := t.Shape[0], t.Shape[1]
	if t.DType == checkpoint.BF16 {
		if src, ok := t.Uint16s(); ok {
			dst := make([]uint16, len(src))
			transposeTiles(src, dst, rows, cols)
			return Matrix{Rows: cols, Cols: rows, BF16: dst}, nil
		}
	}
	src, err := t.Float32()
	if err != nil {
		return Matrix{}, fmt.Errorf("weights: %w", err)
	}
	dst := make([]float32, len(src))
	transposeTiles(src, dst, rows, cols)
	return Matrix{Rows: cols, Cols: rows, Data: dst}, nil
}

// transposeTiles writes the transpose of the rows × cols matrix src into
// dst (cols × rows), tile by tile, four source rows at a time so that each
// write to dst fills four adjacent elements (five times faster than one at
// a time, measured on a 14,336 × 4,096 matrix).
func transposeTiles[T any](src, dst []T, rows, cols int) {
	for i0 := 0; i0 < rows; i0 += transposeBlock {
		i1 := min(i0+transposeBlock, rows)
		for j0 := 0; j0 < cols; j0 += transposeBlock {
			j1 := min(j0+transposeBlock, cols)
			i := i0
			for ; i+4 <= i1; i += 4 {
				r0 := src[i*cols+j0 : i*cols+j1]
				r1 := src[(i+1)*cols+j0 : (i+1)*cols+j1][:len(r0)]
				r2 := src[(i+2)*cols+j0 : (i+2)*cols+j1][:len(r0)]
				r3 := src[(i+3)*cols+j0 : (i+3)*cols+j1][:len(r0)]
				for k := range r0 {
					at := (j0+k)*rows + i
					d := dst[at : at+4 : at+4]
					d[0], d[1], d[2], d[3] = r0[k], r1[k], r2[k], r3[k]
				}
			}
			for ; i < i1; i++ {
				for j := j0; j < j1; j++ {
					dst[j*rows+i] = src[i*cols+j]
				}
			}
		}
	}
}

// column gathers column j of a 2-D tensor (one neuron's value in
// down_proj), without transposing the rest.
func column(t *checkpoint.Tensor, j int) ([]float32, error) {
	e, err := elemsOf(t)
	if err != nil {
		return nil, err
	}
	rows, cols := t.Shape[0], t.Shape[1]
	out := make([]float32, rows)
	for i := range out {
		out[i] = e.at(i*cols + j)
	}
	return out, nil
}

// vectorPart reads elements lo … lo+n−1 of a 1-D tensor as a fresh slice
// (a head's share of a bias).
func vectorPart(t *checkpoint.Tensor, lo, n int) ([]float32, error) {
	e, err := elemsOf(t)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = e.at(lo + i)
	}
	return out, nil
}

// gains reads a norm weight; plusOne adds 1 in float32, as Gemma's RMSNorm
// computes output·(1 + weight.float()), so the gain returned is the one
// applied.
func gains(t *checkpoint.Tensor, plusOne bool) ([]float32, error) {
	g, err := vectorPart(t, 0, t.NumElements())
	if err != nil {
		return nil, err
	}
	if plusOne {
		for i := range g {
			g[i] = 1 + g[i]
		}
	}
	return g, nil
}
