package gomlxengine_test

import (
	"fmt"
	"log"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/project/gomlxengine"
	"lenskit.dev/lenskit/weights"
)

// A head view on the pure-Go GoMLX backend: the engine proposes chunks,
// the search rescores them exactly, so the result is the CPU engine's.
func ExampleNew() {
	eng, err := gomlxengine.New("go")
	if err != nil {
		log.Fatal(err)
	}
	defer eng.(*gomlxengine.Engine).Close()

	// E (5 tokens × d=2) and one head's W_V, W_Oᵀ (d × d_head=2).
	E := weights.Matrix{Rows: 5, Cols: 2, Data: []float32{1, 0, 0, 1, 1, 1, -1, 0, 0, -1}}
	WV := weights.Matrix{Rows: 2, Cols: 2, Data: []float32{2, 0, 0, 1}}
	WOT := weights.Matrix{Rows: 2, Cols: 2, Data: []float32{0, 1, 1, 0}}
	a, err := eng.MatMul(E, WV) // E·W_V
	if err != nil {
		log.Fatal(err)
	}
	b, err := eng.MatMul(E, WOT) // E·W_Oᵀ
	if err != nil {
		log.Fatal(err)
	}
	ov, err := project.NewHeadView(project.HeadID{Layer: 0, Head: 1}, project.OV, a, b, eng)
	if err != nil {
		log.Fatal(err)
	}
	top, err := ov.Top(project.PairOptions{K: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(eng.Name())
	for _, p := range top.Pairs {
		fmt.Printf("%d → %d  %g\n", p.Source, p.Target, p.Score)
	}
	// Output:
	// gomlx:go
	// 2 → 2  3
	// 0 → 1  2
	// 0 → 2  2
}

// Default picks XLA CUDA on a machine with a GPU and its PJRT plugin, and
// lenskit's CPU engine otherwise; it never downloads anything.
func ExampleDefault() {
	eng, err := gomlxengine.Default()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("projections run on", eng.Name())
}
