package project

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint/synth"
)

// bruteRows answers a row view from the full matrix of exact entries:
// each row's best entry, rows sorted by it (then id), each row's entries
// sorted.
func bruteRows(v *HeadView, opt RowOptions) []RowEntry {
	rows := opt.Sources
	if rows == nil {
		rows = seq(v.A.Rows)
	}
	cols := opt.Targets
	if cols == nil {
		cols = seq(v.B.Rows)
	}
	if opt.ByTarget {
		rows, cols = cols, rows
	}
	sign := 1.0
	if opt.Bottom {
		sign = -1
	}
	type row struct {
		tok   int
		cands []cand
	}
	var all []row
	for _, r := range rows {
		var cs []cand
		for _, c := range cols {
			s, t := r, c
			if opt.ByTarget {
				s, t = c, r
			}
			if opt.Exclude != nil && opt.Exclude(s, t) {
				continue
			}
			// The row view's own orientation: rows are sources of the
			// (possibly transposed) view, ties to the lower column id.
			cs = append(cs, cand{score: sign * dot64(v.A.Row(s), v.B.Row(t)), src: int32(r), tgt: int32(c)})
		}
		if len(cs) == 0 {
			continue
		}
		slices.SortFunc(cs, compareCands)
		all = append(all, row{r, cs})
	}
	slices.SortFunc(all, func(a, b row) int { return compareCands(a.cands[0], b.cands[0]) })
	var out []RowEntry
	for _, r := range all[:min(opt.Rows, len(all))] {
		e := RowEntry{Token: r.tok}
		for _, c := range r.cands[:min(opt.PerRow, len(r.cands))] {
			p := Pair{Source: int(c.src), Target: int(c.tgt), Score: float32(c.score * sign)}
			if opt.ByTarget {
				p.Source, p.Target = p.Target, p.Source
			}
			e.Pairs = append(e.Pairs, p)
		}
		out = append(out, e)
	}
	return out
}

// TestRowTopMatchesBruteForce: row and column views, top and bottom, with
// filters and exclusions, equal the brute force; and a planted hub source
// that fills the plain top-k takes exactly one row.
func TestRowTopMatchesBruteForce(t *testing.T) {
	shape := synth.Shape{Layers: 1, Heads: 2, DModel: 16, DFF: 8, Vocab: 300, Positions: 8}
	const hub = 77
	fill := func(name string, sh []int, dst []float32) {
		if name == "wte.weight" { // a long embedding: every pair with the hub scores high
			for k := range shape.DModel {
				dst[hub*shape.DModel+k] *= 12
			}
		}
	}
	// Untied: the hub's long input embedding makes it a hub source of OV,
	// not a hub target.
	sp := synthSpace(t, synth.Options{Shape: shape, Seed: 61, Fill: fill, Naming: synth.Naming{LMHead: synth.LMHeadUntied}})
	r := rand.New(rand.NewPCG(62, 63))
	for _, kind := range []Kind{OV, QK} {
		v, err := sp.View(kind, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		for ci, opt := range []RowOptions{
			{Rows: 10, PerRow: 4},
			{Rows: 10, PerRow: 4, ByTarget: true},
			{Rows: 7, PerRow: 3, Bottom: true},
			{Rows: 5, PerRow: 6, ByTarget: true, Bottom: true, Sources: subset(r, shape.Vocab, 0.5), Targets: subset(r, shape.Vocab, 0.5)},
			{Rows: 8, PerRow: 2, Exclude: func(s, tg int) bool { return (s*7+tg)%5 == 0 }},
			{Rows: 1000, PerRow: 1, Sources: subset(r, shape.Vocab, 0.1)},
		} {
			got, err := v.RowTop(opt)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteRows(v, opt)
			if len(got.Rows) != len(want) {
				t.Fatalf("%v case %d: %d rows, want %d", kind, ci, len(got.Rows), len(want))
			}
			for i := range want {
				if got.Rows[i].Token != want[i].Token || !slices.Equal(got.Rows[i].Pairs, want[i].Pairs) {
					t.Fatalf("%v case %d row %d: got %v, want %v", kind, ci, i, got.Rows[i], want[i])
				}
			}
		}
		// The hub fills the plain top 10 of the OV view but takes one row.
		if kind == OV {
			plain, err := v.Top(PairOptions{K: 10})
			if err != nil {
				t.Fatal(err)
			}
			hubPairs := 0
			for _, p := range plain.Pairs {
				if p.Source == hub {
					hubPairs++
				}
			}
			rows, _ := v.RowTop(RowOptions{Rows: 10, PerRow: 3})
			hubRows := 0
			for _, e := range rows.Rows {
				if e.Token == hub {
					hubRows++
				}
			}
			if hubPairs < 5 || hubRows != 1 {
				t.Errorf("hub: %d of the plain top 10, %d of the row view's rows; want ≥ 5 and 1", hubPairs, hubRows)
			}
		}
	}
	if _, err := (&HeadView{}).RowTop(RowOptions{Rows: -1}); err == nil {
		t.Error("negative rows accepted")
	}
}

// TestDirectionsMatchSVD: singular values and the token lists of the
// singular vectors equal those of a Jacobi SVD of the full V × V matrix,
// OV and QK, all tokens and a subset; and a planted rank-one direction
// reads and writes its planted tokens.
func TestDirectionsMatchSVD(t *testing.T) {
	shape := synth.Shape{Layers: 1, Heads: 2, DModel: 16, DFF: 8, Vocab: 200, Positions: 8}
	sp := synthSpace(t, synth.Options{Shape: shape, Seed: 71})
	r := rand.New(rand.NewPCG(72, 73))
	for _, kind := range []Kind{OV, QK} {
		v, err := sp.View(kind, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, tokens := range [][]int{nil, subset(r, shape.Vocab, 0.6)} {
			ids := tokens
			if ids == nil {
				ids = seq(shape.Vocab)
			}
			n := len(ids)
			m := newDmat(n, n)
			for i, s := range ids {
				for j, tg := range ids {
					m.set(i, j, dot64(v.A.Row(s), v.B.Row(tg)))
				}
			}
			u, sig, w := svdJacobi(m)
			got, err := v.Directions(3, 5, tokens)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("%d directions", len(got))
			}
			for i, d := range got {
				what := fmt.Sprintf("%v direction %d (%d tokens)", kind, i, n)
				if math.Abs(d.Sigma-sig[i]) > 1e-5*sig[0] {
					t.Fatalf("%s: σ = %v, SVD %v", what, d.Sigma, sig[i])
				}
				l, rr := make([]float64, n), make([]float64, n)
				big := 0
				for j := range n {
					l[j], rr[j] = u.at(j, i), w.at(j, i)
					if math.Abs(l[j]) > math.Abs(l[big]) {
						big = j
					}
				}
				if l[big] < 0 {
					for j := range n {
						l[j], rr[j] = -l[j], -rr[j]
					}
				}
				for end, sign := range []float64{1, -1} {
					for side, vec := range [][]float64{l, rr} {
						toks := d.Sources[end]
						if side == 1 {
							toks = d.Targets[end]
						}
						want := topOf(vec, ids, 5, sign)
						for j := range want {
							if toks[j].ID != want[j].ID || math.Abs(float64(toks[j].Score-want[j].Score)) > 1e-4 {
								t.Fatalf("%s side %d end %d: %v, SVD %v", what, side, end, toks, want)
							}
						}
					}
				}
			}
		}
	}
}
