package project

import (
	"fmt"
	"math"
	"sync"

	"lenskit.dev/lenskit/weights"
)

// Space is a model's vocabulary space: its unembedding E and the engine
// that computes projections onto it. A Space caches what repeated questions
// share (E's row norms, head views), so a notebook asks many questions of
// one Space. It is safe for concurrent use.
type Space struct {
	Model  *weights.Model
	E      weights.Matrix // Vocab × DModel
	Engine Engine

	normsOnce sync.Once
	maxNorm   float64 // max_t |E_t|

	mu    sync.Mutex
	heads map[headKey]*HeadView
}

type headKey struct {
	kind        Kind
	layer, head int
}

// NewSpace prepares the vocabulary space of m. A nil engine means CPU().
func NewSpace(m *weights.Model, eng Engine) (*Space, error) {
	if m == nil {
		return nil, fmt.Errorf("project: nil model")
	}
	e, err := m.Unembedding()
	if err != nil {
		return nil, err
	}
	if eng == nil {
		eng = CPU()
	}
	return &Space{Model: m, E: e, Engine: eng, heads: map[headKey]*HeadView{}}, nil
}

// maxRowNorm returns max_t |E_t|, used to bound float32 rounding.
func (s *Space) maxRowNorm() float64 {
	s.normsOnce.Do(func() {
		var mu sync.Mutex
		parallelRows(s.E.Rows, 4096, func(lo, hi int) {
			var mx float64
			for t := lo; t < hi; t++ {
				mx = math.Max(mx, norm64(s.E.Row(t)))
			}
			mu.Lock()
			s.maxNorm = math.Max(s.maxNorm, mx)
			mu.Unlock()
		})
	})
	return s.maxNorm
}

// OV returns the W_OV view of head layer.head: E·W_V·W_O·Eᵀ, source token
// (row, the token attended to) → target token (column, the token written
// towards), kept as the factors E·W_V and E·W_Oᵀ.
func (s *Space) OV(layer, head int) (*HeadView, error) { return s.view(OV, layer, head) }

// QK returns the W_QK view of head layer.head: E·W_Q·W_Kᵀ·Eᵀ, query token
// (row) ↔ key token (column), kept as the factors E·W_Q and E·W_K.
func (s *Space) QK(layer, head int) (*HeadView, error) { return s.view(QK, layer, head) }

// View returns the OV or QK view of a head.
func (s *Space) View(kind Kind, layer, head int) (*HeadView, error) {
	return s.view(kind, layer, head)
}

func (s *Space) view(kind Kind, layer, head int) (*HeadView, error) {
	key := headKey{kind, layer, head}
	s.mu.Lock()
	v, ok := s.heads[key]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	var wa, wb weights.Matrix // DModel × DHead each
	var err error
	switch kind {
	case OV:
		if wa, err = s.Model.WV(layer, s.Model.Arch().KVGroup(head)); err != nil {
			return nil, err
		}
		var wo weights.Matrix
		if wo, err = s.Model.WO(layer, head); err != nil {
			return nil, err
		}
		wb = wo.T()
	case QK:
		if wa, err = s.Model.WQ(layer, head); err != nil {
			return nil, err
		}
		if wb, err = s.Model.WK(layer, s.Model.Arch().KVGroup(head)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("project: unknown view %v", kind)
	}
	a, err := s.Engine.MatMul(s.E, wa)
	if err != nil {
		return nil, err
	}
	b, err := s.Engine.MatMul(s.E, wb)
	if err != nil {
		return nil, err
	}
	v = &HeadView{Head: HeadID{layer, head}, Kind: kind, A: a, B: b, engine: s.Engine}
	s.mu.Lock()
	if len(s.heads) >= maxCachedHeads {
		clear(s.heads) // a whole-model scan must not keep every view alive
	}
	s.heads[key] = v
	s.mu.Unlock()
	return v, nil
}

// maxCachedHeads bounds the head views a Space keeps (each holds two
// Vocab × d_head factors: 26 MB for GPT-2 medium).
const maxCachedHeads = 4
