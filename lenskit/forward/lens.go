package forward

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// TokenProb is a token and its probability under one lens cell.
type TokenProb struct {
	ID int
	P  float64
}

// LensCell is one residual row at one position read as a next-token
// distribution.
type LensCell struct {
	Top     []TokenProb // the most probable tokens, most probable first
	Entropy float64     // nats
	KL      float64     // KL(final ‖ this row), nats; 0 on the last row
	// NextRank is the rank of the token that actually comes next in the
	// prompt (1 = the row's top token), NextP its probability; both 0 at
	// the prompt's last position, which has no next token.
	NextRank int
	NextP    float64
}

// Lens is the logit lens of one prompt: Cells[row][position] for rows
// "embed", "L0.attn", "L0.mlp", … (RowName), each read through the final
// norm applied to that row's own residual and the unembedding, so the last
// row is the model's own next-token distribution.
type Lens struct {
	IDs   []int
	Rows  []string
	Cells [][]LensCell
}

// ReadLens turns a run's logit-lens logits into top-k tokens and the
// per-cell measures, in float64. Per cell it makes two passes over the
// vocabulary — the maximum, the top k and the next token's rank; then one
// exponential per token for the normaliser, the entropy and the cross term
// of the KL divergence — one position per core.
func ReadLens(tr *Trace, k int) (*Lens, error) {
	if tr == nil || (tr.LensLogits == nil && tr.lensCols == nil) {
		return nil, errors.New("forward: the run did not compute the logit lens (Want.Lens)")
	}
	if k <= 0 {
		return nil, fmt.Errorf("forward: lens top-k %d, want > 0", k)
	}
	if tr.lensCols != nil {
		return readColumns(tr, k)
	}
	rows := len(tr.LensLogits)
	T := tr.T
	if T == 0 || rows == 0 {
		return nil, errors.New("forward: empty trace")
	}
	V := len(tr.LensLogits[0]) / T
	k = min(k, V)
	out := &Lens{IDs: tr.IDs, Rows: make([]string, rows), Cells: make([][]LensCell, rows)}
	for r := range rows {
		out.Rows[r] = RowName(r)
		out.Cells[r] = make([]LensCell, T)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pf := make([]float64, V) // the final row's probabilities at this position
			for t := range jobs {
				next := -1
				if t+1 < T {
					next = tr.IDs[t+1]
				}
				last := tr.LensLogits[rows-1][t*V : (t+1)*V]
				final := readCell(last, nil, next, k, pf)
				hFinal := final.Entropy
				for r := range rows - 1 {
					c := readCell(tr.LensLogits[r][t*V:(t+1)*V], pf, next, k, nil)
					// KL(final ‖ row) = Σ p_f·(log p_f − log p_r)
					//                 = −H_f − Σ p_f·l_r + log Z_r.
					c.KL = max(0, -hFinal-c.KL)
					out.Cells[r][t] = c
				}
				final.KL = 0
				out.Cells[rows-1][t] = final
			}
		}()
	}
	for t := range T {
		jobs <- t
	}
	close(jobs)
	wg.Wait()
	return out, nil
}

// readCell reads one row of logits: top k, entropy, the next token's rank
// and probability. With pf (the final row's probabilities) it leaves
// Σ p_f·l − log Z in KL for ReadLens to finish; with probs it fills them.
func readCell(l []float32, pf []float64, next, k int, probs []float64) LensCell {
	// Pass 1: the maximum, the top k and the next token's rank.
	m := float32(math.Inf(-1))
	ids := make([]int, 0, k+1)
	rank := 1
	var nv float32
	if next >= 0 {
		nv = l[next]
	}
	for id, v := range l {
		m = max(m, v)
		if v > nv {
			rank++
		}
		if len(ids) == k && v <= l[ids[k-1]] {
			continue
		}
		ids = insertTop(ids, l, id, k)
	}
	// Pass 2: one exponential per token.
	fm := float64(m)
	z, zl, cross := 0.0, 0.0, 0.0
	for i, v := range l {
		x := float64(v) - fm
		e := math.Exp(x)
		z += e
		zl += e * x
		if pf != nil {
			cross += pf[i] * x
		}
	}
	logZ := math.Log(z) // log Σ exp(l − m)
	c := LensCell{Entropy: logZ - zl/z}
	if probs != nil {
		for i, v := range l {
			probs[i] = math.Exp(float64(v) - fm - logZ)
		}
	}
	if pf != nil {
		c.KL = cross - logZ // Σ p_f·log p_r (the max cancels)
	}
	c.Top = make([]TokenProb, len(ids))
	for i, id := range ids {
		c.Top[i] = TokenProb{ID: id, P: math.Exp(float64(l[id]) - fm - logZ)}
	}
	if next >= 0 {
		c.NextP = math.Exp(float64(nv) - fm - logZ)
		c.NextRank = rank
	}
	return c
}

// insertTop inserts id into ids, kept sorted by decreasing l (ties: the
// earlier id first) and at most k long.
func insertTop(ids []int, l []float32, id, k int) []int {
	v := l[id]
	i := len(ids)
	for i > 0 && l[ids[i-1]] < v {
		i--
	}
	ids = append(ids, 0)
	copy(ids[i+1:], ids[i:])
	ids[i] = id
	if len(ids) > k {
		ids = ids[:k]
	}
	return ids
}

// readColumns reads a host-computed lens (V × n, see lensColumns) without
// transposing it: every pass runs down the vocabulary, touching each
// vocabulary row once, with a running state per (row, position) cell.
// Pass 1 takes the maxima, the top k and the next tokens' ranks; pass 2 the
// normaliser and the entropy sums (one exponential per logit); pass 3 the
// cross term of the KL divergence with the final row's probabilities. The
// positions are shared out over the cores.
func readColumns(tr *Trace, k int) (*Lens, error) {
	c := tr.lensCols
	rows, T, V := c.rows, tr.T, c.vocab
	k = min(k, V)
	out := &Lens{IDs: tr.IDs, Rows: make([]string, rows), Cells: make([][]LensCell, rows)}
	for r := range rows {
		out.Rows[r] = RowName(r)
		out.Cells[r] = make([]LensCell, T)
	}
	workers := min(runtime.GOMAXPROCS(0), T)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pos []int
			for t := w; t < T; t += workers {
				pos = append(pos, t)
			}
			readColumnSet(c, tr.IDs, pos, rows, V, k, out)
		}()
	}
	wg.Wait()
	return out, nil
}

// readColumnSet fills the cells of the positions pos (all rows).
func readColumnSet(c *lensColumns, ids []int, pos []int, rows, V, k int, out *Lens) {
	T := len(ids)
	nc := len(pos) * rows
	col := make([]int, nc) // cell i = p·rows + r
	next := make([]int, nc)
	xnext := make([]float32, nc)
	m := make([]float32, nc)
	rank := make([]int, nc)
	tops := make([][]int, nc)
	for p, t := range pos {
		for r := range rows {
			i := p*rows + r
			col[i] = c.col(r, t)
			next[i] = -1
			if t+1 < T {
				next[i] = ids[t+1]
				xnext[i] = c.data[next[i]*c.n+col[i]]
			}
			m[i] = float32(math.Inf(-1))
			rank[i] = 1
			tops[i] = make([]int, 0, k+1)
		}
	}
	// Pass 1. Each cell keeps its top k ids with their values, so that
	// the test against the k-th value reads no other vocabulary row.
	topv := make([][]float32, nc)
	thr := make([]float32, nc)
	for i := range thr {
		thr[i] = float32(math.Inf(-1))
		topv[i] = make([]float32, 0, k+1)
	}
	for v := range V {
		row := c.data[v*c.n : (v+1)*c.n]
		for i, j := range col {
			x := row[j]
			if x > m[i] {
				m[i] = x
			}
			if x > xnext[i] {
				rank[i]++
			}
			if len(tops[i]) == k && x <= thr[i] {
				continue
			}
			// Insert v (ids ascend, so ties keep the lower id first).
			tp, tv := tops[i], topv[i]
			at := len(tp)
			for at > 0 && tv[at-1] < x {
				at--
			}
			tp, tv = append(tp, 0), append(tv, 0)
			copy(tp[at+1:], tp[at:])
			copy(tv[at+1:], tv[at:])
			tp[at], tv[at] = v, x
			if len(tp) > k {
				tp, tv = tp[:k], tv[:k]
			}
			tops[i], topv[i] = tp, tv
			if len(tp) == k {
				thr[i] = tv[k-1]
			}
		}
	}
	// Pass 2.
	s0 := make([]float64, nc)
	s1 := make([]float64, nc)
	for v := range V {
		row := c.data[v*c.n : (v+1)*c.n]
		for i, j := range col {
			x := float64(row[j]) - float64(m[i])
			e := math.Exp(x)
			s0[i] += e
			s1[i] += e * x
		}
	}
	// Pass 3: Σ_v p_final(v)·(x_r(v) − m_r) per cell.
	cross := make([]float64, nc)
	lzf := make([]float64, len(pos)) // log Z of the final row, with its max
	for p := range pos {
		f := p*rows + rows - 1
		lzf[p] = float64(m[f]) + math.Log(s0[f])
	}
	for v := range V {
		row := c.data[v*c.n : (v+1)*c.n]
		for p := range pos {
			base := p * rows
			pf := math.Exp(float64(row[col[base+rows-1]]) - lzf[p])
			for r := range rows {
				i := base + r
				cross[i] += pf * (float64(row[col[i]]) - float64(m[i]))
			}
		}
	}
	for p, t := range pos {
		base := p * rows
		f := base + rows - 1
		hFinal := math.Log(s0[f]) - s1[f]/s0[f]
		for r := range rows {
			i := base + r
			logZ := math.Log(s0[i])
			cell := LensCell{Entropy: logZ - s1[i]/s0[i]}
			if r < rows-1 {
				cell.KL = max(0, -hFinal-(cross[i]-logZ))
			}
			cell.Top = make([]TokenProb, len(tops[i]))
			for q, id := range tops[i] {
				cell.Top[q] = TokenProb{ID: id, P: math.Exp(float64(c.data[id*c.n+col[i]]) - float64(m[i]) - logZ)}
			}
			if next[i] >= 0 {
				cell.NextRank = rank[i]
				cell.NextP = math.Exp(float64(xnext[i]) - float64(m[i]) - logZ)
			}
			out.Cells[r][t] = cell
		}
	}
}
