package forward

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// refLens reads one residual row through the final LayerNorm with that
// row's own statistics and W_U: logits (float64).
func refLens(c refConfig, get rawGetter, row [][]float64) [][]float64 {
	final := refLayerNorm(row, get, c.prefix+"ln_f", c.eps)
	u, _ := get(c.prefix + "wte.weight")
	out := make([][]float64, len(row))
	for p := range row {
		out[p] = make([]float64, c.vocab)
		for v := range c.vocab {
			s := 0.0
			for i := range c.dModel {
				s += final[p][i] * u[v*c.dModel+i]
			}
			out[p][v] = s
		}
	}
	return out
}

func logSoftmax(x []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	l := m + math.Log(s)
	for i := range x {
		x[i] -= l
	}
}

// TestLensLastRowIsTheModel: the lens's last row is the model's own
// next-token distribution (log-softmax of the final logits), on both
// embedded models.
func TestLensLastRowIsTheModel(t *testing.T) {
	for _, name := range []string{"tiny-pl-gpt2", "tiny-pl-llama"} {
		t.Run(name, func(t *testing.T) {
			w, f := embeddedModel(t, name)
			ids := randomIDs(3, 12, w.Arch().Vocab)
			tr, err := f.Run([][]int{ids}, Want{Logits: true, Lens: true})
			if err != nil {
				t.Fatal(err)
			}
			V := w.Arch().Vocab
			last := tr[0].LensLogits[len(tr[0].LensLogits)-1]
			ref := [][]float64{{}}
			for _, v := range tr[0].Logits {
				ref[0] = append(ref[0], float64(v))
			}
			if e := relErr(last, ref); e > 1e-5 {
				t.Errorf("last lens row differs from the model's logits: relative error %.3g", e)
			}
			l, err := ReadLens(tr[0], 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Rows) != 1+2*w.Arch().Layers || l.Rows[0] != "embed" || l.Rows[len(l.Rows)-1] != RowName(2*w.Arch().Layers) {
				t.Errorf("rows %v", l.Rows)
			}
			// The top token of the last row is the argmax of the logits,
			// and probabilities are sorted and sum to at most 1.
			for p := range len(ids) {
				best := 0
				for v := range V {
					if tr[0].Logits[p*V+v] > tr[0].Logits[p*V+best] {
						best = v
					}
				}
				c := l.Cells[len(l.Rows)-1][p]
				if c.Top[0].ID != best {
					t.Errorf("position %d: top token %d, argmax of the logits %d", p, c.Top[0].ID, best)
				}
				sum := 0.0
				for i, tp := range c.Top {
					sum += tp.P
					if i > 0 && tp.P > c.Top[i-1].P {
						t.Errorf("position %d: top tokens not sorted", p)
					}
				}
				if sum > 1+1e-6 || len(c.Top) != 10 {
					t.Errorf("position %d: %d top tokens summing to %v", p, len(c.Top), sum)
				}
				if c.KL != 0 {
					t.Errorf("last row KL to itself = %v", c.KL)
				}
				if p+1 < len(ids) {
					if c.NextRank < 1 || (c.NextRank == 1) != (ids[p+1] == best) {
						t.Errorf("position %d: rank of the next token %d (next %d, best %d)", p, c.NextRank, ids[p+1], best)
					}
				} else if c.NextRank != 0 {
					t.Errorf("last position has a next-token rank %d", c.NextRank)
				}
			}
		})
	}
}

// TestLensNormalisesEachRow uses a GPT-2 whose residual stream grows by
// two orders of magnitude across layers (layer 0's MLP output scaled by
// 300): every lens row must be the final norm applied with that row's own
// statistics — what TransformerLens issue #1076 got wrong by reusing the
// last layer's scale, which this model would make visible.
func TestLensNormalisesEachRow(t *testing.T) {
	dir := t.TempDir()
	o := synth.Options{Shape: synth.Shape{Layers: 2, Heads: 2, DModel: 16, DFF: 32, Vocab: 64, Positions: 16}, Seed: 11,
		Fill: func(name string, shape []int, dst []float32) {
			if name == "h.0.mlp.c_proj.weight" || name == "h.0.mlp.c_proj.bias" {
				for i := range dst {
					dst[i] *= 300
				}
			}
		}}
	if err := synth.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := weights.FromCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := New(w, "go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := randomIDs(4, 9, 64)
	tr, err := f.Run([][]int{ids}, Want{Lens: true, Resid: true})
	if err != nil {
		t.Fatal(err)
	}
	c := gpt2Config(ck.Config(), "")
	get := ckGetter(t, ck)
	_, rows := refForward(t, c, get, ids)
	norm := func(r [][]float64) float64 {
		s := 0.0
		for _, v := range r[len(r)-1] {
			s += v * v
		}
		return math.Sqrt(s)
	}
	if ratio := norm(rows[len(rows)-1]) / norm(rows[1]); ratio < 30 {
		t.Fatalf("the test model's residual grows only %.1f× (want very different scales)", ratio)
	}
	for r := range rows {
		want := refLens(c, get, rows[r])
		if e := relErr(tr[0].LensLogits[r], want); e > 1e-4 {
			t.Errorf("lens row %s: relative error %.3g against the row's own final norm", RowName(r), e)
		}
	}
	// The same row read with the last layer's scale (the old bug) is far
	// from what the lens returns: the test can tell the two apart.
	buggy := buggyLens(c, get, rows[1], rows[len(rows)-1])
	if e := relErr(tr[0].LensLogits[1], buggy); e < 1e-2 {
		t.Errorf("lens row L0.attn is close to the last-scale reading (relative difference %.3g)", e)
	} else {
		t.Logf("the last-scale reading of L0.attn differs by %.3g (relative)", e)
	}
}

// buggyLens normalises row with the statistics' scale of last: (x − μ_x)/σ_last·γ + β.
func buggyLens(c refConfig, get rawGetter, row, last [][]float64) [][]float64 {
	g, _ := get(c.prefix + "ln_f.weight")
	b, _ := get(c.prefix + "ln_f.bias")
	u, _ := get(c.prefix + "wte.weight")
	stats := func(x []float64) (float64, float64) {
		m := 0.0
		for _, v := range x {
			m += v
		}
		m /= float64(len(x))
		s := 0.0
		for _, v := range x {
			s += (v - m) * (v - m)
		}
		return m, math.Sqrt(s/float64(len(x)) + c.eps)
	}
	out := make([][]float64, len(row))
	for p := range row {
		mu, _ := stats(row[p])
		_, sd := stats(last[p])
		out[p] = make([]float64, c.vocab)
		for v := range c.vocab {
			s := 0.0
			for i := range c.dModel {
				s += ((row[p][i]-mu)/sd*g[i] + b[i]) * u[v*c.dModel+i]
			}
			out[p][v] = s
		}
	}
	return out
}

// TestLensMeasures checks ReadLens's fused passes against the textbook
// formulas computed separately: probabilities, entropy, KL(final ‖ row),
// the next token's probability and rank.
func TestLensMeasures(t *testing.T) {
	w, f := embeddedModel(t, "tiny-pl-gpt2")
	V := w.Arch().Vocab
	ids := randomIDs(8, 7, V)
	tr, err := f.Run([][]int{ids}, Want{Lens: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ReadLens(tr[0], 5)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(l.Rows)
	lp := func(r, p int) []float64 {
		x := make([]float64, V)
		for v := range V {
			x[v] = float64(tr[0].LensLogits[r][p*V+v])
		}
		logSoftmax(x)
		return x
	}
	for p := range len(ids) {
		fin := lp(rows-1, p)
		for r := range rows {
			x := lp(r, p)
			h, kl := 0.0, 0.0
			for v := range V {
				h -= math.Exp(x[v]) * x[v]
				kl += math.Exp(fin[v]) * (fin[v] - x[v])
			}
			c := l.Cells[r][p]
			if math.Abs(c.Entropy-h) > 1e-6*max(1, h) || math.Abs(c.KL-kl) > 1e-6*max(1, kl) {
				t.Errorf("row %s, position %d: entropy %v KL %v, want %v and %v", l.Rows[r], p, c.Entropy, c.KL, h, kl)
			}
			for _, tp := range c.Top {
				if math.Abs(tp.P-math.Exp(x[tp.ID])) > 1e-9 {
					t.Errorf("row %s, position %d: p(%d) = %v, want %v", l.Rows[r], p, tp.ID, tp.P, math.Exp(x[tp.ID]))
				}
			}
			if p+1 < len(ids) {
				next := ids[p+1]
				rank := 1
				for v := range V {
					if x[v] > x[next] {
						rank++
					}
				}
				if c.NextRank != rank || math.Abs(c.NextP-math.Exp(x[next])) > 1e-9 {
					t.Errorf("row %s, position %d: next token rank %d p %v, want %d %v", l.Rows[r], p, c.NextRank, c.NextP, rank, math.Exp(x[next]))
				}
			}
		}
	}
}

func TestRowNames(t *testing.T) {
	got := []string{}
	for r := range 5 {
		got = append(got, RowName(r))
	}
	if s := strings.Join(got, " "); s != "embed L0.attn L0.mlp L1.attn L1.mlp" {
		t.Errorf("row names %s", s)
	}
}

// TestLensHostProduct: with the vocabulary product on lenskit's CPU engine
// the lens equals the graph's own, on a plain and on a softcapped,
// BF16-stored model.
func TestLensHostProduct(t *testing.T) {
	check := func(t *testing.T, w *weights.Model, ids []int) {
		plain, err := New(w, "go")
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		host, err := New(w, "go", WithLensProduct(project.CPU()))
		if err != nil {
			t.Fatal(err)
		}
		defer host.Close()
		a, err := plain.Run([][]int{ids, ids[:5]}, Want{Lens: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := host.Run([][]int{ids, ids[:5]}, Want{Lens: true})
		if err != nil {
			t.Fatal(err)
		}
		if b[0].LensLogits != nil {
			t.Fatal("the host product's logits were transposed")
		}
		var buf []float32
		for p := range a {
			for r := range a[p].LensLogits {
				for pos := range a[p].T {
					ref := [][]float64{{}}
					for _, v := range a[p].LensRow(r, pos, nil) {
						ref[0] = append(ref[0], float64(v))
					}
					buf = b[p].LensRow(r, pos, buf[:0:cap(buf)])
					if e := relErr(buf, ref); e > 1e-5 {
						t.Errorf("prompt %d row %s position %d: host product differs by %.3g", p, RowName(r), pos, e)
					}
				}
			}
			// Both readouts agree.
			la, err := ReadLens(a[p], 5)
			if err != nil {
				t.Fatal(err)
			}
			lb, err := ReadLens(b[p], 5)
			if err != nil {
				t.Fatal(err)
			}
			for r := range la.Cells {
				for pos := range la.Cells[r] {
					x, y := la.Cells[r][pos], lb.Cells[r][pos]
					if x.NextRank != y.NextRank || math.Abs(x.Entropy-y.Entropy) > 1e-4 || math.Abs(x.KL-y.KL) > 1e-4 || math.Abs(x.NextP-y.NextP) > 1e-5 {
						t.Errorf("prompt %d row %s position %d: graph %+v, host %+v", p, RowName(r), pos, x, y)
					}
					for q := range x.Top {
						// Near-ties (closer than the engines' rounding) may swap.
						tie := (q > 0 && x.Top[q-1].P-x.Top[q].P < 1e-5) || (q+1 < len(x.Top) && x.Top[q].P-x.Top[q+1].P < 1e-5)
						if (x.Top[q].ID != y.Top[q].ID && !tie) || math.Abs(x.Top[q].P-y.Top[q].P) > 1e-5 {
							t.Errorf("prompt %d row %s position %d: top %v vs %v", p, RowName(r), pos, x.Top, y.Top)
							break
						}
					}
				}
			}
		}
		// Released traces give the product's buffer back once both are
		// released; a run reusing it reads the same lens, and a released
		// trace's lens is gone rather than silently overwritten.
		want, err := ReadLens(b[0], 5)
		if err != nil {
			t.Fatal(err)
		}
		b[0].Release()
		b[0].Release() // twice does nothing
		if _, err := ReadLens(b[0], 5); err == nil {
			t.Error("a released trace's lens was read")
		}
		if p, ok := host.lensPool.Get().(*[]float32); ok {
			t.Fatalf("buffer pooled while trace 1 still holds it (%d floats)", len(*p))
		}
		b[1].Release()
		c, err := host.Run([][]int{ids, ids[:5]}, Want{Lens: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadLens(c[0], 5)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Error("the lens of a run reusing a released buffer differs")
		}
	}
	t.Run("tiny-pl-gpt2", func(t *testing.T) {
		w, _ := embeddedModel(t, "tiny-pl-gpt2")
		check(t, w, randomIDs(40, 13, w.Arch().Vocab))
	})
	t.Run("gemma2-bf16", func(t *testing.T) {
		o := synth.FamilyOptions{ModelType: "gemma2", Layers: 2, Heads: 2, DModel: 32, DHead: 16, DFF: 48, Vocab: 96, Seed: 41, DType: checkpoint.BF16}
		dir := t.TempDir()
		if _, err := synth.WriteFamily(dir, o); err != nil {
			t.Fatal(err)
		}
		ck, err := checkpoint.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := weights.FromCheckpoint(ck)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w.Arch().FinalSoftcap == 0 {
			t.Fatal("want a softcapped model")
		}
		check(t, w, randomIDs(41, 13, 96))
	})
}
