// Package benchdata writes, once, the GPT-2-medium-shaped checkpoints that
// lenskit's benchmarks run on, and finds them again on later runs.
//
// Two kinds exist: random weights (the N(0, 0.02²) of a fresh GPT-2: every
// head view has a flat spectrum, the worst case for pruning) and the same
// with every head's W_Q, W_K, W_V columns and W_O rows scaled by e^(-i/8)
// along the head dimension, so that W_OV and W_QK have singular values
// decaying like e^(-i/4), as trained heads do. Both carry a synthetic
// 51,200-token byte-level BPE vocabulary.
package benchdata

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"lenskit.dev/lenskit/checkpoint/synth"
)

// Kind names a benchmark checkpoint.
type Kind string

const (
	MediumRandom   Kind = "medium-random"
	MediumDecaying Kind = "medium-decaying"
)

// Options returns the synth options of a kind.
func Options(k Kind) (synth.Options, error) {
	o := synth.Options{Shape: synth.Medium, Seed: 2022, Tokenizer: true}
	switch k {
	case MediumRandom:
	case MediumDecaying:
		o.Fill = decaying(synth.Medium)
	default:
		return o, fmt.Errorf("benchdata: unknown kind %q", k)
	}
	return o, nil
}

// decaying scales each head's per-dimension weights by e^(-i/8).
func decaying(s synth.Shape) func(name string, shape []int, dst []float32) {
	dh := s.DModel / s.Heads
	scale := make([]float32, dh)
	for i := range scale {
		scale[i] = float32(math.Exp(-float64(i) / 8))
	}
	return func(name string, shape []int, dst []float32) {
		switch {
		case strings.HasSuffix(name, "attn.c_attn.weight"): // d × 3d, columns [Q|K|V], head-major
			cols := shape[1]
			for r := range shape[0] {
				row := dst[r*cols : (r+1)*cols]
				for c := range row {
					row[c] *= scale[c%dh]
				}
			}
		case strings.HasSuffix(name, "attn.c_proj.weight"): // d × d, rows = head dims
			cols := shape[1]
			for r := range shape[0] {
				f := scale[r%dh]
				for c := range cols {
					dst[r*cols+c] *= f
				}
			}
		}
	}
}

// Dir is where a kind is kept: $LENSKIT_BENCH_DIR/<kind>, or
// <os.TempDir()>/lenskit-bench/<kind>.
func Dir(k Kind) string {
	root := os.Getenv("LENSKIT_BENCH_DIR")
	if root == "" {
		root = filepath.Join(os.TempDir(), "lenskit-bench")
	}
	return filepath.Join(root, string(k))
}

// Ensure returns the directory of a kind's checkpoint, writing it first
// (about 1.4 GB) unless a complete copy is already there. Progress lines
// go to log when it is not nil.
func Ensure(k Kind, log io.Writer) (string, error) {
	o, err := Options(k)
	if err != nil {
		return "", err
	}
	dir := Dir(k)
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return dir, nil
	}
	if log != nil {
		fmt.Fprintf(log, "writing the %s benchmark checkpoint (≈1.4 GB) to %s …\n", k, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := synth.Write(dir, o); err != nil {
		return "", err
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}
