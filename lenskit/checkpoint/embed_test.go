package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Both embedded models open by name, with their own ids, and the Llama one
// holds the 39 BF16 tensors its model card lists.
func TestEmbeddedModels(t *testing.T) {
	for _, name := range Embedded() {
		for _, asked := range []string{name, "embedded:" + name} {
			c, err := Load(context.Background(), asked)
			if err != nil {
				t.Fatalf("Load(%q): %v", asked, err)
			}
			if c.ID() != "embedded:"+name || c.Name() != name {
				t.Errorf("Load(%q): id %q name %q", asked, c.ID(), c.Name())
			}
			c.Close()
		}
	}
	c, err := OpenEmbeddedModel("tiny-pl-llama")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := len(c.Names()); n != 39 {
		t.Errorf("tiny-pl-llama has %d tensors, want 39", n)
	}
	emb, err := c.Tensor("model.embed_tokens.weight")
	if err != nil || emb.DType != BF16 || emb.Shape[0] != 8192 || emb.Shape[1] != 256 {
		t.Errorf("embed_tokens: %v, %v", emb, err)
	}
	if c.Config().ModelType != "llama" {
		t.Errorf("model_type %q", c.Config().ModelType)
	}
	if _, err := c.Files().Open("tokenizer.json"); err != nil {
		t.Errorf("tokenizer.json: %v", err)
	}
	if _, err := OpenEmbeddedModel("tiny-pl-bert"); err == nil || !strings.Contains(err.Error(), "tiny-pl-gpt2, tiny-pl-llama") {
		t.Errorf("unknown embedded model: %v", err)
	}
}

// The on-disk copy of an embedded model has the same bytes.
func TestEmbeddedModelDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir, err := EmbeddedModelDir("tiny-pl-llama")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, SafetensorsFile))
	if err != nil || string(b) != llamaWeights {
		t.Fatalf("copied weights differ (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "MODEL_CARD.md")); err != nil {
		t.Error(err)
	}
}
