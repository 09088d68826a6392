package forward

import (
	"errors"
	"fmt"
	"math"

	"lenskit.dev/lenskit/weights"
)

// Attribution is the direct logit attribution of one token at one
// position: how much every head and every MLP neuron writes, directly,
// towards that token's logit. Each component's write to the residual
// stream is read through the final norm with its scale frozen at this
// position (1/σ of LayerNorm, 1/rms of RMSNorm, computed from the final
// residual) and the token's row of W_U; a post-norm of Gemma 2/3's sandwich
// is frozen the same way. With frozen scales the logit is linear in the
// residual, so the terms add up exactly:
//
//	Logit = Σ Heads + Σ Neurons + Embed + Position + Σ Biases
//
// For a model whose final logits are softcapped (Gemma 2/3), the
// decomposition is of the pre-cap logit; Capped is the model's own logit.
type Attribution struct {
	Pos, Target int
	Logit       float64 // pre-cap logit, recomputed in float64 from the final residual
	Capped      float64 // the model's logit from the run (after any softcap)
	Heads       [][]float64
	Neurons     [][]float64
	Embed       float64 // the token embedding (times any embedding scale)
	Position    float64 // the learned position embedding (GPT-2); 0 for rotary models
	Biases      []Term  // attention and MLP output biases per layer, the final norm's bias
}

// Term is one named bias contribution.
type Term struct {
	Name  string
	Value float64
}

// Sum adds every term of the decomposition.
func (a *Attribution) Sum() float64 {
	s := a.Embed + a.Position
	for _, l := range a.Heads {
		for _, v := range l {
			s += v
		}
	}
	for _, l := range a.Neurons {
		for _, v := range l {
			s += v
		}
	}
	for _, b := range a.Biases {
		s += b.Value
	}
	return s
}

// Attribute decomposes the logit of target at position pos of a run made
// with Want{Resid, Heads, MLP, Logits}.
func (m *Model) Attribute(tr *Trace, pos, target int) (*Attribution, error) {
	a := m.a
	if tr == nil || tr.Resid == nil || tr.Heads == nil || tr.MLP == nil || tr.Logits == nil {
		return nil, errors.New("forward: attribution needs a run with residuals, head outputs, MLP activations and logits")
	}
	if len(tr.Resid) != 1+2*a.Layers {
		return nil, fmt.Errorf("forward: attribution needs every layer (the run has %d residual rows)", len(tr.Resid))
	}
	if pos < 0 || pos >= tr.T {
		return nil, fmt.Errorf("forward: position %d out of range [0,%d)", pos, tr.T)
	}
	if target < 0 || target >= a.Vocab {
		return nil, fmt.Errorf("forward: token id %d out of range [0,%d)", target, a.Vocab)
	}
	d, H, F := a.DModel, a.Heads, a.DFF
	row := func(x []float32) []float64 {
		out := make([]float64, d)
		for i := range d {
			out[i] = float64(x[pos*d+i])
		}
		return out
	}
	u, err := m.w.Unembedding()
	if err != nil {
		return nil, err
	}
	urow := u.RowInto(make([]float32, d), target)
	// dir: the direction whose dot product with a residual-stream write is
	// its contribution to the logit, with the final norm's scale frozen.
	xf := row(tr.Resid[len(tr.Resid)-1])
	g := m.host.finalGain
	dir := make([]float64, d)
	for i := range d {
		dir[i] = g[i] * float64(urow[i])
	}
	var scale float64
	if a.Norm == weights.LayerNorm {
		mean, mdir := 0.0, 0.0
		for i := range d {
			mean += xf[i]
			mdir += dir[i]
		}
		mean /= float64(d)
		mdir /= float64(d)
		v := 0.0
		for i := range d {
			v += (xf[i] - mean) * (xf[i] - mean)
		}
		scale = 1 / math.Sqrt(v/float64(d)+a.NormEps)
		for i := range d {
			dir[i] = (dir[i] - mdir) * scale // centring folded into the direction
		}
	} else {
		ms := 0.0
		for i := range d {
			ms += xf[i] * xf[i]
		}
		scale = 1 / math.Sqrt(ms/float64(d)+a.NormEps)
		for i := range d {
			dir[i] *= scale
		}
	}
	at := &Attribution{Pos: pos, Target: target, Capped: float64(tr.Logits[pos*a.Vocab+target])}
	// The logit itself, from the same frozen direction (exact: x̂·γ·u).
	at.Logit = dot(xf, dir)
	if fb := m.host.finalBias; fb != nil {
		b := 0.0
		for i := range d {
			b += fb[i] * float64(urow[i])
		}
		at.Logit += b
		at.Biases = append(at.Biases, Term{"final norm bias", b})
	}
	// Embedding and learned positions.
	e, err := m.w.Embedding()
	if err != nil {
		return nil, err
	}
	erow := e.RowInto(make([]float32, d), tr.IDs[pos])
	for i := range d {
		at.Embed += float64(erow[i]) * a.EmbedScale * dir[i]
	}
	at.Position = dot(row(tr.Resid[0]), dir) - at.Embed
	if _, ok, _ := m.w.Positions(); !ok {
		at.Position = 0 // only rounding: the first residual is the scaled embedding
	}
	at.Heads = make([][]float64, a.Layers)
	at.Neurons = make([][]float64, a.Layers)
	vrow := make([]float32, d)
	for l := range a.Layers {
		// Attention: each head's write, through a frozen post-norm when the
		// model has one.
		adir := dir
		heads := make([][]float64, H)
		for h := range H {
			heads[h] = make([]float64, d)
			for i := range d {
				heads[h][i] = float64(tr.Heads[l][(h*tr.T+pos)*d+i])
			}
		}
		if gpa := m.host.postAttn[l]; gpa != nil {
			sum := make([]float64, d)
			for h := range H {
				for i := range d {
					sum[i] += heads[h][i]
				}
			}
			if b := m.host.biasO[l]; b != nil {
				for i := range d {
					sum[i] += b[i]
				}
			}
			adir = frozenRMS(sum, gpa, dir, a.NormEps)
		}
		at.Heads[l] = make([]float64, H)
		for h := range H {
			at.Heads[l][h] = dot(heads[h], adir)
		}
		if b := m.host.biasO[l]; b != nil {
			at.Biases = append(at.Biases, Term{fmt.Sprintf("L%d attention output bias", l), dot(b, adir)})
		}
		// MLP: activation × (value · direction).
		vals, err := m.w.FFValues(l)
		if err != nil {
			return nil, err
		}
		act := tr.MLP[l][pos*F : (pos+1)*F]
		mdir := dir
		if gpm := m.host.postMLP[l]; gpm != nil {
			sum := make([]float64, d)
			for n := range F {
				c := float64(act[n])
				if c == 0 {
					continue
				}
				for i, v := range vals.RowInto(vrow, n) {
					sum[i] += c * float64(v)
				}
			}
			if b := m.host.biasFFOut[l]; b != nil {
				for i := range d {
					sum[i] += b[i]
				}
			}
			mdir = frozenRMS(sum, gpm, dir, a.NormEps)
		}
		at.Neurons[l] = make([]float64, F)
		for n := range F {
			s := 0.0
			for i, v := range vals.RowInto(vrow, n) {
				s += float64(v) * mdir[i]
			}
			at.Neurons[l][n] = float64(act[n]) * s
		}
		if b := m.host.biasFFOut[l]; b != nil {
			at.Biases = append(at.Biases, Term{fmt.Sprintf("L%d MLP output bias", l), dot(b, mdir)})
		}
	}
	return at, nil
}

// frozenRMS returns the direction dir seen through an RMSNorm with gains g
// whose scale is frozen at the sub-layer output sum: y = sum/rms(sum)·g, so
// a part o of sum contributes o · (g ⊙ dir)/rms(sum).
func frozenRMS(sum, g, dir []float64, eps float64) []float64 {
	ms := 0.0
	for _, v := range sum {
		ms += v * v
	}
	s := 1 / math.Sqrt(ms/float64(len(sum))+eps)
	out := make([]float64, len(dir))
	for i := range dir {
		out[i] = g[i] * dir[i] * s
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
