// Package forward runs a model on text with GoMLX and returns what a
// researcher inspects: the residual stream before the first block and after
// every attention and MLP sub-layer, every head's attention pattern and
// output, every MLP neuron's activation, and the logits. On top of one run
// it reads the logit lens (every residual through the final norm — its own
// scale per row — and the unembedding) and the direct contribution of every
// head and neuron to one token's logit.
//
// # One graph for every family
//
// The graph is built from a [weights.Model] alone: everything that differs
// between GPT-2, Llama, Mistral, Qwen, Gemma and GPT-NeoX is a field of
// [weights.Arch] (norm kind, plain or gated MLP and its activation,
// grouped-query attention, rotary frequencies per layer, QK-norm, embedding
// scale, attention scale and softcaps, sandwich norms, parallel residual,
// sliding windows), so this package never names a family. Matrices are
// taken in lenskit's layouts (x·W), uploaded once, BF16 ones as BF16 and
// converted inside the graph; the computation runs in float32.
//
// Prompts are padded at the end to a multiple of 16 tokens so that few
// shapes are compiled; a causal model never lets a real token see a pad, so
// padding changes nothing but the work. Graphs are compiled once per batch
// shape and selection of outputs ([Want]) and cached; compile time is
// reported separately by [Model.Stats].
//
// # Backends
//
// The backend is chosen as for the projection engine (package
// internal/gomlxbackend): $GOMLX_BACKEND when set, XLA CUDA when a PJRT CUDA
// plugin and a GPU are present, otherwise GoMLX's pure-Go backend (build
// with GOEXPERIMENT=simd for its vector kernels). Nothing is ever
// downloaded. The CUDA path is built the same way but has not been run on a
// GPU by this package's tests.
//
// # Memory
//
// A run holds what its outputs need and nothing that grows with the model's
// context length: residuals are (1 + 2·layers) × T × d, patterns
// layers × heads × T × T, activations layers × T × d_ff, logits T × vocab,
// the logit lens (1 + 2·layers) × T × vocab. Runs over a corpus ask only for
// the MLP activations of the layers they need and stop after the last of
// them.
//
// Selection (top tokens, ranks) is done in Go: GoMLX's TopK on the Go
// backend is far too slow for vocabulary-sized rows.
//
// # The logit lens on a CPU
//
// Reading every residual row through W_U is most of a lens's work: for a
// 32-token prompt on a GPT-2-medium shape, 49 rows × 32 positions × 1,024
// × 51,200 multiply-adds, and a 321 MB result. On the pure-Go backend
// WithLensProduct hands that one product to lenskit's own CPU engine (the
// graph returns the normalised rows instead of the logits), and ReadLens
// reads the product in the layout it comes in — three passes down the
// vocabulary, one exponential per logit — instead of transposing it.
//
// # Measured
//
// On this project's 2-core AVX-512 machines, shared with other work (load
// 3–4), GOEXPERIMENT=simd: the logit lens of a 32-token prompt, read into
// top-10 tokens and the four measures, takes 100–140 ms on either embedded
// model and 4.4 s on a GPT-2-medium-shaped checkpoint (of which the product
// on the CPU engine ≈ 2.3 s and the readout ≈ 1.5 s); compiling a graph takes
// milliseconds on the Go backend. The forward pass runs 1,500–2,900 tokens/s
// on the embedded models and 73 tokens/s on the medium shape (batches of 8 ×
// 128 tokens, logits copied out). The XLA CUDA path is built from the same
// graph but has not been run on a GPU.
package forward
