package vocab

import (
	"bytes"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"
)

// checkVocab asserts the invariants every successfully loaded vocabulary
// must have, whatever its files held.
func checkVocab(t *testing.T, v *Vocab) {
	t.Helper()
	if v.Len() == 0 {
		t.Fatal("empty vocabulary loaded")
	}
	for id := 0; id < v.Len(); id++ {
		if v.Placeholder(id) {
			if v.Raw(id) != "" || v.Bytes(id) != nil || v.Check(id) == nil || All().Keep(v, id) {
				t.Fatalf("placeholder %d has a token", id)
			}
			continue
		}
		if got, ok := v.ID(v.Raw(id)); !ok || got != id {
			t.Fatalf("ID(Raw(%d)) = %d, %v", id, got, ok)
		}
		if d := v.Display(id); !utf8.ValidString(d) || strings.ContainsAny(d, "\n\r") {
			t.Fatalf("Display(%d) = %q", id, d)
		}
		if !utf8.ValidString(v.Text(id)) {
			t.Fatalf("Text(%d) = %q is not valid UTF-8", id, v.Text(id))
		}
		v.Select(Alnum())
		FuzzyEqual().Exclude(v, id, 0)
	}
	for _, s := range []string{"ab ab", "zażółć\n\n x", "<|endoftext|>", "\xff\x00", "e\u0301 ▁x"} {
		ids, err := v.Encode(s)
		if err != nil {
			continue // a vocabulary may lack byte symbols
		}
		for _, id := range ids {
			if !v.real(id) {
				t.Fatalf("Encode(%q) gives id %d, not a token", s, id)
			}
		}
		if v.Kind() != KindByteLevel || v.m.norm != nil || v.m.pre == nil {
			continue // normalizers change the text; no round trip
		}
		if got, want := v.Decode(ids), withPrefixSpaces(v, s); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
	}
}

// withPrefixSpaces is what Decode(Encode(s)) gives: s, with a space before
// each stretch of text between added tokens when add_prefix_space is set.
func withPrefixSpaces(v *Vocab, s string) string {
	if !v.m.prefixSpace {
		return s
	}
	var sb strings.Builder
	v.m.added.split(s, func(start, end int, id int32) {
		if id < 0 && s[start] != ' ' {
			sb.WriteByte(' ')
		}
		sb.WriteString(s[start:end])
	})
	return sb.String()
}

func FuzzLoadTokenizerJSON(f *testing.F) {
	m := newMini()
	f.Add([]byte(m.tokenizerJSON()))
	m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true, "lstrip": true}, {"id": 259, "content": "xy", "single_word": true}]`
	m.pre = `{"type": "ByteLevel", "add_prefix_space": true}`
	f.Add([]byte(m.tokenizerJSON()))
	f.Add([]byte(strings.Replace(newMini().tokenizerJSON(), `"merges": ["a b", "Ġ ab"]`, `"merges": [["a", "b"], ["Ġ", "ab"]]`, 1)))
	f.Add([]byte(`{"model": {"vocab": {"a": 0}}, "pre_tokenizer": {"type": "ByteLevel"}}`))
	f.Add([]byte(`{}`))
	// The other families' layouts: SentencePiece with byte fallback
	// (Llama 2), Metaspace, Gemma's Split, Llama 3's and Qwen's patterns
	// with NFC, normalized and single-word added tokens, gaps in the ids.
	f.Add(newSPMini().fs()["tokenizer.json"].Data)
	for _, pre := range []string{
		`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}`,
		`{"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}`,
		`{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "Split", "pattern": {"String": "a"}, "behavior": "Contiguous", "invert": true}]}`,
	} {
		sp := newSPMini()
		sp.normalizer = "null"
		sp.pre = pre
		f.Add(sp.fs()["tokenizer.json"].Data)
	}
	for _, re := range []string{regexLlama3, regexQwen, regexGPT2} {
		m := newMini()
		m.normalizer = `{"type": "NFC"}`
		m.pre = `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ` + strconv.Quote(re) + `}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}`
		m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true}, {"id": 262, "content": "x y", "normalized": true, "single_word": true}]`
		m.model = `, "ignore_merges": true`
		f.Add([]byte(m.tokenizerJSON()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"tokenizer.json": {Data: data}}
		// With an embedding of 300 rows (the early refusal of issue 12)
		// a loaded vocabulary never holds an id beyond them.
		if v, err := (LoadOptions{MaxTokens: 300}).Load(fsys); err == nil {
			if v.Len() > 300 {
				t.Fatalf("MaxTokens 300 loaded %d ids", v.Len())
			}
		} else if !strings.HasPrefix(err.Error(), "vocab: tokenizer.json") {
			t.Fatalf("error does not name the file: %v", err)
		}
		v, err := Load(fsys)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "vocab: tokenizer.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkVocab(t, v)
	})
}

func FuzzLoadVocabMerges(f *testing.F) {
	m := newMini()
	f.Add([]byte(m.vocabJSON()), []byte(m.mergesTxt()), []byte(`{"add_prefix_space": false}`))
	f.Add([]byte(m.vocabJSON()), []byte("a b\r\nĠ ab\r\n"), []byte(`{"added_tokens_decoder": {"259": {"content": "<x>", "special": true}}, "eos_token": {"content": "ab"}}`))
	f.Add([]byte(`{"a": 0, "b": 1, "ab": 2}`), []byte("#version: 0.2\na b\n"), []byte(`{}`))
	f.Fuzz(func(t *testing.T, vocab, merges, config []byte) {
		fsys := fstest.MapFS{
			"vocab.json":            {Data: vocab},
			"merges.txt":            {Data: merges},
			"tokenizer_config.json": {Data: config},
		}
		if v, err := (LoadOptions{MaxTokens: 300}).Load(fsys); err == nil && v.Len() > 300 {
			t.Fatalf("MaxTokens 300 loaded %d ids", v.Len())
		}
		v, err := Load(fsys)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "vocab: vocab.json") && !strings.HasPrefix(msg, "vocab: merges.txt") && !strings.HasPrefix(msg, "vocab: tokenizer_config.json") {
				t.Fatalf("error does not name a file: %v", err)
			}
			return
		}
		checkVocab(t, v)
	})
}

func FuzzLoadTokenList(f *testing.F) {
	var buf bytes.Buffer
	l := NewTokenList("pl.txt", map[string]int{"się": 5, "dom": 3, "\t\"": 1})
	l.Save(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(tokenListHeader + "\nname \"\"\ntop 0\nrecords 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := LoadTokenList(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := l.Save(&out); err != nil {
			t.Fatal(err)
		}
		l2, err := LoadTokenList(&out)
		if err != nil {
			t.Fatalf("reloading a saved list: %v", err)
		}
		if l2.String() != l.String() || l2.Len() != l.Len() || l2.fingerprint != l.fingerprint {
			t.Fatalf("round trip changed the list")
		}
	})
}

// FuzzEncode checks on the real tiny model that any text round-trips and
// that the parallel cuts never change the ids.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"zażółć gęślą jaźń", "don't\n\n  x", "<|endoftext|>a", "\xc5\n\xc5", "a\nb\n \nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := tiny(t)
		ids, err := v.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		for i := 0; i < len(s); i++ {
			if s[i] == '\n' && safeCut(s, i) {
				a, _ := v.Encode(s[:i+1])
				b, _ := v.Encode(s[i+1:])
				if !slicesEqual(ids, append(a, b...)) {
					t.Fatalf("cut after byte %d of %q changes the ids", i, s)
				}
			}
		}
	})
}

// FuzzEncodeFamilies checks, on small tokenizers of each family's layout,
// that any text encodes to token ids without panics, that the pattern
// scanners tile the text, and that byte-level pipelines with Llama 3's and
// Qwen's patterns may be cut where Encode cuts them.
func FuzzEncodeFamilies(f *testing.F) {
	for _, s := range []string{"zażółć gęślą jaźń", "don't\n\n  x", "<s>a b</s>", "12345 678\r\n\tx", "e\u0301\u0085\ufeff▁▁", "'S'll\n.\nx"} {
		f.Add(s)
	}
	var vocabs []*Vocab
	sp := newSPMini()
	vocabs = append(vocabs, mustLoadFuzz(f, sp.fs()))
	sp.normalizer = "null"
	sp.pre = `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}`
	vocabs = append(vocabs, mustLoadFuzz(f, sp.fs()))
	for _, re := range []string{regexLlama3, regexQwen} {
		m := newMini()
		m.normalizer = `{"type": "NFC"}`
		m.pre = `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ` + strconv.Quote(re) + `}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}`
		m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true, "lstrip": true}]`
		vocabs = append(vocabs, mustLoadFuzz(f, m.fastFS()))
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []pattern{patGPT2, patLlama3, patQwen} {
			end := 0
			p.split(s, func(a, b int) {
				if a != end || b <= a {
					t.Fatalf("pattern %d: piece [%d,%d) after %d in %q", p, a, b, end, s)
				}
				end = b
			})
			if end != len(s) {
				t.Fatalf("pattern %d: pieces end at %d of %d", p, end, len(s))
			}
		}
		for _, v := range vocabs {
			ids, err := v.Encode(s)
			if err != nil {
				t.Fatalf("%s: Encode(%q): %v", v.Kind(), s, err)
			}
			for _, id := range ids {
				if !v.real(id) {
					t.Fatalf("Encode(%q) gives id %d", s, id)
				}
			}
			if !v.m.cutSafe {
				continue
			}
			for i := 0; i < len(s); i++ {
				if s[i] == '\n' && safeCut(s, i) && !v.m.added.lstripAt(s, i+1) {
					a, _ := v.Encode(s[:i+1])
					b, _ := v.Encode(s[i+1:])
					if !slicesEqual(ids, append(a, b...)) {
						t.Fatalf("cut after byte %d of %q changes the ids", i, s)
					}
				}
			}
		}
	})
}

func mustLoadFuzz(f *testing.F, fsys fs.FS) *Vocab {
	v, err := Load(fsys)
	if err != nil {
		f.Fatal(err)
	}
	return v
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
