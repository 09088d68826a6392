package project

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"lenskit.dev/lenskit/project/internal/kernel"
	"lenskit.dev/lenskit/weights"
)

// A reverse lookup asks the catalogue's question the other way round:
// given a token (a word's forms), which units read or write it most? It is
// exact and needs no catalogue: for every unit the score against each
// target token is screened with one float32 product per layer, and every
// unit whose screened score, widened by a rigorous bound on its rounding,
// could be among the best is rescored exactly: a neuron with the very
// arithmetic of its own view (a hit's score is the entry its view shows),
// a head in float64 from the stored weights (see lookupHeads).

// LookupOptions describes a reverse lookup.
type LookupOptions struct {
	// Targets are the token ids looked up (a word's forms), distinct. A
	// unit's score is its best over them; each hit names the token.
	Targets []int
	// K is the number of hits in each list.
	K int
	// Sources are the OV source tokens a head may attend to (ascending;
	// nil: all); Exclude drops (source, target) pairs.
	Sources []int
	Exclude func(src, tgt int) bool
}

// NeuronHit is one neuron found by a reverse lookup.
type NeuronHit struct {
	Neuron NeuronID
	Side   Side    // Value for writers; Key, Gate or Up for readers
	Token  int     // the target it scores best on
	Score  float32 // exactly the neuron view's score of Token on Side
}

// HeadHit is one head found by a reverse lookup: the best source of its OV
// view for the best of the targets.
type HeadHit struct {
	Head           HeadID
	KV             int
	Source, Target int
	Score          float32 // the OV entry (Source, Target) in float64 from the weights (see Space.Lookup)
}

// Lookup is the result of a reverse lookup, each list best first (ties:
// lower layer, then lower index, then lower token id).
type Lookup struct {
	Write []NeuronHit // neurons whose value writes a target most: W_U·v
	Read  []NeuronHit // neurons whose key (gate or up) reads a target most: W_E·k
	Heads []HeadHit   // heads whose OV view sends most towards a target
}

// Lookup runs a reverse lookup over every layer.
func (s *Space) Lookup(opt LookupOptions) (*Lookup, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if opt.K < 0 {
		return nil, fmt.Errorf("project: negative k %d", opt.K)
	}
	if len(opt.Targets) == 0 {
		return nil, fmt.Errorf("project: a reverse lookup needs at least one target token")
	}
	for _, t := range opt.Targets {
		if t < 0 || t >= s.WU.Rows || t >= s.WE.Rows {
			return nil, fmt.Errorf("project: target token id %d out of range [0,%d)", t, min(s.WE.Rows, s.WU.Rows))
		}
	}
	for _, t := range opt.Sources {
		if t < 0 || t >= s.WE.Rows {
			return nil, fmt.Errorf("project: source token id %d out of range [0,%d)", t, s.WE.Rows)
		}
	}
	out := &Lookup{}
	var err error
	if out.Write, err = s.lookupNeurons(opt, false); err != nil {
		return nil, err
	}
	if out.Read, err = s.lookupNeurons(opt, true); err != nil {
		return nil, err
	}
	if out.Heads, err = s.lookupHeads(opt); err != nil {
		return nil, err
	}
	return out, nil
}

// unitEst is one unit's screened score: est is within err of the exact
// score of some (side, target), and no (side, target) of the unit scores
// more than est + err.
type unitEst struct {
	layer, index int
	est, err     float64
}

// topUnits returns the units that can be among the k best by exact score:
// those whose est + err reaches the k-th best est − err.
func topUnits(us []unitEst, k int) []unitEst {
	if k <= 0 || len(us) == 0 {
		return nil
	}
	lows := make([]float64, len(us))
	for i, u := range us {
		lows[i] = u.est - u.err
	}
	th := kthLargest(lows, min(k, len(lows)))
	var out []unitEst
	for _, u := range us {
		if u.est+u.err >= th {
			out = append(out, u)
		}
	}
	return out
}

// lookupNeurons finds the neurons whose value (or, with read, whose read
// directions) score the targets most.
//
// Screening: with z_t the target's row as the side reads it — for values
// (u_t − ū)·diag(γ_f), for reads e_t·diag(g) with g the MLP norm's gain
// when folded — the product W·Z of the layer's value (or key) matrix with
// the targets' z_t, in float32. The exact score is dot64 of the vocabulary
// row with the float32 direction the neuron view uses (γ_f ⊙ v, g ⊙ k),
// minus the centring shift; both it and the screened score are within
// (γ_d + 3u)·|w_i|·|z_t| of the real product (u = 2⁻²⁴), so twice that
// bounds their difference.
func (s *Space) lookupNeurons(opt LookupOptions, read bool) ([]NeuronHit, error) {
	a := s.Model.Arch()
	d := a.DModel
	vocab := s.WU
	if read {
		vocab = s.WE
	}
	m := len(opt.Targets)
	base := weights.NewMatrix(d, m)
	buf := make([]float32, d)
	for j, t := range opt.Targets {
		for k, x := range vocab.RowInto(buf, t) {
			v := float64(x)
			if !read {
				if s.meanU != nil {
					v -= s.meanU[k]
				}
				if s.finalGain != nil {
					v *= float64(s.finalGain[k])
				}
			}
			base.Data[k*m+j] = float32(v)
		}
	}
	colNorm := func(z weights.Matrix) float64 {
		var mx float64
		for j := range m {
			var n2 float64
			for k := range d {
				v := float64(z.Data[k*m+j])
				n2 += v * v
			}
			mx = math.Max(mx, math.Sqrt(n2))
		}
		return mx * (1 + 1e-6)
	}
	const u = 0x1p-24
	c := 2 * (float64(d+2)*u*1.01 + 4*u)
	sides := []Side{Value}
	if read {
		sides = []Side{Key}
		if a.MLP == weights.MLPGated {
			sides = []Side{Gate, Up}
		}
	}
	// Layers are screened on all cores. Each keeps the units that can be
	// among its own k best — a superset of its units among the global k
	// best, since the global k-th lower bound is at least the layer's —
	// with copies of their directions, for the exact rescoring.
	type kept struct {
		u    unitEst
		dirs [][]float32 // per side, as the view reads it
	}
	perLayer := make([][]kept, a.Layers)
	errs := make([]error, a.Layers)
	parallelRows(a.Layers, 1, func(llo, lhi int) {
		row := make([]float32, d)
		for l := llo; l < lhi; l++ {
			perLayer[l], errs[l] = func() ([]kept, error) {
				gain, err := s.mlpGain(l)
				if err != nil {
					return nil, err
				}
				z := base
				if read && gain != nil {
					// k·(g ⊙ e): scale the targets' rows instead of every key.
					z = scaleRows(base, gain)
				}
				zn := colNorm(z)
				best := make([]float64, a.DFF)
				bound := make([]float64, a.DFF)
				for i := range best {
					best[i] = math.Inf(-1)
				}
				mats := make([]weights.Matrix, len(sides))
				for r, side := range sides {
					var w weights.Matrix
					if read {
						w, err = s.Model.FFKeys(l, r)
					} else {
						w, err = s.Model.FFValues(l)
					}
					if err != nil {
						return nil, err
					}
					mats[r] = w
					sc, err := s.mulNarrow(w, z)
					if err != nil {
						return nil, err
					}
					for i := range a.DFF {
						n := norm64(w.RowInto(row, i))
						if math.IsNaN(n) || math.IsInf(n, 0) {
							return nil, fmt.Errorf("project: neuron %v: %w: its %v direction holds NaN or ±Inf", NeuronID{l, i}, ErrNonFinite, side)
						}
						for j := range m {
							x := float64(sc.Data[i*m+j])
							if math.IsNaN(x) || math.IsInf(x, 0) {
								return nil, fmt.Errorf("project: neuron %v: %w: its %v direction's product with token %d overflows float32", NeuronID{l, i}, ErrNonFinite, side, opt.Targets[j])
							}
							best[i] = math.Max(best[i], x)
						}
						bound[i] = math.Max(bound[i], c*n*zn)
					}
				}
				units := make([]unitEst, a.DFF)
				for i := range a.DFF {
					units[i] = unitEst{layer: l, index: i, est: best[i], err: bound[i]}
				}
				var out []kept
				for _, u := range topUnits(units, opt.K) {
					kp := kept{u: u}
					for r := range sides {
						dir := mats[r].RowInto(make([]float32, d), u.index)
						if read && gain != nil {
							dir = mulVec(dir, gain)
						}
						if !read {
							dir = s.uDirection(dir)
						}
						kp.dirs = append(kp.dirs, dir)
					}
					out = append(out, kp)
				}
				return out, nil
			}()
		}
	})
	var units []unitEst
	dirsOf := map[[2]int][][]float32{}
	for l := range a.Layers {
		if errs[l] != nil {
			return nil, errs[l]
		}
		for _, kp := range perLayer[l] {
			units = append(units, kp.u)
			dirsOf[[2]int{kp.u.layer, kp.u.index}] = kp.dirs
		}
	}
	var hits []NeuronHit
	for _, un := range topUnits(units, opt.K) {
		hit := NeuronHit{Neuron: NeuronID{un.layer, un.index}}
		bestExact := math.Inf(-1)
		for r, side := range sides {
			dir := dirsOf[[2]int{un.layer, un.index}][r]
			shift := 0.0
			if !read {
				shift = s.uShift(dir)
			}
			for _, t := range opt.Targets {
				x := dot64(vocab.RowInto(buf, t), dir) - shift
				if x > bestExact || (x == bestExact && t < hit.Token) {
					bestExact = x
					hit.Side, hit.Token, hit.Score = side, t, float32(x)
				}
			}
		}
		hits = append(hits, hit)
	}
	slices.SortFunc(hits, func(x, y NeuronHit) int {
		if x.Score != y.Score {
			return cmp.Compare(y.Score, x.Score)
		}
		if c := cmp.Compare(x.Neuron.Layer, y.Neuron.Layer); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Neuron.Index, y.Neuron.Index); c != 0 {
			return c
		}
		return cmp.Compare(x.Token, y.Token)
	})
	return hits[:min(opt.K, len(hits))], nil
}

// lookupHeads finds, for every head, the best source of its OV view for
// each target, and returns the heads whose best entry is largest.
//
// A head's entry (s, t) is computed here in float64 from the stored
// weights, e_s·w with w = W'_V·(W_O·z_t) — W'_V = diag(g)·W_V with the
// attention norm's gain g when folded, z_t = γ_f ⊙ (u_t − ū) the target's
// unembedding as processed — summed in kernel.Dot64F's order. The view
// itself multiplies the float32 factors W_E·W'_V and W_U·W_Oᵀ, so its
// entry differs from this one by the float32 rounding of the factors
// (a relative 10⁻⁷), which is the only way the two can disagree.
//
// Screening: W_E·fl32(w) for every head and target of a layer in one
// float32 product; a source whose screened value is within 2(γ_d + 2u)·
// |e_s|·|w| of its column's best is rescored exactly.
func (s *Space) lookupHeads(opt LookupOptions) ([]HeadHit, error) {
	a := s.Model.Arch()
	d, dh, m := a.DModel, a.DHead, len(opt.Targets)
	src := s.WE
	nsrc := s.WE.Rows
	if opt.Sources != nil {
		src = gatherRows(s.WE, opt.Sources)
		nsrc = len(opt.Sources)
	}
	srcID := func(r int) int {
		if opt.Sources == nil {
			return r
		}
		return opt.Sources[r]
	}
	const u = 0x1p-24
	c := 2 * 1.01 * (float64(d+2)*u + 2*u)
	// The targets' processed unembeddings z_t, in float64.
	zs := make([][]float64, m)
	buf := make([]float32, d)
	for j, t := range opt.Targets {
		z := make([]float64, d)
		for k, x := range s.WU.RowInto(buf, t) {
			v := float64(x)
			if s.meanU != nil {
				v -= s.meanU[k]
			}
			if s.finalGain != nil {
				v *= float64(s.finalGain[k])
			}
			z[k] = v
		}
		zs[j] = z
	}
	if s.useScreen(nsrc) {
		return s.lookupHeadsScreened(opt, zs)
	}
	type column struct {
		w     []float64 // W'_V·W_O·z_t
		cands []int32   // source rows that may hold the column's best
	}
	var units []unitEst
	heads := map[[2]int][]column{}
	for l := range a.Layers {
		var gain []float32
		if s.Proc.FoldNorms {
			n, ok, err := s.Model.Norm(weights.AttnNorm, l)
			if err != nil {
				return nil, err
			}
			if ok {
				gain = n.Gain
			}
		}
		w32 := weights.NewMatrix(d, a.Heads*m)
		ws := make([][]float64, a.Heads*m)
		for h := range a.Heads {
			wo, err := s.Model.WO(l, h) // d_head × d
			if err != nil {
				return nil, err
			}
			wv, err := s.Model.WV(l, a.KVGroup(h)) // d × d_head
			if err != nil {
				return nil, err
			}
			if r := nonFiniteRow(wo); r >= 0 {
				return nil, nonFinite(fmt.Sprintf("W_O of head %d.%d", l, h), r, "row")
			}
			if r := nonFiniteRow(wv); r >= 0 {
				return nil, nonFinite(fmt.Sprintf("W_V of KV head %d.%d", l, a.KVGroup(h)), r, "row")
			}
			for j := range m {
				y := make([]float64, dh)
				for i := range dh {
					var x float64
					for k, zk := range zs[j] {
						x += float64(wo.Data[i*d+k]) * zk
					}
					y[i] = x
				}
				w := make([]float64, d)
				for k := range d {
					var x float64
					for i, yi := range y {
						x += float64(wv.Data[k*dh+i]) * yi
					}
					if gain != nil {
						x *= float64(gain[k])
					}
					w[k] = x
					w32.Data[k*a.Heads*m+h*m+j] = float32(x)
				}
				ws[h*m+j] = w
			}
		}
		sc, err := s.Engine.MatMul(src, w32)
		if err != nil {
			return nil, err
		}
		cols := a.Heads * m
		for h := range a.Heads {
			hc := make([]column, m)
			est, bound := math.Inf(-1), 0.0
			for j := range m {
				col := h*m + j
				t := opt.Targets[j]
				mx := math.Inf(-1)
				for r := range nsrc {
					x := float64(sc.Data[r*cols+col])
					if math.IsNaN(x) || math.IsInf(x, 0) {
						return nil, fmt.Errorf("project: head %d.%d OV: %w: the entry (%d, %d) overflows float32", l, h, ErrNonFinite, srcID(r), t)
					}
					if x > mx && (opt.Exclude == nil || !opt.Exclude(srcID(r), t)) {
						mx = x
					}
				}
				if math.IsInf(mx, -1) {
					continue // every source excluded
				}
				e := c * s.maxNormE * norm64f(ws[col])
				hc[j].w = ws[col]
				for r := range nsrc {
					if float64(sc.Data[r*cols+col]) >= mx-2*e && (opt.Exclude == nil || !opt.Exclude(srcID(r), t)) {
						hc[j].cands = append(hc[j].cands, int32(r))
					}
				}
				est = math.Max(est, mx)
				bound = math.Max(bound, e)
			}
			if math.IsInf(est, -1) {
				continue
			}
			heads[[2]int{l, h}] = hc
			units = append(units, unitEst{layer: l, index: h, est: est, err: bound})
		}
	}
	var hits []HeadHit
	for _, un := range topUnits(units, opt.K) {
		l, h := un.layer, un.index
		hit := HeadHit{Head: HeadID{l, h}, KV: a.KVGroup(h)}
		best := math.Inf(-1)
		for j, col := range heads[[2]int{l, h}] {
			t := opt.Targets[j]
			for _, r := range col.cands {
				sid := srcID(int(r))
				x := ovEntry(s.WE.RowInto(buf, sid), col.w)
				if x > best || (x == best && (t < hit.Target || (t == hit.Target && sid < hit.Source))) {
					best = x
					hit.Source, hit.Target, hit.Score = sid, t, float32(x)
				}
			}
		}
		hits = append(hits, hit)
	}
	slices.SortFunc(hits, func(x, y HeadHit) int {
		if x.Score != y.Score {
			return cmp.Compare(y.Score, x.Score)
		}
		if c := cmp.Compare(x.Head.Layer, y.Head.Layer); c != 0 {
			return c
		}
		return cmp.Compare(x.Head.Head, y.Head.Head)
	})
	return hits[:min(opt.K, len(hits))], nil
}

// ovEntry is e·w in float64, in kernel.Dot64F's fixed order: a reverse
// lookup's head score (and a singular direction's token score).
func ovEntry(e []float32, w []float64) float64 { return kernel.Dot64F(e, w) }

func norm64f(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// gatherRows returns rows ids of m as a new matrix in m's storage (float32
// or bfloat16), so that an engine treats them as it treats m.
func gatherRows(m weights.Matrix, ids []int) weights.Matrix {
	out := weights.Matrix{Rows: len(ids), Cols: m.Cols}
	c := m.Cols
	if m.IsBF16() {
		out.BF16 = make([]uint16, len(ids)*c)
		for i, id := range ids {
			copy(out.BF16[i*c:(i+1)*c], m.BF16[id*c:(id+1)*c])
		}
		return out
	}
	out.Data = make([]float32, len(ids)*c)
	for i, id := range ids {
		copy(out.Data[i*c:(i+1)*c], m.Data[id*c:(id+1)*c])
	}
	return out
}

// headDirections returns, for every head (layer-major) and target, the
// float64 direction w = W'_V·(W_O·z_t) whose product with a source's
// embedding is the head's OV entry (see lookupHeads).
func (s *Space) headDirections(zs [][]float64) ([][]float64, error) {
	a := s.Model.Arch()
	d, dh, m := a.DModel, a.DHead, len(zs)
	out := make([][]float64, a.Layers*a.Heads*m)
	errs := make([]error, a.Layers*a.Heads)
	gains := make([][]float32, a.Layers)
	for l := range a.Layers {
		if s.Proc.FoldNorms {
			n, ok, err := s.Model.Norm(weights.AttnNorm, l)
			if err != nil {
				return nil, err
			}
			if ok {
				gains[l] = n.Gain
			}
		}
	}
	parallelRows(a.Layers*a.Heads, 8, func(lo, hi int) {
		for lh := lo; lh < hi; lh++ {
			l, h := lh/a.Heads, lh%a.Heads
			errs[lh] = func() error {
				wo, err := s.Model.WO(l, h)
				if err != nil {
					return err
				}
				wv, err := s.Model.WV(l, a.KVGroup(h))
				if err != nil {
					return err
				}
				if r := nonFiniteRow(wo); r >= 0 {
					return nonFinite(fmt.Sprintf("W_O of head %d.%d", l, h), r, "row")
				}
				if r := nonFiniteRow(wv); r >= 0 {
					return nonFinite(fmt.Sprintf("W_V of KV head %d.%d", l, a.KVGroup(h)), r, "row")
				}
				for j := range m {
					y := make([]float64, dh)
					for i := range dh {
						var x float64
						for k, zk := range zs[j] {
							x += float64(wo.Data[i*d+k]) * zk
						}
						y[i] = x
					}
					w := make([]float64, d)
					for k := range d {
						var x float64
						for i, yi := range y {
							x += float64(wv.Data[k*dh+i]) * yi
						}
						if gains[l] != nil {
							x *= float64(gains[l][k])
						}
						w[k] = x
					}
					out[lh*m+j] = w
				}
				return nil
			}()
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookupHeadsScreened is lookupHeads by int8 screening: every head's
// direction for every target against the quantised W_E in one pass, the
// best source of each (k = 1, top only) rescored exactly with ovEntry's
// arithmetic — the same hits as the float32 path.
func (s *Space) lookupHeadsScreened(opt LookupOptions, zs [][]float64) ([]HeadHit, error) {
	a := s.Model.Arch()
	m := len(zs)
	ws, err := s.headDirections(zs)
	if err != nil {
		return nil, err
	}
	dirs := make([][]float32, len(ws))
	for j, w := range ws {
		f := make([]float32, len(w))
		for k, x := range w {
			f[k] = float32(x)
		}
		dirs[j] = f
	}
	var skip func(id, j int) bool
	if opt.Exclude != nil {
		skip = func(id, j int) bool { return opt.Exclude(id, opt.Targets[j%m]) }
	}
	res, err := screen(quantised(s.WE, opt.Sources), dirs, make([]float64, len(dirs)), screenOpts{k: 1, topOnly: true, exact: ws, skip: skip})
	if err != nil {
		return nil, err
	}
	var hits []HeadHit
	for l := range a.Layers {
		for h := range a.Heads {
			hit := HeadHit{Head: HeadID{l, h}, KV: a.KVGroup(h)}
			found := false
			best := math.Inf(-1)
			for j := range m {
				c := (l*a.Heads+h)*m + j
				col := res.cols[c][0]
				if len(col) == 0 {
					continue
				}
				t, x, sid := opt.Targets[j], res.best[c], col[0].ID
				if !found || x > best || (x == best && (t < hit.Target || (t == hit.Target && sid < hit.Source))) {
					best = x
					hit.Source, hit.Target, hit.Score = sid, t, float32(x)
					found = true
				}
			}
			if found {
				hits = append(hits, hit)
			}
		}
	}
	slices.SortFunc(hits, func(x, y HeadHit) int {
		if x.Score != y.Score {
			return cmp.Compare(y.Score, x.Score)
		}
		if c := cmp.Compare(x.Head.Layer, y.Head.Layer); c != 0 {
			return c
		}
		return cmp.Compare(x.Head.Head, y.Head.Head)
	})
	return hits[:min(opt.K, len(hits))], nil
}

// mulNarrow returns w·z for a z of a few columns. On the CPU engine a
// float32 w is multiplied two columns at a time by its streaming
// two-direction GEMV (every row of w read once per pair), rather than by
// the GEMM tile, which pads the columns to 64; the float32 rounding bound
// of either is the same.
func (s *Space) mulNarrow(w, z weights.Matrix) (weights.Matrix, error) {
	_, cpu := s.Engine.(cpuEngine)
	m := z.Cols
	if !cpu || w.IsBF16() || m <= 2 {
		return s.Engine.MatMul(w, z)
	}
	out := weights.NewMatrix(w.Rows, m)
	pair := weights.NewMatrix(z.Rows, 2)
	for j0 := 0; j0 < m; j0 += 2 {
		for k := range z.Rows {
			pair.Data[2*k] = z.Data[k*m+j0]
			pair.Data[2*k+1] = 0
			if j0+1 < m {
				pair.Data[2*k+1] = z.Data[k*m+j0+1]
			}
		}
		p, err := s.Engine.MatMul(w, pair)
		if err != nil {
			return weights.Matrix{}, err
		}
		for i := range w.Rows {
			out.Data[i*m+j0] = p.Data[2*i]
			if j0+1 < m {
				out.Data[i*m+j0+1] = p.Data[2*i+1]
			}
		}
	}
	return out, nil
}
