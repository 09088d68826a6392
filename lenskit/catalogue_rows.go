package lenskit

import (
	"fmt"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// RowResult is a head's row view (sources ranked by their best entry, each
// with its best targets) or column view (targets ranked, each with its best
// sources) — the view that keeps a few hub tokens from filling the whole
// top-k.
type RowResult struct {
	*project.RowTop
	m   *Model
	err error
}

// Rows returns the n sources (QK: queries) whose best entry is largest,
// each with its per best targets, exactly, among the lens's tokens.
func (q *HeadQuery) Rows(n, per int) *RowResult { return q.rows(n, per, false) }

// Columns returns the n targets (QK: keys) whose best entry is largest,
// each with its per best sources.
func (q *HeadQuery) Columns(n, per int) *RowResult { return q.rows(n, per, true) }

func (q *HeadQuery) rows(n, per int, byTarget bool) *RowResult {
	v, err := q.View()
	if err != nil {
		return &RowResult{m: q.l.m, err: err, RowTop: &project.RowTop{}}
	}
	l := q.l
	r, err := v.RowTop(project.RowOptions{Rows: n, PerRow: per, ByTarget: byTarget, Sources: l.f.ids, Targets: l.f.ids,
		Exclude: l.f.exclude, Filter: l.f.desc})
	if err != nil {
		return &RowResult{m: l.m, err: err, RowTop: &project.RowTop{}}
	}
	return &RowResult{RowTop: r, m: l.m}
}

// Err reports why the view failed.
func (r *RowResult) Err() error { return r.err }

func (r *RowResult) table() *table {
	v := r.m.Vocab
	from, to := "source", "target"
	if r.Kind == project.QK {
		from, to = "query", "key"
	}
	rank, other := from, to
	if r.ByTarget {
		rank, other = to, from
	}
	title := fmt.Sprintf("%s W_%s: %s ranked by their best entry, with their best %ss (filter %s)",
		r.Head, r.Kind, rank+"s", other, r.Filter)
	if r.Offset != 0 {
		title = strings.Replace(title, "W_QK", fmt.Sprintf("W_QK δ=%d", r.Offset), 1)
	}
	t := &table{title: title, header: []string{"#", rank, "best", other + "s"}, right: []bool{true, false, true, false}}
	for i, e := range r.Rows {
		var names []string
		var tips []string
		best := ""
		for j, p := range e.Pairs {
			o := p.Target
			if r.ByTarget {
				o = p.Source
			}
			names = append(names, view.Visible(v.Text(o)))
			tips = append(tips, fmt.Sprintf("%s %.4g", v.Raw(o), p.Score))
			if j == 0 {
				best = strconv.FormatFloat(float64(p.Score), 'f', 4, 32)
			}
		}
		t.rows = append(t.rows, []string{strconv.Itoa(i + 1), view.Visible(v.Text(e.Token)), best, strings.Join(names, " ")})
		t.tips = append(t.tips, []string{"", fmt.Sprintf("id %d, raw %q", e.Token, v.Raw(e.Token)), "", strings.Join(tips, "\n")})
	}
	return t
}

func (r *RowResult) String() string {
	if r.err != nil {
		return "error: " + r.err.Error() + "\n"
	}
	return r.table().String()
}

func (r *RowResult) HTML() string {
	if r.err != nil {
		return view.ErrorHTML(r.err)
	}
	return r.table().HTML()
}

// Show displays the row view.
func (r *RowResult) Show() { view.Show(r) }

// DirectionsResult is a head view's top singular directions as token
// lists: what each rank-one part of the view reads (left: sources or
// queries) and writes (right: targets or keys), at both ends.
type DirectionsResult struct {
	Head       project.HeadID
	Kind       project.Kind
	Offset     int
	Filter     string
	Directions []project.Direction
	m          *Model
	err        error
}

// Directions returns the view's n largest singular directions with the k
// top tokens at each end of each side, over the lens's tokens.
func (q *HeadQuery) Directions(n, k int) *DirectionsResult {
	r := &DirectionsResult{Head: project.HeadID{Layer: q.layer, Head: q.head}, Kind: q.kind, Offset: q.offset, Filter: q.l.f.desc, m: q.l.m}
	v, err := q.View()
	if err != nil {
		r.err = err
		return r
	}
	r.Directions, r.err = v.Directions(n, k, q.l.f.ids)
	return r
}

// Err reports why the directions could not be computed.
func (r *DirectionsResult) Err() error { return r.err }

func (r *DirectionsResult) table() *table {
	v := r.m.Vocab
	left, right := "sources", "targets"
	if r.Kind == project.QK {
		left, right = "queries", "keys"
	}
	t := &table{title: fmt.Sprintf("%s W_%s: top singular directions (filter %s)", r.Head, r.Kind, r.Filter),
		header: []string{"#", "σ", left + " +", left + " −", right + " +", right + " −"}, right: []bool{true, true, false, false, false, false}}
	words := func(ts []project.Token) string {
		var w []string
		for _, tk := range ts {
			w = append(w, view.Visible(v.Text(tk.ID)))
		}
		return strings.Join(w, " ")
	}
	for _, d := range r.Directions {
		t.rows = append(t.rows, []string{strconv.Itoa(d.Index + 1), strconv.FormatFloat(d.Sigma, 'f', 3, 64),
			words(d.Sources[0]), words(d.Sources[1]), words(d.Targets[0]), words(d.Targets[1])})
	}
	t.footer = "each direction reads its + sources and writes its + targets (and − with −); a direction's sign is arbitrary, fixed so that its largest source entry is positive"
	return t
}

func (r *DirectionsResult) String() string {
	if r.err != nil {
		return "error: " + r.err.Error() + "\n"
	}
	return r.table().String()
}

func (r *DirectionsResult) HTML() string {
	if r.err != nil {
		return view.ErrorHTML(r.err)
	}
	return r.table().HTML()
}

// Show displays the directions.
func (r *DirectionsResult) Show() { view.Show(r) }
