package project

import (
	"fmt"

	"lenskit.dev/lenskit/weights"
)

// scoreMoments are the moments of one direction's scores over the tokens.
type scoreMoments struct{ mean, std, skew, kurt float64 }

// NeuronScan projects every MLP neuron of a layer, as Neurons does, and
// returns each neuron's statistics with it (stats[i] belongs to tops[i]):
// the value's moments come from the same product that ranks its tokens.
func (s *Space) NeuronScan(layer int, opt NeuronOptions) ([]*NeuronTop, []NeuronStats, error) {
	if err := s.prepare(); err != nil {
		return nil, nil, err
	}
	a := s.Model.Arch()
	var keys []weights.Matrix
	for r := range a.Reads() {
		k, err := s.Model.FFKeys(layer, r)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	vals, err := s.Model.FFValues(layer)
	if err != nil {
		return nil, nil, err
	}
	gain, err := s.mlpGain(layer)
	if err != nil {
		return nil, nil, err
	}
	if s.useScreen(lenOr(opt.Tokens, s.WE.Rows)) {
		return s.neuronScreen(layer, keys, vals, gain, opt)
	}
	n := vals.Rows
	tops := make([]*NeuronTop, 0, n)
	stats := make([]NeuronStats, n)
	const block = 128
	for i0 := 0; i0 < n; i0 += block {
		i1 := min(i0+block, n)
		var bt []*NeuronTop
		var reads [][][]float32
		var vs [][]float32
		for i := i0; i < i1; i++ {
			var rs [][]float32
			for _, k := range keys {
				rs = append(rs, k.RowInto(make([]float32, k.Cols), i))
			}
			reads = append(reads, rs)
			vs = append(vs, vals.RowInto(make([]float32, vals.Cols), i))
			bt = append(bt, &NeuronTop{Neuron: NeuronID{layer, i}, K: opt.K, Gated: a.MLP == weights.MLPGated, Filter: opt.Filter, Processing: s.Proc.String()})
		}
		if err := s.neuronColumnsMany(bt, reads, vs, gain, opt, stats[i0:i1]); err != nil {
			return nil, nil, fmt.Errorf("layer %d neurons %d…%d: %w", layer, i0, i1-1, err)
		}
		tops = append(tops, bt...)
	}
	return tops, stats, nil
}

// neuronScreen is NeuronScan by int8 screening (see screenDirections):
// every neuron's read directions against W_E, and its value against W_U
// with the moments, each side in one pass over the quantised vocabulary.
// The columns are exactly those of the float32 path; the value moments
// are those of the int8 estimates (the mean exact).
func (s *Space) neuronScreen(layer int, keys []weights.Matrix, vals weights.Matrix, gain []float32, opt NeuronOptions) ([]*NeuronTop, []NeuronStats, error) {
	a := s.Model.Arch()
	n := vals.Rows
	gated := a.MLP == weights.MLPGated
	tops := make([]*NeuronTop, n)
	stats := make([]NeuronStats, n)
	reads := make([][][]float32, n)
	for i := range n {
		tops[i] = &NeuronTop{Neuron: NeuronID{layer, i}, K: opt.K, Gated: gated, Filter: opt.Filter, Processing: s.Proc.String()}
	}
	qe := quantised(s.WE, opt.Tokens)
	for r, km := range keys {
		dirs := make([][]float32, n)
		for i := range n {
			x := km.RowInto(make([]float32, km.Cols), i)
			if bad := FirstNonFinite(x); bad >= 0 {
				return nil, nil, fmt.Errorf("project: neuron %v: %w: its %s direction holds NaN or ±Inf at coordinate %d", NeuronID{layer, i}, ErrNonFinite, a.Reads()[r], bad)
			}
			if gain != nil {
				x = mulVec(x, gain)
			}
			dirs[i] = x
			reads[i] = append(reads[i], x)
		}
		res, err := screenDirections(qe, dirs, make([]float64, n), opt.K, false)
		if err != nil {
			return nil, nil, fmt.Errorf("layer %d: %w", layer, err)
		}
		pos, neg := Key, NegKey
		if gated {
			pos, neg = []Side{Gate, Up}[r], []Side{NegGate, NegUp}[r]
		}
		for i := range n {
			tops[i].Columns[pos], tops[i].Columns[neg] = res.cols[i][0], res.cols[i][1]
		}
	}
	raw := make([][]float32, n)
	dirs := make([][]float32, n)
	shifts := make([]float64, n)
	for i := range n {
		v := vals.RowInto(make([]float32, vals.Cols), i)
		if bad := FirstNonFinite(v); bad >= 0 {
			return nil, nil, fmt.Errorf("project: neuron %v: %w: its value holds NaN or ±Inf at coordinate %d", NeuronID{layer, i}, ErrNonFinite, bad)
		}
		raw[i] = v
		dirs[i] = s.uDirection(v)
		shifts[i] = s.uShift(dirs[i])
	}
	res, err := screenDirections(quantised(s.WU, opt.Tokens), dirs, shifts, opt.K, true)
	if err != nil {
		return nil, nil, fmt.Errorf("layer %d: %w", layer, err)
	}
	for i := range n {
		tops[i].Columns[Value], tops[i].Columns[NegValue] = res.cols[i][0], res.cols[i][1]
		st := &stats[i]
		st.Neuron = tops[i].Neuron
		directionStats(st, reads[i], raw[i])
		m := res.moments[i]
		st.ValueMean, st.ValueStd, st.ValueSkew, st.ValueKurtosis = m.mean, m.std, m.skew, m.kurt
	}
	return tops, stats, nil
}
