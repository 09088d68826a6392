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
	// Llama 3 8B's shape (vocabulary 128,256, d 4,096, 32 query and 8 KV
	// heads of 128, d_ff 14,336, BF16, untied), two layers: the
	// benchmark of issue 8 for today's families (≈ 3 GB each).
	Llama8BRandom   Kind = "llama8b-random"
	Llama8BDecaying Kind = "llama8b-decaying"
)

// Llama8B returns the synth options of a Llama-3-8B-shaped kind.
func Llama8B(k Kind) (synth.FamilyOptions, error) {
	o := synth.FamilyOptions{ModelType: "llama", Layers: 2, Heads: 32, KVHeads: 8, DModel: 4096, DHead: 128, DFF: 14336,
		Vocab: 128256, Positions: 8192, DType: "BF16", Shards: 2, Seed: 2024, Tokenizer: true, SkipRaw: true,
		Config: map[string]any{"rope_theta": 500000.0, "rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0,
			"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}}
	switch k {
	case Llama8BRandom:
	case Llama8BDecaying:
		o.Fill = decayingHF(o.DHead)
	default:
		return o, fmt.Errorf("benchdata: %q is not a Llama-3-8B kind", k)
	}
	return o, nil
}

// decayingHF scales each head's per-dimension weights by e^(-i/8) in
// Hugging Face's nn.Linear layout: rows of q/k/v_proj ([heads·d_head, d])
// and columns of o_proj ([d, heads·d_head]), as decaying does for GPT-2.
func decayingHF(dh int) func(name string, shape []int, dst []float32) {
	scale := make([]float32, dh)
	for i := range scale {
		scale[i] = float32(math.Exp(-float64(i) / 8))
	}
	return func(name string, shape []int, dst []float32) {
		switch {
		case strings.HasSuffix(name, "q_proj.weight"), strings.HasSuffix(name, "k_proj.weight"), strings.HasSuffix(name, "v_proj.weight"):
			cols := shape[1]
			for r := range shape[0] {
				f := scale[r%dh]
				for c := range cols {
					dst[r*cols+c] *= f
				}
			}
		case strings.HasSuffix(name, "o_proj.weight"):
			cols := shape[1]
			for r := range shape[0] {
				row := dst[r*cols : (r+1)*cols]
				for c := range row {
					row[c] *= scale[c%dh]
				}
			}
		}
	}
}

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
	write := func(dir string) error {
		if lo, err := Llama8B(k); err == nil {
			_, err := synth.WriteFamily(dir, lo)
			return err
		}
		o, err := Options(k)
		if err != nil {
			return err
		}
		return synth.Write(dir, o)
	}
	dir := Dir(k)
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return dir, nil
	}
	if log != nil {
		fmt.Fprintf(log, "writing the %s benchmark checkpoint (1.4–3 GB) to %s …\n", k, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := write(dir); err != nil {
		return "", err
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}
