package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// EmbeddedID is the ID of the default embedded model, tiny-pl-gpt2.
const EmbeddedID = "embedded:tiny-pl-gpt2"

// The embedded models' weights are strings so that the bytes live in the
// binary's read-only data and are handed out without a copy (see
// embeddedBytes); embed.FS would copy them on every ReadFile.
//
//go:embed embedded/tiny-pl-gpt2/model.safetensors
var gpt2Weights string

//go:embed embedded/tiny-pl-llama/model.safetensors
var llamaWeights string

// The small files: config, tokenizer, model card.
//
//go:embed embedded/tiny-pl-gpt2/*.json embedded/tiny-pl-gpt2/*.txt embedded/tiny-pl-gpt2/*.md
//go:embed embedded/tiny-pl-llama/*.json embedded/tiny-pl-llama/*.txt embedded/tiny-pl-llama/*.md
var embeddedFiles embed.FS

// embeddedWeights maps each embedded model's name to its weights.
var embeddedWeights = map[string]*string{
	"tiny-pl-gpt2":  &gpt2Weights,  // GPT-2, 4 layers, d=256, byte-level BPE, F32 (the default)
	"tiny-pl-llama": &llamaWeights, // Llama: GQA 8/2, RoPE, SwiGLU, untied, SentencePiece BPE, BF16
}

// Embedded lists the names of the models compiled into the binary, the
// default ("" loads it) first.
func Embedded() []string { return []string{"tiny-pl-gpt2", "tiny-pl-llama"} }

// embeddedBytes views a model's weights string as a byte slice without
// copying.
//
// This is the package's one use of unsafe for the embedded models: a Go
// string's bytes are immutable and here they sit in the binary's read-only
// segment, so writing through the slice faults rather than corrupting
// anything. Every path that hands out these bytes (Tensor.Bytes,
// Tensor.Float32) is documented as read-only for that reason.
func embeddedBytes(name string) []byte {
	w := *embeddedWeights[name]
	return unsafe.Slice(unsafe.StringData(w), len(w))
}

func embeddedSource(model string) source {
	sub, err := fs.Sub(embeddedFiles, "embedded/"+model)
	if err != nil {
		panic(err) // the embed patterns above guarantee the directory
	}
	return source{
		files: sub,
		mapFile: func(name string) (mapped, error) {
			if name != SafetensorsFile {
				return mapped{}, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			b := embeddedBytes(model)
			return mapped{data: b, ra: bytes.NewReader(b), close: func() error { return nil }}, nil
		},
		show: func(file string) string { return "embedded:" + model + "/" + file },
	}
}

// embeddedView is an fs.FS with the weights file added to the small ones, so
// that open() finds model.safetensors by Stat.
type embeddedView struct {
	fs.FS
	size int64
}

func (v embeddedView) Stat(name string) (fs.FileInfo, error) {
	if name == SafetensorsFile {
		return embeddedWeightsInfo{v.size}, nil
	}
	return fs.Stat(v.FS, name)
}

type embeddedWeightsInfo struct{ size int64 }

func (embeddedWeightsInfo) Name() string       { return SafetensorsFile }
func (i embeddedWeightsInfo) Size() int64      { return i.size }
func (embeddedWeightsInfo) IsDir() bool        { return false }
func (embeddedWeightsInfo) Mode() fs.FileMode  { return 0o444 }
func (embeddedWeightsInfo) ModTime() time.Time { return time.Time{} }
func (embeddedWeightsInfo) Sys() any           { return nil }

// OpenEmbedded opens tiny-pl-gpt2, the small Polish GPT-2 compiled into every
// binary that imports this package (4 layers, d=256, 8 heads, d_ff=1024,
// vocabulary 8,192; see embedded/tiny-pl-gpt2/MODEL_CARD.md). It needs no
// disk or network and copies nothing: tensors alias the binary's read-only
// data.
func OpenEmbedded() (*Checkpoint, error) { return OpenEmbeddedModel("tiny-pl-gpt2") }

// OpenEmbeddedModel opens an embedded model by name (see Embedded):
// "tiny-pl-gpt2" or "tiny-pl-llama" (a Llama-architecture model trained on
// the same Polish corpus: 4 layers, d=256, 8 query and 2 KV heads, RoPE,
// SwiGLU, untied embeddings, SentencePiece BPE, BF16; see
// embedded/tiny-pl-llama/MODEL_CARD.md). Its ID is "embedded:" + name.
func OpenEmbeddedModel(name string) (*Checkpoint, error) {
	name = strings.TrimPrefix(name, "embedded:")
	w, ok := embeddedWeights[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint: no embedded model %q (embedded: %s)", name, strings.Join(Embedded(), ", "))
	}
	src := embeddedSource(name)
	files := src.files
	src.files = embeddedView{files, int64(len(*w))}
	c, err := open(src, "embedded:"+name, "", name)
	if err != nil {
		return nil, err
	}
	c.files = files
	return c, nil
}

var (
	embeddedDirMu sync.Mutex
	embeddedDirs  = map[string]string{}
)

// EmbeddedDir returns a directory holding the default embedded model's
// files, for tools that want a path (Python cross-checks, other programs).
// It writes them once into the user cache directory
// (lenskit/tiny-pl-gpt2-<hash prefix>, under os.UserCacheDir) and reuses that
// copy afterwards; the directory name changes with the content, so an
// upgraded binary never sees a stale copy.
func EmbeddedDir() (string, error) { return EmbeddedModelDir("tiny-pl-gpt2") }

// EmbeddedModelDir is EmbeddedDir for the embedded model of that name.
func EmbeddedModelDir(name string) (string, error) {
	embeddedDirMu.Lock()
	defer embeddedDirMu.Unlock()
	if d, ok := embeddedDirs[name]; ok {
		return d, nil
	}
	if _, ok := embeddedWeights[name]; !ok {
		return "", fmt.Errorf("checkpoint: no embedded model %q (embedded: %s)", name, strings.Join(Embedded(), ", "))
	}
	d, err := materializeEmbedded(name)
	if err == nil {
		embeddedDirs[name] = d
	}
	return d, err
}

func materializeEmbedded(name string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	weights := embeddedBytes(name)
	sum := sha256.Sum256(weights)
	dir := filepath.Join(cache, "lenskit", name+"-"+hex.EncodeToString(sum[:6]))
	if st, err := os.Stat(filepath.Join(dir, SafetensorsFile)); err == nil && st.Size() == int64(len(weights)) {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	sub, _ := fs.Sub(embeddedFiles, "embedded/"+name)
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(sub, e.Name())
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644)
		}
		if err != nil {
			return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, SafetensorsFile), weights, 0o644); err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process may have won the race; its copy is as good.
		if _, serr := os.Stat(filepath.Join(dir, SafetensorsFile)); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	return dir, nil
}
