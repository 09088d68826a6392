package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"lenskit.dev/lenskit/vocab"
)

type encodedLine struct {
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// runEncodeCLI runs `lenskit encode args...` on input and parses its JSON
// lines.
func runEncodeCLI(t *testing.T, input string, args ...string) ([]encodedLine, int, string) {
	t.Helper()
	defer func(r io.Reader) { stdin = r }(stdin)
	stdin = strings.NewReader(input)
	code, out, errs := runCLI(t, append([]string{"encode"}, args...)...)
	var lines []encodedLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var l encodedLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if l.IDs == nil || l.Tokens == nil {
			t.Fatalf("output line %q lacks ids or tokens", sc.Text())
		}
		lines = append(lines, l)
	}
	return lines, code, errs
}

func sharedDir(t *testing.T, rel string) string {
	t.Helper()
	for _, d := range []string{os.Getenv("LENSKIT_SHARED"), "../../../shared", "../../shared", "/work/shared"} {
		if d == "" {
			continue
		}
		if p := filepath.Join(d, rel); fileExists(p) {
			return p
		}
	}
	t.Skipf("shared/%s not found", rel)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// The embedded GPT-2 by default: one JSON object per input line, ids as the
// vocabulary encodes them, tokens the raw entries, no special tokens added
// (but written ones matched), the last line without a newline kept, an empty
// line an empty object.
func TestEncodeGPT2(t *testing.T) {
	input := "zażółć gęślą jaźń\n<|endoftext|>Dom\n\nostatnia linia"
	lines, code, errs := runEncodeCLI(t, input)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	v, err := vocab.LoadDir(sharedDir(t, "models/tiny-pl-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(input, "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d output lines for %d texts", len(lines), len(texts))
	}
	for i, s := range texts {
		want, _ := v.Encode(s)
		if want == nil {
			want = []int{}
		}
		if !slices.Equal(lines[i].IDs, want) {
			t.Errorf("line %d: ids %v, want %v", i+1, lines[i].IDs, want)
		}
		for k, id := range lines[i].IDs {
			if lines[i].Tokens[k] != v.Raw(id) {
				t.Errorf("line %d: token %q for id %d, want %q", i+1, lines[i].Tokens[k], id, v.Raw(id))
			}
		}
	}
	if want := []int{530, 281, 1049, 299, 367, 273, 734, 271, 384, 545, 412}; !slices.Equal(lines[0].IDs, want) {
		t.Errorf("zażółć gęślą jaźń: %v, the reference (gpt2ref.py) %v", lines[0].IDs, want)
	}
	if lines[1].Tokens[0] != "<|endoftext|>" || len(lines[2].IDs) != 0 {
		t.Errorf("special or empty line: %+v %+v", lines[1], lines[2])
	}
}

// The embedded tiny Llama (SentencePiece with byte fallback): the ids of a
// corpus line equal the committed reference (testdata of package vocab,
// written with @lenml/tokenizers), with no <s> in front.
func TestEncodeTinyLlama(t *testing.T) {
	ref, err := os.ReadFile("../../lenskit/vocab/testdata/pl_llama_reference.txt")
	if err != nil {
		t.Fatal(err)
	}
	corpus, err := os.ReadFile(sharedDir(t, "corpus/pl.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(corpus), "\n")
	var input strings.Builder
	var want [][]int
	for _, l := range strings.Split(string(ref), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "sample" {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		ids := []int{}
		for _, s := range f[2:] {
			id, _ := strconv.Atoi(s)
			ids = append(ids, id)
		}
		input.WriteString(lines[n] + "\n")
		want = append(want, ids)
		if len(want) == 40 {
			break
		}
	}
	got, code, errs := runEncodeCLI(t, input.String(), "--model", "tiny-pl-llama")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines out, %d in", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].IDs, want[i]) {
			t.Errorf("line %d: ids %v, reference %v", i+1, got[i].IDs, want[i])
		}
		if len(got[i].Tokens) > 0 && (got[i].Tokens[0] == "<s>" || !strings.HasPrefix(got[i].Tokens[0], "▁")) {
			t.Errorf("line %d starts with %q", i+1, got[i].Tokens[0])
		}
	}
	// Byte tokens and HTML-like text come out unescaped.
	got, _, _ = runEncodeCLI(t, "<s>\tż\n", "--model", "tiny-pl-llama")
	if len(got) != 1 || got[0].Tokens[0] != "<s>" || !slices.Contains(got[0].Tokens, "<0x09>") {
		t.Errorf("specials and byte tokens: %+v", got)
	}
}

func TestEncodeErrors(t *testing.T) {
	_, code, errs := runEncodeCLI(t, "dobrze\nźle \xff\n")
	if code != 1 || !strings.Contains(errs, "standard input: line 2: not valid UTF-8") {
		t.Errorf("invalid UTF-8: exit %d, %q", code, errs)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "gpt2", "vocab_size": 10}`), 0o644)
	_, code, errs = runEncodeCLI(t, "x\n", "--model", dir)
	if code != 1 || strings.Count(errs, "\n") != 1 {
		t.Errorf("a directory without weights or tokenizer: exit %d, %q", code, errs)
	}
	// A directory with only tokenizer files is enough; config.json's
	// vocab_size bounds the vocabulary as it is read.
	tok, err := os.ReadFile(filepath.Join(sharedDir(t, "models/tiny-pl-llama"), "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644)
	os.Remove(filepath.Join(dir, "config.json"))
	if lines, code, errs := runEncodeCLI(t, "dom\n", "--model", dir); code != 0 || len(lines) != 1 || lines[0].Tokens[0] != "▁dom" {
		t.Errorf("tokenizer-only directory: exit %d %q %+v", code, errs, lines)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "llama", "vocab_size": 100}`), 0o644)
	_, code, errs = runEncodeCLI(t, "x\n", "--model", dir)
	if code != 1 || !strings.Contains(errs, `tokenizer.json: model.vocab["<0x61>"]: id 100 is beyond the embedding's 100 rows`) {
		t.Errorf("a tokenizer larger than the embedding: exit %d, %q", code, errs)
	}
	_, code, _ = runEncodeCLI(t, "x\n", "--model")
	if code != 2 {
		t.Errorf("--model without a value: exit %d", code)
	}
	var o, e bytes.Buffer
	if run([]string{"encode", "extra"}, &o, &e) != 2 {
		t.Errorf("an extra argument is a usage error")
	}
}
