package view

import (
	"fmt"
	"math"
	"strconv"
)

// AttentionPattern draws one head's attention on a prompt as a query ×
// key heatmap: row q is where position q's query looks, so each row sums to
// 1 over the keys at or before it; cells after the query (masked) are
// empty. pattern is T × T row-major (forward.Trace.Attn[layer][head]).
func AttentionPattern(tok Tokens, ids []int, pattern []float32, layer, head int, title string) *Heatmap {
	T := len(ids)
	h := &Heatmap{Title: title, XName: "key (attended to)", YName: "query (attending)"}
	if title == "" {
		h.Title = fmt.Sprintf("attention of head %d.%d", layer, head)
	}
	if len(pattern) != T*T {
		h.err = fmt.Errorf("view: attention pattern of %d values for %d tokens", len(pattern), T)
		return h
	}
	f := newForms(tok)
	for t, id := range ids {
		lab := strconv.Itoa(t) + " " + tokenLabel(f, id)
		h.XLabels = append(h.XLabels, lab)
		h.YLabels = append(h.YLabels, lab)
	}
	h.Values = nanGrid(T, T)
	h.Tooltips = make([][]string, T)
	for q := range T {
		h.Tooltips[q] = make([]string, T)
		for k := 0; k <= q; k++ {
			v := float64(pattern[q*T+k])
			h.Values[q][k] = v
			h.Tooltips[q][k] = fmt.Sprintf("query %d %s → key %d %s\nweight %.4f", q, tokenLabel(f, ids[q]), k, tokenLabel(f, ids[k]), v)
		}
	}
	return h
}

// Head overview measures.
const (
	AttnPrevious = "attention to the previous token"
	AttnFirst    = "attention to the first token"
	AttnSelf     = "attention to itself"
)

// HeadOverview draws, for every head of a model on one prompt, how much
// attention goes to the previous token, to the first token and to the
// query's own position, averaged over the queries that have such a key
// (the previous-token measure skips position 0, the first-token measure
// skips position 0 too, where first and self coincide): a layer × head map
// switchable between the three. attn[l] is forward.Trace.Attn[l], heads ×
// T × T.
func HeadOverview(attn [][]float32, heads, T int, title string) *Switchable {
	s := &Switchable{AllText: true}
	s.Title = title
	if title == "" {
		s.Title = "heads on this prompt"
	}
	s.XName, s.YName = "head", "layer"
	layers := len(attn)
	for l := range layers {
		s.YLabels = append(s.YLabels, strconv.Itoa(l))
	}
	for h := range heads {
		s.XLabels = append(s.XLabels, strconv.Itoa(h))
	}
	prev, first, self := nanGrid(layers, heads), nanGrid(layers, heads), nanGrid(layers, heads)
	s.Tooltips = make([][]string, layers)
	for l := range layers {
		s.Tooltips[l] = make([]string, heads)
		if len(attn[l]) != heads*T*T {
			s.err = fmt.Errorf("view: layer %d has %d attention weights, want %d heads × %d × %d", l, len(attn[l]), heads, T, T)
			return s
		}
		for h := range heads {
			a := attn[l][h*T*T : (h+1)*T*T]
			var p, fs, sf float64
			for q := range T {
				sf += float64(a[q*T+q])
				if q > 0 {
					p += float64(a[q*T+q-1])
					fs += float64(a[q*T])
				}
			}
			sf /= float64(T)
			if T > 1 {
				p /= float64(T - 1)
				fs /= float64(T - 1)
			} else {
				p, fs = math.NaN(), math.NaN()
			}
			prev[l][h], first[l][h], self[l][h] = p, fs, sf
			s.Tooltips[l][h] = fmt.Sprintf("head %d.%d\nprevious %.3f · first %.3f · self %.3f", l, h, p, fs, sf)
		}
	}
	s.Metrics = []Metric{{Name: AttnPrevious, Values: prev}, {Name: AttnFirst, Values: first}, {Name: AttnSelf, Values: self}}
	return s
}
