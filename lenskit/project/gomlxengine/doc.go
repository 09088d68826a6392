// Package gomlxengine runs lenskit's dense projection work on a GoMLX
// backend: the pure-Go backend on any CPU, or XLA with a PJRT CUDA plugin on
// an NVIDIA GPU.
//
// An Engine implements [project.Engine]. It only proposes: the searches in
// package project rescore every candidate exactly on the host, so the
// backend's summation order (or a GPU's rounding) changes speed, never which
// pairs a head view returns.
//
// # Choosing a backend
//
// The backend is always named explicitly, and nothing is ever downloaded.
// GoMLX's own compute.New() tries XLA first and, when no PJRT plugin is
// installed, downloads one from GitHub (and panics offline); this package
// never calls it, resolves XLA plugins itself to absolute paths of files that
// are already installed, and turns go-xla's auto-install off when it is
// loaded. [New] takes "go" or "xla:cuda"; [Default] picks XLA CUDA when
// [CUDAPlugin] finds a plugin and a GPU, and lenskit's own CPU engine
// otherwise.
//
// On a CPU the pure-Go backend needs GOEXPERIMENT=simd when the program is
// compiled for its AVX2/AVX-512 matrix kernels (about 5 GFLOP/s without,
// 45–100 with, for E·W_V at GPT-2-medium shapes on this project's 2-core
// AVX-512 machines); even then [project.CPU] is faster (90–155 GFLOP/s
// there, and its own screening search for heads), which is why [Default]
// never picks "go". Engine.Backend says when a program was built without
// the flag.
//
// The XLA backend loads PJRT plugins through cgo. Programs built with
// CGO_ENABLED=0 still get the pure-Go backend; XLA then reports itself
// unavailable.
//
// # What is cached
//
// A graph is compiled once per operation and shape and reused: a model's
// head factors E·W are all V×d by d×d_head. Large left operands of MatMul
// (E) and the column side of ChunkMax (reused for every row block of one
// search) stay on the device from their second use on, keyed by the address
// and size of their data, so E crosses to a GPU once per model, not once
// per head, while one-off operands (rows gathered for a filter) are never
// kept. Both caches are bounded (32 graphs; 4 buffers within 1 GiB on a
// device, 512 MiB on the Go backend, whose buffers are a second host copy).
// Operands are weights and must not be modified while an Engine may still
// hold them (as [weights.Matrix] requires anyway); a sampled fingerprint
// catches a buffer refilled in place, not every modification.
//
// # BF16 operands
//
// MatMul takes x held as bfloat16 bits (the E and W_U of a BF16 checkpoint,
// aliasing the mapped file) without a float32 copy on the host: x goes to
// the backend as BFloat16 in tiles of rows (each kept on the device like
// any large operand), and when every value of w is a bfloat16 as well the
// graph is one BF16 × BF16 dot with float32 accumulation and output —
// exact products, the BF16 matrix units of a GPU — else the tile is
// converted to float32 on the device.
//
// # Errors
//
// GoMLX reports many errors by panicking; every exported method recovers
// them and returns an error naming the operation and shapes.
package gomlxengine
