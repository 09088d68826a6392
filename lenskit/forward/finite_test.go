package forward

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// TestNonFiniteWeights pins the non-finite policy on the model-on-text path
// (issue 12), the same as the static views': a weight holding NaN or ±Inf is
// named by tensor and position, an embedding row by token, and a run whose
// products overflow float32 fails naming the output — never NaN in a result.
func TestNonFiniteWeights(t *testing.T) {
	shape := synth.Shape{Layers: 2, Heads: 2, DModel: 8, DFF: 16, Vocab: 300, Positions: 16}
	type spot struct {
		name string
		at   int
		v    float32
	}
	open := func(t *testing.T, untied bool, spots ...spot) (*Model, error) {
		dir := t.TempDir()
		o := synth.Options{Shape: shape, Seed: 7, Fill: func(n string, _ []int, dst []float32) {
			for _, p := range spots {
				if n == p.name {
					dst[p.at] = p.v
				}
			}
		}}
		if untied {
			o.Naming.LMHead = synth.LMHeadUntied
		}
		if err := synth.Write(dir, o); err != nil {
			t.Fatal(err)
		}
		ck, err := checkpoint.Load(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ck.Close() })
		w, err := weights.FromCheckpoint(ck)
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(w, "go")
		if err == nil {
			t.Cleanup(func() { m.Close() })
		}
		return m, err
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	check := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want %q", want)
		}
		if !errors.Is(err, project.ErrNonFinite) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q, want ErrNonFinite containing %q", err, want)
		}
	}
	prompt := []int{5, 9, 17, 3}
	all := Want{Logits: true, Lens: true}

	t.Run("NaN in W_V of layer 1", func(t *testing.T) {
		// c_attn is d × 3d: row 2, column 2d + 5 is W_V's coordinate 5.
		_, err := open(t, false, spot{"h.1.attn.c_attn.weight", 2*24 + 16 + 5, nan})
		check(t, err, "W_V (all KV heads) of layer 1: non-finite values: row 2, column 5 holds NaN or ±Inf")
	})
	t.Run("+Inf in an MLP value", func(t *testing.T) {
		_, err := open(t, false, spot{"h.0.mlp.c_proj.weight", 3*8 + 1, inf})
		check(t, err, "the MLP's values (down projection) of layer 0: non-finite values: row 3, column 1")
	})
	t.Run("NaN in the tied embedding is W_U's too", func(t *testing.T) {
		_, err := open(t, false, spot{"wte.weight", 17*8 + 3, nan})
		check(t, err, "W_U (the unembedding): non-finite values: row 17, column 3")
	})
	t.Run("NaN in an untied embedding row refuses only prompts that read it", func(t *testing.T) {
		m, err := open(t, true, spot{"wte.weight", 17*8 + 3, nan})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Run([][]int{prompt}, all)
		check(t, err, "W_E (the embedding): non-finite values: token 17 holds NaN or ±Inf at coordinate 3")
		if _, err := m.Run([][]int{{5, 9, 3}}, all); err != nil {
			t.Fatalf("a prompt without token 17: %v", err)
		}
	})
	t.Run("NaN in a position row", func(t *testing.T) {
		m, err := open(t, false, spot{"wpe.weight", 5*8 + 0, nan})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Run([][]int{{1, 2, 3, 4, 5, 6, 7}}, all)
		check(t, err, "the position embedding: non-finite values: position 5")
		if _, err := m.Run([][]int{prompt}, all); err != nil {
			t.Fatalf("a prompt of 4 positions: %v", err)
		}
	})
	t.Run("overflow", func(t *testing.T) {
		// Finite weights whose products overflow float32: 1e37 in W_V
		// and W_O of head 0.0 (a value of ≈1e37 written through 1e37).
		m, err := open(t, false, spot{"h.0.attn.c_attn.weight", 0*24 + 16, 1e37}, spot{"h.0.attn.c_proj.weight", 0, 1e37})
		if err != nil {
			t.Fatal(err)
		}
		traces, err := m.Run([][]int{prompt}, all)
		if err == nil {
			for _, tr := range traces {
				if i := project.FirstNonFinite(tr.Logits); i >= 0 {
					t.Fatalf("a NaN or ±Inf logit (%d) was returned as a result", i)
				}
			}
			t.Fatal("no error for an overflowing run")
		}
		check(t, err, "overflow float32")
		t.Log(err)
	})
}
