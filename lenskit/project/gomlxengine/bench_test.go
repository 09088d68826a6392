package gomlxengine

import (
	"math/rand/v2"
	"testing"

	"lenskit.dev/lenskit/project"
)

// GPT-2 medium shapes: vocabulary 51,200, d = 1024, d_head = 64.
const (
	benchVocab = 51200
	benchD     = 1024
	benchHead  = 64
)

// BenchmarkMatMul is one head factor, E (51200×1024) · W (1024×64).
// "cached" is the steady state of a model scan (E already on the device);
// "upload" sends E every time.
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randMatrix(r, benchVocab, benchD, -1, 1)
	w := randMatrix(r, benchD, benchHead, -1, 1)
	flops := 2.0 * benchVocab * benchD * benchHead
	run := func(b *testing.B, eng project.Engine, before func()) {
		for range 2 { // compile, and keep x from its second use, outside the timing
			if _, err := eng.MatMul(x, w); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if before != nil {
				before()
			}
			if _, err := eng.MatMul(x, w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	e := goEngine(b)
	b.Run("gomlx-go/cached", func(b *testing.B) { run(b, e, nil) })
	b.Run("gomlx-go/upload", func(b *testing.B) {
		run(b, e, func() {
			e.mu.Lock()
			for _, c := range e.bufs {
				_ = c.buf.Finalize()
			}
			e.bufs = nil
			e.mu.Unlock()
		})
	})
	b.Run("cpu", func(b *testing.B) { run(b, project.CPU(), nil) })
}

// BenchmarkChunkMax is one row block of the chunked head search: 4096
// source rows against all 51,200 target rows, d_head = 64, chunks of 256.
func BenchmarkChunkMax(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	a := randMatrix(r, 4096, benchHead, -1, 1)
	bm := randMatrix(r, benchVocab, benchHead, -1, 1)
	flops := 2.0 * 4096 * benchVocab * benchHead
	for _, name := range []string{"gomlx-go", "cpu"} {
		b.Run(name, func(b *testing.B) {
			eng := project.CPU()
			if name == "gomlx-go" {
				eng = goEngine(b)
			}
			if _, err := eng.ChunkMax(a, bm, 256); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := eng.ChunkMax(a, bm, 256); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
