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

// ReadLens turns a run's logit-lens outputs into top-k tokens and the
// per-cell measures. Selection is done here in Go, one row per core.
func ReadLens(tr *Trace, k int) (*Lens, error) {
	if tr == nil || tr.LensLogProbs == nil {
		return nil, errors.New("forward: the run did not compute the logit lens (Want.Lens)")
	}
	if k <= 0 {
		return nil, fmt.Errorf("forward: lens top-k %d, want > 0", k)
	}
	rows := len(tr.LensLogProbs)
	T := tr.T
	if T == 0 {
		return nil, errors.New("forward: empty trace")
	}
	V := len(tr.LensLogProbs[0]) / T
	k = min(k, V)
	out := &Lens{IDs: tr.IDs, Rows: make([]string, rows), Cells: make([][]LensCell, rows)}
	for r := range rows {
		out.Rows[r] = RowName(r)
		out.Cells[r] = make([]LensCell, T)
	}
	type job struct{ r, t int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				lp := tr.LensLogProbs[j.r][j.t*V : (j.t+1)*V]
				c := LensCell{Top: topK(lp, k), Entropy: float64(tr.LensEntropy[j.r][j.t]), KL: max(0, float64(tr.LensKL[j.r][j.t]))}
				if j.r == rows-1 {
					c.KL = 0
				}
				if j.t+1 < T {
					next := tr.IDs[j.t+1]
					c.NextP = math.Exp(float64(lp[next]))
					c.NextRank = rankOf(lp, next)
				}
				out.Cells[j.r][j.t] = c
			}
		}()
	}
	for r := range rows {
		for t := range T {
			jobs <- job{r, t}
		}
	}
	close(jobs)
	wg.Wait()
	return out, nil
}

// topK returns the k largest log-probabilities as probabilities, largest
// first (ties to the lower id). A linear scan with a sorted buffer of k:
// vocabulary rows are long and k is small.
func topK(lp []float32, k int) []TokenProb {
	ids := make([]int, 0, k+1)
	for id, v := range lp {
		if len(ids) == k && v <= lp[ids[k-1]] {
			continue
		}
		i := len(ids)
		for i > 0 && lp[ids[i-1]] < v {
			i--
		}
		ids = append(ids, 0)
		copy(ids[i+1:], ids[i:])
		ids[i] = id
		if len(ids) > k {
			ids = ids[:k]
		}
	}
	out := make([]TokenProb, len(ids))
	for i, id := range ids {
		out[i] = TokenProb{ID: id, P: math.Exp(float64(lp[id]))}
	}
	return out
}

// rankOf is 1 + the number of tokens strictly more probable than id.
func rankOf(lp []float32, id int) int {
	v := lp[id]
	r := 1
	for _, x := range lp {
		if x > v {
			r++
		}
	}
	return r
}
