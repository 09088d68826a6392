package lenskit_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/project"
)

// TestVocabSizeMismatch: a tokenizer larger than the embedding is refused,
// naming both sizes; a smaller one is a padded embedding, whose unused rows
// take part in no view.
func TestVocabSizeMismatch(t *testing.T) {
	write := func(tok int) string {
		dir := t.TempDir()
		if err := synth.Write(dir, synth.Options{Shape: synth.Tiny}); err != nil {
			t.Fatal(err)
		}
		if err := synth.WriteTokenizer(dir, tok); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// The tokenizer is read knowing the embedding's size: the first id
	// past it is refused, naming the file, the entry and the size.
	_, err := lenskit.Load(write(310))
	if err == nil || !strings.Contains(err.Error(), "tokenizer.json") || !strings.Contains(err.Error(), "beyond the embedding's 300 rows") {
		t.Fatalf("tokenizer of 310 tokens vs embedding of 300 rows: err = %v", err)
	}

	m, err := lenskit.Load(write(290))
	if err != nil {
		t.Fatalf("padded embedding (290 tokens, 300 rows) refused: %v", err)
	}
	defer m.Close()
	if m.PaddedRows() != 10 {
		t.Errorf("PaddedRows = %d, want 10", m.PaddedRows())
	}
	lens := m.Lens()
	for _, r := range []*lenskit.PairResult{lens.OV(1, 1).Top(5000), lens.QK(0, 1).Bottom(5000)} {
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		for _, p := range r.Pairs {
			if p.Source >= 290 || p.Target >= 290 {
				t.Fatalf("%v: pair %v uses a padding row", r.Title(), p)
			}
		}
	}
	n := lens.Neuron(1, 3).Top(300)
	if n.Err() != nil {
		t.Fatal(n.Err())
	}
	for _, s := range n.Sides() {
		if len(n.Columns[s]) != 290 {
			t.Errorf("column %v has %d tokens, want all 290 tokens and no padding row", s, len(n.Columns[s]))
		}
	}
}

// TestOpenCarriesErrors: a model that failed to load never panics; its
// error reaches every result and is what Show would display.
func TestOpenCarriesErrors(t *testing.T) {
	m := lenskit.Open(filepath.Join(t.TempDir(), "no-such-model"))
	if m.Err() == nil {
		t.Fatal("loading a missing directory succeeded")
	}
	r := m.Lens(lenskit.Alnum()).OV(0, 0).Top(5)
	if !errors.Is(r.Err(), m.Err()) && r.Err().Error() != m.Err().Error() {
		t.Errorf("result error %v, model error %v", r.Err(), m.Err())
	}
	if s := r.String(); !strings.HasPrefix(s, "error: ") {
		t.Errorf("String() = %q", s)
	}
	if h := m.Lens().Neuron(0, 0).Top(3).HTML(); !strings.Contains(h, "no-such-model") {
		t.Errorf("HTML() does not name the model: %s", h)
	}
	if _, err := r.MarshalJSON(); err == nil {
		t.Error("MarshalJSON of a failed result succeeded")
	}
}

// TestCorpusTokensFilter builds a token list from a small corpus and checks
// that only its tokens take part.
func TestCorpusTokensFilter(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(t.TempDir(), "c.txt")
	os.WriteFile(path, []byte("ale którego której których\nmusi być\n"), 0o644)
	lens := m.Lens(lenskit.CorpusTokens(0, path))
	if lens.Err() != nil {
		t.Fatal(lens.Err())
	}
	l, _ := m.CorpusTokens(0, path)
	for _, id := range lens.Tokens() {
		if !l.Contains(m.Vocab.Text(id)) {
			t.Errorf("token %q is not in the corpus list", m.Vocab.Text(id))
		}
	}
	r := lens.OV(2, 4).Top(5)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	if !strings.Contains(r.Filter, "corpus(") {
		t.Errorf("filter description %q", r.Filter)
	}
}

// TestEnginesAgree: the GoMLX engine (pure-Go backend) and the CPU engine
// return the same pairs and scores — engines only propose, the host
// rescores exactly — except for the rounding of the factors each computes.
func TestEnginesAgree(t *testing.T) {
	if _, err := lenskit.Engine("frobnicate"); err == nil {
		t.Error("unknown engine name accepted")
	}
	g, err := lenskit.Engine("gomlx:go")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	mg, err := lenskit.Load("", lenskit.WithEngine(g))
	if err != nil {
		t.Fatal(err)
	}
	defer mg.Close()
	for _, f := range [][]lenskit.Filter{nil, {lenskit.Alnum(), lenskit.ExcludeSame()}} {
		rc := mc.Lens(f...).OV(2, 4).Top(20)
		rg := mg.Lens(f...).OV(2, 4).Top(20)
		if rc.Err() != nil || rg.Err() != nil {
			t.Fatal(rc.Err(), rg.Err())
		}
		for i := range rc.Pairs {
			pc, pg := rc.Pairs[i], rg.Pairs[i]
			if pc.Source != pg.Source || pc.Target != pg.Target || math.Abs(float64(pc.Score-pg.Score)) > 1e-5 {
				t.Errorf("pair %d: cpu %+v, gomlx %+v", i, pc, pg)
			}
		}
		if rg.Stats.Engine == rc.Stats.Engine {
			t.Errorf("both ran on %q", rc.Stats.Engine)
		}
	}
}

func TestCorpusTokensDiskCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	corpus := filepath.Join(t.TempDir(), "c.txt")
	os.WriteFile(corpus, []byte("ale którego\nktórego której\n"), 0o644)
	m1, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	l1, err := m1.CorpusTokens(0, corpus)
	if err != nil {
		t.Fatal(err)
	}
	cached, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "lenskit", "token-lists", "*.tokens"))
	if len(cached) != 1 {
		t.Fatalf("cache files: %v", cached)
	}
	// A new process (here: a new model) reads the list back.
	m2, _ := lenskit.Load("")
	defer m2.Close()
	l2, err := m2.CorpusTokens(0, corpus)
	if err != nil || !slices.Equal(l1.Forms(), l2.Forms()) {
		t.Fatalf("cached list differs: %v %v vs %v", err, l1.Forms(), l2.Forms())
	}
	// Changing the corpus changes the key.
	os.WriteFile(corpus, []byte("zupełnie inny tekst\n"), 0o644)
	l3, _ := m2.CorpusTokens(0, corpus)
	if slices.Equal(l1.Forms(), l3.Forms()) {
		t.Error("a changed corpus reused the old list")
	}
}

func TestShared(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "corpus"), 0o755)
	os.WriteFile(filepath.Join(dir, "corpus", "x.txt"), []byte("x\n"), 0o644)
	t.Setenv("LENSKIT_SHARED", dir)
	if p, err := lenskit.Shared("corpus/x.txt"); err != nil || p != filepath.Join(dir, "corpus", "x.txt") {
		t.Errorf("Shared = %q, %v", p, err)
	}
	_, err := lenskit.Shared("corpus/missing.txt")
	if err == nil || !strings.Contains(err.Error(), "LENSKIT_SHARED") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLensNeurons(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lens := m.Lens(lenskit.Alnum())
	all, err := lens.Neurons(1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != m.Arch().DFF {
		t.Fatalf("%d neurons", len(all))
	}
	for _, i := range []int{0, 7, 1023} {
		if got, want := all[i].String(), lens.Neuron(1, i).Top(5).String(); got != want {
			t.Errorf("neuron %d:\n%s\nvs\n%s", i, got, want)
		}
	}
	if _, err := lens.Neurons(4, 5); err == nil {
		t.Error("layer 4 accepted")
	}
}

// A failed result can be read like any other: empty, never nil.
func TestFailedResultsAreEmpty(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := m.Lens().OV(99, 0).Top(5)
	if r.Err() == nil || len(r.Pairs) != 0 || r.Stats.Rows != 0 {
		t.Errorf("failed pairs: err %v, %d pairs", r.Err(), len(r.Pairs))
	}
	n := m.Lens().Neuron(0, -1).Top(5)
	if n.Err() == nil || len(n.Columns[0]) != 0 {
		t.Errorf("failed neuron: err %v", n.Err())
	}
	if f := lenskit.CorpusTokens(10, "/some/where/pl.txt").String(); f != "corpus(pl.txt,top=10)" {
		t.Errorf("filter description %q depends on the path", f)
	}
}

func TestScan(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lens := m.Lens(lenskit.Alnum())
	all, err := lens.Scan(5)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Arch()
	if len(all) != a.Layers*a.Heads*2 {
		t.Fatalf("%d views", len(all))
	}
	for _, i := range []int{0, 13, len(all) - 1} {
		r := all[i]
		q := lens.OV(r.Head.Layer, r.Head.Head)
		if r.Kind == project.QK {
			q = lens.QK(r.Head.Layer, r.Head.Head)
		}
		// Pairs, not the text: how many candidates were rescored depends on
		// how the search was split across cores.
		if want := q.Top(5); !slices.Equal(r.Pairs, want.Pairs) {
			t.Errorf("view %d: scan %v, single %v", i, r.Pairs, want.Pairs)
		}
	}
	if qk, _ := lens.Scan(3, project.QK); len(qk) != a.Layers*a.Heads || qk[0].Kind != project.QK {
		t.Errorf("QK-only scan: %d views", len(qk))
	}
}
