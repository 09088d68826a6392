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
