package forward

import (
	"errors"
	"strings"
	"testing"
)

// TestBatchEqualsSingle: prompts of different lengths run in one batch
// give what each gives alone — right padding never reaches a real token.
func TestBatchEqualsSingle(t *testing.T) {
	w, f := embeddedModel(t, "tiny-pl-llama")
	V := w.Arch().Vocab
	prompts := [][]int{randomIDs(10, 5, V), randomIDs(11, 19, V), randomIDs(12, 1, V)}
	want := Want{Logits: true, Attn: true, MLP: true, Heads: true}
	batch, err := f.Run(prompts, want)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		one, err := f.Run([][]int{p}, want)
		if err != nil {
			t.Fatal(err)
		}
		a, b := batch[i], one[0]
		if a.T != len(p) || len(a.Logits) != len(p)*V {
			t.Fatalf("prompt %d: trace of %d positions, %d logits", i, a.T, len(a.Logits))
		}
		check := func(what string, x, y []float32) {
			if len(x) != len(y) {
				t.Fatalf("prompt %d %s: %d values in the batch, %d alone", i, what, len(x), len(y))
			}
			ref := make([][]float64, 1)
			for _, v := range y {
				ref[0] = append(ref[0], float64(v))
			}
			if e := relErr(x, ref); e > 1e-5 {
				t.Errorf("prompt %d %s: batch and single differ by %.3g", i, what, e)
			}
		}
		check("logits", a.Logits, b.Logits)
		for l := range w.Arch().Layers {
			check("attention", a.Attn[l], b.Attn[l])
			check("MLP", a.MLP[l], b.MLP[l])
			check("heads", a.Heads[l], b.Heads[l])
		}
	}
	// Attention rows are causal distributions.
	H, T := w.Arch().Heads, batch[1].T
	for h := range H {
		for q := range T {
			sum := float32(0)
			for k := range T {
				v := batch[1].Attn[2][(h*T+q)*T+k]
				if k > q && v != 0 {
					t.Fatalf("head 2.%d: query %d attends to future key %d (%v)", h, q, k, v)
				}
				sum += v
			}
			if sum < 0.999 || sum > 1.001 {
				t.Fatalf("head 2.%d, query %d: weights sum to %v", h, q, sum)
			}
		}
	}
}

// TestPartialRun: a run of the first layers only returns the same
// activations as a full run, and only of the layers asked for.
func TestPartialRun(t *testing.T) {
	w, f := embeddedModel(t, "tiny-pl-gpt2")
	ids := randomIDs(13, 17, w.Arch().Vocab)
	full, err := f.Run([][]int{ids}, Want{MLP: true})
	if err != nil {
		t.Fatal(err)
	}
	part, err := f.Run([][]int{ids}, Want{MLP: true, Layers: 2, MLPFrom: 1})
	if err != nil {
		t.Fatal(err)
	}
	if part[0].MLP[0] != nil || part[0].MLP[2] != nil || part[0].MLP[1] == nil {
		t.Fatalf("partial run returned layers %v", func() (got []int) {
			for l, x := range part[0].MLP {
				if x != nil {
					got = append(got, l)
				}
			}
			return
		}())
	}
	ref := [][]float64{{}}
	for _, v := range full[0].MLP[1] {
		ref[0] = append(ref[0], float64(v))
	}
	if e := relErr(part[0].MLP[1], ref); e > 1e-6 {
		t.Errorf("layer 1 activations differ by %.3g", e)
	}
}

func TestRunBadInput(t *testing.T) {
	w, f := embeddedModel(t, "tiny-pl-gpt2")
	a := w.Arch()
	long := make([]int, a.Positions+1)
	for _, tc := range []struct {
		name    string
		prompts [][]int
		want    Want
		is      error
		msg     string
	}{
		{"no prompts", nil, Want{Logits: true}, nil, "no prompts"},
		{"empty prompt", [][]int{{}}, Want{Logits: true}, ErrEmpty, "prompt 0"},
		{"too long", [][]int{long}, Want{Logits: true}, ErrTooLong, "257 tokens"},
		{"id out of range", [][]int{{1, a.Vocab}}, Want{Logits: true}, nil, "token id 8192 out of range"},
		{"negative id", [][]int{{-1}}, Want{Logits: true}, nil, "token id -1"},
		{"nothing asked", [][]int{{1}}, Want{}, nil, "nothing asked"},
		{"logits of a partial run", [][]int{{1}}, Want{Logits: true, Layers: 1}, nil, "need every layer"},
		{"layers out of range", [][]int{{1}}, Want{MLP: true, Layers: 9}, nil, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Run(tc.prompts, tc.want)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v: not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "tiny-pl-gpt2") {
				t.Errorf("error %q does not name the model and %q", err, tc.msg)
			}
		})
	}
	tr, err := f.Run([][]int{{1, 2}}, Want{Logits: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Attribute(tr[0], 0, 1); err == nil {
		t.Error("attribution from a run without residuals: no error")
	}
	if _, err := ReadLens(tr[0], 10); err == nil {
		t.Error("lens of a run without the lens: no error")
	}
	f.Close()
	if _, err := f.Run([][]int{{1}}, Want{Logits: true}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("run after Close: %v", err)
	}
}
