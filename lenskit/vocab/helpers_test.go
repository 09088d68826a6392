package vocab

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The real tiny model and corpus live in shared/, beside the repository
// (../../../shared from this package) in a checkout and in CI.
var sharedDirs = []string{"../../../shared", "/work/shared"}

func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	if d := os.Getenv("LENSKIT_SHARED"); d != "" {
		return filepath.Join(d, rel)
	}
	for _, d := range sharedDirs {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("shared/%s not found beside the repository (set LENSKIT_SHARED)", rel)
	return ""
}

func modelDir(t testing.TB) string   { return sharedPath(t, "models/tiny-pl-gpt2") }
func corpusPath(t testing.TB) string { return sharedPath(t, "corpus/pl.txt") }

var (
	tinyOnce sync.Once
	tinyV    *Vocab
	tinyErr  error
)

// tiny loads the real tiny Polish GPT-2 vocabulary from tokenizer.json, once.
func tiny(t testing.TB) *Vocab {
	t.Helper()
	dir := modelDir(t)
	tinyOnce.Do(func() { tinyV, tinyErr = Load(os.DirFS(dir)) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyV
}

// hideFS hides some files of an FS, to force the vocab.json+merges.txt path.
type hideFS struct {
	fs.FS
	hidden map[string]bool
}

func (h hideFS) Open(name string) (fs.File, error) {
	if h.hidden[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return h.FS.Open(name)
}

func tinySlow(t testing.TB) *Vocab {
	t.Helper()
	v, err := Load(hideFS{os.DirFS(modelDir(t)), map[string]bool{"tokenizer.json": true}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Source() != "vocab.json+merges.txt" {
		t.Fatalf("Source() = %q", v.Source())
	}
	return v
}
