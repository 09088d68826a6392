package gomlxengine

import (
	"math"
	"slices"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// TestTinyModelMatchesCPU runs the seed's questions on the embedded trained
// model (tiny-pl-gpt2) with a Space on the Go backend and one on the CPU
// engine. Neuron columns are rescored exactly from the same weights, so
// they must be identical. A head view's factors (E·W_V, E·W_Oᵀ, …) are
// products each engine rounds in its own order; pairs are then the same
// unless two scores lie within that rounding of each other, so any pair
// that differs must be such a near-tie, and scores agree within rounding.
func TestTinyModelMatchesCPU(t *testing.T) {
	ck, err := checkpoint.OpenEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	m, err := weights.FromCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	e := goEngine(t)
	onGo, err := project.NewSpace(m, e)
	if err != nil {
		t.Fatal(err)
	}
	onCPU, err := project.NewSpace(m, project.CPU())
	if err != nil {
		t.Fatal(err)
	}

	for _, n := range []project.NeuronID{{Layer: 0, Index: 5}, {Layer: 2, Index: 345}, {Layer: 3, Index: 1023}} {
		got, err := onGo.Neuron(n.Layer, n.Index, project.NeuronOptions{K: 30})
		if err != nil {
			t.Fatal(err)
		}
		want, err := onCPU.Neuron(n.Layer, n.Index, project.NeuronOptions{K: 30})
		if err != nil {
			t.Fatal(err)
		}
		for c := range got.Columns {
			if !slices.Equal(got.Columns[c], want.Columns[c]) {
				t.Errorf("neuron %v column %v: gomlx %v, cpu %v", n, project.Sides[c], got.Columns[c][:3], want.Columns[c][:3])
			}
		}
	}

	same, total := 0, 0
	for _, tc := range []struct {
		kind        project.Kind
		layer, head int
		bottom      bool
	}{
		{project.OV, 0, 0, false},
		{project.QK, 1, 3, false},
		{project.OV, 3, 7, true},
		{project.QK, 2, 5, true},
	} {
		vg, err := onGo.View(tc.kind, tc.layer, tc.head)
		if err != nil {
			t.Fatal(err)
		}
		vc, err := onCPU.View(tc.kind, tc.layer, tc.head)
		if err != nil {
			t.Fatal(err)
		}
		opt := project.PairOptions{K: 50, Bottom: tc.bottom}
		got, err := vg.Top(opt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := vc.Top(opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Pairs) != 50 || len(want.Pairs) != 50 {
			t.Fatalf("%v %d.%d: %d and %d pairs, want 50", tc.kind, tc.layer, tc.head, len(got.Pairs), len(want.Pairs))
		}
		// Factor rounding moves scores by about 1e-7 of their size (seen:
		// last-digit differences); 1e-4 of the largest score is far above
		// that and far below any gap that decides a ranking.
		tol := 1e-4 * math.Abs(float64(want.Pairs[0].Score))
		sign := float32(1)
		if tc.bottom {
			sign = -1
		}
		kth := sign * want.Pairs[49].Score
		for i, p := range got.Pairs {
			total++
			w := want.Pairs[i]
			if p.Source == w.Source && p.Target == w.Target && math.Abs(float64(p.Score-w.Score)) <= tol {
				same++
				continue
			}
			// The CPU view's score of the pair the Go view chose must reach
			// the CPU's 50th score within rounding, and the scores must agree.
			s, err := vc.Score(p.Source, p.Target)
			if err != nil {
				t.Fatal(err)
			}
			if float64(sign*s) < float64(kth)-tol || math.Abs(float64(s-p.Score)) > tol {
				t.Errorf("%v %d.%d rank %d: gomlx %v, cpu %v (cpu score of gomlx pair %g, 50th %g)", tc.kind, tc.layer, tc.head, i, p, want.Pairs[i], s, sign*kth)
			}
		}
	}
	t.Logf("head views: %d of %d ranked pairs identical to the CPU engine's (scores within rounding)", same, total)
	if same < total*9/10 {
		t.Errorf("only %d of %d pairs identical", same, total)
	}
}
