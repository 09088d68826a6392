package gomlxengine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// goEngine returns a fresh pure-Go engine, closed when the test ends.
func goEngine(t testing.TB) *Engine {
	t.Helper()
	eng, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*Engine)
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func randMatrix(r *rand.Rand, rows, cols int, lo, hi float64) weights.Matrix {
	m := weights.NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return m
}

// exactMatMul returns x·w in float64 and, per entry, Σ|x_ik·w_kj|, the
// scale of any float32 rounding error.
func exactMatMul(x, w weights.Matrix) (val, scale []float64) {
	val = make([]float64, x.Rows*w.Cols)
	scale = make([]float64, x.Rows*w.Cols)
	for i := range x.Rows {
		for k := range x.Cols {
			a := float64(x.At(i, k))
			for j := range w.Cols {
				p := a * float64(w.At(k, j))
				val[i*w.Cols+j] += p
				scale[i*w.Cols+j] += math.Abs(p)
			}
		}
	}
	return val, scale
}

// closeTo reports whether got is within float32 dot-product rounding of
// want: |got−want| ≤ (d+2)·2⁻²³·Σ|terms|.
func closeTo(got float32, want, scale float64, d int) bool {
	return math.Abs(float64(got)-want) <= float64(d+2)*0x1p-23*scale+1e-30
}

func TestMatMulMatchesCPU(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, d, m int }{
		{1, 1, 1},
		{1, 64, 2},     // one row, two columns (the CPU engine's GEMV path)
		{7, 5, 2},      // two columns, rows not a multiple of the CPU tile
		{97, 33, 65},   // nothing a multiple of a tile
		{13, 256, 1},   // a neuron's single column
		{2, 3, 517},    // wide
		{1000, 64, 17}, // tall
		{600, 512, 64}, // x large enough to stay on the device
		{5, 0, 3},      // empty inner dimension: zeros
		{0, 4, 3},      // no rows
	} {
		x := randMatrix(r, tc.n, tc.d, -2, 2)
		w := randMatrix(r, tc.d, tc.m, -2, 2)
		got, err := e.MatMul(x, w)
		if err != nil {
			t.Fatalf("%d×%d·%d×%d: %v", tc.n, tc.d, tc.d, tc.m, err)
		}
		want, err := project.CPU().MatMul(x, w)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rows != tc.n || got.Cols != tc.m || len(got.Data) != tc.n*tc.m {
			t.Fatalf("%d×%d·%d×%d: got %v with %d values", tc.n, tc.d, tc.d, tc.m, got, len(got.Data))
		}
		exact, scale := exactMatMul(x, w)
		for i := range exact {
			if !closeTo(got.Data[i], exact[i], scale[i], tc.d) || !closeTo(want.Data[i], exact[i], scale[i], tc.d) {
				t.Fatalf("%d×%d·%d×%d: entry %d: gomlx %g, cpu %g, exact %g", tc.n, tc.d, tc.d, tc.m, i, got.Data[i], want.Data[i], exact[i])
			}
		}
	}
}

// TestMatMulKeepsOperandOnDevice checks that a large x is uploaded once and
// reused, and that refilling the same slice is noticed.
func TestMatMulKeepsOperandOnDevice(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(3, 4))
	x := randMatrix(r, 1024, 256, -1, 1) // 256 Ki values: cached
	for range 3 {
		w := randMatrix(r, 256, 8, -1, 1)
		got, err := e.MatMul(x, w)
		if err != nil {
			t.Fatal(err)
		}
		exact, scale := exactMatMul(x, w)
		for i := range exact {
			if !closeTo(got.Data[i], exact[i], scale[i], 256) {
				t.Fatalf("entry %d: got %g, want %g", i, got.Data[i], exact[i])
			}
		}
	}
	if len(e.bufs) != 1 || len(e.graphs) != 1 {
		t.Fatalf("after three products with one E: %d cached buffers, %d graphs; want 1 and 1", len(e.bufs), len(e.graphs))
	}
	// One-off operands of the same size (rows gathered for a filter) are
	// sent, not kept.
	for range 3 {
		if _, err := e.MatMul(randMatrix(r, 1024, 256, -1, 1), randMatrix(r, 256, 8, -1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.bufs) != 1 {
		t.Fatalf("after three one-off operands: %d cached buffers, want 1", len(e.bufs))
	}
	for i := range x.Data {
		x.Data[i] = -2 * x.Data[i]
	}
	w := randMatrix(r, 256, 8, -1, 1)
	got, err := e.MatMul(x, w)
	if err != nil {
		t.Fatal(err)
	}
	exact, scale := exactMatMul(x, w)
	for i := range exact {
		if !closeTo(got.Data[i], exact[i], scale[i], 256) {
			t.Fatalf("after refilling x: entry %d: got %g, want %g (stale device copy?)", i, got.Data[i], exact[i])
		}
	}
	if len(e.bufs) != 1 {
		t.Fatalf("after refilling x: %d cached buffers, want 1", len(e.bufs))
	}
}

// exactChunkMax is the reference: float64 products, max per chunk.
func exactChunkMax(a, b weights.Matrix, chunk int) (val, scale []float64) {
	nc := (b.Rows + chunk - 1) / chunk
	val = make([]float64, a.Rows*nc)
	scale = make([]float64, a.Rows*nc)
	for i := range a.Rows {
		for c := range nc {
			best, sc := math.Inf(-1), 0.0
			for j := c * chunk; j < min((c+1)*chunk, b.Rows); j++ {
				var s, abs float64
				for k := range a.Cols {
					p := float64(a.At(i, k)) * float64(b.At(j, k))
					s += p
					abs += math.Abs(p)
				}
				best = max(best, s)
				sc = max(sc, abs)
			}
			val[i*nc+c], scale[i*nc+c] = best, sc
		}
	}
	return val, scale
}

func TestChunkMaxMatchesCPU(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name         string
		rows, n, h   int
		chunk        int
		aLo, bLo, hi float64 // entries of a in [aLo, hi), of b in [bLo, hi)
		tileBytes    int
	}{
		{"exact multiple", 33, 512, 16, 256, -1, -1, 1, 0},
		{"padded last chunk", 40, 300, 8, 64, -1, -1, 1, 0},
		{"chunk larger than b", 5, 37, 4, 256, -1, -1, 1, 0},
		{"chunk of one", 9, 11, 3, 1, -1, -1, 1, 0},
		{"one row", 1, 1000, 64, 256, -1, -1, 1, 0},
		// Every product negative: zero padding would win every padded chunk.
		{"negative products, padded", 20, 130, 8, 64, 0.1, -1, -0.1, 0},
		{"negative products, tiled", 200, 150, 8, 32, 0.1, -1, -0.1, 4 * 160 * 64},
		// Row tiles of 64 with a padded partial tile (200 = 3·64 + 8).
		{"row tiles", 200, 500, 16, 128, -1, -1, 1, 4 * 512 * 64},
		{"large b kept on device", 70, 5000, 64, 256, -1, -1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tileBytes != 0 {
				e.tileBytes = tc.tileBytes
				defer func() { e.tileBytes = 64 << 20 }()
			}
			a := randMatrix(r, tc.rows, tc.h, tc.aLo, tc.hi)
			if tc.aLo > 0 { // a positive, b negative
				a = randMatrix(r, tc.rows, tc.h, tc.aLo, 1)
			}
			b := randMatrix(r, tc.n, tc.h, tc.bLo, tc.hi)
			got, err := e.ChunkMax(a, b, tc.chunk)
			if err != nil {
				t.Fatal(err)
			}
			want, err := project.CPU().ChunkMax(a, b, tc.chunk)
			if err != nil {
				t.Fatal(err)
			}
			exact, scale := exactChunkMax(a, b, tc.chunk)
			if len(got) != len(exact) || len(want) != len(exact) {
				t.Fatalf("got %d maxima, cpu %d, want %d", len(got), len(want), len(exact))
			}
			for i := range exact {
				if !closeTo(got[i], exact[i], scale[i], tc.h) || !closeTo(want[i], exact[i], scale[i], tc.h) {
					t.Fatalf("row %d chunk %d: gomlx %g, cpu %g, exact %g", i/(len(exact)/tc.rows), i%(len(exact)/tc.rows), got[i], want[i], exact[i])
				}
			}
		})
	}
}

// TestHeadViewTopMatchesCPU runs head-view searches through the chunked
// search on the Go backend and through the CPU engine's screening search:
// both are exact, so pairs, order and scores must be identical.
func TestHeadViewTopMatchesCPU(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 12 {
		v := 300 + r.IntN(1500)
		h := []int{8, 16, 32, 64}[trial%4]
		a, b := randMatrix(r, v, h, -1, 1), randMatrix(r, v, h, -1, 1)
		switch trial % 3 {
		case 1: // decaying spectrum, as trained heads have
			for _, m := range []weights.Matrix{a, b} {
				for i := range v {
					for k := range h {
						m.Data[i*h+k] *= float32(math.Exp(-0.4 * float64(k)))
					}
				}
			}
		case 2: // small integers: many tied scores, ordered by token ids
			for _, m := range []weights.Matrix{a, b} {
				for i := range m.Data {
					m.Data[i] = float32(r.IntN(5) - 2)
				}
			}
		}
		head := project.HeadID{Layer: trial % 4, Head: trial}
		onGo, err := project.NewHeadView(head, project.OV, a, b, e)
		if err != nil {
			t.Fatal(err)
		}
		onCPU, err := project.NewHeadView(head, project.OV, a, b, project.CPU())
		if err != nil {
			t.Fatal(err)
		}
		opt := project.PairOptions{K: []int{1, 10, 50, 300}[r.IntN(4)], Bottom: trial%2 == 1}
		if trial%4 >= 2 {
			opt.Sources, opt.Targets = subset(r, v, 0.5), subset(r, v, 0.7)
			opt.Exclude = func(s, t int) bool { return s == t || (s+t)%7 == 0 }
		}
		got, err := onGo.Top(opt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := onCPU.Top(opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Pairs) != opt.K {
			t.Fatalf("trial %d: cpu returned %d pairs, want %d", trial, len(want.Pairs), opt.K)
		}
		if !slices.Equal(got.Pairs, want.Pairs) {
			t.Errorf("trial %d (v=%d h=%d k=%d bottom=%v filtered=%v): pairs differ\n gomlx %v\n cpu   %v",
				trial, v, h, opt.K, opt.Bottom, opt.Sources != nil, got.Pairs[:min(5, len(got.Pairs))], want.Pairs[:min(5, len(want.Pairs))])
		}
		if got.Stats.Engine != e.Name() {
			t.Errorf("trial %d: stats name engine %q, want %q", trial, got.Stats.Engine, e.Name())
		}
	}
}

func subset(r *rand.Rand, n int, frac float64) []int {
	var s []int
	for i := range n {
		if r.Float64() < frac {
			s = append(s, i)
		}
	}
	return s
}

func TestBadInput(t *testing.T) {
	e := goEngine(t)
	m := func(rows, cols, n int) weights.Matrix {
		return weights.Matrix{Rows: rows, Cols: cols, Data: make([]float32, n)}
	}
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"MatMul inner mismatch", func() error { _, err := e.MatMul(m(2, 3, 6), m(4, 2, 8)); return err }},
		{"MatMul short data", func() error { _, err := e.MatMul(m(2, 3, 5), m(3, 2, 6)); return err }},
		{"MatMul negative shape", func() error { _, err := e.MatMul(m(-2, 3, 0), m(3, 2, 6)); return err }},
		{"ChunkMax width mismatch", func() error { _, err := e.ChunkMax(m(2, 3, 6), m(4, 2, 8), 2); return err }},
		{"ChunkMax zero chunk", func() error { _, err := e.ChunkMax(m(2, 3, 6), m(4, 3, 12), 0); return err }},
		{"ChunkMax long data", func() error { _, err := e.ChunkMax(m(2, 3, 7), m(4, 3, 12), 2); return err }},
	} {
		if err := tc.run(); err == nil {
			t.Errorf("%s: no error", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.MatMul(m(2, 3, 6), m(3, 2, 6)); err == nil {
		t.Error("MatMul on a closed engine: no error")
	}
}

// TestGoMLXPanicsBecomeErrors builds a graph GoMLX rejects by panicking (a
// product of mismatched shapes) and checks that the engine returns an
// error and keeps working.
func TestGoMLXPanicsBecomeErrors(t *testing.T) {
	e := goEngine(t)
	bad := func(g *graph.Graph, k graphKey) *graph.Node {
		x := graph.Parameter(g, "x", f32(k.r, k.h))
		w := graph.Parameter(g, "w", f32(k.h+1, k.n))
		return graph.Dot(x, w).Product()
	}
	err := e.locked(func() error {
		_, err := e.graph(graphKey{op: opMatMul, r: 2, h: 3, n: 4}, bad)
		return err
	})
	if err == nil {
		t.Fatal("a graph of mismatched shapes compiled")
	}
	t.Log(err)
	if len(e.graphs) != 0 {
		t.Fatalf("a failed graph was cached")
	}
	x := weights.Matrix{Rows: 2, Cols: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	w := weights.Matrix{Rows: 3, Cols: 4, Data: []float32{1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1}}
	got, err := e.MatMul(x, w)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 2, 3, 6, 4, 5, 6, 15}; !slices.Equal(got.Data, want) {
		t.Fatalf("after a failed graph: got %v, want %v", got.Data, want)
	}
	if err := catch(func() error { panic("boom") }); err == nil || err.Error() != "panic: boom" {
		t.Fatalf("catch(panic) = %v", err)
	}
}

// TestConcurrentUse shares one engine between goroutines, as a Space does
// during a whole-model scan.
func TestConcurrentUse(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(9, 10))
	E := randMatrix(r, 2048, 128, -1, 1) // kept on the device
	type job struct {
		w    weights.Matrix
		a, b weights.Matrix
	}
	jobs := make([]job, 8)
	for i := range jobs {
		jobs[i] = job{randMatrix(r, 128, 16, -1, 1), randMatrix(r, 50+i, 16, -1, 1), randMatrix(r, 700, 16, -1, 1)}
	}
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		go func() {
			errs <- func() error {
				got, err := e.MatMul(E, j.w)
				if err != nil {
					return err
				}
				exact, scale := exactMatMul(E, j.w)
				for i := range exact {
					if !closeTo(got.Data[i], exact[i], scale[i], 128) {
						return fmt.Errorf("MatMul entry %d: got %g, want %g", i, got.Data[i], exact[i])
					}
				}
				mx, err := e.ChunkMax(j.a, j.b, 64)
				if err != nil {
					return err
				}
				cm, cs := exactChunkMax(j.a, j.b, 64)
				for i := range cm {
					if !closeTo(mx[i], cm[i], cs[i], 16) {
						return fmt.Errorf("ChunkMax entry %d: got %g, want %g", i, mx[i], cm[i])
					}
				}
				return nil
			}()
		}()
	}
	for range jobs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestChunkMaxKeepsColumnsOnDevice checks the interleaved copy of a large b:
// reused across row blocks, kept apart per chunk size, and refreshed when
// the slice is refilled.
func TestChunkMaxKeepsColumnsOnDevice(t *testing.T) {
	e := goEngine(t)
	r := rand.New(rand.NewPCG(11, 12))
	b := randMatrix(r, 4100, 64, -1, 1) // 262,400 values: kept
	check := func(when string, a weights.Matrix, chunk int) {
		t.Helper()
		got, err := e.ChunkMax(a, b, chunk)
		if err != nil {
			t.Fatal(err)
		}
		exact, scale := exactChunkMax(a, b, chunk)
		for i := range exact {
			if !closeTo(got[i], exact[i], scale[i], 64) {
				t.Fatalf("%s: entry %d: got %g, want %g", when, i, got[i], exact[i])
			}
		}
	}
	for blk := range 3 {
		check(fmt.Sprintf("row block %d", blk), randMatrix(r, 100, 64, -1, 1), 256)
	}
	if len(e.bufs) != 1 {
		t.Fatalf("after three row blocks: %d cached buffers, want 1", len(e.bufs))
	}
	check("chunk 100", randMatrix(r, 30, 64, -1, 1), 100)
	if len(e.bufs) != 1 {
		t.Fatalf("after one use with a second chunk size: %d cached buffers, want 1", len(e.bufs))
	}
	check("chunk 100 again", randMatrix(r, 30, 64, -1, 1), 100)
	if len(e.bufs) != 2 {
		t.Fatalf("after a second chunk size: %d cached buffers, want 2", len(e.bufs))
	}
	for i := range b.Data {
		b.Data[i] = 1 - b.Data[i]
	}
	check("after refilling b", randMatrix(r, 30, 64, -1, 1), 256)
}

func TestBackendDescription(t *testing.T) {
	e := goEngine(t)
	d := e.Backend()
	if d == "" {
		t.Fatal("empty backend description")
	}
	if warned := strings.Contains(d, "GOEXPERIMENT=simd"); warned == simdBuild {
		t.Errorf("description %q: SIMD warning shown = %v, but built with simd = %v", d, warned, simdBuild)
	}
	t.Log(d)
}
