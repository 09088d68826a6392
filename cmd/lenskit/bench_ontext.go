package main

import (
	"fmt"
	"os"
	"time"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/forward"
	"lenskit.dev/lenskit/project/gomlxengine"
)

// lensText is long enough for a 32-token prompt on either tokenizer.
const lensText = "Aby wstawić tabelę, wybierz polecenie Tabela - Wstaw - Tabela i określ liczbę kolumn oraz wierszy. Kliknij przycisk OK, aby zamknąć okno dialogowe."

// onText adds the rows of issue 10 (the model run on text with GoMLX): the
// logit lens of a 32-token prompt after its graph is compiled (compile time
// separately) on both embedded models and on the GPT-2-medium-shaped
// checkpoint medium, forward throughput, and the top contexts of one
// layer's neurons over 200,000 tokens of pl.txt. A failure becomes a row,
// not the end of the table.
func (b *bench) onText(medium *lenskit.Model) {
	fail := func(what string, err error) { b.add(what, "failed", "", err.Error()) }
	backend := "go"
	if gomlxengine.CUDAPlugin() == "" {
		b.add("forward pass on XLA CUDA", "untested", "", "no PJRT CUDA plugin and GPU here; the CUDA path is built but has not been run")
	} else {
		backend = "xla:cuda"
	}
	for _, c := range []struct {
		name string
		m    *lenskit.Model
	}{{"tiny-pl-gpt2", nil}, {"tiny-pl-llama", nil}, {"GPT-2-medium-shaped", medium}} {
		m := c.m
		if m == nil {
			var err error
			if m, err = lenskit.Load(c.name); err != nil {
				fail("logit lens, "+c.name, err)
				continue
			}
			defer m.Close()
		}
		target := "≤ 300 ms"
		if c.m != nil {
			target = "≤ 3 s"
		}
		if err := b.lens(m, c.name, backend, target); err != nil {
			fail("logit lens, "+c.name, err)
		}
	}
	if err := b.contexts(); err != nil {
		fail("top contexts", err)
	}
}

// lens measures one model's logit lens and forward throughput.
func (b *bench) lens(m *lenskit.Model, name, backend, target string) error {
	t0 := time.Now()
	f, err := forward.New(m.Weights, backend, forward.WithLensProduct(m.Space.Engine))
	if err != nil {
		return err
	}
	defer f.Close()
	upload := time.Since(t0)
	p, err := m.Tokenize(lensText + " " + lensText)
	if err != nil {
		return err
	}
	ids := p.IDs[:32]
	run := func() error {
		tr, err := f.Run([][]int{ids}, forward.Want{Lens: true})
		if err != nil {
			return err
		}
		_, err = forward.ReadLens(tr[0], 10)
		tr[0].Release()
		return err
	}
	t0 = time.Now()
	if err := run(); err != nil {
		return err
	}
	first := time.Since(t0)
	_, compile := f.Stats()
	d, err := b.median(run)
	if err != nil {
		return err
	}
	a := m.Arch()
	b.add(fmt.Sprintf("logit lens, 32 tokens, %s [%s]", name, backend), ms(d), target,
		fmt.Sprintf("median after compiling; %d rows × 32 × %d vocabulary; graph compiled in %s (first run %s); weights uploaded in %s",
			1+2*a.Layers, a.Vocab, ms(compile), ms(first), ms(upload)))
	// Throughput: 8 prompts of 128 tokens (fewer for a short context), logits only.
	n := min(128, a.Positions)
	var batch [][]int
	for i := range 8 {
		row := make([]int, n)
		for j := range row {
			row[j] = p.IDs[(i+j)%len(p.IDs)]
		}
		batch = append(batch, row)
	}
	fwd := func() error { _, err := f.Run(batch, forward.Want{Logits: true}); return err }
	if err := fwd(); err != nil {
		return err
	}
	d, err = b.median(fwd)
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("forward throughput, %s [%s]", name, backend), fmt.Sprintf("%.0f tokens/s", float64(8*n)/d.Seconds()), "",
		fmt.Sprintf("batch of 8 × %d tokens, logits to the host, median %s", n, ms(d)))
	return nil
}

// contexts measures the scan of layer 3 of tiny-pl-gpt2 (every block
// runs) over 200,000 tokens of pl.txt, with an empty cache.
func (b *bench) contexts() error {
	dir, err := os.MkdirTemp("", "lenskit-bench-cache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	old, had := os.LookupEnv("XDG_CACHE_HOME")
	os.Setenv("XDG_CACHE_HOME", dir)
	defer func() {
		if had {
			os.Setenv("XDG_CACHE_HOME", old)
		} else {
			os.Unsetenv("XDG_CACHE_HOME")
		}
	}()
	m, err := lenskit.Load("")
	if err != nil {
		return err
	}
	defer m.Close()
	q := m.TopContexts(3).Sample(lenskit.Sample{Seed: 1, Tokens: 200_000, Window: 64})
	t0 := time.Now()
	r := q.Top(10)
	if r.Err() != nil {
		return r.Err()
	}
	el := time.Since(t0)
	b.add("top contexts, all 1024 neurons of layer 3, tiny-pl-gpt2", el.Round(100*time.Millisecond).String(), "≤ 3 min",
		fmt.Sprintf("%d tokens of pl.txt in windows of 64, batched by length (≤ 1,024 positions a batch), %.0f tokens/s; cached afterwards", r.Tokens, float64(r.Tokens)/el.Seconds()))
	t0 = time.Now()
	if r := q.Top(10); r.Err() != nil || !r.Cached {
		return fmt.Errorf("second scan not read from the cache (%v)", r.Err())
	}
	b.add("top contexts, the same layer again", ms(time.Since(t0)), "", "read from the on-disk cache")
	return nil
}
