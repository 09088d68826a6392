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
	if tr == nil || tr.LensLogits == nil {
		return nil, errors.New("forward: the run did not compute the logit lens (Want.Lens)")
	}
	if k <= 0 {
		return nil, fmt.Errorf("forward: lens top-k %d, want > 0", k)
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
