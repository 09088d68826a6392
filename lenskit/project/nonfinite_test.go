package project

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

// TestNonFiniteWeights pins the policy for NaN, ±Inf and float32 overflow
// (issue 12): a query that would read such values fails, naming the tensor
// (or factor) and the row; queries that do not read them are unaffected. No
// view answers with an empty or NaN-scored result that looks like one.
func TestNonFiniteWeights(t *testing.T) {
	shape := synth.Shape{Layers: 2, Heads: 2, DModel: 8, DFF: 16, Vocab: 300, Positions: 8}
	// poison sets element at of tensor name to v, for each (name, at, v).
	type spot struct {
		name string
		at   int
		v    float32
	}
	poisons := func(spots ...spot) synth.Options {
		return synth.Options{Shape: shape, Seed: 7, Fill: func(n string, _ []int, dst []float32) {
			for _, p := range spots {
				if n == p.name {
					dst[p.at] = p.v
				}
			}
		}}
	}
	poison := func(name string, at int, v float32) synth.Options { return poisons(spot{name, at, v}) }
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	for _, tc := range []struct {
		name  string
		o     synth.Options
		query func(*Space) error
		want  string // substring of the error; "" = must succeed
	}{
		{"NaN in W_E, neuron", poison("wte.weight", 17*8+3, nan),
			func(s *Space) error { _, err := s.Neuron(0, 1, NeuronOptions{K: 5}); return err },
			"W_E (the embedding): non-finite values: token 17 holds NaN or ±Inf"},
		{"NaN in W_E, head", poison("wte.weight", 17*8+3, nan),
			func(s *Space) error {
				v, err := s.OV(1, 1)
				if err == nil {
					_, err = v.Top(PairOptions{K: 5})
				}
				return err
			}, "token 17 holds NaN"},
		{"-Inf in W_V of 1.1", poison("h.1.attn.c_attn.weight", 2*24+2*8+4+1, inf),
			func(s *Space) error { _, err := s.OV(1, 1); return err },
			"W_V of KV head 1.1: non-finite values: row 2 holds NaN or ±Inf"},
		{"-Inf in W_V of 1.1 leaves 1.0 alone", poison("h.1.attn.c_attn.weight", 2*24+2*8+4+1, inf),
			func(s *Space) error { _, err := s.OV(1, 0); return err }, ""},
		{"-Inf in W_V of 1.1 leaves QK of 1.1 alone", poison("h.1.attn.c_attn.weight", 2*24+2*8+4+1, inf),
			func(s *Space) error { _, err := s.QK(1, 1); return err }, ""},
		{"NaN in a value", poison("h.0.mlp.c_proj.weight", 5*8+2, nan),
			func(s *Space) error { _, err := s.Neuron(0, 5, NeuronOptions{K: 5}); return err },
			"neuron L0/N5: non-finite values: its value holds NaN or ±Inf at coordinate 2"},
		{"NaN in a value, layer scan", poison("h.0.mlp.c_proj.weight", 5*8+2, nan),
			func(s *Space) error { _, err := s.Neurons(0, NeuronOptions{K: 5}); return err },
			"neuron L0/N5"},
		// 1e37 · 1e37 overflows float32 (W_E row 17 against W_V of 0.0, and
		// against the key of L1/N3).
		{"overflowing factor", poisons(spot{"wte.weight", 17*8 + 0, 1e37}, spot{"h.0.attn.c_attn.weight", 0*24 + 2*8 + 0, 1e37}),
			func(s *Space) error { _, err := s.OV(0, 0); return err }, "W_E·W_V of KV head 0.0: non-finite values: the product overflows float32 at token 17"},
		{"overflowing neuron projection", poisons(spot{"wte.weight", 17*8 + 3, 1e37}, spot{"h.1.mlp.c_fc.weight", 3*16 + 3, 1e37}),
			func(s *Space) error { _, err := s.Neuron(1, 3, NeuronOptions{K: 5}); return err },
			"a projection overflows float32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synthSpace(t, tc.o)
			err := tc.query(s)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, ErrNonFinite):
				t.Fatalf("error %v is not ErrNonFinite", err)
			}
		})
	}
}

// TestHugeK: k beyond the pairs a view has is clamped; beyond MaxPairs it is
// refused without allocating for it (issue 12).
func TestHugeK(t *testing.T) {
	s := synthSpace(t, synth.Options{Shape: synth.Shape{Layers: 1, Heads: 2, DModel: 8, DFF: 16, Vocab: 1100, Positions: 8}, Seed: 1})
	v, err := s.OV(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Top(PairOptions{K: 1_000_000_000, Sources: []int{1, 2, 3}, Targets: []int{4, 5}})
	if err != nil || len(r.Pairs) != 6 || r.K != 6 {
		t.Fatalf("k clamped to the 6 pairs: got %d pairs (k %d), %v", len(r.Pairs), r.K, err)
	}
	_, err = v.Top(PairOptions{K: 1_000_000_000})
	if err == nil || !strings.Contains(err.Error(), "k = 1000000000 asks for more pairs than lenskit returns at once (at most 1048576; the view has 1210000)") {
		t.Fatalf("huge k: %v", err)
	}
	n, err := s.Neuron(0, 3, NeuronOptions{K: 1_000_000_000})
	if err != nil || len(n.Columns[Key]) != 1100 {
		t.Fatalf("neuron with huge k: %d tokens, %v", len(n.Columns[Key]), err)
	}
}

// TestTruncatedWhileOpen: a weights file truncated after the model was
// opened makes the next query fail with checkpoint.ErrTruncated naming the
// file, instead of a SIGBUS in whichever goroutine touches a lost page.
func TestTruncatedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Write(dir, synth.Options{Shape: synth.Tiny, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	s := openSpace(t, dir)
	if _, err := s.OV(0, 0); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "model.safetensors")
	if err := os.Truncate(file, 4096); err != nil {
		t.Fatal(err)
	}
	for _, q := range []func() error{
		func() error { _, err := s.OV(1, 1); return err },
		func() error { _, err := s.Neuron(1, 2, NeuronOptions{K: 3}); return err },
		func() error { _, err := s.Neurons(0, NeuronOptions{K: 3}); return err },
	} {
		if err := q(); !errors.Is(err, checkpoint.ErrTruncated) || !strings.Contains(err.Error(), file) {
			t.Errorf("query after truncation: %v", err)
		}
	}
}
