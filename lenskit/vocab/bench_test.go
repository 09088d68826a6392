package vocab

import (
	"os"
	"strings"
	"testing"
)

func corpusText(b *testing.B) string {
	data, err := os.ReadFile(corpusPath(b))
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

// Encode of the whole 8.6 MB corpus as one string (cut at safe line breaks
// and encoded on all cores).
func BenchmarkEncodeCorpus(b *testing.B) {
	v := tiny(b)
	text := corpusText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := v.Encode(text); err != nil {
			b.Fatal(err)
		}
	}
}

// The first megabyte of the corpus line by line on one goroutine, for a
// like-for-like comparison with hftokenizer below.
func BenchmarkEncodeCorpusLines(b *testing.B) {
	v := tiny(b)
	lines := strings.Split(corpusText(b)[:1<<20], "\n")
	b.SetBytes(1 << 20)
	for b.Loop() {
		for _, l := range lines {
			if _, err := v.Encode(l); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkHFTokenizerCorpusLines(b *testing.B) {
	hf := loadHF(b)
	lines := strings.Split(corpusText(b)[:1<<20], "\n")
	b.SetBytes(1 << 20)
	for b.Loop() {
		for _, l := range lines {
			hf.Encode(l)
		}
	}
}

// One pathological pre-token: a megabyte of "-=" goes through the heap BPE.
func BenchmarkEncodeLongWord(b *testing.B) {
	v := tiny(b)
	s := strings.Repeat("-=", 1<<19)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		v.Encode(s)
	}
}

func BenchmarkLoad(b *testing.B) {
	dir := modelDir(b)
	b.Run("tokenizer.json", func(b *testing.B) {
		for b.Loop() {
			if _, err := LoadDir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("vocab.json+merges.txt", func(b *testing.B) {
		for b.Loop() {
			tinySlow(b)
		}
	})
}

func BenchmarkSelect(b *testing.B) {
	v := tiny(b)
	list, err := CorpusTokens(v, []string{corpusPath(b)}, 5000, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []Filter{
		All(), ASCII(), Alnum(), NoBrackets(),
		And(Alnum(), NoBrackets(), InList(list)),
		FilterFunc("short", func(v *Vocab, id int) bool { return len(v.Text(id)) < 4 }),
	} {
		b.Run(f.String()+"/uncached", func(b *testing.B) {
			for b.Loop() {
				v.selMu.Lock()
				v.sel, v.selOrder = nil, nil
				v.selMu.Unlock()
				v.Select(f)
			}
		})
		b.Run(f.String()+"/cached", func(b *testing.B) {
			v.Select(f)
			for b.Loop() {
				v.Select(f)
			}
		})
	}
}

// Pair filters run in the hot loop of head views: ns per pair.
func BenchmarkPairFilter(b *testing.B) {
	v := tiny(b)
	words := v.Select(Alnum())
	for _, pf := range []PairFilter{SameToken(), FuzzyEqual(), AnyPair(SameToken(), FuzzyEqual())} {
		b.Run(pf.String(), func(b *testing.B) {
			n := 0
			i := 0
			for b.Loop() {
				a, c := words[i%len(words)], words[(i*7919+13)%len(words)]
				if pf.Exclude(v, a, c) {
					n++
				}
				i++
			}
			_ = n
		})
	}
}

func BenchmarkCorpusTokens(b *testing.B) {
	v := tiny(b)
	path := corpusPath(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	for b.Loop() {
		if _, err := CorpusTokens(v, []string{path}, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// The tiny Llama's SentencePiece BPE (no pre-tokenizer: each line is one
// word, merged through the heap when long), line by line on one goroutine.
func BenchmarkEncodeCorpusLinesLlama(b *testing.B) {
	v := tinyLlama(b)
	lines := strings.Split(corpusText(b)[:1<<20], "\n")
	b.SetBytes(1 << 20)
	for b.Loop() {
		for _, l := range lines {
			if _, err := v.Encode(l); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Real tokenizers from the npm cache (skipped without npm): loading, and
// encoding the first megabyte of the corpus line by line.
func BenchmarkRealTokenizers(b *testing.B) {
	lines := strings.Split(corpusText(b)[:1<<20], "\n")
	for _, rt := range realTokenizers {
		b.Run(rt.name+"/load", func(b *testing.B) {
			dir := rt.dir(b)
			for b.Loop() {
				if _, err := LoadDir(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(rt.name+"/encode-lines", func(b *testing.B) {
			v, err := LoadDir(rt.dir(b))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(1 << 20)
			for b.Loop() {
				for _, l := range lines {
					if _, err := v.Encode(l); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
