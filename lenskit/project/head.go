package project

import (
	"fmt"
	"sync"

	"lenskit.dev/lenskit/weights"
)

// HeadView is one attention head's V×V vocabulary view, kept factored as
// A·Bᵀ (A, B: Vocab × DHead), the way TransformerLens keeps a FactoredMatrix:
// the V×V matrix is never formed, and entries, top-k, bottom-k and singular
// values are all derived from the factors.
type HeadView struct {
	Head       HeadID
	Kind       Kind
	KV         int            // the KV head the query head reads
	GQA        bool           // the model has grouped-query attention
	Offset     int            // QK of a rotary model: the query–key offset δ the key factor is rotated for
	Processing string         // weight processing the factors were made with ("" = raw)
	A, B       weights.Matrix // the view is A·Bᵀ; rows are token ids

	engine Engine
	once   sync.Once
	ta, tb dmat
	sigma  []float64
	rotOK  bool
}

// NewHeadView wraps two factors as a view (for tests, synthetic circuits
// and models lenskit has no adapter for).
func NewHeadView(head HeadID, kind Kind, a, b weights.Matrix, eng Engine) (*HeadView, error) {
	if a.Cols != b.Cols {
		return nil, fmt.Errorf("project: factors of head %v have widths %d and %d", head, a.Cols, b.Cols)
	}
	if eng == nil {
		eng = CPU()
	}
	for _, f := range []struct {
		name string
		m    weights.Matrix
	}{{"A", a}, {"B", b}} {
		if f.m.IsBF16() {
			return nil, fmt.Errorf("project: factor %s of head %v is BF16; factors are float32", f.name, head)
		}
		if r := nonFiniteRow(f.m); r >= 0 {
			return nil, fmt.Errorf("project: factor %s of head %v: %w: row %d holds NaN or ±Inf", f.name, head, ErrNonFinite, r)
		}
	}
	return &HeadView{Head: head, Kind: kind, KV: head.Head, A: a, B: b, engine: eng}, nil
}

// rotation computes (once) the singular basis the search works in.
func (v *HeadView) rotation() {
	v.once.Do(func() {
		v.ta, v.tb, v.sigma, v.rotOK = rotationFor(v.A, v.B)
	})
}

// Singular returns the singular values of the view, descending; there are
// DHead of them (the view's rank is at most DHead). Nil when a factor is
// numerically rank-deficient.
func (v *HeadView) Singular() []float64 {
	v.rotation()
	return v.sigma
}

// Score returns entry (src, tgt) of the view exactly (the float64 sum of
// float32 factor products, as every search ranks by).
func (v *HeadView) Score(src, tgt int) (float32, error) {
	if src < 0 || src >= v.A.Rows || tgt < 0 || tgt >= v.B.Rows {
		return 0, fmt.Errorf("project: entry (%d, %d) outside the %d×%d view of head %v", src, tgt, v.A.Rows, v.B.Rows, v.Head)
	}
	return float32(dot64(v.A.Row(src), v.B.Row(tgt))), nil
}

// Block returns the exact entries for srcs × tgts, e.g. for a heatmap of
// the top pairs' tokens.
func (v *HeadView) Block(srcs, tgts []int) (weights.Matrix, error) {
	out := weights.NewMatrix(len(srcs), len(tgts))
	for i, s := range srcs {
		for j, t := range tgts {
			x, err := v.Score(s, t)
			if err != nil {
				return weights.Matrix{}, err
			}
			out.Data[i*len(tgts)+j] = x
		}
	}
	return out, nil
}

// PairOptions selects what a head view's Top returns.
type PairOptions struct {
	K       int                     // number of pairs
	Bottom  bool                    // most negative entries instead of largest
	Sources []int                   // source (OV) or query (QK) token ids taking part, ascending; nil = all
	Targets []int                   // target (OV) or key (QK) token ids, ascending; nil = all
	Exclude func(src, tgt int) bool // pairs that may not appear (same token, fuzzy-equal, …)
	Filter  string                  // description of the filters, recorded in the result
	Workers int                     // 0 = all cores
}

// Top returns the K largest (or, with Bottom, smallest) entries of the view
// among the chosen tokens and pairs, exactly: the same pairs in the same
// order as scoring every entry and sorting by score, then source id, then
// target id. Memory is O(V·DHead + K); the V×V matrix is never formed.
func (v *HeadView) Top(opt PairOptions) (*PairTop, error) {
	var err error
	if opt.K, err = v.clampK(opt); err != nil {
		return nil, err
	}
	q := pairQuery{A: v.A, B: v.B, Rows: opt.Sources, Cols: opt.Targets, K: opt.K, Bottom: opt.Bottom, Exclude: opt.Exclude, Workers: opt.Workers}
	var found []Pair
	var st Stats
	if _, ok := v.engine.(cpuEngine); ok {
		v.rotation()
		if v.rotOK {
			q.TA, q.TB = v.ta, v.tb
		}
		found, st, err = searchPairs(q)
	} else {
		found, st, err = searchPairsChunked(q, v.engine)
	}
	if err != nil {
		return nil, fmt.Errorf("head %v %v: %w", v.Head, v.Kind, err)
	}
	return &PairTop{Head: v.Head, Kind: v.Kind, KV: v.KV, GQA: v.GQA, Offset: v.Offset, K: opt.K, Bottom: opt.Bottom,
		Pairs: found, Filter: opt.Filter, Processing: v.Processing, Stats: st}, nil
}

// clampK refuses a negative k and returns opt.K clamped to the pairs the view (or its subset of
// sources and targets) has; beyond MaxPairs the answer itself would not
// fit a sensible amount of memory, so it is refused, quoting the k asked
// for, rather than attempted.
func (v *HeadView) clampK(opt PairOptions) (int, error) {
	if opt.K < 0 {
		return 0, fmt.Errorf("project: negative k %d", opt.K)
	}
	pairs := int64(lenOr(opt.Sources, v.A.Rows)) * int64(lenOr(opt.Targets, v.B.Rows))
	if min(int64(opt.K), pairs) > MaxPairs {
		return 0, fmt.Errorf("project: head %v %v: k = %d asks for more pairs than lenskit returns at once (at most %d; the view has %d)", v.Head, v.Kind, opt.K, MaxPairs, pairs)
	}
	return int(min(int64(opt.K), pairs)), nil
}

// MaxPairs is the largest k a head view's Top answers (a million pairs,
// ≈ 16 MB of results); larger requests are errors, never out-of-memory
// crashes.
const MaxPairs = 1 << 20

func lenOr(ids []int, all int) int {
	if ids == nil {
		return all
	}
	return len(ids)
}
