package project

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"

	"sync"
	"sync/atomic"
	"unsafe"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// A pair search finds the k largest entries of A·Bᵀ over chosen rows and
// columns — exactly, in the result order of better — without forming the
// product. It follows LEMP (Teflioudi et al., SIGMOD 2015) and FEXIPRO (Li et
// al., SIGMOD 2017):
//
//  1. Rotate both factors into the singular basis of their product
//     (A' = A·T_A, B' = B·T_B, T_A·T_Bᵀ = I), so that the first coordinates
//     carry most of every score when the spectrum decays.
//  2. Sort rows and columns by norm and cut them into register tiles.
//  3. Seed a threshold θ from the exact scores of the largest-norm rows and
//     columns and the extremes of the first coordinate.
//  4. Skip a tile when an upper bound on its entries (exact interval product
//     over the first coordinates plus the product of residual norms) is
//     below θ; since norms decrease along a row of tiles, the first tile
//     whose norm bound fails ends that row.
//  5. For every other tile, compute int8 scores of the rotated factors with
//     the VNNI kernel; entries whose score plus a rigorous quantisation and
//     rounding error bound reaches θ are rescored exactly and offered to a
//     k-heap, which raises θ.
//
// Exact scores are float64 dot products of the float32 factor rows, summed
// in kernel.Dot64's fixed order; every comparison that decides membership
// uses them.
// When the spectrum is flat (random weights) step 4 prunes nothing and the
// search is a dense int8 product with the threshold test fused into the
// tile epilogue — four times the f32 FMA rate of the same core.

// pairQuery is one search.
type pairQuery struct {
	A, B    weights.Matrix // V_A × h and V_B × h factors; rows are vocabulary ids
	TA, TB  dmat           // rotations with TA·TBᵀ = I (from rotationFor)
	Rows    []int          // source ids taking part, ascending; nil means all
	Cols    []int          // target ids taking part, ascending; nil means all
	K       int
	Bottom  bool                    // smallest entries instead of largest
	Exclude func(src, tgt int) bool // pairs that may not appear; nil = none
	Workers int                     // 0 = GOMAXPROCS
	// Dual also finds the bottom K in the same pass (Bottom must be
	// false): each tile's int8 products are screened against both
	// thresholds, so a catalogue's top and bottom cost one search.
	Dual bool
}

// boundCoords is how many leading rotated coordinates enter the tile bound
// exactly (as interval products); the rest enter through residual norms.
const boundCoords = 4

// side is one factor prepared for the search: gathered, rotated, sorted by
// rotated norm, quantised to int8 and packed into kernel panels.
type side struct {
	n, panels, panelRows int
	h                    int
	orig                 []int32        // sorted position → vocabulary id
	src                  weights.Matrix // the factor itself: rows orig[i], times sign, are rescored exactly
	sign                 float64
	scale                []float64 // int8 scale per sorted position (0 for padding)
	norm                 []float64 // |x| of the unrotated row
	normR                []float64 // |x'| of the rotated row
	qerr                 []float64 // |x' − scale·q|
	corr                 []int32   // 128·Σq per row (A side only)
	packed               []byte    // kernel panels
	first                []float64 // n × boundCoords leading rotated coordinates
	resid                []float64 // |x'[boundCoords:]|
	// Per-panel maxima (and first-coordinate ranges) for tile bounds.
	pNorm, pNormR, pScale, pQerr, pResid []float64
	pLo, pHi                             [][boundCoords]float64
}

// resolve checks q and returns the token ids taking part on each side (all
// of them when q names none), the sign that turns a bottom-k search into a
// top-k one, and the Stats every search starts from.
func (q pairQuery) resolve(engine string) (rows, cols []int, sign float32, st Stats, err error) {
	if q.A.Cols != q.B.Cols {
		return nil, nil, 0, st, fmt.Errorf("project: factor widths differ (%d vs %d)", q.A.Cols, q.B.Cols)
	}
	rows, cols = q.Rows, q.Cols
	if rows == nil {
		rows = seq(q.A.Rows)
	}
	if cols == nil {
		cols = seq(q.B.Rows)
	}
	for _, r := range rows {
		if r < 0 || r >= q.A.Rows {
			return nil, nil, 0, st, fmt.Errorf("project: source token id %d out of range [0,%d)", r, q.A.Rows)
		}
	}
	for _, c := range cols {
		if c < 0 || c >= q.B.Rows {
			return nil, nil, 0, st, fmt.Errorf("project: target token id %d out of range [0,%d)", c, q.B.Rows)
		}
	}
	sign = 1
	if q.Bottom {
		sign = -1
	}
	st = Stats{Rows: len(rows), Cols: len(cols), DenseFLOPs: 2 * float64(len(rows)) * float64(len(cols)) * float64(q.A.Cols), Engine: engine}
	return rows, cols, sign, st, nil
}

// searchPairs runs q and returns the pairs in result order.
func searchPairs(q pairQuery) ([]Pair, Stats, error) {
	q.Dual = false
	top, _, st, err := runSearch(q)
	return top, st, err
}

// searchPairsDual runs q (Bottom false) for its top and bottom K at once.
func searchPairsDual(q pairQuery) (top, bottom []Pair, st Stats, err error) {
	q.Dual, q.Bottom = true, false
	return runSearch(q)
}

func runSearch(q pairQuery) (top, bottom []Pair, st Stats, err error) {
	h := q.A.Cols
	rows, cols, sign, st, err := q.resolve(cpuEngineName())
	if err != nil || st.Rows == 0 || st.Cols == 0 || q.K <= 0 {
		return nil, nil, st, err
	}
	ta, tb := q.TA, q.TB
	if ta.n == 0 {
		ta, tb = identity(h), identity(h)
		st.RankFallback = true
	}
	taF, tbF := roundF32(ta), roundF32(tb)
	// ε1 bounds |a·b − a·T_A·T_Bᵀ·b| / (|a||b|) for the float32 rotations.
	eps1 := taF.mul(tbF.t())
	for i := range h {
		eps1.set(i, i, eps1.at(i, i)-1)
	}
	e1 := eps1.frob()
	// γ bounds the float32 rounding of x·T relative to |x|·‖T‖_F.
	gamma := float64(h+2) * 0x1p-24 * 1.01
	nta, ntb := taF.frob(), tbF.frob()

	var A, B *side
	var prep sync.WaitGroup
	prep.Add(1)
	go func() { // the two sides are independent: prepare them on two cores
		defer prep.Done()
		A = prepare(q.A, rows, taF, kernel.I8Rows, true, sign)
	}()
	B = prepare(q.B, cols, tbF, kernel.I8Cols, false, 1)
	prep.Wait()
	st.SpentFLOPs += 2 * float64(len(rows)+len(cols)) * float64(h*h) // rotations

	const tiny = 1e-12
	s := &searcher{q: q, A: A, B: B, h: h, mE: e1 + tiny, mA: gamma * nta * 1.01, mB: gamma * ntb * 1.01, dual: q.Dual}
	s.theta.Store(math.Float64bits(math.Inf(-1)))
	s.thetaB.Store(math.Float64bits(math.Inf(-1)))
	if !s.dual {
		s.thetaB.Store(math.Float64bits(math.Inf(1))) // nothing to find below
	}
	s.seed()

	workers := q.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	results := make([]*worker, workers)
	for w := range workers {
		wk := &worker{s: s, heap: topHeap{k: q.K}, heapB: topHeap{k: q.K}}
		results[w] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk.run()
		}()
	}
	wg.Wait()

	// Merge: the seed heap and the workers' heaps may hold the same pair.
	merge := func(heaps ...[]cand) []cand {
		seen := map[[2]int32]bool{}
		var all []cand
		for _, cs := range heaps {
			for _, c := range cs {
				key := [2]int32{c.src, c.tgt}
				if !seen[key] {
					seen[key] = true
					all = append(all, c)
				}
			}
		}
		return all
	}
	tops, bots := [][]cand{s.seedHeap.h}, [][]cand{s.seedHeapB.h}
	for _, w := range results {
		tops = append(tops, w.heap.h)
		bots = append(bots, w.heapB.h)
		st.SpentFLOPs += w.flops
		st.Candidates += w.candidates
	}
	st.SpentFLOPs += s.seedFLOPs
	top = bestPairs(merge(tops...), q.K, sign)
	if s.dual {
		// Bottom candidates hold −score: negated back by the sign.
		bottom = bestPairs(merge(bots...), q.K, -1)
	}
	return top, bottom, st, nil
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// roundF32 rounds a to float32 precision, so that the rotation the kernel
// applies is exactly the one the error bound is computed for.
func roundF32(a dmat) dmat {
	b := newDmat(a.n, a.m)
	for i, x := range a.v {
		b.v[i] = float64(float32(x))
	}
	return b
}

// prepare gathers the rows of x listed in ids, scales them by sign, rotates
// them by t, sorts them by rotated norm, quantises them and packs them into
// panels of panelRows rows (signed bytes for the A side, unsigned +128 for B).
func prepare(x weights.Matrix, ids []int, t dmat, panelRows int, isA bool, sign float32) *side {
	h := x.Cols
	n := len(ids)
	// Rotate the rows, with the sign folded into the rotation (negating a
	// float32 is exact, so x·(−T) is −(x·T) bit for bit). When every row
	// takes part in order (no filter) the factor is rotated in place of a
	// gathered copy: a pass over it and a V × d_head allocation less.
	if sign < 0 {
		neg := newDmat(t.n, t.m)
		for i := range t.n {
			for j := range t.m {
				neg.set(i, j, -t.at(i, j))
			}
		}
		t = neg
	}
	var rot []float32
	if isSeq(ids, x.Rows) {
		rot = rotateRows(x.Data[:n*h], n, h, t)
	} else {
		g := getScratch(n * h)
		parallelRows(n, 4096, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				copy(g[i*h:(i+1)*h], x.Row(ids[i]))
			}
		})
		rot = rotateRows(g, n, h, t)
		putScratch(g)
	}
	defer putScratch(rot)
	rotW := (h + kernel.F32Cols - 1) / kernel.F32Cols * kernel.F32Cols

	// Per-row quantities in row order (sequential reads, all cores), then
	// the sort by rotated norm (ties by position, for determinism).
	type rowStats struct {
		norm, normR, maxAbs, resid float64
		first                      [boundCoords]float64
	}
	st := make([]rowStats, n)
	parallelRows(n, 2048, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := rot[i*rotW : i*rotW+h]
			var all, res2, mx float64
			for k, v := range r {
				f := float64(v)
				all += f * f
				mx = max(mx, math.Abs(f))
				if k < boundCoords {
					st[i].first[k] = f
				} else {
					res2 += f * f
				}
			}
			st[i].normR, st[i].maxAbs, st[i].resid = math.Sqrt(all), mx, math.Sqrt(res2)
			st[i].norm = norm64(x.Row(ids[i]))
		}
	})
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(st[b].normR, st[a].normR); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})

	panels := (n + panelRows - 1) / panelRows
	np := panels * panelRows
	kq := (h + 3) / 4
	s := &side{
		n: n, panels: panels, panelRows: panelRows, h: h,
		orig: make([]int32, n),
		src:  x, sign: float64(sign),
		scale:  make([]float64, np),
		norm:   make([]float64, np),
		normR:  make([]float64, np),
		qerr:   make([]float64, np),
		packed: make([]byte, np*kq*4),
		first:  make([]float64, np*boundCoords),
		resid:  make([]float64, np),
		pNorm:  make([]float64, panels), pNormR: make([]float64, panels),
		pScale: make([]float64, panels), pQerr: make([]float64, panels),
		pResid: make([]float64, panels),
		pLo:    make([][boundCoords]float64, panels), pHi: make([][boundCoords]float64, panels),
	}
	if isA {
		s.corr = make([]int32, np)
	}
	maxAbs := make([]float64, n)
	for pos, src := range order {
		r := &st[src]
		s.orig[pos] = int32(ids[src])
		s.norm[pos], s.normR[pos], s.resid[pos], maxAbs[pos] = r.norm, r.normR, r.resid, r.maxAbs
		copy(s.first[pos*boundCoords:(pos+1)*boundCoords], r.first[:])
	}
	// All rows of a panel share one int8 scale, so that the tile's integer
	// maximum bounds its scores without a scale mismatch; rows of a panel
	// have similar norms (they are sorted), so little resolution is lost.
	parallelRows(panels, 64, func(p0, p1 int) {
		qrow := make([]int8, kq*4)
		for p := p0; p < p1; p++ {
			quantizePanel(s, p, rot, rotW, order, maxAbs, qrow, isA)
		}
	})
	// Padding rows of B must still read as value 0 (byte 128).
	if !isA {
		for pos := n; pos < np; pos++ {
			p, rr := pos/panelRows, pos%panelRows
			base := p * kq * panelRows * 4
			for qd := range kq {
				off := base + qd*panelRows*4 + rr*4
				for j := range 4 {
					s.packed[off+j] = 128
				}
			}
		}
	}
	for p := range panels {
		lo, hi := p*panelRows, min((p+1)*panelRows, n)
		for c := range boundCoords {
			s.pLo[p][c], s.pHi[p][c] = math.Inf(1), math.Inf(-1)
		}
		for pos := lo; pos < hi; pos++ {
			s.pNorm[p] = max(s.pNorm[p], s.norm[pos])
			s.pNormR[p] = max(s.pNormR[p], s.normR[pos])
			s.pScale[p] = max(s.pScale[p], s.scale[pos])
			s.pQerr[p] = max(s.pQerr[p], s.qerr[pos])
			s.pResid[p] = max(s.pResid[p], s.resid[pos])
			for c := range boundCoords {
				v := s.first[pos*boundCoords+c]
				s.pLo[p][c] = min(s.pLo[p][c], v)
				s.pHi[p][c] = max(s.pHi[p][c], v)
			}
		}
	}
	return s
}

// quantizePanel quantises the rows of panel p (positions in sorted order)
// to int8 with the panel's common scale and packs them for the kernel.
// All rows of a panel share one scale, so that the tile's integer maximum
// bounds its scores without a scale mismatch; rows of a panel have similar
// norms (they are sorted), so little resolution is lost.
func quantizePanel(s *side, p int, rot []float32, rotW int, order []int32, maxAbs []float64, qrow []int8, isA bool) {
	h, panelRows, kq := s.h, s.panelRows, (s.h+3)/4
	lo, hi := p*panelRows, min((p+1)*panelRows, s.n)
	var mx float64
	for pos := lo; pos < hi; pos++ {
		mx = max(mx, maxAbs[pos])
	}
	sc := mx / 127
	inv := 0.0
	if sc > 0 {
		inv = 1 / sc
	}
	for pos := lo; pos < hi; pos++ {
		src := order[pos]
		r := rot[int(src)*rotW : int(src)*rotW+h]
		s.scale[pos] = sc
		var e2 float64
		var sum int32
		clear(qrow)
		for k, v := range r {
			qv := int8(math.Round(float64(v) * inv)) // |v|·inv ≤ 127 (+ rounding)
			qrow[k] = qv
			sum += int32(qv)
			d := float64(v) - sc*float64(qv)
			e2 += d * d
		}
		s.qerr[pos] = math.Sqrt(e2)
		if isA {
			s.corr[pos] = 128 * sum
		}
		// Pack: row rr of panel p; each quad holds panelRows × 4 bytes.
		rr := pos - lo
		base := p * kq * panelRows * 4
		for qd := range kq {
			off := base + qd*panelRows*4 + rr*4
			for j := range 4 {
				if isA {
					s.packed[off+j] = byte(qrow[qd*4+j])
				} else {
					s.packed[off+j] = byte(int(qrow[qd*4+j]) + 128)
				}
			}
		}
	}
}

// rotateRows returns x·t for x of n × h, as n × W with W = h rounded up to
// kernel.F32Cols, on all cores. A last block of fewer than kernel.F32Rows
// rows goes through a zero-padded copy.
func rotateRows(x []float32, n, h int, t dmat) []float32 {
	w := (h + kernel.F32Cols - 1) / kernel.F32Cols * kernel.F32Cols
	out := getScratch(n * w) // every element is written below
	panels := w / kernel.F32Cols
	packed := make([][]float32, panels)
	for pi := range panels {
		c0 := pi * kernel.F32Cols
		packed[pi] = make([]float32, h*kernel.F32Cols)
		for k := range h {
			for c := range kernel.F32Cols {
				if c0+c < t.m {
					packed[pi][k*kernel.F32Cols+c] = float32(t.at(k, c0+c))
				}
			}
		}
	}
	blocks := (n + kernel.F32Rows - 1) / kernel.F32Rows
	parallelRows(blocks, 256, func(b0, b1 int) {
		var tile []float32
		for b := b0; b < b1; b++ {
			r := b * kernel.F32Rows
			for pi := range panels {
				c0 := pi * kernel.F32Cols
				if r+kernel.F32Rows <= n {
					kernel.Sgemm(x[r*h:], h, packed[pi], h, out[r*w+c0:], w)
					continue
				}
				// The tail: pad the rows, compute a whole tile, keep the real rows.
				pad := make([]float32, kernel.F32Rows*h)
				copy(pad, x[r*h:n*h])
				if tile == nil {
					tile = make([]float32, kernel.F32Rows*kernel.F32Cols)
				}
				kernel.Sgemm(pad, h, packed[pi], h, tile, kernel.F32Cols)
				for i := 0; r+i < n; i++ {
					copy(out[(r+i)*w+c0:(r+i)*w+c0+kernel.F32Cols], tile[i*kernel.F32Cols:(i+1)*kernel.F32Cols])
				}
			}
		}
	})
	return out
}

// scratch keeps the V × d_head float32 buffers a search rotates its
// factors into, between searches: a fresh one costs more in page faults
// and zeroing (≈ 6 ms for GPT-2 medium) than the rotation itself (≈ 2 ms).
var scratch sync.Pool

// getScratch returns a float32 slice of length n with unspecified contents.
func getScratch(n int) []float32 {
	if p, ok := scratch.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

// putScratch gives s back for another search; s must not be used after.
func putScratch(s []float32) { scratch.Put(&s) }

// isSeq reports whether ids is 0, 1, …, n−1.
func isSeq(ids []int, n int) bool {
	if len(ids) != n {
		return false
	}
	for i, id := range ids {
		if id != i {
			return false
		}
	}
	return true
}

func norm64(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// dot64 is the exact score: float64 products of float32 coordinates
// (exact), summed in the fixed order of kernel.Dot64 (32 partial sums,
// then a tree) on every path, so that every search, view and reference
// that ranks by it agrees bit for bit.
func dot64(a, b []float32) float64 { return kernel.Dot64(a, b) }

type searcher struct {
	q    pairQuery
	A, B *side
	h    int
	// margin(nA, nAR, nB, nBR) = mE·nA·nB + mA·nA·nBR + mB·nB·nAR bounds
	// |exact score − rotated score| for a row of norms nA (unrotated), nAR
	// (rotated) and a column of norms nB, nBR.
	mE, mA, mB float64

	theta     atomic.Uint64 // float64 bits; only ever raised
	nextPanel atomic.Int64
	stop      atomic.Bool

	seedHeap  topHeap
	seedFLOPs float64

	// A dual search also keeps the bottom K: candidates scored −score in
	// seedHeapB and the workers' heapB, above the threshold thetaB.
	dual      bool
	thetaB    atomic.Uint64
	seedHeapB topHeap
}

func (s *searcher) margin(nA, nAR, nB, nBR float64) float64 {
	return s.mE*nA*nB + s.mA*nA*nBR + s.mB*nB*nAR
}

func (s *searcher) loadTheta() float64  { return math.Float64frombits(s.theta.Load()) }
func (s *searcher) loadThetaB() float64 { return math.Float64frombits(s.thetaB.Load()) }

func (s *searcher) raiseTheta(t float64)  { raise(&s.theta, t) }
func (s *searcher) raiseThetaB(t float64) { raise(&s.thetaB, t) }

func raise(theta *atomic.Uint64, t float64) {
	for {
		old := theta.Load()
		if math.Float64frombits(old) >= t {
			return
		}
		if theta.CompareAndSwap(old, math.Float64bits(t)) {
			return
		}
	}
}

// score is the exact score of sorted row i and sorted column j.
func (s *searcher) score(i, j int) cand {
	return cand{
		// A side negated for a bottom search: −a·b is exactly −(a·b).
		score: s.A.sign * dot64(s.A.src.Row(int(s.A.orig[i])), s.B.src.Row(int(s.B.orig[j]))),
		src:   s.A.orig[i], tgt: s.B.orig[j],
	}
}

func (s *searcher) excluded(c cand) bool {
	return s.q.Exclude != nil && s.q.Exclude(int(c.src), int(c.tgt))
}

// seed scores the pairs most likely to be large — the largest-norm rows
// against the largest-norm columns, and the extremes of the first rotated
// coordinate against each other — to start θ high.
func (s *searcher) seed() {
	const m = 48
	s.seedHeap = topHeap{k: s.q.K}
	s.seedHeapB = topHeap{k: s.q.K}
	pick := func(sd *side, byFirst float64) []int {
		n := sd.n
		if byFirst == 0 { // by norm: sides are sorted already
			return seq(min(m, n))
		}
		// The m rows with the largest byFirst·x'₁, by selection.
		idx := seq(n)
		key := func(i int) float64 { return byFirst * sd.first[i*boundCoords] }
		top := idx[:0:0]
		for _, i := range idx {
			top = append(top, i)
			if len(top) > 2*m {
				slices.SortFunc(top, func(a, b int) int { return cmp.Compare(key(b), key(a)) })
				top = top[:m]
			}
		}
		slices.SortFunc(top, func(a, b int) int { return cmp.Compare(key(b), key(a)) })
		return top[:min(m, len(top))]
	}
	tried := map[[2]int]bool{} // the three seed sets overlap; a pair may enter the heap once
	try := func(ri, cj []int) {
		for _, i := range ri {
			for _, j := range cj {
				if tried[[2]int{i, j}] {
					continue
				}
				tried[[2]int{i, j}] = true
				c := s.score(i, j)
				s.seedFLOPs += 2 * float64(s.h)
				if s.excluded(c) {
					continue
				}
				s.seedHeap.offer(c)
				if s.dual {
					s.seedHeapB.offer(cand{score: -c.score, src: c.src, tgt: c.tgt})
				}
			}
		}
	}
	try(pick(s.A, 0), pick(s.B, 0))
	try(pick(s.A, 1), pick(s.B, 1))
	try(pick(s.A, -1), pick(s.B, -1))
	if s.dual { // the most negative products: opposite extremes
		try(pick(s.A, 1), pick(s.B, -1))
		try(pick(s.A, -1), pick(s.B, 1))
	}
	if s.seedHeap.full() {
		s.raiseTheta(s.seedHeap.worst().score)
	}
	if s.dual && s.seedHeapB.full() {
		s.raiseThetaB(s.seedHeapB.worst().score)
	}
}

type worker struct {
	s          *searcher
	heap       topHeap
	heapB      topHeap // a dual search's bottom candidates (scored −score)
	flops      float64
	candidates int64
	out        [kernel.I8Rows * kernel.I8Cols]int32
}

// tileBound bounds every rotated score in the tile of row panel p and
// column panel q: exact interval products over the leading coordinates plus
// the product of residual norms.
func (s *searcher) tileBound(p, q int) float64 {
	var b float64
	for c := range boundCoords {
		alo, ahi := s.A.pLo[p][c], s.A.pHi[p][c]
		blo, bhi := s.B.pLo[q][c], s.B.pHi[q][c]
		b += max(alo*blo, alo*bhi, ahi*blo, ahi*bhi)
	}
	return b + s.A.pResid[p]*s.B.pResid[q]
}

// tileBoundLow bounds −score over the tile likewise: the most negative
// interval products over the leading coordinates, negated, plus the
// product of residual norms.
func (s *searcher) tileBoundLow(p, q int) float64 {
	var b float64
	for c := range boundCoords {
		alo, ahi := s.A.pLo[p][c], s.A.pHi[p][c]
		blo, bhi := s.B.pLo[q][c], s.B.pHi[q][c]
		b -= min(alo*blo, alo*bhi, ahi*blo, ahi*bhi)
	}
	return b + s.A.pResid[p]*s.B.pResid[q]
}

func (w *worker) run() {
	s := w.s
	A, B := s.A, s.B
	kq := (s.h + 3) / 4
	aPanel := kernel.I8Rows * 4 * kq
	bPanel := kernel.I8Cols * 4 * kq
	aBytes := unsafeInt8(A.packed)
	var corr [kernel.I8Rows]int32
	for !s.stop.Load() {
		p := int(s.nextPanel.Add(1) - 1)
		if p >= A.panels {
			return
		}
		copy(corr[:], A.corr[p*kernel.I8Rows:(p+1)*kernel.I8Rows])
		mA := s.margin(A.pNorm[p], A.pNormR[p], B.pNorm[0], B.pNormR[0])
		if th := min(s.loadTheta(), s.loadThetaB()); A.pNormR[p]*B.pNormR[0]+mA < th {
			// Rows are sorted by rotated norm: no later panel can reach θ
			// (|score| is bounded by the norms, for the top and the bottom).
			s.stop.Store(true)
			return
		}
		for q := 0; q < B.panels; q++ {
			th, thB := s.loadTheta(), s.loadThetaB()
			m := s.margin(A.pNorm[p], A.pNormR[p], B.pNorm[q], B.pNormR[q])
			if A.pNormR[p]*B.pNormR[q]+m < min(th, thB) {
				break // columns are sorted by rotated norm too
			}
			top := s.tileBound(p, q)+m >= th
			bot := s.dual && s.tileBoundLow(p, q)+m >= thB
			if !top && !bot {
				continue
			}
			a, b := aBytes[p*aPanel:(p+1)*aPanel], B.packed[q*bPanel:(q+1)*bPanel]
			var mx, mn int32
			if s.dual {
				mx, mn = kernel.DotI8MinMax(a, b, kq, &corr, &w.out)
			} else {
				mx = kernel.DotI8(a, b, kq, &corr, &w.out)
			}
			w.flops += 2 * float64(kernel.I8Rows*kernel.I8Cols*4*kq)
			// Necessary condition for any entry: scale·maxq + errors ≥ θ
			// (for the bottom: −scale·minq + errors ≥ θ_B).
			errMax := A.pQerr[p]*B.pNormR[q] + A.pNormR[p]*B.pQerr[q] + A.pQerr[p]*B.pQerr[q] + m
			estMax, estMin := 0.0, 0.0 // a tile with no positive (negative) product has scores ≤ 0 (≥ 0)
			if mx > 0 {
				estMax = float64(mx) * A.pScale[p] * B.pScale[q]
			}
			if mn < 0 {
				estMin = -float64(mn) * A.pScale[p] * B.pScale[q]
			}
			top = top && estMax+errMax >= th
			bot = bot && estMin+errMax >= thB
			if !top && !bot {
				continue
			}
			w.scanTile(p, q, top, bot)
		}
	}
}

// scanTile applies the per-entry bound to a computed tile and rescores the
// entries that pass it, for the top and (dual) the bottom.
func (w *worker) scanTile(p, q int, top, bot bool) {
	s := w.s
	A, B := s.A, s.B
	i0, j0 := p*kernel.I8Rows, q*kernel.I8Cols
	th, thB := math.Inf(1), math.Inf(1)
	for r := range kernel.I8Rows {
		i := i0 + r
		if i >= A.n {
			break
		}
		if top {
			th = s.loadTheta()
		}
		if bot {
			thB = s.loadThetaB()
		}
		for c := range kernel.I8Cols {
			j := j0 + c
			if j >= B.n {
				break
			}
			est := float64(w.out[r*kernel.I8Cols+c]) * A.scale[i] * B.scale[j]
			e := A.qerr[i]*B.normR[j] + A.normR[i]*B.qerr[j] + A.qerr[i]*B.qerr[j] +
				s.margin(A.norm[i], A.normR[i], B.norm[j], B.normR[j])
			needTop, needBot := est+e >= th, -est+e >= thB
			if !needTop && !needBot {
				continue
			}
			cd := s.score(i, j)
			w.candidates++
			w.flops += 2 * float64(s.h)
			if needTop && w.heap.admits(cd) && !s.excluded(cd) {
				w.heap.offer(cd)
				if w.heap.full() {
					s.raiseTheta(w.heap.worst().score)
					th = s.loadTheta()
				}
			}
			if cb := (cand{score: -cd.score, src: cd.src, tgt: cd.tgt}); needBot && w.heapB.admits(cb) && !s.excluded(cd) {
				w.heapB.offer(cb)
				if w.heapB.full() {
					s.raiseThetaB(w.heapB.worst().score)
					thB = s.loadThetaB()
				}
			}
		}
	}
}

// unsafeInt8 views the A side's packed bytes as the signed bytes they are.
func unsafeInt8(b []byte) []int8 {
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}
