package lenskit

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"lenskit.dev/internal/benchdata"
)

// Benchmarks of one selection in the explorer, as the event loop handles
// it: the result computed, every block redrawn (into a recorder instead of
// GoNB). The page's own share (transport, insertion, the chart) is
// measured by the browser test (e2e TestExplorer, TestExplorerMedium).

// benchSelect selects a head per iteration, cycling through every head of
// the model, so that an iteration computes a view the explorer has not
// computed before (until the cycle repeats) — set fresh to clear the cache
// every time.
func benchSelect(b *testing.B, m *Model, fresh bool, opts ...ExploreOption) {
	book, err := m.Notes(filepath.Join(b.TempDir(), "n.json"))
	if err != nil {
		b.Fatal(err)
	}
	x, err := newExplorer(m, nil, append([]ExploreOption{ExploreNotes(book)}, opts...))
	if err != nil {
		b.Fatal(err)
	}
	x.front = newRecFront()
	x.handle()
	x.waitJob()
	a := m.Arch()
	i := 0
	for b.Loop() {
		if fresh {
			x.mu.Lock()
			clear(x.pairs)
			x.mu.Unlock()
		}
		i++
		l, h := (i/a.Heads)%a.Layers, i%a.Heads
		x.handle(exploreEvent{Ev: "head", Layer: strconv.Itoa(l), Index: strconv.Itoa(h)})
	}
	x.stopJob()
	x.waitJob()
}

// BenchmarkExploreHeadTiny: a head click on the embedded model, with the
// notebook's filters (Alnum and the corpus list of 00-explore) and without.
func BenchmarkExploreHeadTiny(b *testing.B) {
	m, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	corpus, err := Shared("corpus/pl.txt")
	if err != nil {
		b.Skip(err)
	}
	b.Run("alnum+corpus", func(b *testing.B) {
		benchSelect(b, m, true, ExploreFilters(Alnum(), CorpusTokens(2000, corpus)), ExploreK(20))
	})
	b.Run("all-tokens", func(b *testing.B) { benchSelect(b, m, true, ExploreK(20)) })
}

// BenchmarkExploreHeadMedium: a head click on the GPT-2-medium-shaped
// checkpoint with random weights (flat spectra: the search's worst case),
// every token taking part; the budget is 1.5 s. It runs when the
// checkpoint exists (`lenskit bench` writes it) or LENSKIT_MEDIUM=1 asks
// for it to be written (≈ 1.4 GB).
func BenchmarkExploreHeadMedium(b *testing.B) {
	dir := benchdata.Dir(benchdata.MediumRandom)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		if os.Getenv("LENSKIT_MEDIUM") == "" {
			b.Skipf("no medium checkpoint at %s (set LENSKIT_MEDIUM=1 to write it)", dir)
		}
		if dir, err = benchdata.Ensure(benchdata.MediumRandom, os.Stderr); err != nil {
			b.Fatal(err)
		}
	}
	m, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	benchSelect(b, m, true, ExploreK(20))
}
