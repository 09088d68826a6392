package gomlxengine

import (
	"fmt"

	"lenskit.dev/lenskit/internal/gomlxbackend"
	"lenskit.dev/lenskit/project"
)

// New returns an engine on the named GoMLX backend:
//
//   - "go": GoMLX's pure-Go backend. Build with GOEXPERIMENT=simd for its
//     AVX2/AVX-512 matrix kernels. Options after a colon go to the backend
//     ("go:parallelism=2").
//   - "xla:cuda": XLA on an NVIDIA GPU through the PJRT CUDA plugin that
//     [CUDAPlugin] finds; options after a comma go to go-xla
//     ("xla:cuda,allocator=cuda_async").
//   - "xla:NAME" or "xla:/abs/path/to/pjrt_c_api_NAME_plugin.so": another
//     PJRT plugin that is already installed (for example "xla:cpu").
//
// Nothing is ever downloaded: a plugin that is not installed is an error.
// TF32 is turned off for XLA, because MatMul computes the head factors that
// every exact score is later computed from; pass ",tf32=true" to override.
// The backend is created by lenskit's shared backend chooser (the forward
// pass uses the same one).
func New(backend string) (project.Engine, error) {
	b, isGo, err := gomlxbackend.New(backend)
	if err != nil {
		return nil, err
	}
	return newEngine(b, backend, isGo), nil
}

// ErrNoPlugin is returned (wrapped) when a PJRT plugin is not installed.
var ErrNoPlugin = gomlxbackend.ErrNoPlugin

// CUDAPlugin reports the absolute path of an installed PJRT CUDA plugin, or
// "" when there is none or no NVIDIA GPU to run it on. It searches where
// go-xla and GoMLX search (see New), loading each candidate to check it is
// a PJRT plugin, and never downloads.
func CUDAPlugin() string { return gomlxbackend.CUDAPlugin() }

// Default returns the engine lenskit should use on this machine:
//
//   - $GOMLX_BACKEND, when set and not empty, names the backend as for New
//     ("go", "xla:cuda", …); a backend that would need a download is an
//     error, not a download.
//   - Otherwise XLA CUDA when CUDAPlugin finds a plugin and creating the
//     backend works;
//   - otherwise [project.CPU], lenskit's own AVX-512 engine, which beats the
//     pure-Go GoMLX backend on CPUs.
func Default() (project.Engine, error) {
	cfg, explicit := gomlxbackend.Choose("")
	if explicit {
		eng, err := New(cfg)
		if err != nil {
			return nil, fmt.Errorf("gomlxengine: $%s=%q: %w", gomlxbackend.EnvVar, cfg, err)
		}
		return eng, nil
	}
	if cfg != "" {
		if eng, err := New(cfg); err == nil {
			return eng, nil
		}
	}
	return project.CPU(), nil
}

// simdBuild reports whether GOEXPERIMENT=simd was set at build time, which
// the Go backend's AVX2/AVX-512 matrix kernels need.
const simdBuild = gomlxbackend.SIMD

// catch runs f and turns a panic (GoMLX's way of reporting many errors)
// into an error.
func catch(f func() error) error { return gomlxbackend.Catch(f) }
