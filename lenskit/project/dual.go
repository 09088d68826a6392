package project

import "fmt"

// TopBottom returns the view's top K and bottom K entries under the same
// options (Bottom is ignored): what a catalogue records for every view.
// Each result equals the corresponding Top call. On lenskit's CPU engine
// both come from one search: every int8 tile is computed once and
// screened against both thresholds (its maximum and its minimum), so the
// pair costs about what one Top costs.
func (v *HeadView) TopBottom(opt PairOptions) (top, bottom *PairTop, err error) {
	opt.Bottom = false
	if _, ok := v.engine.(cpuEngine); !ok {
		if top, err = v.Top(opt); err != nil {
			return nil, nil, err
		}
		opt.Bottom = true
		if bottom, err = v.Top(opt); err != nil {
			return nil, nil, err
		}
		return top, bottom, nil
	}
	if opt.K, err = v.clampK(opt); err != nil {
		return nil, nil, err
	}
	q := pairQuery{A: v.A, B: v.B, Rows: opt.Sources, Cols: opt.Targets, K: opt.K, Exclude: opt.Exclude, Workers: opt.Workers}
	v.rotation()
	if v.rotOK {
		q.TA, q.TB = v.ta, v.tb
	}
	tp, bp, st, err := searchPairsDual(q)
	if err != nil {
		return nil, nil, fmt.Errorf("head %v %v: %w", v.Head, v.Kind, err)
	}
	mk := func(pairs []Pair, bottom bool) *PairTop {
		return &PairTop{Head: v.Head, Kind: v.Kind, KV: v.KV, GQA: v.GQA, Offset: v.Offset, K: opt.K, Bottom: bottom,
			Pairs: pairs, Filter: opt.Filter, Processing: v.Processing, Stats: st}
	}
	return mk(tp, false), mk(bp, true), nil
}
