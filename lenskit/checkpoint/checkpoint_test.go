package checkpoint_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

func TestEmbedded(t *testing.T) {
	c, err := checkpoint.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := c.Config()
	if cfg.ModelType != "gpt2" || cfg.NLayer != 4 || cfg.NEmbd != 256 || cfg.NHead != 8 || cfg.NInner != 1024 ||
		cfg.VocabSize != 8192 || cfg.NPositions != 256 || !cfg.TieWordEmbeddings || cfg.LayerNormEpsilon != 1e-5 {
		t.Errorf("config: %+v", cfg)
	}
	if c.ID() != checkpoint.EmbeddedID || c.Name() != "tiny-pl-gpt2" || c.Dir() != "" || c.Format() != "safetensors" {
		t.Errorf("id %q name %q dir %q format %q", c.ID(), c.Name(), c.Dir(), c.Format())
	}
	if n := len(c.Names()); n != 52 { // 4 layers × 12 + wte, wpe, ln_f ×2
		t.Errorf("%d tensors, want 52", n)
	}
	for _, f := range []string{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "config.json", "MODEL_CARD.md"} {
		if b, err := fs.ReadFile(c.Files(), f); err != nil || len(b) == 0 {
			t.Errorf("Files() lacks %s: %v", f, err)
		}
	}
	wte, err := c.Tensor("transformer.wte.weight")
	if err != nil {
		t.Fatal(err)
	}
	v, err := wte.Float32()
	if err != nil || len(v) != 8192*256 {
		t.Fatalf("wte: %d values, %v", len(v), err)
	}
	if unsafe.Pointer(&v[0]) != unsafe.Pointer(&wte.Bytes()[0]) {
		t.Error("embedded F32 tensor was copied")
	}
}

// EmbeddedDir writes the same files the binary carries; opened from disk they
// are the same tensors (same hash), and the second call reuses the copy.
func TestEmbeddedDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	dir, err := checkpoint.EmbeddedDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors", "config.json", "tokenizer.json", "MODEL_CARD.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	disk, err := checkpoint.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	emb, _ := checkpoint.OpenEmbedded()
	defer emb.Close()
	h1, _ := disk.Hash()
	h2, _ := emb.Hash()
	if h1 != h2 || !strings.HasPrefix(h1, "sha256:") || len(h1) != 71 {
		t.Errorf("hashes %s and %s", h1, h2)
	}
	if disk.ID() != dir {
		t.Errorf("id %q, want the directory", disk.ID())
	}
}

// The same tensors stored as safetensors, sharded safetensors, torch zip and
// sharded torch zip: same names, same bytes, same hash.
func TestFormatsHoldTheSameTensors(t *testing.T) {
	base := synth.Options{Shape: synth.Tiny, Seed: 7, Naming: synth.Naming{Prefix: true, Buffers: true, LMHead: synth.LMHeadTiedCopy}}
	var ref *checkpoint.Checkpoint
	var refHash string
	for _, v := range []struct {
		format synth.Format
		shards int
		want   string
	}{
		{synth.Safetensors, 1, "safetensors"},
		{synth.Safetensors, 3, "safetensors (sharded), 3 shards"},
		{synth.PyTorch, 1, "pytorch"},
		{synth.PyTorch, 4, "pytorch (sharded), 4 shards"},
	} {
		o := base
		o.Format, o.Shards = v.format, v.shards
		dir := t.TempDir()
		if err := synth.Write(dir, o); err != nil {
			t.Fatal(err)
		}
		c, err := checkpoint.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Format() != v.want {
			t.Errorf("format %q, want %q", c.Format(), v.want)
		}
		h, err := c.Hash()
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref, refHash = c, h
			continue
		}
		if !slices.Equal(c.Names(), ref.Names()) {
			t.Errorf("%s: names differ", v.want)
		}
		for _, n := range ref.Names() {
			a, _ := ref.Tensor(n)
			b, _ := c.Tensor(n)
			if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || string(a.Bytes()) != string(b.Bytes()) {
				t.Errorf("%s: tensor %s differs", v.want, n)
			}
		}
		if h != refHash {
			t.Errorf("%s: hash %s, safetensors %s", v.want, h, refHash)
		}
	}
}

func TestLoadNames(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Write(dir, synth.Options{Shape: synth.Tiny}); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, name := range []string{dir, ".", "./"} {
		c, err := checkpoint.Load(context.Background(), name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if c.ID() != dir {
			t.Errorf("%q: id %q", name, c.ID())
		}
		c.Close()
	}
	// A path-looking name that does not exist is a missing directory, not a
	// hub id.
	_, err := checkpoint.Load(context.Background(), "./no-such-model")
	if err == nil || !strings.Contains(err.Error(), "no-such-model") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing dir: %v", err)
	}
	for _, bad := range []string{"a/b/c", "owner/model@", "owner/../x", "-x/y", "owner/model@a..b"} {
		if _, _, err := checkpoint.ParseHubID(bad); err == nil {
			t.Errorf("ParseHubID(%q) accepted", bad)
		}
	}
	for in, want := range map[string][2]string{
		"gpt2":                         {"gpt2", "main"},
		"sdadas/polish-gpt2-medium":    {"sdadas/polish-gpt2-medium", "main"},
		"sdadas/polish-gpt2-medium@v1": {"sdadas/polish-gpt2-medium", "v1"},
		"o/m@refs/pr/3":                {"o/m", "refs/pr/3"},
	} {
		r, rev, err := checkpoint.ParseHubID(in)
		if err != nil || r != want[0] || rev != want[1] {
			t.Errorf("ParseHubID(%q) = %q, %q, %v", in, r, rev, err)
		}
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func ExampleLoad() {
	c, err := checkpoint.Load(context.Background(), "") // the embedded tiny-pl-gpt2
	if err != nil {
		panic(err)
	}
	defer c.Close()
	wte, _ := c.Tensor("transformer.wte.weight")
	fmt.Println(c.ID())
	fmt.Println(c.Config())
	fmt.Println(wte)
	// Output:
	// embedded:tiny-pl-gpt2
	// gpt2: 4 layers, d=256, 8 heads, d_ff=1024, vocab 8192, 256 positions
	// transformer.wte.weight F32[8192 256] (embedded:tiny-pl-gpt2/model.safetensors)
}
