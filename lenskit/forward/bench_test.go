package forward

import (
	"os"
	"testing"
	"time"

	"lenskit.dev/internal/benchdata"
	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// benchLens measures the logit lens of a 32-token prompt after the graph is
// compiled (the first run compiles; its time is reported as compile-ms).
func benchLens(b *testing.B, f *Model) {
	ids := randomIDs(21, 32, f.Arch().Vocab)
	t0 := time.Now()
	if _, err := f.Run([][]int{ids}, Want{Lens: true}); err != nil {
		b.Fatal(err)
	}
	first := time.Since(t0)
	_, compile := f.Stats()
	defer func() {
		b.ReportMetric(float64(compile.Milliseconds()), "compile-ms")
		b.ReportMetric(float64(first.Milliseconds()), "first-ms")
	}()
	b.ResetTimer()
	for b.Loop() {
		tr, err := f.Run([][]int{ids}, Want{Lens: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ReadLens(tr[0], 10); err != nil {
			b.Fatal(err)
		}
		tr[0].Release()
	}
}

func BenchmarkLogitLens32(b *testing.B) {
	for _, name := range []string{"tiny-pl-gpt2", "tiny-pl-llama"} {
		b.Run(name, func(b *testing.B) {
			w, f := embeddedModel(b, name)
			benchLens(b, f)
			b.Run("cpu-product", func(b *testing.B) {
				h, err := New(w, "go", WithLensProduct(project.CPU()))
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close()
				benchLens(b, h)
			})
		})
	}
}

// BenchmarkLogitLens32Medium runs on the GPT-2-medium-shaped benchmark
// checkpoint (written once by internal/benchdata, 1.4 GB); skipped unless
// LENSKIT_BENCH_MEDIUM=1.
func BenchmarkLogitLens32Medium(b *testing.B) {
	if os.Getenv("LENSKIT_BENCH_MEDIUM") == "" {
		b.Skip("set LENSKIT_BENCH_MEDIUM=1 (writes a 1.4 GB checkpoint once)")
	}
	dir, err := benchdata.Ensure(benchdata.MediumRandom, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	ck, err := checkpoint.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	w, err := weights.FromCheckpoint(ck)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	for _, c := range []struct {
		name string
		opts []Option
	}{{"graph", nil}, {"cpu-product", []Option{WithLensProduct(project.CPU())}}} {
		b.Run(c.name, func(b *testing.B) {
			f, err := New(w, "go", c.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			benchLens(b, f)
		})
	}
}

// BenchmarkForward measures forward throughput (tokens/s) on a batch of 8
// prompts of 128 tokens, asking only for the logits.
func BenchmarkForward(b *testing.B) {
	for _, name := range []string{"tiny-pl-gpt2", "tiny-pl-llama"} {
		b.Run(name, func(b *testing.B) {
			_, f := embeddedModel(b, name)
			var prompts [][]int
			for i := range 8 {
				prompts = append(prompts, randomIDs(uint64(30+i), 128, f.Arch().Vocab))
			}
			if _, err := f.Run(prompts, Want{Logits: true}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.Run(prompts, Want{Logits: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
