package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint/synth"
)

// TestInfoJSONContract pins the object `lenskit info --json` prints, field
// by field, on both embedded models (issue 8's command-line contract).
func TestInfoJSONContract(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  map[string]any
	}{
		{"", map[string]any{"model_type": "gpt2", "layers": 4.0, "heads": 8.0, "kv_heads": 8.0, "d_model": 256.0, "d_head": 32.0,
			"d_ff": 1024.0, "vocab": 8192.0, "embedding_rows": 8192.0, "tied": true, "rotary": nil, "qk_norm": false,
			"mlp": "gelu", "tokenizer": "byte-level"}},
		{"tiny-pl-llama", map[string]any{"model_type": "llama", "layers": 4.0, "heads": 8.0, "kv_heads": 2.0, "d_model": 256.0,
			"d_head": 32.0, "d_ff": 768.0, "vocab": 8192.0, "embedding_rows": 8192.0, "tied": false,
			"rotary": map[string]any{"theta": 10000.0, "fraction": 1.0, "dims": 32.0}, "qk_norm": false, "mlp": "gated",
			"tokenizer": "sentencepiece"}},
	} {
		code, out, errs := runCLI(t, "info", "--model", tc.model, "--json")
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.model, code, errs)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for k, want := range tc.want {
			g, ok := got[k]
			if !ok {
				t.Errorf("%q: field %q missing", tc.model, k)
				continue
			}
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("%q: %s = %s, want %s", tc.model, k, gb, wb)
			}
		}
	}
}

// A padded embedding is reported, not refused; a Gemma 3 checkpoint's
// rotary object carries local_theta.
func TestInfoPaddedAndLocalTheta(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: "gemma3_text", Layers: 6, Heads: 2, KVHeads: 1, DModel: 16,
		DHead: 8, DFF: 24, Vocab: 320, Tied: true}); err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteTokenizer(dir, 300); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "info", "--model", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Vocab, EmbeddingRows int
		Rotary               map[string]float64
		QKNorm               bool `json:"qk_norm"`
	}
	got.Vocab = -1
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(out), &raw)
	json.Unmarshal(raw["vocab"], &got.Vocab)
	json.Unmarshal(raw["embedding_rows"], &got.EmbeddingRows)
	json.Unmarshal(raw["rotary"], &got.Rotary)
	json.Unmarshal(raw["qk_norm"], &got.QKNorm)
	if got.Vocab != 300 || got.EmbeddingRows != 320 || !got.QKNorm || got.Rotary["local_theta"] != 10000 || got.Rotary["theta"] != 1e6 {
		t.Errorf("info: %s", out)
	}
	code, out, _ = runCLI(t, "info", "--model", dir)
	if code != 0 || !strings.Contains(out, "20 embedding rows beyond the tokenizer") {
		t.Errorf("text info does not report the padding:\n%s", out)
	}
}

// Gated neurons print gate/up/V columns; qk --offset works on a rotary
// model and is refused, saying why, on GPT-2; the pair JSON is unchanged.
func TestFamiliesCLI(t *testing.T) {
	code, out, errs := runCLI(t, "neuron", "--model", "tiny-pl-llama", "--layer", "3", "--index", "473", "--k", "5", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var cols map[string][]map[string]any
	if err := json.Unmarshal([]byte(out), &cols); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"gate", "up", "V", "-gate", "-up", "-V"} {
		if len(cols[side]) != 5 {
			t.Errorf("column %q: %d entries", side, len(cols[side]))
		}
	}
	if len(cols) != 6 {
		t.Errorf("%d columns, want 6: %s", len(cols), out)
	}
	for _, d := range []string{"0", "1", "7"} {
		code, out, errs = runCLI(t, "qk", "--model", "tiny-pl-llama", "--layer", "2", "--head", "6", "--offset", d, "--k", "3", "--json")
		var pairs struct {
			Pairs []map[string]any `json:"pairs"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &pairs) != nil || len(pairs.Pairs) != 3 {
			t.Fatalf("qk --offset %s: exit %d: %s%s", d, code, out, errs)
		}
	}
	code, out, _ = runCLI(t, "qk", "--model", "tiny-pl-llama", "--layer", "2", "--head", "6", "--offset", "1", "--k", "3")
	if code != 0 || !strings.Contains(out, "2.6 · kv 2.1 W_QK δ=1") {
		t.Errorf("text title names the KV group and the offset:\n%s", out)
	}
	code, _, errs = runCLI(t, "qk", "--layer", "2", "--head", "6", "--offset", "1")
	if code != 1 || !strings.Contains(errs, "learned absolute positions, not rotary embeddings") {
		t.Errorf("offset on GPT-2: exit %d: %s", code, errs)
	}
	if strings.Contains(errs, "lenskit: lenskit:") {
		t.Errorf("doubled prefix: %s", errs)
	}
}

// The facade's own errors are printed once prefixed, not "lenskit: lenskit:".
func TestErrorPrefixOnce(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Write(dir, synth.Options{Shape: synth.Tiny}); err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteTokenizer(dir, 310); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "info", "--model", filepath.Clean(dir))
	if code != 1 || strings.Count(errs, "lenskit:") != 1 || !strings.Contains(errs, "beyond the embedding's 300 rows") {
		t.Errorf("exit %d: %q", code, errs)
	}
}
