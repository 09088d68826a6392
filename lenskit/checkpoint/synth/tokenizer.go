package synth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// byteSymbols is GPT-2's byte → printable rune map (bytes_to_unicode in
// openai/gpt-2 encoder.py): printable Latin-1 bytes map to themselves, the
// rest to U+0100 onwards, so every byte has a visible one-rune symbol.
func byteSymbols() [256]string {
	var out [256]string
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff) {
			out[b] = string(rune(b))
		} else {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}

// Tokens returns the synthetic vocabulary WriteTokenizer writes: ids 0–255
// are the byte symbols in byte order (as in tiny-pl-gpt2), then one token per
// merge, then "<|endoftext|>" as the last id. Merges join two byte symbols:
// first "Ġ" + a lowercase letter, then pairs of lowercase letters, then any
// other pairs, so small vocabularies look like text; vocabularies larger
// than all pairs (Llama 3's 128,256) go on with merged tokens + one symbol.
func Tokens(size int) (tokens []string, merges [][2]string) {
	sym := byteSymbols()
	tokens = append(tokens, sym[:]...)
	want := size - 257
	used := make(map[string]bool)
	add := func(a, b string) {
		if len(merges) < want && !used[a+b] {
			used[a+b] = true
			merges = append(merges, [2]string{a, b})
			tokens = append(tokens, a+b)
		}
	}
	for c := 'a'; c <= 'z'; c++ {
		add(sym[' '], string(c))
	}
	for c := 'a'; c <= 'z'; c++ {
		for d := 'a'; d <= 'z'; d++ {
			add(string(c), string(d))
		}
	}
	for a := 0; a < 256 && len(merges) < want; a++ {
		for b := 0; b < 256 && len(merges) < want; b++ {
			add(sym[a], sym[b])
		}
	}
	for i := 256; len(merges) < want && i < len(tokens); i++ {
		for b := 0; b < 256 && len(merges) < want; b++ {
			add(tokens[i], sym[b])
		}
	}
	return append(tokens, "<|endoftext|>"), merges
}

// maxTokenizer bounds WriteTokenizer's vocabularies (Gemma's 262,208 and
// more fit).
const maxTokenizer = 1 << 20

// WriteTokenizer writes vocab.json, merges.txt, tokenizer.json and
// tokenizer_config.json for the synthetic byte-level BPE vocabulary of size
// entries (see Tokens). Every merge joins two existing tokens into a new one,
// so the files are a valid GPT-2 tokenizer, if not a useful one.
func WriteTokenizer(dir string, size int) error {
	if size < 257 || size > maxTokenizer {
		return fmt.Errorf("synth: vocabulary of %d entries: want 257 … %d", size, maxTokenizer)
	}
	tokens, merges := Tokens(size)
	vocab := make(map[string]int, len(tokens))
	for i, t := range tokens {
		vocab[t] = i
	}
	var mt strings.Builder
	mt.WriteString("#version: 0.2\n")
	ms := make([]string, len(merges))
	for i, m := range merges {
		ms[i] = m[0] + " " + m[1]
		mt.WriteString(ms[i] + "\n")
	}
	eot := size - 1
	byteLevel := func(prefix bool, trim bool) map[string]any {
		return map[string]any{"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": trim, "use_regex": true}
	}
	tj := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []any{map[string]any{"id": eot, "content": "<|endoftext|>", "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": true, "special": true}},
		"normalizer":     nil,
		"pre_tokenizer":  byteLevel(false, true),
		"post_processor": byteLevel(true, false),
		"decoder":        byteLevel(true, true),
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": ms},
	}
	tc := map[string]any{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
		"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": false}
	for name, v := range map[string]any{"vocab.json": vocab, "tokenizer.json": tj, "tokenizer_config.json": tc} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("synth: %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(mt.String()), 0o644); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}
