package forward

import (
	"math"
	"testing"
)

// checkDecomposition runs ids and checks, at every position, that the
// direct contributions add up to the logit of the model's top token and of
// another token: Σ heads + Σ neurons + embedding + positions + biases =
// the (pre-cap) logit, which capped equals the run's own logit.
func checkDecomposition(t *testing.T, f *Model, ids []int, softcap float64) {
	t.Helper()
	tr, err := f.Run([][]int{ids}, Want{Resid: true, Heads: true, MLP: true, Logits: true})
	if err != nil {
		t.Fatal(err)
	}
	V := f.Arch().Vocab
	for pos := range len(ids) {
		best := 0
		for v := range V {
			if tr[0].Logits[pos*V+v] > tr[0].Logits[pos*V+best] {
				best = v
			}
		}
		for _, target := range []int{best, (best + 17) % V} {
			at, err := f.Attribute(tr[0], pos, target)
			if err != nil {
				t.Fatal(err)
			}
			sum := at.Sum()
			capped := sum
			if softcap > 0 {
				capped = softcap * math.Tanh(sum/softcap)
			}
			tol := 1e-4 * max(1, math.Abs(at.Capped))
			if math.Abs(capped-at.Capped) > tol {
				t.Errorf("position %d, token %d: contributions sum to %.6f (capped %.6f), the model's logit is %.6f", pos, target, sum, capped, at.Capped)
			}
			if math.Abs(sum-at.Logit) > tol {
				t.Errorf("position %d, token %d: sum %.9f, recomputed pre-cap logit %.9f", pos, target, sum, at.Logit)
			}
		}
	}
}

func TestDecompositionEmbedded(t *testing.T) {
	for _, name := range []string{"tiny-pl-gpt2", "tiny-pl-llama"} {
		t.Run(name, func(t *testing.T) {
			w, f := embeddedModel(t, name)
			checkDecomposition(t, f, randomIDs(5, 11, w.Arch().Vocab), 0)
		})
	}
}
