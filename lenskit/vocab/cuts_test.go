package vocab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// withAddedToken returns the tokenizer.json of dir with one more added token.
func withAddedToken(t testing.TB, dir string, tok map[string]any) fstest.MapFS {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj map[string]any
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	tj["added_tokens"] = append(tj["added_tokens"].([]any), tok)
	out, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"tokenizer.json": {Data: out}}
}

// maskText is the defect's reproducer: a newline right before a
// RoBERTa-style "<mask>" (lstrip) repeated past the 1 MiB from which Encode
// cuts text at line breaks and encodes the pieces on all cores.
func maskText() string {
	s := strings.Repeat("Zdanie.\n<mask> i dalej \n", 1048584/24)
	if len(s) != 1048584 {
		panic("maskText length")
	}
	return s
}

// encodeAt encodes s with GOMAXPROCS set to procs.
func encodeAt(t *testing.T, v *Vocab, s string, procs int) []int {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	ids, err := v.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A cut after a newline that an lstrip token absorbs in the whole text used
// to leave that newline as an extra "Ċ" token: ids depended on the number
// of cores (one extra id with GOMAXPROCS=2, seven with 8). Whole-text
// encoding and every core count must agree.
func TestEncodeCutBeforeLstripToken(t *testing.T) {
	check := func(t *testing.T, v *Vocab, want int) {
		s := maskText()
		defer func(p int) { parallelMin = p }(parallelMin)
		parallelMin = 1 << 62
		whole := encodeAt(t, v, s, 1)
		if want > 0 && len(whole) != want {
			t.Errorf("whole text: %d ids, want %d", len(whole), want)
		}
		parallelMin = 1 << 20
		for _, procs := range []int{2, 3, 4, 8} {
			got := encodeAt(t, v, s, procs)
			if !slices.Equal(got, whole) {
				t.Errorf("GOMAXPROCS=%d: %d ids, whole text %d", procs, len(got), len(whole))
			}
		}
	}
	t.Run("tiny-pl-gpt2", func(t *testing.T) {
		fsys := withAddedToken(t, modelDir(t), map[string]any{"id": 8192, "content": "<mask>", "lstrip": true, "special": true})
		v, err := Load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		check(t, v, 0)
	})
	t.Run("gpt2", func(t *testing.T) {
		fsys := withAddedToken(t, gpt2Dir(t), map[string]any{"id": 50257, "content": "<mask>", "lstrip": true, "special": true})
		v, err := Load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		check(t, v, 480601)
	})
}
