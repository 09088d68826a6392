package project

import (
	"container/heap"
	"slices"
)

// cand is a scored pair during a search: positions in the filtered source and
// target lists, and the exact score.
type cand struct {
	score    float64
	src, tgt int32 // vocabulary ids
}

// better is the result order: higher score first, then lower source id,
// then lower target id. Every search and every brute-force reference uses
// it, so results are identical whenever scores are.
func better(x, y cand) bool {
	if x.score != y.score {
		return x.score > y.score
	}
	if x.src != y.src {
		return x.src < y.src
	}
	return x.tgt < y.tgt
}

// compareCands is better as a comparison for slices.SortFunc.
func compareCands(x, y cand) int {
	switch {
	case better(x, y):
		return -1
	case better(y, x):
		return 1
	}
	return 0
}

// bestPairs sorts cs into result order and returns the first k as pairs;
// sign undoes the negation of a bottom-k search.
func bestPairs(cs []cand, k int, sign float32) []Pair {
	slices.SortFunc(cs, compareCands)
	cs = cs[:min(k, len(cs))]
	out := make([]Pair, len(cs))
	for i, c := range cs {
		out[i] = Pair{Source: int(c.src), Target: int(c.tgt), Score: float32(c.score) * sign}
	}
	return out
}

// bestTokens sorts cs into result order and returns the first k as tokens.
func bestTokens(cs []cand, k int) []Token {
	slices.SortFunc(cs, compareCands)
	cs = cs[:min(k, len(cs))]
	out := make([]Token, len(cs))
	for i, c := range cs {
		out[i] = Token{ID: int(c.src), Score: float32(c.score)}
	}
	return out
}

// topHeap keeps the k best candidates; its root is the worst of them.
type topHeap struct {
	k int
	h []cand
}

func (t *topHeap) Len() int           { return len(t.h) }
func (t *topHeap) Less(i, j int) bool { return better(t.h[j], t.h[i]) }
func (t *topHeap) Swap(i, j int)      { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topHeap) Push(x any)         { t.h = append(t.h, x.(cand)) }
func (t *topHeap) Pop() any {
	x := t.h[len(t.h)-1]
	t.h = t.h[:len(t.h)-1]
	return x
}

// full reports whether the heap holds k candidates.
func (t *topHeap) full() bool { return len(t.h) >= t.k }

// worst returns the k-th best candidate; only valid when full.
func (t *topHeap) worst() cand { return t.h[0] }

// admits reports whether c would enter the heap.
func (t *topHeap) admits(c cand) bool {
	return t.k > 0 && (!t.full() || better(c, t.h[0]))
}

// offer inserts c if it is among the k best seen; it reports whether the
// heap changed.
func (t *topHeap) offer(c cand) bool {
	if !t.admits(c) {
		return false
	}
	if t.full() {
		t.h[0] = c
		heap.Fix(t, 0)
	} else {
		heap.Push(t, c)
	}
	return true
}
