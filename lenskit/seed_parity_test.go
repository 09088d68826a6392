package lenskit_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/vocab"
)

// golden is what the seed notebook's own algorithm (torch, dense V×V
// product, approx_topk, after-the-fact filters) returns on the embedded
// model; see testdata/seed/seed_reference.py.
type golden struct {
	Neurons []struct {
		Layer, Index int
		List         bool
		K            [][2]float64 `json:"K"`
		V            [][2]float64 `json:"V"`
		NK           [][2]float64 `json:"-K"`
		NV           [][2]float64 `json:"-V"`
	}
	Heads []struct {
		Layer, Head int
		Kind        string
		Alnum       bool
		Threshold   float64
		Candidates  int
		Pairs       [][3]float64
	}
}

func loadGolden(t *testing.T) (*golden, *vocab.TokenList) {
	t.Helper()
	b, err := os.ReadFile("testdata/seed/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/seed/pl-top5000.tokens")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := vocab.LoadTokenList(f)
	if err != nil {
		t.Fatal(err)
	}
	return &g, l
}

// tol is how far apart torch's float32 scores and lenskit's exact ones may
// be: entries closer than this are a tie whose order neither defines.
const tol = 1e-5

// sameRanking reports whether two ranked lists of (key, score) agree: the
// scores agree position by position, and the keys agree except where the
// scores tie with a neighbour or with the cut-off.
func sameRanking(t *testing.T, what string, gotKeys, wantKeys []string, gotScores, wantScores []float64) bool {
	t.Helper()
	if len(gotKeys) != len(wantKeys) {
		t.Errorf("%s: %d entries, seed %d", what, len(gotKeys), len(wantKeys))
		return false
	}
	n := len(gotKeys)
	ok := true
	for i := range n {
		if math.Abs(gotScores[i]-wantScores[i]) > tol {
			t.Errorf("%s: entry %d score %.7f, seed %.7f", what, i, gotScores[i], wantScores[i])
			ok = false
			continue
		}
		if gotKeys[i] == wantKeys[i] {
			continue
		}
		tied := (i > 0 && math.Abs(wantScores[i]-wantScores[i-1]) <= tol) ||
			(i+1 < n && math.Abs(wantScores[i]-wantScores[i+1]) <= tol)
		if !tied {
			t.Errorf("%s: entry %d is %s, seed %s (no tie)", what, i, gotKeys[i], wantKeys[i])
			ok = false
		}
	}
	return ok
}

// TestSeedParityNeurons: with the seed's settings (its raw-token ASCII test,
// top 30, with and without the corpus token list) lenskit returns the
// tokens the seed's display_top_tokens returns.
func TestSeedParityNeurons(t *testing.T) {
	g, list := loadGolden(t)
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, n := range g.Neurons {
		filters := []lenskit.Filter{lenskit.SeedASCII()}
		if n.List {
			filters = append(filters, lenskit.InList(list))
		}
		r := m.Lens(filters...).Neuron(n.Layer, n.Index).Top(30)
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		for side, want := range [4][][2]float64{n.K, n.V, n.NK, n.NV} {
			var gk, wk []string
			var gs, ws []float64
			for _, tk := range r.Columns[side] {
				gk = append(gk, m.Vocab.Raw(tk.ID))
				gs = append(gs, float64(tk.Score))
			}
			for _, w := range want {
				wk = append(wk, m.Vocab.Raw(int(w[0])))
				ws = append(ws, w[1])
			}
			sameRanking(t, project.NeuronID{Layer: n.Layer, Index: n.Index}.String()+" "+project.Sides[side].String(), gk, wk, gs, ws)
		}
	}
}

// TestSeedParityHeads: with only_ascii (and only_alnum) and top 50, lenskit
// returns the seed's pairs whenever the seed's approximate threshold search
// kept enough candidates; where it did not, the seed returns fewer than 50
// pairs and lenskit returns the true top 50, of which the seed's are the
// head.
func TestSeedParityHeads(t *testing.T) {
	g, _ := loadGolden(t)
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	short := 0
	for _, h := range g.Heads {
		filters := []lenskit.Filter{lenskit.SeedHeadASCII()}
		if h.Alnum {
			filters = append(filters, lenskit.Alnum())
		}
		lens := m.Lens(filters...)
		q := lens.OV(h.Layer, h.Head)
		if h.Kind == "QK" {
			q = lens.QK(h.Layer, h.Head)
		}
		r := q.Top(50)
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		name := project.HeadID{Layer: h.Layer, Head: h.Head}.String() + " " + h.Kind
		if h.Alnum {
			name += " alnum"
		}
		if len(r.Pairs) != 50 {
			t.Errorf("%s: lenskit returned %d pairs, want 50", name, len(r.Pairs))
			continue
		}
		n := len(h.Pairs)
		if n < 50 {
			short++
			t.Logf("%s: the seed's threshold search (θ=%g, %d candidates before filtering) leaves %d pairs after the filters; lenskit returns the true top 50 (50th score %.4f, below the seed's θ)",
				name, h.Threshold, h.Candidates, n, r.Pairs[49].Score)
			if float64(r.Pairs[49].Score) > h.Threshold {
				t.Errorf("%s: lenskit's 50th pair scores %.4f above the seed's θ %g, so the seed should have found it", name, r.Pairs[49].Score, h.Threshold)
			}
		}
		var gk, wk []string
		var gs, ws []float64
		for i, p := range r.Pairs[:n] {
			gk = append(gk, m.Vocab.Raw(p.Source)+"→"+m.Vocab.Raw(p.Target))
			gs = append(gs, float64(p.Score))
			w := h.Pairs[i]
			wk = append(wk, m.Vocab.Raw(int(w[0]))+"→"+m.Vocab.Raw(int(w[1])))
			ws = append(ws, w[2])
		}
		sameRanking(t, name, gk, wk, gs, ws)
	}
	if short == 0 {
		t.Log("the seed found 50 pairs for every head checked")
	}
}
