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
	"sync"
	"time"
	"unsafe"
)

// EmbeddedID is the ID of the embedded model.
const EmbeddedID = "embedded:tiny-pl-gpt2"

// The embedded model's weights are a string so that the bytes live in the
// binary's read-only data and are handed out without a copy (see
// embeddedBytes); embed.FS would copy 21 MB on every ReadFile.
//
//go:embed embedded/tiny-pl-gpt2/model.safetensors
var embeddedWeights string

// The small files: config, tokenizer, model card.
//
//go:embed embedded/tiny-pl-gpt2/*.json embedded/tiny-pl-gpt2/*.txt embedded/tiny-pl-gpt2/*.md
var embeddedFiles embed.FS

// embeddedBytes views embeddedWeights as a byte slice without copying.
//
// This is the package's one use of unsafe for the embedded model: a Go
// string's bytes are immutable and here they sit in the binary's read-only
// segment, so writing through the slice faults rather than corrupting
// anything. Every path that hands out these bytes (Tensor.Bytes,
// Tensor.Float32) is documented as read-only for that reason.
func embeddedBytes() []byte {
	return unsafe.Slice(unsafe.StringData(embeddedWeights), len(embeddedWeights))
}

func embeddedSource() source {
	sub, err := fs.Sub(embeddedFiles, "embedded/tiny-pl-gpt2")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	return source{
		files: sub,
		mapFile: func(name string) (mapped, error) {
			if name != SafetensorsFile {
				return mapped{}, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			b := embeddedBytes()
			return mapped{data: b, ra: bytes.NewReader(b), close: func() error { return nil }}, nil
		},
		show: func(name string) string { return EmbeddedID + "/" + name },
	}
}

// embeddedView is an fs.FS with the weights file added to the small ones, so
// that open() finds model.safetensors by Stat.
type embeddedView struct{ fs.FS }

func (v embeddedView) Stat(name string) (fs.FileInfo, error) {
	if name == SafetensorsFile {
		return embeddedWeightsInfo{}, nil
	}
	return fs.Stat(v.FS, name)
}

type embeddedWeightsInfo struct{}

func (embeddedWeightsInfo) Name() string       { return SafetensorsFile }
func (embeddedWeightsInfo) Size() int64        { return int64(len(embeddedWeights)) }
func (embeddedWeightsInfo) IsDir() bool        { return false }
func (embeddedWeightsInfo) Mode() fs.FileMode  { return 0o444 }
func (embeddedWeightsInfo) ModTime() time.Time { return time.Time{} }
func (embeddedWeightsInfo) Sys() any           { return nil }

// OpenEmbedded opens tiny-pl-gpt2, the small Polish GPT-2 compiled into every
// binary that imports this package (4 layers, d=256, 8 heads, d_ff=1024,
// vocabulary 8,192; see embedded/tiny-pl-gpt2/MODEL_CARD.md). It needs no
// disk or network and copies nothing: tensors alias the binary's read-only
// data.
func OpenEmbedded() (*Checkpoint, error) {
	src := embeddedSource()
	files := src.files
	src.files = embeddedView{files}
	c, err := open(src, EmbeddedID, "", "tiny-pl-gpt2")
	if err != nil {
		return nil, err
	}
	c.files = files
	return c, nil
}

var (
	embeddedDirOnce sync.Once
	embeddedDir     string
	embeddedDirErr  error
)

// EmbeddedDir returns a directory holding the embedded model's files, for
// tools that want a path (Python cross-checks, other programs). It writes them
// once into the user cache directory (lenskit/tiny-pl-gpt2-<hash prefix>,
// under os.UserCacheDir) and reuses that copy afterwards; the directory name
// changes with the content, so an upgraded binary never sees a stale copy.
func EmbeddedDir() (string, error) {
	embeddedDirOnce.Do(func() { embeddedDir, embeddedDirErr = materializeEmbedded() })
	return embeddedDir, embeddedDirErr
}

func materializeEmbedded() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	sum := sha256.Sum256(embeddedBytes())
	dir := filepath.Join(cache, "lenskit", "tiny-pl-gpt2-"+hex.EncodeToString(sum[:6]))
	if st, err := os.Stat(filepath.Join(dir, SafetensorsFile)); err == nil && st.Size() == int64(len(embeddedWeights)) {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tiny-pl-gpt2-*")
	if err != nil {
		return "", fmt.Errorf("checkpoint: embedded dir: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	sub, _ := fs.Sub(embeddedFiles, "embedded/tiny-pl-gpt2")
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
	if err := os.WriteFile(filepath.Join(tmp, SafetensorsFile), embeddedBytes(), 0o644); err != nil {
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
