package project

import (
	"fmt"
	"sync"
)

// Row and column views of a head. A plain top-k can be filled by a few hub
// tokens (tiny-pl-gpt2's `xhp`, `0`, `LAT` sit at the top of many heads),
// each paired with dozens of targets. A row view asks instead for the
// sources whose best entry is largest — each source once — and for each of
// them its own best targets; a column view does the same for targets.

// RowOptions selects a row (or column) view.
type RowOptions struct {
	Rows     int                     // sources (targets, with ByTarget) to return, ranked by their best entry
	PerRow   int                     // entries of each
	ByTarget bool                    // rank targets by their best entry, each with its best sources
	Bottom   bool                    // most negative entries instead of largest
	Sources  []int                   // source (query) ids taking part, ascending; nil = all
	Targets  []int                   // target (key) ids taking part, ascending; nil = all
	Exclude  func(src, tgt int) bool // pairs that may not appear
	Filter   string                  // description of the filters, recorded in the result
	Workers  int                     // 0 = all cores
}

// RowEntry is one ranked source (or target) and its best pairs, best first.
// Pairs always hold (source, target) in the view's own orientation.
type RowEntry struct {
	Token int
	Pairs []Pair
}

// RowTop is a row or column view, best row first: the order of each row's
// best entry (score, then the row's token id).
type RowTop struct {
	Head       HeadID
	Kind       Kind
	KV         int
	GQA        bool
	Offset     int
	ByTarget   bool
	Bottom     bool
	Rows       []RowEntry
	Filter     string
	Processing string
	Stats      Stats // work of the ranking search (the per-row searches are small)
}

// RowTop returns the view's row (or column) view, exactly: the ranking is
// the order in which sources first appear in the view's full result order
// (each source's first appearance is its best entry), found with the
// pair search itself by asking for more pairs until enough distinct
// sources have appeared; each row's best entries are then a pair search
// restricted to that row.
func (v *HeadView) RowTop(opt RowOptions) (*RowTop, error) {
	if opt.Rows < 0 || opt.PerRow < 0 {
		return nil, fmt.Errorf("project: head %v: negative row count %d or entries per row %d", v.Head, opt.Rows, opt.PerRow)
	}
	out := &RowTop{Head: v.Head, Kind: v.Kind, KV: v.KV, GQA: v.GQA, Offset: v.Offset, ByTarget: opt.ByTarget,
		Bottom: opt.Bottom, Filter: opt.Filter, Processing: v.Processing}
	view, rows, cols, exclude := v, opt.Sources, opt.Targets, opt.Exclude
	if opt.ByTarget {
		// The transposed view B·Aᵀ: its rows are the targets.
		t, err := NewHeadView(v.Head, v.Kind, v.B, v.A, v.engine)
		if err != nil {
			return nil, err
		}
		view, rows, cols = t, opt.Targets, opt.Sources
		if opt.Exclude != nil {
			exclude = func(a, b int) bool { return opt.Exclude(b, a) }
		}
	}
	nrows := lenOr(rows, view.A.Rows)
	want := min(opt.Rows, nrows)
	if want == 0 || opt.PerRow == 0 {
		return out, nil
	}
	// Rank: ask for k pairs, doubling k until want distinct rows appear or
	// every pair has been returned.
	var order []int
	for k := max(4*want, 64); ; k *= 2 {
		k = min(k, MaxPairs)
		top, err := view.Top(PairOptions{K: k, Bottom: opt.Bottom, Sources: rows, Targets: cols, Exclude: exclude, Workers: opt.Workers})
		if err != nil {
			return nil, err
		}
		out.Stats = top.Stats
		order = order[:0]
		seen := map[int]bool{}
		for _, p := range top.Pairs {
			if !seen[p.Source] {
				seen[p.Source] = true
				order = append(order, p.Source)
				if len(order) == want {
					break
				}
			}
		}
		if len(order) == want || len(top.Pairs) < k || k == MaxPairs {
			break
		}
	}
	// Each row's best entries: a search over that row alone.
	out.Rows = make([]RowEntry, len(order))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, r := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			top, err := view.Top(PairOptions{K: opt.PerRow, Bottom: opt.Bottom, Sources: []int{r}, Targets: cols, Exclude: exclude, Workers: 1})
			if err != nil {
				errs[i] = err
				return
			}
			pairs := top.Pairs
			if opt.ByTarget {
				for j := range pairs {
					pairs[j].Source, pairs[j].Target = pairs[j].Target, pairs[j].Source
				}
			}
			out.Rows[i] = RowEntry{Token: r, Pairs: pairs}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
