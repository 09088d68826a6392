package view

import (
	"fmt"
	"math"
	"strconv"

	"lenskit.dev/lenskit/project"
)

// MaxPairHeatmapTokens is how many distinct tokens per axis PairHeatmap
// draws: the first ones by rank. Beyond that a chart is unreadable; the
// title says when tokens were left out.
const MaxPairHeatmapTokens = 200

// PairHeatmap draws the top pairs of a head as a matrix: the distinct
// source (query) tokens of the pairs as rows, the distinct target (key)
// tokens as columns, both in order of first appearance by rank. With a nil
// scores only the top pairs' own cells are filled; with scores, every
// source × target cell is filled with scores(source, target) — typically
// the head view's exact entry — so the top pairs, outlined, are seen
// against their neighbourhood. A bottom-k result, or any negative value, gives a
// diverging scale.
func PairHeatmap(tok Tokens, top *project.PairTop, scores func(src, tgt int) float32) *Heatmap {
	if top == nil {
		return &Heatmap{Title: "(no head result)"}
	}
	f := newForms(tok)
	from, arrow, to := sides(top.Kind)
	var srcs, tgts []int
	srcIdx, tgtIdx := map[int]int{}, map[int]int{}
	dropped := false
	for _, p := range top.Pairs {
		_, okS := srcIdx[p.Source]
		_, okT := tgtIdx[p.Target]
		if (!okS && len(srcs) >= MaxPairHeatmapTokens) || (!okT && len(tgts) >= MaxPairHeatmapTokens) {
			dropped = true
			continue
		}
		if !okS {
			srcIdx[p.Source] = len(srcs)
			srcs = append(srcs, p.Source)
		}
		if !okT {
			tgtIdx[p.Target] = len(tgts)
			tgts = append(tgts, p.Target)
		}
	}
	which := "top"
	if top.Bottom {
		which = "bottom"
	}
	h := &Heatmap{
		Title:     fmt.Sprintf("%s %s %d (%s × %s)", top.Title(), which, top.K, from, to),
		XName:     to,
		YName:     from,
		Diverging: top.Bottom,
	}
	if dropped {
		h.Title += fmt.Sprintf(" — first %d tokens per axis", MaxPairHeatmapTokens)
	}
	for _, id := range srcs {
		h.YLabels = append(h.YLabels, f.show(id, FormVisible))
	}
	for _, id := range tgts {
		h.XLabels = append(h.XLabels, f.show(id, FormVisible))
	}
	rank := map[[2]int]int{}
	for i, p := range top.Pairs {
		k := [2]int{p.Source, p.Target}
		if _, ok := rank[k]; !ok {
			rank[k] = i + 1
		}
	}
	h.Values = make([][]float64, len(srcs))
	h.Tooltips = make([][]string, len(srcs))
	if scores != nil {
		h.Marked = make([][]bool, len(srcs))
	}
	for y, s := range srcs {
		h.Values[y] = make([]float64, len(tgts))
		h.Tooltips[y] = make([]string, len(tgts))
		if scores != nil {
			h.Marked[y] = make([]bool, len(tgts))
		}
		for x, t := range tgts {
			v := math.NaN()
			r, inTop := rank[[2]int{s, t}]
			switch {
			case scores != nil:
				v = float64(scores(s, t))
			case inTop:
				v = float64(top.Pairs[r-1].Score)
			}
			if v < 0 {
				h.Diverging = true
			}
			tip := fmt.Sprintf("%s %s %s\n%s", f.show(s, FormVisible), arrow, f.show(t, FormVisible), formatScore(v))
			if inTop {
				tip += fmt.Sprintf("\n%s #%d", which, r)
				if scores != nil {
					h.Marked[y][x] = true
				}
			}
			tip += fmt.Sprintf("\nids %d %s %d", s, arrow, t)
			h.Tooltips[y][x] = tip
			h.Values[y][x] = v
		}
	}
	return h
}

// LayerHeadMap draws any per-head number as a layer × head map: rows are
// layers 0..layers-1 (layer 0 on top), columns heads 0..heads-1, each cell
// value(layer, head) with its tooltip (empty for the default "layer.head:
// value"). A NaN value leaves the cell empty; a map with negative values
// gets a diverging scale. Negative counts give an empty map, and a map of
// more than MaxHeatmapCells cells renders as an error.
func LayerHeadMap(title string, layers, heads int, value func(layer, head int) (float64, string)) *Heatmap {
	h := &Heatmap{Title: title, XName: "head", YName: "layer"}
	layers, heads = max(layers, 0), max(heads, 0)
	if layers*heads > MaxHeatmapCells || (heads > 0 && layers > MaxHeatmapCells/heads) {
		h.err = fmt.Errorf("view: layer × head map %q has %d × %d cells, more than the %d it can draw", title, layers, heads, MaxHeatmapCells)
		return h
	}
	for l := range layers {
		h.YLabels = append(h.YLabels, strconv.Itoa(l))
	}
	for hd := range heads {
		h.XLabels = append(h.XLabels, strconv.Itoa(hd))
	}
	h.Values = make([][]float64, layers)
	h.Tooltips = make([][]string, layers)
	for l := range layers {
		h.Values[l] = make([]float64, heads)
		h.Tooltips[l] = make([]string, heads)
		for hd := range heads {
			v, tip := math.NaN(), ""
			if value != nil {
				v, tip = value(l, hd)
			}
			if v < 0 {
				h.Diverging = true
			}
			id := project.HeadID{Layer: l, Head: hd}
			if tip == "" {
				tip = fmt.Sprintf("%s: %s", id, formatScore(v))
			} else {
				tip = fmt.Sprintf("%s: %s\n%s", id, formatScore(v), tip)
			}
			h.Values[l][hd], h.Tooltips[l][hd] = v, tip
		}
	}
	return h
}
