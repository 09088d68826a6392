package weights_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

// editHeader rewrites a safetensors file's JSON header, keeping its data.
func editHeader(t *testing.T, path string, edit func(h map[string]map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var h map[string]map[string]any
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	hb, _ := json.Marshal(h)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	out = append(append(out, hb...), b[8+n:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editConfig(t *testing.T, dir string, edit func(c map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, _ := os.ReadFile(p)
	var c map[string]any
	json.Unmarshal(b, &c)
	edit(c)
	b, _ = json.Marshal(c)
	os.WriteFile(p, b, 0o644)
}

// TestBadInput is the table in the checkpoint package documentation: every
// way a checkpoint directory can be wrong, each refused by Load or
// FromCheckpoint with an error that names the file (and tensor) and says
// what is wrong.
func TestBadInput(t *testing.T) {
	const st = "model.safetensors"
	for _, c := range []struct {
		name   string
		opts   synth.Options
		damage func(t *testing.T, dir string) string // returns the path the error must name
		kind   error
		says   string
	}{
		{"missing directory", synth.Options{}, func(t *testing.T, dir string) string {
			os.RemoveAll(dir)
			return dir
		}, fs.ErrNotExist, "no such file or directory"},
		{"missing config.json", synth.Options{}, func(t *testing.T, dir string) string {
			os.Remove(filepath.Join(dir, "config.json"))
			return filepath.Join(dir, "config.json")
		}, fs.ErrNotExist, "missing file: no such file or directory"},
		{"malformed config.json", synth.Options{}, func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"n_layer": "two"`), 0o644)
			return filepath.Join(dir, "config.json")
		}, checkpoint.ErrMalformed, "not a JSON object"},
		{"missing weights file", synth.Options{}, func(t *testing.T, dir string) string {
			os.Remove(filepath.Join(dir, st))
			return dir
		}, checkpoint.ErrNoWeights, "none of model.safetensors.index.json, model.safetensors"},
		{"missing shard", synth.Options{Shards: 3}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model-00002-of-00003.safetensors")
			os.Remove(p)
			return p
		}, fs.ErrNotExist, "missing file"},
		{"shard lacks a tensor the index lists", synth.Options{Shards: 3}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model-00001-of-00003.safetensors")
			editHeader(t, p, func(h map[string]map[string]any) { delete(h, "transformer.wte.weight") })
			return p
		}, checkpoint.ErrMalformed, `"transformer.wte.weight": malformed: listed in the index for this shard but not stored in it`},
		{"index points outside the directory", synth.Options{Shards: 2}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model.safetensors.index.json")
			os.WriteFile(p, []byte(`{"weight_map":{"transformer.wte.weight":"../../etc/passwd"}}`), 0o644)
			return p
		}, checkpoint.ErrMalformed, `shard "../../etc/passwd" is not a file name inside the checkpoint`},
		{"truncated file", synth.Options{}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, st)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
			return p
		}, checkpoint.ErrTruncated, "the file holds"},
		{"file shorter than its header length", synth.Options{}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, st)
			os.Truncate(p, 64)
			return p
		}, checkpoint.ErrTruncated, "larger than the file (56 bytes after the length field)"},
		{"overlapping offsets", synth.Options{}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, st)
			editHeader(t, p, func(h map[string]map[string]any) {
				h["transformer.ln_f.bias"]["data_offsets"] = h["transformer.ln_f.weight"]["data_offsets"]
			})
			return p
		}, checkpoint.ErrOffsets, "overlap tensor"},
		{"out-of-range offsets", synth.Options{}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, st)
			editHeader(t, p, func(h map[string]map[string]any) {
				h["transformer.ln_f.bias"]["data_offsets"] = []int64{1 << 40, 1<<40 + 32}
			})
			return p
		}, checkpoint.ErrOffsets, "outside the data area"},
		{"unknown dtype", synth.Options{}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, st)
			editHeader(t, p, func(h map[string]map[string]any) { h["transformer.ln_f.bias"]["dtype"] = "F24" })
			return p
		}, checkpoint.ErrDType, `tensor "transformer.ln_f.bias": unknown dtype: "F24"`},
		{"dtype not a float", synth.Options{}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, st)
			editHeader(t, p, func(h map[string]map[string]any) { h["transformer.h.1.mlp.c_fc.bias"]["dtype"] = "I32" })
			return p
		}, weights.ErrShape, `tensor "transformer.h.1.mlp.c_fc.bias": tensor does not match config.json: dtype I32 is not a float type`},
		{"shape disagrees with config.json", synth.Options{}, func(t *testing.T, dir string) string {
			editConfig(t, dir, func(c map[string]any) { c["n_inner"] = 64 })
			return filepath.Join(dir, st)
		}, weights.ErrShape, `tensor "transformer.h.0.mlp.c_fc.weight": tensor does not match config.json: shape [8 32], config.json implies [8 64] (n_embd=8, n_inner=64)`},
		{"vocab_size disagrees with the embedding", synth.Options{}, func(t *testing.T, dir string) string {
			editConfig(t, dir, func(c map[string]any) { c["vocab_size"] = 50257 })
			return filepath.Join(dir, st)
		}, weights.ErrShape, `"transformer.wte.weight": tensor does not match config.json: shape [300 8], config.json implies [50257 8]`},
		{"missing tensor", synth.Options{}, func(t *testing.T, dir string) string {
			editConfig(t, dir, func(c map[string]any) { c["n_layer"] = 3 })
			return dir
		}, weights.ErrShape, `tensor "h.2.ln_1.weight" (or "transformer.h.2.ln_1.weight") is missing`},
		{"untied without lm_head", synth.Options{}, func(t *testing.T, dir string) string {
			editConfig(t, dir, func(c map[string]any) { c["tie_word_embeddings"] = false })
			return dir
		}, weights.ErrShape, `"lm_head.weight" is missing and tie_word_embeddings is false`},
		{"heads do not divide d_model", synth.Options{}, func(t *testing.T, dir string) string {
			editConfig(t, dir, func(c map[string]any) { c["n_head"] = 3 })
			return filepath.Join(dir, "config.json")
		}, weights.ErrConfig, "bad config: n_embd 8 is not a multiple of n_head 3"},
		{"unknown model_type", synth.Options{}, func(t *testing.T, dir string) string {
			editConfig(t, dir, func(c map[string]any) { c["model_type"] = "bert" })
			return dir
		}, weights.ErrModelType, `unsupported model_type "bert" in config.json (supported: gemma, gemma2, gemma3, gemma3_text, gpt2, gpt_neox, llama, mistral, qwen2, qwen3)`},
		{"pickle names a foreign class", synth.Options{Format: synth.PyTorch}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pytorch_model.bin")
			rewriteZipEntry(t, p, "archive/data.pkl", func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "torch._utils\n_rebuild_tensor_v2\n", "builtins\neval\n", 1))
			})
			return p
		}, checkpoint.ErrUnsupported, "pickle refers to builtins.eval, which is not among the classes a state dict uses"},
		{"pickle damaged in the archive", synth.Options{Format: synth.PyTorch}, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pytorch_model.bin")
			b, _ := os.ReadFile(p)
			b = []byte(strings.Replace(string(b), "_rebuild_tensor_v2", "_rebuild_tensor_v3", 1)) // CRC no longer matches
			os.WriteFile(p, b, 0o644)
			return p
		}, checkpoint.ErrMalformed, "archive/data.pkl: zip: checksum error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o := c.opts
			o.Shape, o.Naming.Prefix = synth.Tiny, true
			if err := synth.Write(dir, o); err != nil {
				t.Fatal(err)
			}
			path := c.damage(t, dir)
			ck, err := checkpoint.Load(context.Background(), dir)
			if err == nil {
				var m *weights.Model
				m, err = weights.FromCheckpoint(ck)
				ck.Close()
				if err == nil {
					m.Close()
					t.Fatal("accepted")
				}
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			t.Logf("%s", err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q\nshould name %s and say %q", err, path, c.says)
			}
		})
	}
}

// rewriteZipEntry replaces one entry of a zip archive, keeping the others.
func rewriteZipEntry(t *testing.T, path, name string, edit func([]byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == name {
			b = edit(b)
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		w.Write(b)
	}
	zr.Close()
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
