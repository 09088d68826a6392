package weights

import (
	"fmt"
	"math"
)

// frequencies returns the inverse frequencies ω_i, i < Dims/2, and the
// factor cos and sin are scaled by, computed as Hugging Face's
// ROPE_INIT_FUNCTIONS do for the config's rope_scaling (in float64 where
// transformers uses float32). A sliding-window layer of a model with a local
// base (Gemma 3) uses that base without scaling. maxPos is the config's
// max_position_embeddings.
func (r *Rotary) frequencies(sliding bool, maxPos int) ([]float64, float64, error) {
	dim := r.Dims
	base := r.Theta
	sc := r.Scaling
	if sliding && r.LocalTheta > 0 {
		base, sc = r.LocalTheta, nil
	}
	inv := make([]float64, dim/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(base, float64(2*i)/float64(dim))
	}
	if sc == nil {
		return inv, 1, nil
	}
	switch sc.Type {
	case "default", "":
		return inv, 1, nil
	case "linear":
		for i := range inv {
			inv[i] /= sc.Factor
		}
		return inv, 1, nil
	case "dynamic":
		// Dynamic NTK scaling changes the base only for sequences longer
		// than max_position_embeddings; within them (and for a static
		// view, which has no sequence) the frequencies are the default.
		return inv, 1, nil
	case "llama3":
		lowWave := float64(sc.OriginalMaxPositions) / sc.LowFreqFactor
		highWave := float64(sc.OriginalMaxPositions) / sc.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / sc.Factor
			default:
				smooth := (float64(sc.OriginalMaxPositions)/wave - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor)
				inv[i] = (1-smooth)*f/sc.Factor + smooth*f
			}
		}
		return inv, 1, nil
	case "yarn":
		factor := sc.Factor
		orig := float64(maxPos)
		if sc.OriginalMaxPositions > 0 {
			orig = float64(sc.OriginalMaxPositions)
		}
		mscale := func(scale, m float64) float64 {
			if scale <= 1 {
				return 1
			}
			return 0.1*m*math.Log(scale) + 1
		}
		att := sc.AttentionFactor
		if att == 0 {
			att = mscale(factor, 1)
			if sc.Mscale != 0 && sc.MscaleAllDim != 0 {
				att = mscale(factor, sc.Mscale) / mscale(factor, sc.MscaleAllDim)
			}
		}
		betaFast, betaSlow := sc.BetaFast, sc.BetaSlow
		if betaFast == 0 {
			betaFast = 32
		}
		if betaSlow == 0 {
			betaSlow = 1
		}
		corr := func(rot float64) float64 {
			return float64(dim) * math.Log(orig/(rot*2*math.Pi)) / (2 * math.Log(base))
		}
		lo, hi := corr(betaFast), corr(betaSlow)
		if !sc.NoTruncate {
			lo, hi = math.Floor(lo), math.Ceil(hi)
		}
		lo, hi = max(lo, 0), min(hi, float64(dim-1))
		if lo == hi {
			hi += 0.001
		}
		for i, f := range inv {
			ramp := min(max((float64(i)-lo)/(hi-lo), 0), 1)
			extra := 1 - ramp // share of the unscaled (extrapolated) frequency
			inv[i] = f/factor*(1-extra) + f*extra
		}
		return inv, att, nil
	}
	return nil, 0, fmt.Errorf("weights: rope_scaling type %q is not supported (supported: linear, dynamic, llama3, yarn)", sc.Type)
}
