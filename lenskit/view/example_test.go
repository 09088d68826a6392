package view_test

import (
	"fmt"
	"math"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// A neuron's four columns, as the seed notebook's display_top_tokens
// printed them: word-initial tokens bare, continuations with '#'.
func ExampleNeuron() {
	v := newVocab()
	col := func(scores []float32, texts ...string) []project.Token {
		var ts []project.Token
		for i, t := range texts {
			ts = append(ts, project.Token{ID: v.id(t), Score: scores[i]})
		}
		return ts
	}
	r := &project.NeuronTop{
		Neuron: project.NeuronID{Layer: 12, Index: 345},
		K:      4,
		Filter: "alnum",
		Columns: [project.NumSides][]project.Token{
			project.Key:      col([]float32{9.81, 9.02, 8.77, 8.60}, " ubraniu", "czkom", " przebra", " ciuchy"),
			project.Value:    col([]float32{7.41, 7.12, 6.95, 6.90}, " kondu", " ubrania", " mundury", " bieliźnie"),
			project.NegKey:   col([]float32{5.50, 5.43, 5.38, 5.01}, "wiek", "An", " Jun", "stor"),
			project.NegValue: col([]float32{6.02, 5.97, 5.88, 5.70}, "berga", " Steve", " Chinami", " Jedwab"),
		},
	}
	fmt.Print(view.Neuron(v, r))
	fmt.Println()
	fmt.Print(view.Neuron(v, r, view.WithScores()))
	// Output:
	// L12/N345  top 4  filter: alnum
	// K        V          -K     -V
	// -------  ---------  -----  -------
	// ubraniu  kondu      #wiek  #berga
	// #czkom   ubrania    #An    Steve
	// przebra  mundury    Jun    Chinami
	// ciuchy   bieliźnie  #stor  Jedwab
	//
	// L12/N345  top 4  filter: alnum
	// K        score  V          score  -K     score  -V       score
	// -------  -----  ---------  -----  -----  -----  -------  -----
	// ubraniu  9.810  kondu      7.410  #wiek  5.500  #berga   6.020
	// #czkom   9.020  ubrania    7.120  #An    5.430  Steve    5.970
	// przebra  8.770  mundury    6.950  Jun    5.380  Chinami  5.880
	// ciuchy   8.600  bieliźnie  6.900  #stor  5.010  Jedwab   5.700
}

// A head's top W_OV pairs: "source → target", whitespace made visible so
// " chcecie" (a word) and "chcecie" (a piece) differ.
func ExamplePairs() {
	v := newVocab()
	pair := func(src, tgt string, s float32) project.Pair {
		return project.Pair{Source: v.id(src), Target: v.id(tgt), Score: s}
	}
	r := &project.PairTop{
		Head: project.HeadID{Layer: 20, Head: 4}, Kind: project.OV, K: 5, Filter: "ascii",
		Pairs: []project.Pair{
			pair(" chcecie", " waszych", 12.84),
			pair(" chcecie", " waszym", 12.31),
			pair(" musicie", " waszych", 11.9),
			pair("ujecie", " wam", 11.02),
			pair(" znacie", "\n", 9.5),
		},
		Stats: project.Stats{Rows: 8192, Cols: 8192, DenseFLOPs: 2 * 8192 * 8192 * 32, SpentFLOPs: 2 * 8192 * 8192 * 32 * 0.0123, Candidates: 4096, Engine: "prune"},
	}
	fmt.Print(view.Pairs(v, r))
	// Output:
	// 20.4 W_OV  top 5  filter: ascii
	// #  source    →  target     score
	// -  --------     --------  ------
	// 1  ·chcecie  →  ·waszych  12.840
	// 2  ·chcecie  →  ·waszym   12.310
	// 3  ·musicie  →  ·waszych  11.900
	// 4  ujecie    →  ·wam      11.020
	// 5  ·znacie   →  ↵          9.500
	// engine prune · 8192 × 8192 tokens · computed 1.23% of the dense product · 4096 candidates rescored
}

// A layer × head map of any per-head number, drawn in a terminal.
func ExampleLayerHeadMap() {
	m := view.LayerHeadMap("entropy of attention", 3, 4, func(l, h int) (float64, string) {
		if l == 2 && h == 3 {
			return math.NaN(), ""
		}
		return float64(l*4 + h), ""
	})
	fmt.Print(m)
	// Output:
	// entropy of attention
	// layer │ 0  1  2  3
	// ──────┼────────────
	// 0     │░░ ░░ ░░ ▒▒
	// 1     │▒▒ ▓▓ ▓▓ ▓▓
	// 2     │██ ██ ██
	// columns: head
	// scale: ░ 0.000–2.500  ▒ 2.500–5.000  ▓ 5.000–7.500  █ 7.500–10.000
}

// The most negative W_QK entries of a head: "query ↔ key", lowest first.
func ExamplePairs_bottom() {
	v := newVocab()
	pair := func(q, k string, s float32) project.Pair {
		return project.Pair{Source: v.id(q), Target: v.id(k), Score: s}
	}
	r := &project.PairTop{
		Head: project.HeadID{Layer: 3, Head: 7}, Kind: project.QK, K: 3, Bottom: true, Filter: "alnum",
		Pairs: []project.Pair{
			pair(" Kraków", " Gdańsk", -7.25),
			pair(" żółw", "ł", -6.5),
			pair("  ", " tak", -6.125),
		},
	}
	fmt.Print(view.Pairs(v, r))
	// Output:
	// 3.7 W_QK  bottom 3 (lowest first)  filter: alnum
	// #  query    ↔  key       score
	// -  -------     -------  ------
	// 1  ·Kraków  ↔  ·Gdańsk  -7.250
	// 2  ·żółw    ↔  ł        -6.500
	// 3  ··       ↔  ·tak     -6.125
}

// A head's top pairs as a source × target map; in a terminal the columns
// are numbered and listed below the grid.
func ExamplePairHeatmap() {
	v := newVocab()
	a, b, x, y := v.id(" chcecie"), v.id(" musicie"), v.id(" waszych"), v.id(" wam")
	r := &project.PairTop{Head: project.HeadID{Layer: 20, Head: 4}, Kind: project.OV, K: 3, Pairs: []project.Pair{
		{Source: a, Target: x, Score: 12.8}, {Source: b, Target: x, Score: 11.9}, {Source: a, Target: y, Score: 11},
	}}
	fmt.Print(view.PairHeatmap(v, r, nil))
	// Output:
	// 20.4 W_OV top 3 (source × target)
	// source   │ 0  1
	// ─────────┼──────
	// ·chcecie │██ ░░
	// ·musicie │▒▒
	// target: 0 ·waszych 1 ·wam
	// scale: ░ 11.000–11.450  ▒ 11.450–11.900  ▓ 11.900–12.350  █ 12.350–12.800
}
