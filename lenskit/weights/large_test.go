package weights_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

// llama3Shape is Llama 3 8B's shape (vocabulary 128,256, d 4,096, 32 query
// and 8 KV heads of 128, d_ff 14,336, untied, BF16, rope llama3) with 2 of
// its 32 layers: 2.1 GB of embeddings and 0.5 GB per layer.
var llama3Shape = synth.FamilyOptions{ModelType: "llama", Layers: 2, Heads: 32, KVHeads: 8, DModel: 4096, DHead: 128, DFF: 14336,
	Vocab: 128256, Positions: 131072, DType: checkpoint.BF16, Shards: 2, Seed: 1, SkipRaw: true,
	Config: map[string]any{"rope_theta": 500000.0, "rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0,
		"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}}

// Opening a Llama-3-8B-shaped BF16 checkpoint reads headers only, and asking
// for the embedding, the unembedding and the MLP read directions converts
// nothing: they come back as BF16 matrices aliasing the mapped file, so the
// resident memory stays that of the program, not of the 3.3 GB of weights.
// Writes the checkpoint (3.3 GB, about a minute) into a temporary directory,
// so it runs only with LENSKIT_LARGE=1.
func TestLargeLlama3Shape(t *testing.T) {
	if os.Getenv("LENSKIT_LARGE") == "" {
		t.Skip("set LENSKIT_LARGE=1 to write and open a 3.3 GB Llama-3-8B-shaped checkpoint")
	}
	dir := t.TempDir()
	start := time.Now()
	if _, err := synth.WriteFamily(dir, llama3Shape); err != nil {
		t.Fatal(err)
	}
	var size int64
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	for _, f := range files {
		st, _ := os.Stat(f)
		size += st.Size()
	}
	t.Logf("wrote %.2f GB in %v", float64(size)/1e9, time.Since(start).Round(time.Second))

	r, err := openInChild(dir, "LENSKIT_OPEN_ACCESS=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fresh process: open %.0f ms, RSS %.0f MB (peak %.0f MB) after open, %.0f MB after Embedding, Unembedding and every FFKeys; all BF16: %v",
		r.OpenSeconds*1e3, float64(r.VmRSSkB)/1024, float64(r.VmHWMkB)/1024, float64(r.AccessRSSkB)/1024, r.AccessBF16)
	if !r.AccessBF16 {
		t.Error("a vocabulary or MLP matrix was converted to float32")
	}
	if r.VmHWMkB > 200<<10 || r.AccessRSSkB > 200<<10 {
		t.Errorf("resident memory %d kB after open, %d kB after the accessors: want < 200 MB", r.VmHWMkB, r.AccessRSSkB)
	}

	// What the other accessors cost at this size (measured in this process).
	m := open(t, dir)
	start = time.Now()
	v, err := m.FFValues(1)
	if err != nil || !v.IsBF16() || v.Rows != 14336 || v.Cols != 4096 {
		t.Fatalf("FFValues: %v %v", v, err)
	}
	tValues := time.Since(start)
	start = time.Now()
	q, err := m.WQ(1, 31)
	if err != nil || q.Rows != 4096 || q.Cols != 128 {
		t.Fatalf("WQ: %v %v", q, err)
	}
	tHead := time.Since(start)
	inv, _, err := m.RotaryAt(0)
	if err != nil || len(inv) != 64 {
		t.Fatalf("RotaryAt: %d frequencies, %v", len(inv), err)
	}
	t.Logf("FFValues (down_proj transposed, %v) %v; WQ of one head %v", v, tValues.Round(time.Millisecond), tHead.Round(time.Millisecond))
}
