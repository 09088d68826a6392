package forward

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"lenskit.dev/lenskit/vocab"
)

// Golden logits of the embedded models, computed once by PyTorch
// (testdata/golden/make_golden.py, an implementation of each model written
// from the Hugging Face modeling files, reading model.safetensors itself)
// on the prompts of testdata/golden/prompts.json. The Go side tokenizes
// the same texts, checks it gets the same ids, runs them and compares.

type goldenPrompt struct {
	Text string `json:"text"`
	BOS  bool   `json:"bos"`
	IDs  []int  `json:"ids"`
}

type goldenFile struct {
	Model   string `json:"model"`
	Torch   string `json:"torch"`
	Columns []int  `json:"columns"` // the vocabulary ids whose logits are kept
	Prompts []struct {
		IDs       []int       `json:"ids"`
		Logits    [][]float64 `json:"logits"`    // [position][column]
		LogSumExp []float64   `json:"logsumexp"` // over the whole vocabulary, per position
		Argmax    []int       `json:"argmax"`
	} `json:"prompts"`
}

var goldenModels = []string{"tiny-pl-gpt2", "tiny-pl-llama"}

func goldenPrompts(t *testing.T, model string, v *vocab.Vocab) []goldenPrompt {
	texts := []string{"Stolicą Polski jest Warszawa.", "Kliknij przycisk OK, aby zamknąć okno dialogowe.", "W systemie Linux montowanie systemu plików"}
	var out []goldenPrompt
	for _, s := range texts {
		ids, err := v.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		p := goldenPrompt{Text: s, IDs: ids}
		if bos, ok := v.BOS(); ok {
			p.BOS, p.IDs = true, append([]int{bos}, ids...)
		}
		out = append(out, p)
	}
	return out
}

// TestGoldenLogits compares the forward pass with PyTorch's logits; with
// LENSKIT_WRITE_GOLDEN_PROMPTS=1 it (re)writes the prompts file the Python
// script reads instead.
func TestGoldenLogits(t *testing.T) {
	promptsFile := filepath.Join("testdata", "golden", "prompts.json")
	if os.Getenv("LENSKIT_WRITE_GOLDEN_PROMPTS") != "" {
		all := map[string][]goldenPrompt{}
		for _, name := range goldenModels {
			w, _ := embeddedModel(t, name)
			v, err := vocab.Load(w.Checkpoint().Files())
			if err != nil {
				t.Fatal(err)
			}
			all[name] = goldenPrompts(t, name, v)
		}
		data, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(promptsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Skip("wrote " + promptsFile)
	}
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var g goldenFile
			if err := json.Unmarshal(data, &g); err != nil {
				t.Fatal(err)
			}
			w, f := embeddedModel(t, name)
			v, err := vocab.Load(w.Checkpoint().Files())
			if err != nil {
				t.Fatal(err)
			}
			want := goldenPrompts(t, name, v)
			if len(want) != len(g.Prompts) {
				t.Fatalf("%d golden prompts, %d here", len(g.Prompts), len(want))
			}
			V := w.Arch().Vocab
			for i, gp := range g.Prompts {
				if !slices.Equal(gp.IDs, want[i].IDs) {
					t.Fatalf("prompt %q: the tokenizer gives %v, the golden file has %v", want[i].Text, want[i].IDs, gp.IDs)
				}
				tr, err := f.Run([][]int{gp.IDs}, Want{Logits: true})
				if err != nil {
					t.Fatal(err)
				}
				num, den := 0.0, 0.0
				for p := range gp.IDs {
					row := tr[0].Logits[p*V : (p+1)*V]
					for j, c := range g.Columns {
						num = max(num, math.Abs(float64(row[c])-gp.Logits[p][j]))
						den = max(den, math.Abs(gp.Logits[p][j]))
					}
					m := float32(math.Inf(-1))
					best := 0
					for id, x := range row {
						if x > m {
							m, best = x, id
						}
					}
					s := 0.0
					for _, x := range row {
						s += math.Exp(float64(x - m))
					}
					lse := float64(m) + math.Log(s)
					num = max(num, math.Abs(lse-gp.LogSumExp[p]))
					if best != gp.Argmax[p] {
						t.Errorf("prompt %d position %d: argmax %d, PyTorch %d", i, p, best, gp.Argmax[p])
					}
				}
				if num/den > 1e-4 {
					t.Errorf("prompt %q: relative error %.3g against PyTorch %s", want[i].Text, num/den, g.Torch)
				} else {
					t.Logf("prompt %q (%d tokens): relative error %.2g against PyTorch %s", want[i].Text, len(gp.IDs), num/den, g.Torch)
				}
			}
		})
	}
}
