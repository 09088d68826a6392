package synth_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

// The tokenizer files describe a valid byte-level BPE: exactly size entries,
// ids in order, every merge joining two tokens that exist before it into the
// token that follows, and the end-of-text token last.
func TestTokenizerFiles(t *testing.T) {
	for _, size := range []int{257, 300, 8192, 51200} {
		dir := t.TempDir()
		if err := synth.WriteTokenizer(dir, size); err != nil {
			t.Fatal(err)
		}
		var vocab map[string]int
		b, _ := os.ReadFile(filepath.Join(dir, "vocab.json"))
		if err := json.Unmarshal(b, &vocab); err != nil || len(vocab) != size {
			t.Fatalf("size %d: vocab.json has %d entries, %v", size, len(vocab), err)
		}
		if vocab["<|endoftext|>"] != size-1 || vocab["Ā"] != 0 || vocab["Ġ"] != 32 || vocab["!"] != 33 {
			t.Errorf("size %d: special ids %d %d %d %d", size, vocab["<|endoftext|>"], vocab["Ā"], vocab["Ġ"], vocab["!"])
		}
		m, _ := os.ReadFile(filepath.Join(dir, "merges.txt"))
		lines := strings.Split(strings.TrimSuffix(string(m), "\n"), "\n")
		if lines[0] != "#version: 0.2" || len(lines)-1 != size-257 {
			t.Fatalf("size %d: %d merges", size, len(lines)-1)
		}
		for i, l := range lines[1:] {
			a, b, ok := strings.Cut(l, " ")
			ia, oka := vocab[a]
			ib, okb := vocab[b]
			if !ok || !oka || !okb || vocab[a+b] != 256+i || ia >= 256+i || ib >= 256+i {
				t.Fatalf("size %d: merge %d %q is not a merge of earlier tokens", size, i, l)
			}
		}
		var tj struct {
			Model struct {
				Type   string
				Vocab  map[string]int
				Merges []string
			}
		}
		b, _ = os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		if err := json.Unmarshal(b, &tj); err != nil || tj.Model.Type != "BPE" || len(tj.Model.Vocab) != size || len(tj.Model.Merges) != size-257 {
			t.Errorf("size %d: tokenizer.json: %v", size, err)
		}
	}
	if err := synth.WriteTokenizer(t.TempDir(), 100); err == nil {
		t.Error("vocabulary of 100 accepted")
	}
}

func TestWriteRejectsBadOptions(t *testing.T) {
	for _, o := range []synth.Options{
		{},
		{Shape: synth.Shape{Layers: 1, Heads: 3, DModel: 8, DFF: 8, Vocab: 10, Positions: 4}},
		{Shape: synth.Tiny, DType: checkpoint.I32},
		{Shape: synth.Shape{Layers: 1, Heads: 2, DModel: 8, DFF: 8, Vocab: 10, Positions: 4}, Tokenizer: true},
	} {
		if err := synth.Write(t.TempDir(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// Values depend on seed and canonical name only, Fill sees the defaults and
// its changes reach the file.
func TestValuesAndFill(t *testing.T) {
	a := synth.Values(synth.Options{Seed: 1}, "h.0.mlp.c_fc.weight", []int{4, 4})
	b := synth.Values(synth.Options{Seed: 1, DType: checkpoint.F16, Naming: synth.Naming{Prefix: true}}, "h.0.mlp.c_fc.weight", []int{4, 4})
	c := synth.Values(synth.Options{Seed: 2}, "h.0.mlp.c_fc.weight", []int{4, 4})
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Error("values must depend on seed and name only")
	}
	if g := synth.Values(synth.Options{}, "ln_f.weight", []int{1000}); g[0] < 0.8 || g[0] > 1.2 {
		t.Errorf("layer-norm gain %v, want about 1", g[0])
	}
	o := synth.Options{Shape: synth.Tiny, Fill: func(name string, shape []int, dst []float32) {
		if name == "h.1.mlp.c_proj.weight" {
			dst[3] = 42
		}
	}}
	dir := t.TempDir()
	if err := synth.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	tt, _ := ck.Tensor("h.1.mlp.c_proj.weight")
	v, _ := tt.Float32()
	if v[3] != 42 || !slices.Equal(v, synth.Values(o, "h.1.mlp.c_proj.weight", tt.Shape)) {
		t.Error("Fill's values are not what was written")
	}
}

func TestSpecsAndShards(t *testing.T) {
	o := synth.Options{Shape: synth.Tiny, Naming: synth.Naming{Buffers: true, LMHead: synth.LMHeadUntied}, Shards: 5}
	specs := synth.Specs(o)
	if n := len(specs); n != 2+synth.Tiny.Layers*14+2+1 {
		t.Errorf("%d specs", n)
	}
	dir := t.TempDir()
	if err := synth.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	json.Unmarshal(b, &idx)
	shards := map[string]bool{}
	for _, f := range idx.WeightMap {
		shards[f] = true
	}
	if len(idx.WeightMap) != len(specs) || len(shards) != 5 {
		t.Errorf("%d tensors in %d shards", len(idx.WeightMap), len(shards))
	}
	var cfg map[string]any
	b, _ = os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(b, &cfg)
	if cfg["tie_word_embeddings"] != false || cfg["n_inner"] != float64(synth.Tiny.DFF) {
		t.Errorf("config %v", cfg)
	}
}
