package project

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// Screening many directions against a vocabulary at once, exactly.
//
// A layer scan of neurons asks, for each of thousands of directions x_j
// (keys against W_E, values against W_U), for the k tokens with the largest
// and the k with the smallest exact score m_t·x_j − shift_j. A float32
// product of every token with every direction costs four times an int8 one
// on VNNI cores, so the vocabulary's rows are quantised to int8 once (in
// panels of 12 rows sharing a scale), each direction to int8 with a scale
// of its own, and every 12 × 32 tile of int8 products is compared, in the
// tile's epilogue, with integer thresholds per direction derived from the
// direction's current k-th best exact score (top and bottom) minus a
// rigorous bound on the quantisation error. Only the tokens of flagged
// columns whose per-entry bound reaches the threshold are rescored
// exactly — dot64 of the float32 row and direction, the arithmetic of
// Space.Neuron — and offered to the direction's heaps, which raise its
// thresholds. The result is the one a full sort of exact scores gives.
//
// With the exact score e·x and the int8 estimate ê·x̂ (ê = s_A·q_A,
// x̂ = s_B·q_B), |e·x − ê·x̂| ≤ |e − ê|·|x| + |ê|·|x − x̂|, and
// |ê| ≤ |e| + |e − ê|: that is the bound, per entry and (with panel
// maxima) per tile.
//
// The same pass accumulates the power sums of every value direction's
// estimated scores for the moments a catalogue records (their error is
// that of the estimates, a relative 10⁻³ or less of the scores' spread).

// screenMin is the vocabulary size × d_model from which NeuronScan screens
// with int8 (below it, the float32 product of every token is cheaper than
// quantising); a variable so that tests can run the screening on small
// models.
var screenMin = 1 << 22

// useScreen reports whether NeuronScan screens the space's vocabulary with
// int8 tiles.
func (s *Space) useScreen(tokens int) bool {
	_, cpu := s.Engine.(cpuEngine)
	return cpu && kernel.HasVNNI && tokens*s.WE.Cols >= screenMin
}

// qvocab is a vocabulary matrix's rows (the tokens taking part) quantised
// for the screening: int8 panels of kernel.I8Rows rows sharing a scale.
type qvocab struct {
	m             weights.Matrix
	ids           []int // panel row → token id
	n, d, kq      int
	panels        int
	packed        []int8
	corr          []int32   // per row: 128·Σq
	scale         []float64 // per panel
	qerr, norm    []float64 // per row: |e − ê|, |e|
	pQerr, pNorm  []float64 // per panel maxima
	mean          []float64 // the mean row over the tokens (for centring the moments)
	padding       int       // zero rows at the end of the last panel
	maxNorm       float64
	nonFiniteRow  int // first token id holding NaN or ±Inf, or −1
	nonFiniteName string
}

// qvocabs caches quantised vocabularies (W_E, and W_U when untied) by
// matrix and token set; processing never changes the rows, so spaces of
// one model with different processing share them.
var qvocabs struct {
	sync.Mutex
	m map[qvocabKey]*qvocab
}

type qvocabKey struct {
	data       uintptr
	rows, cols int
	tokens     string // hash of the ids; "" for all
}

func tokensKey(ids []int) string {
	if ids == nil {
		return ""
	}
	h := uint64(14695981039346656037)
	for _, t := range ids {
		h = (h ^ uint64(t)) * 1099511628211
	}
	return fmt.Sprintf("%d:%x", len(ids), h)
}

func matrixPtr(m weights.Matrix) uintptr {
	if m.IsBF16() {
		return uintptr(unsafe.Pointer(unsafe.SliceData(m.BF16)))
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(m.Data)))
}

// quantised returns m's rows ids (nil: all) as a qvocab, from the cache
// when it is there (at most four are kept: a model's W_E and W_U under two
// token sets).
func quantised(m weights.Matrix, ids []int) *qvocab {
	key := qvocabKey{matrixPtr(m), m.Rows, m.Cols, tokensKey(ids)}
	qvocabs.Lock()
	if q, ok := qvocabs.m[key]; ok {
		qvocabs.Unlock()
		return q
	}
	qvocabs.Unlock()
	q := quantiseVocab(m, ids)
	qvocabs.Lock()
	if qvocabs.m == nil || len(qvocabs.m) >= 4 {
		qvocabs.m = map[qvocabKey]*qvocab{}
	}
	qvocabs.m[key] = q
	qvocabs.Unlock()
	return q
}

func quantiseVocab(m weights.Matrix, ids []int) *qvocab {
	if ids == nil {
		ids = seq(m.Rows)
	}
	d := m.Cols
	n := len(ids)
	kq := (d + 3) / 4
	panels := (n + kernel.I8Rows - 1) / kernel.I8Rows
	np := panels * kernel.I8Rows
	q := &qvocab{m: m, ids: ids, n: n, d: d, kq: kq, panels: panels,
		packed: make([]int8, panels*kq*kernel.I8Rows*4), corr: make([]int32, np),
		scale: make([]float64, panels), qerr: make([]float64, np), norm: make([]float64, np),
		pQerr: make([]float64, panels), pNorm: make([]float64, panels), padding: np - n, nonFiniteRow: -1}
	// Chunks of panels on all cores; each chunk's sum of rows (for the
	// mean) is added in chunk order, so the mean does not depend on
	// scheduling.
	const chunk = 64
	chunks := (panels + chunk - 1) / chunk
	sums := make([][]float64, chunks)
	bad := make([]int, chunks)
	parallelRows(chunks, 1, func(clo, chi int) {
		rows := make([][]float32, kernel.I8Rows)
		for i := range rows {
			rows[i] = make([]float32, d)
		}
		for c := clo; c < chi; c++ {
			sum := make([]float64, d)
			bad[c] = -1
			for p := c * chunk; p < min((c+1)*chunk, panels); p++ {
				var mx float64
				for r := range kernel.I8Rows {
					i := p*kernel.I8Rows + r
					if i >= n {
						clear(rows[r])
						continue
					}
					row := m.RowInto(rows[r], ids[i])
					var n2 float64
					for k, v := range row {
						x := float64(v)
						if math.IsNaN(x) || math.IsInf(x, 0) {
							if bad[c] < 0 {
								bad[c] = ids[i]
							}
							x = 0
						}
						mx = math.Max(mx, math.Abs(x))
						n2 += x * x
						sum[k] += x
					}
					q.norm[i] = math.Sqrt(n2)
				}
				sc := mx / 127
				inv := 0.0
				if sc > 0 {
					inv = 1 / sc
				}
				q.scale[p] = sc
				base := p * kq * kernel.I8Rows * 4
				for r := range kernel.I8Rows {
					i := p*kernel.I8Rows + r
					var e2 float64
					var s int32
					for k, v := range rows[r] {
						x := float64(v)
						if math.IsNaN(x) || math.IsInf(x, 0) {
							x = 0
						}
						qv := int8(math.Round(x * inv))
						q.packed[base+(k/4)*kernel.I8Rows*4+r*4+k%4] = qv
						s += int32(qv)
						dd := x - sc*float64(qv)
						e2 += dd * dd
					}
					q.qerr[i] = math.Sqrt(e2)
					q.corr[i] = 128 * s
					q.pQerr[p] = math.Max(q.pQerr[p], q.qerr[i])
					q.pNorm[p] = math.Max(q.pNorm[p], q.norm[i])
				}
			}
			sums[c] = sum
		}
	})
	q.mean = make([]float64, d)
	for c, s := range sums {
		for k := range s {
			q.mean[k] += s[k]
		}
		if bad[c] >= 0 && q.nonFiniteRow < 0 {
			q.nonFiniteRow = bad[c]
		}
	}
	for k := range q.mean {
		q.mean[k] /= float64(n)
	}
	for _, x := range q.pNorm {
		q.maxNorm = math.Max(q.maxNorm, x)
	}
	return q
}

// screenState is one panel of 32 directions during a screening.
type screenState struct {
	top, bot     [kernel.I8Cols]topHeap
	thTop, thBot [kernel.I8Cols]float64 // k-th best exact score (top), of −score (bottom)
	// The pilot's guesses: lower bounds of the exact scores of a few
	// tokens, used as thresholds from the start (verified at the end).
	guessTop, guessBot [kernel.I8Cols]float64
	center             [kernel.I8Cols]float32
	momF               [4 * kernel.I8Cols]float32
	mom                [4][kernel.I8Cols]float64
	candidates         int64
	flaggedTiles       int64
	computedTiles      int64
}

// screenResult is the outcome of a screening.
type screenResult struct {
	cols       [][2][]Token   // per direction: top k of score, top k of −score (scored as −score)
	best       []float64      // per direction: the best exact score in float64 (−Inf when none)
	redone     int            // directions screened again because the pilot's guess failed
	moments    []scoreMoments // per direction, when asked
	candidates int64          // entries rescored exactly
}

// screenDirections returns, for each direction, its k best and k worst
// tokens of qv by exact score dot64(row, x) − shift, and with moments the
// moments of the scores (estimated; the mean exact).
func screenDirections(qv *qvocab, dirs [][]float32, shifts []float64, k int, withMoments bool) (*screenResult, error) {
	return screen(qv, dirs, shifts, screenOpts{k: k, moments: withMoments})
}

// screenOpts generalises screenDirections.
type screenOpts struct {
	k       int
	moments bool
	// topOnly skips the bottom k.
	topOnly bool
	// exact, when set, holds the directions in float64: entries are
	// rescored as kernel.Dot64F(row, exact[j]) (dirs[j] is its float32
	// rounding, which only screens).
	exact [][]float64
	// skip drops (token, direction) pairs from the results.
	skip func(id, j int) bool
	// noPilot turns the pilot guess off (see screen).
	noPilot bool
}

func screen(qv *qvocab, dirs [][]float32, shifts []float64, o screenOpts) (*screenResult, error) {
	k, withMoments := o.k, o.moments
	if qv.nonFiniteRow >= 0 {
		return nil, nonFinite("the vocabulary matrix", qv.nonFiniteRow, "token")
	}
	nd := len(dirs)
	d := qv.d
	kq := qv.kq
	k = min(k, qv.n)
	// Directions: int8 with a scale each, packed in panels of 32 columns
	// (unsigned, offset by 128, as the kernel reads B).
	dpanels := (nd + kernel.I8Cols - 1) / kernel.I8Cols
	bPanel := kernel.I8Cols * 4 * kq
	packed := make([]uint8, dpanels*bPanel)
	for i := range packed {
		packed[i] = 128
	}
	sB := make([]float64, dpanels*kernel.I8Cols)
	qerrB := make([]float64, dpanels*kernel.I8Cols)
	normB := make([]float64, dpanels*kernel.I8Cols)
	for j, x := range dirs {
		var mx, n2 float64
		for _, v := range x {
			mx = math.Max(mx, math.Abs(float64(v)))
			n2 += float64(v) * float64(v)
		}
		normB[j] = math.Sqrt(n2)
		sc := mx / 127
		inv := 0.0
		if sc > 0 {
			inv = 1 / sc
		}
		sB[j] = sc
		p, c := j/kernel.I8Cols, j%kernel.I8Cols
		var e2 float64
		for kk, v := range x {
			qv := int8(math.Round(float64(v) * inv))
			packed[p*bPanel+(kk/4)*kernel.I8Cols*4+c*4+kk%4] = uint8(int(qv) + 128)
			dd := float64(v) - sc*float64(qv)
			e2 += dd * dd
		}
		qerrB[j] = math.Sqrt(e2)
	}
	states := make([]*screenState, dpanels)
	workers := min(runtime.GOMAXPROCS(0), dpanels)
	res := &screenResult{cols: make([][2][]Token, nd), best: make([]float64, nd)}
	if withMoments {
		res.moments = make([]scoreMoments, nd)
	}
	aPanel := kernel.I8Rows * 4 * kq
	const blockPanels = 48 // token panels per block: 576 rows of int8 stay in L2
	// The pilot. A direction's threshold starts at −∞ and climbs as its
	// heap fills, and most rescoring happens on the way up. So every 8th
	// token panel is screened first, its estimates turned into lower
	// bounds of exact scores (estimate − bound), and the pilotRank-th best
	// of them used as a threshold from the start. That is a guess, not a
	// bound on the k-th best score: it is verified at the end (the heap is
	// full and its worst entry reaches the guess, so every token the guess
	// left out scored below the k-th best), and a direction whose guess
	// fails is screened again without one.
	const pilotStride, pilotRank = 8, 6
	pilot := !o.noPilot && qv.panels >= 4*pilotStride && k > 0 && k*pilotStride/2 < qv.n
	parallelRows(dpanels, (dpanels+workers-1)/workers, func(plo, phi int) {
		var out [kernel.I8Rows * kernel.I8Cols]int32
		var corr [kernel.I8Rows]int32
		var hi, lo [kernel.I8Cols]int32
		buf := make([]float32, d)
		for q := plo; q < phi; q++ {
			st := &screenState{}
			for c := range kernel.I8Cols {
				st.top[c], st.bot[c] = topHeap{k: k}, topHeap{k: k}
				st.thTop[c], st.thBot[c] = math.Inf(-1), math.Inf(-1)
				if j := q*kernel.I8Cols + c; j < nd && sB[j] > 0 {
					st.center[c] = float32(dotF64(qv.mean, dirs[j]) / sB[j])
				}
			}
			states[q] = st
			if !pilot {
				for c := range kernel.I8Cols {
					st.guessTop[c], st.guessBot[c] = math.Inf(-1), math.Inf(-1)
				}
				continue
			}
			var tops, bots [kernel.I8Cols][pilotRank]float64 // ascending: [0] is the smallest kept
			for c := range kernel.I8Cols {
				for r := range pilotRank {
					tops[c][r], bots[c][r] = math.Inf(-1), math.Inf(-1)
				}
			}
			keep := func(a *[pilotRank]float64, x float64) {
				if x <= a[0] {
					return
				}
				i := 0
				for i+1 < pilotRank && a[i+1] < x {
					a[i] = a[i+1]
					i++
				}
				a[i] = x
			}
			bq := packed[q*bPanel : (q+1)*bPanel]
			for p := 0; p < qv.panels; p += pilotStride {
				copy(corr[:], qv.corr[p*kernel.I8Rows:(p+1)*kernel.I8Rows])
				kernel.DotI8(qv.packed[p*aPanel:(p+1)*aPanel], bq, kq, &corr, &out)
				sA := qv.scale[p]
				for r := range kernel.I8Rows {
					i := p*kernel.I8Rows + r
					if i >= qv.n {
						break
					}
					for c := range kernel.I8Cols {
						j := q*kernel.I8Cols + c
						if j >= nd {
							break
						}
						if o.skip != nil && o.skip(qv.ids[i], j) {
							continue
						}
						est := float64(out[r*kernel.I8Cols+c])*sA*sB[j] - shifts[j]
						e := qv.qerr[i]*normB[j] + (qv.norm[i]+qv.qerr[i])*qerrB[j] + 0x1p-22*qv.norm[i]*normB[j]
						keep(&tops[c], est-e)
						keep(&bots[c], -est-e)
					}
				}
			}
			for c := range kernel.I8Cols {
				st.guessTop[c], st.guessBot[c] = tops[c][0], bots[c][0]
				if o.topOnly {
					st.guessBot[c] = math.Inf(-1)
				}
			}
		}
		for b0 := 0; b0 < qv.panels; b0 += blockPanels {
			b1 := min(b0+blockPanels, qv.panels)
			for q := plo; q < phi; q++ {
				st := states[q]
				bq := packed[q*bPanel : (q+1)*bPanel]
				for p := b0; p < b1; p++ {
					copy(corr[:], qv.corr[p*kernel.I8Rows:(p+1)*kernel.I8Rows])
					sA := qv.scale[p]
					for c := range kernel.I8Cols {
						j := q*kernel.I8Cols + c
						if j >= nd {
							hi[c], lo[c] = math.MaxInt32, math.MinInt32
							continue
						}
						unit := sA * sB[j]
						e := qv.pQerr[p]*normB[j] + (qv.pNorm[p]+qv.pQerr[p])*qerrB[j] + 0x1p-22*qv.pNorm[p]*normB[j]
						hi[c] = intThreshold(max(st.thTop[c], st.guessTop[c])+shifts[j]-e, unit, true)
						lo[c] = intThreshold(shifts[j]-max(st.thBot[c], st.guessBot[c])+e, unit, false)
						if o.topOnly {
							lo[c] = math.MinInt32
						}
					}
					a := qv.packed[p*aPanel : (p+1)*aPanel]
					var mask uint32
					if withMoments {
						mask = kernel.DotI8ColsMoments(a, bq, kq, &corr, &out, &hi, &lo, float32(sA), &st.center, &st.momF)
					} else {
						mask = kernel.DotI8Cols(a, bq, kq, &corr, &out, &hi, &lo)
					}
					st.computedTiles++
					if mask == 0 {
						continue
					}
					st.flaggedTiles++
					for mask != 0 {
						c := bits.TrailingZeros32(mask)
						mask &= mask - 1
						j := q*kernel.I8Cols + c
						if j >= nd {
							continue
						}
						for r := range kernel.I8Rows {
							i := p*kernel.I8Rows + r
							if i >= qv.n {
								break
							}
							est := float64(out[r*kernel.I8Cols+c])*sA*sB[j] - shifts[j]
							// The last term covers float64 rounding and, with
							// float64 directions, |x − fl32(x)| ≤ 2⁻²⁴·|x|.
							e := qv.qerr[i]*normB[j] + (qv.norm[i]+qv.qerr[i])*qerrB[j] + 0x1p-22*qv.norm[i]*normB[j]
							needTop := est+e >= max(st.thTop[c], st.guessTop[c])
							needBot := !o.topOnly && -est+e >= max(st.thBot[c], st.guessBot[c])
							if !needTop && !needBot {
								continue
							}
							id := qv.ids[i]
							if o.skip != nil && o.skip(id, j) {
								continue
							}
							var row []float32
							if qv.m.IsBF16() {
								row = qv.m.RowInto(buf, id)
							} else {
								row = qv.m.Data[id*d : (id+1)*d] // no copy
							}
							var x float64
							if o.exact != nil {
								x = kernel.Dot64F(row, o.exact[j]) - shifts[j]
							} else {
								x = dot64(row, dirs[j]) - shifts[j]
							}
							st.candidates++
							if needTop {
								h := &st.top[c]
								if h.offer(cand{score: x, src: int32(id)}) && h.full() {
									st.thTop[c] = h.worst().score
								}
							}
							if needBot {
								h := &st.bot[c]
								if h.offer(cand{score: -x, src: int32(id)}) && h.full() {
									st.thBot[c] = h.worst().score
								}
							}
						}
					}
				}
				if withMoments { // flush the float32 sums of this block into float64
					for pw := range 4 {
						for c := range kernel.I8Cols {
							st.mom[pw][c] += float64(st.momF[pw*kernel.I8Cols+c])
						}
					}
					clear(st.momF[:])
				}
			}
		}
	})
	// Verify the pilot's guesses; screen the directions whose guess failed
	// again, without one.
	var redo []int
	for q, st := range states {
		for c := range kernel.I8Cols {
			j := q*kernel.I8Cols + c
			if j >= nd {
				continue
			}
			okTop := math.IsInf(st.guessTop[c], -1) || (st.top[c].full() && st.top[c].worst().score >= st.guessTop[c])
			okBot := math.IsInf(st.guessBot[c], -1) || (st.bot[c].full() && st.bot[c].worst().score >= st.guessBot[c])
			if !okTop || !okBot {
				redo = append(redo, j)
			}
		}
	}
	var again *screenResult
	if len(redo) > 0 {
		rd := make([][]float32, len(redo))
		rs := make([]float64, len(redo))
		var rx [][]float64
		for i, j := range redo {
			rd[i], rs[i] = dirs[j], shifts[j]
			if o.exact != nil {
				rx = append(rx, o.exact[j])
			}
		}
		ro := o
		ro.noPilot, ro.exact = true, rx
		if o.skip != nil {
			ro.skip = func(id, i int) bool { return o.skip(id, redo[i]) }
		}
		var err error
		if again, err = screen(qv, rd, rs, ro); err != nil {
			return nil, err
		}
		res.redone = len(redo)
		res.candidates += again.candidates
	}
	for q, st := range states {
		res.candidates += st.candidates
		for c := range kernel.I8Cols {
			j := q*kernel.I8Cols + c
			if j >= nd {
				continue
			}
			if i, ok := slices.BinarySearch(redo, j); ok {
				res.cols[j], res.best[j] = again.cols[i], again.best[i]
				if withMoments {
					res.moments[j] = again.moments[i]
				}
				continue
			}
			top := slices.Clone(st.top[c].h)
			res.cols[j][0] = bestTokens(top, k) // sorts top
			res.best[j] = math.Inf(-1)
			if len(top) > 0 {
				res.best[j] = top[0].score
			}
			res.cols[j][1] = bestTokens(slices.Clone(st.bot[c].h), k)
			if withMoments {
				res.moments[j] = finishMoments(st, c, qv, dirs[j], sB[j], shifts[j])
			}
		}
	}
	return res, nil
}

// intThreshold turns a score threshold t into one on the int8 product q
// (score ≈ q·unit): for the top, the smallest q that can reach t (a little
// lower, for safety); for the bottom, the largest q that can fall to t. An
// infinite or unusable threshold lets every entry through.
func intThreshold(t, unit float64, top bool) int32 {
	if math.IsInf(t, 0) || math.IsNaN(t) || !(unit > 0) {
		if top {
			return math.MinInt32
		}
		return math.MaxInt32
	}
	v := t / unit
	if top {
		v = math.Ceil(v) - 1
	} else {
		v = math.Floor(v) + 1
	}
	return int32(max(math.MinInt32, min(math.MaxInt32, v)))
}

// finishMoments turns a column's power sums into the moments of its
// scores: the padding rows' contributions are removed, central moments
// formed from the raw sums of y = q·s_A − center (in units of s_B), and
// the mean taken exactly from the mean row.
func finishMoments(st *screenState, c int, qv *qvocab, x []float32, sB, shift float64) scoreMoments {
	n := float64(qv.n)
	var s [4]float64
	for pw := range 4 {
		s[pw] = st.mom[pw][c]
	}
	if qv.padding > 0 { // padding rows have q = 0: y = −center
		y := float32(float32(float32(0)*float32(qv.scale[qv.panels-1])) - st.center[c])
		y2 := float32(y * y)
		pad := float64(qv.padding)
		s[0] -= pad * float64(y)
		s[1] -= pad * float64(y2)
		s[2] -= pad * float64(float32(y2*y))
		s[3] -= pad * float64(float32(y2*y2))
	}
	m1 := s[0] / n
	e2, e3, e4 := s[1]/n, s[2]/n, s[3]/n
	m2 := e2 - m1*m1
	m3 := e3 - 3*m1*e2 + 2*m1*m1*m1
	m4 := e4 - 4*m1*e3 + 6*m1*m1*e2 - 3*m1*m1*m1*m1
	mean := dotF64(qv.mean, x) - shift
	if !(m2 > 0) {
		return scoreMoments{mean: mean, std: 0, skew: math.NaN(), kurt: math.NaN()}
	}
	return scoreMoments{mean: mean, std: sB * math.Sqrt(m2), skew: m3 / (m2 * math.Sqrt(m2)), kurt: m4/(m2*m2) - 3}
}

// dotF64 is Σ a_k·x_k in float64.
func dotF64(a []float64, x []float32) float64 {
	var s float64
	for k, v := range x {
		s += a[k] * float64(v)
	}
	return s
}
