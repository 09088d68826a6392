package lenskit

import (
	"fmt"
	"os"
	"strings"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/project/gomlxengine"
)

// EngineEnv names the environment variable that chooses the engine of
// models loaded without WithEngine:
//
//	auto (or unset)  XLA CUDA through GoMLX when a PJRT CUDA plugin and a GPU
//	                 are installed, lenskit's CPU engine otherwise
//	cpu              lenskit's CPU engine (AVX-512 int8 screening, exact rescoring)
//	gomlx            GoMLX on the backend $GOMLX_BACKEND names ("go" if unset)
//	gomlx:BACKEND    GoMLX on BACKEND, e.g. gomlx:xla:cuda
//
// GOMLX_BACKEND alone does not switch engines: the lenskit kernel sets it so
// that GoMLX never tries to download a plugin, and on a CPU lenskit's own
// engine is several times faster than GoMLX's pure-Go backend (see the
// benchmark table in the README).
const EngineEnv = "LENSKIT_ENGINE"

// defaultEngine picks the engine for a model loaded without WithEngine.
func defaultEngine() (project.Engine, error) {
	return Engine(os.Getenv(EngineEnv))
}

// Engine returns the engine a name chooses (see EngineEnv for the names).
func Engine(name string) (project.Engine, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || name == "auto":
		if gomlxengine.CUDAPlugin() != "" {
			if e, err := gomlxengine.New("xla:cuda"); err == nil {
				return e, nil
			}
		}
		return project.CPU(), nil
	case name == "cpu":
		return project.CPU(), nil
	case name == "gomlx":
		backend := os.Getenv("GOMLX_BACKEND")
		if backend == "" {
			backend = "go"
		}
		return gomlxengine.New(backend)
	case strings.HasPrefix(name, "gomlx:"):
		return gomlxengine.New(strings.TrimPrefix(name, "gomlx:"))
	}
	return nil, fmt.Errorf("lenskit: $%s=%q: want auto, cpu, gomlx or gomlx:BACKEND", EngineEnv, name)
}
