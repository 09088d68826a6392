package forward

import (
	"encoding/json"
	"io/fs"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/weights"
)

// ckGetter reads raw tensors of a checkpoint by name, as float64.
func ckGetter(t testing.TB, ck *checkpoint.Checkpoint) rawGetter {
	var mu sync.Mutex
	cache := map[string][]float64{}
	return func(name string) ([]float64, []int) {
		tn, ok := ck.Lookup(name)
		if !ok {
			panic("reference: no tensor " + name)
		}
		mu.Lock()
		defer mu.Unlock()
		if v, ok := cache[name]; ok {
			return v, tn.Shape
		}
		f, err := tn.Float32()
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(f))
		for i, x := range f {
			v[i] = float64(x)
		}
		cache[name] = v
		return v, tn.Shape
	}
}

// embeddedModel opens an embedded model and its forward pass on the Go
// backend.
func embeddedModel(t testing.TB, name string) (*weights.Model, *Model) {
	t.Helper()
	ck, err := checkpoint.OpenEmbeddedModel(name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := weights.FromCheckpoint(ck)
	if err != nil {
		ck.Close()
		t.Fatal(err)
	}
	f, err := New(w, "go")
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		w.Close()
	})
	return w, f
}

// gpt2Config is the reference's reading of a GPT-2 config.
func gpt2Config(c *checkpoint.Config, prefix string) refConfig {
	return refConfig{family: "gpt2", layers: c.NLayer, heads: c.NHead, kvHeads: c.NHead, dModel: c.NEmbd, dHead: c.NEmbd / c.NHead,
		vocab: c.VocabSize, eps: c.LayerNormEpsilon, act: c.Activation, tied: c.TieWordEmbeddings, prefix: prefix}
}

// randomIDs returns n ids below vocab from a seeded generator.
func randomIDs(seed uint64, n, vocab int) []int {
	r := rand.New(rand.NewPCG(seed, 7))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(vocab)
	}
	return ids
}

// relErr is max|got − want| / max|want| over all entries.
func relErr(got []float32, want [][]float64) float64 {
	num, den := 0.0, 0.0
	i := 0
	for _, r := range want {
		for _, w := range r {
			num = max(num, math.Abs(float64(got[i])-w))
			den = max(den, math.Abs(w))
			i++
		}
	}
	if den == 0 {
		return num
	}
	return num / den
}

// rawConfig reads a checkpoint's config.json as a map.
func rawConfig(t testing.TB, ck *checkpoint.Checkpoint) map[string]any {
	t.Helper()
	b, err := fs.ReadFile(ck.Files(), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// decoderConfig is the reference's reading of a Llama-style config.json
// (the fields the tests' checkpoints set; no family defaults).
func decoderConfig(t testing.TB, m map[string]any) refConfig {
	t.Helper()
	num := func(k string, def float64) float64 {
		if v, ok := m[k].(float64); ok {
			return v
		}
		return def
	}
	c := refConfig{family: "decoder", prefix: "model.",
		layers: int(num("num_hidden_layers", 0)), heads: int(num("num_attention_heads", 0)),
		dModel: int(num("hidden_size", 0)), vocab: int(num("vocab_size", 0)),
		eps: num("rms_norm_eps", 1e-6), theta: num("rope_theta", 10000)}
	c.kvHeads = int(num("num_key_value_heads", float64(c.heads)))
	c.dHead = int(num("head_dim", float64(c.dModel/c.heads)))
	c.tied, _ = m["tie_word_embeddings"].(bool)
	c.act, _ = m["hidden_act"].(string)
	c.biases, _ = m["attention_bias"].(bool)
	return c
}
